package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsd/natsd/server"
)

// TestMsgTraceConfig: an account's msg_trace / trace_dest and the
// allow_trace of imports and exports, accepted and refused where
// nats-server v2.15.2 accepts and refuses them (ref: what `nats-server -t`
// said of the same file).
func TestMsgTraceConfig(t *testing.T) {
	cases := []struct {
		name, conf string
		ref        string
		wantErr    string // "line:col: message" ("" for none)
		wantWarn   string
		want       *server.MsgTraceConfig // account A's
		exp, imp   bool                   // allow_trace of B's first export, A's first import
	}{
		{name: "msg_trace", conf: `accounts { A { msg_trace: { dest: "a.trace", sampling: "50%" } } }`,
			ref: "valid", want: &server.MsgTraceConfig{Dest: "a.trace", Sampling: 50}},
		{name: "sampling as a number", conf: `accounts { A { msg_trace: { dest: "a.trace", sampling: 100 } } }`,
			ref: "valid", want: &server.MsgTraceConfig{Dest: "a.trace", Sampling: 100}},
		{name: "a destination alone", conf: `accounts { A { msg_trace: "a.trace" } }`,
			ref: "valid", want: &server.MsgTraceConfig{Dest: "a.trace"}},
		{name: "trace_dest", conf: `accounts { A { trace_dest: "a.t" } }`,
			ref: "valid", want: &server.MsgTraceConfig{Dest: "a.t"}},
		{name: "the later wins", conf: `accounts { A { msg_trace: { dest: "x" }, trace_dest: "y" } }`,
			ref: "valid; traces go to y (and to x with the two swapped)", want: &server.MsgTraceConfig{Dest: "y"}},
		{name: "sampling 0", conf: `accounts { A { msg_trace: { dest: "a.trace", sampling: "0%" } } }`,
			ref: "1:44: Ttrace destination sampling value 0 is invalid, needs to be [1..100]", wantErr: "1:56: accounts.A.msg_trace.sampling: sampling must be 1-100%, found 0"},
		{name: "sampling 150", conf: `accounts { A { msg_trace: { dest: "a.trace", sampling: 150 } } }`,
			ref: "Ttrace destination sampling value 150 is invalid", wantErr: "1:56: accounts.A.msg_trace.sampling: sampling must be 1-100%, found 150"},
		{name: "sampling not a number", conf: `accounts { A { msg_trace: { dest: "a.trace", sampling: "abc" } } }`,
			ref: `Invalid trace destination sampling value "abc"`, wantErr: `accounts.A.msg_trace.sampling: expected a percentage such as 50%, found "abc"`},
		{name: "wildcard destination", conf: `accounts { A { msg_trace: { dest: "a.*" } } }`,
			ref: `Trace destination "a.*" is not valid`, wantErr: `1:35: accounts.A.msg_trace: trace destination "a.*" is not a valid subject`},
		{name: "empty destination", conf: `accounts { A { trace_dest: "" } }`,
			ref: `Trace destination "" is not valid`, wantErr: `accounts.A.trace_dest: trace destination "" is not a valid subject`},
		{name: "sampling without destination", conf: `accounts { A { msg_trace: { sampling: 50 } } }`,
			ref: "starts, warning: Trace destination sampling ignored since no destination was set", wantWarn: "1:29: accounts.A.msg_trace.sampling: sampling ignored: msg_trace has no dest"},
		{name: "unknown field", conf: `accounts { A { msg_trace: { dest: "x", foo: 1 } } }`,
			ref: `Unknown field "foo" parsing account message trace map/struct "msg_trace"`, wantErr: `accounts.A.msg_trace.foo: unknown field "foo"`},
		{name: "allow_trace on a service export and a stream import",
			conf: "accounts {\n A { imports [ {stream: {account: B, subject: s}, allow_trace: true} ] }\n B { exports [ {service: v, allow_trace: true}, {stream: s} ] }\n}",
			ref:  "valid", exp: true, imp: true},
		{name: "allow_trace on a stream export",
			conf: "accounts {\n B { exports [ {stream: s, allow_trace: true} ] }\n}",
			ref:  "Detected allow_trace directive on non-service", wantErr: "2:28: accounts.B.exports[0].allow_trace: allow_trace is for service exports"},
		{name: "allow_trace on a service import",
			conf: "accounts {\n A { imports [ {service: {account: B, subject: v}, allow_trace: true} ] }\n B { exports [ {service: v} ] }\n}",
			ref:  "Detected allow_trace directive on a non-stream", wantErr: "2:52: accounts.A.imports[0].allow_trace: allow_trace is for stream imports"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "natsd.conf")
			if err := os.WriteFile(file, []byte(c.conf+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			o, diag, err := Load(&Flags{ConfigFile: file})
			checkPositions(t, diag, err)
			if c.wantErr == "" && err != nil {
				t.Fatalf("refused (nats-server: %s): %v", c.ref, err)
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), file+":") {
					t.Fatalf("error %v, want %s (nats-server: %s)", err, c.wantErr, c.ref)
				}
				return
			}
			var warnings []string
			if diag != nil {
				for _, w := range diag.Warnings {
					warnings = append(warnings, w.Error())
				}
			}
			if (c.wantWarn == "") != (len(warnings) == 0) || c.wantWarn != "" && (len(warnings) != 1 || warnings[0] != file+":"+c.wantWarn) {
				t.Fatalf("warnings %q, want %q", warnings, c.wantWarn)
			}
			acc := map[string]*server.AccountConfig{}
			for _, a := range o.Server.Accounts {
				acc[a.Name] = a
			}
			if a := acc["A"]; a != nil {
				if (a.MsgTrace == nil) != (c.want == nil) || a.MsgTrace != nil && *a.MsgTrace != *c.want {
					t.Errorf("MsgTrace %+v, want %+v", a.MsgTrace, c.want)
				}
				if len(a.Imports) > 0 && a.Imports[0].AllowTrace != c.imp {
					t.Errorf("import allow_trace %v, want %v", a.Imports[0].AllowTrace, c.imp)
				}
			}
			if b := acc["B"]; b != nil && len(b.Exports) > 0 && b.Exports[0].AllowTrace != c.exp {
				t.Errorf("export allow_trace %v, want %v", b.Exports[0].AllowTrace, c.exp)
			}
		})
	}
}
