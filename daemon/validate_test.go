package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsd/natsd/server"
)

// TestValidationFollowsReference checks natsd's verdict on configs where
// it once differed from nats-server v2.15.2. ref records what the reference
// binary did with the same file (`nats-server -t -c FILE` and starting it);
// natsd refuses what nats-server refuses to start with, and accepts what it
// starts with (warning where natsd would rather the file said otherwise).
// Every diagnostic names file:line:col of the key at fault.
func TestValidationFollowsReference(t *testing.T) {
	cases := []struct {
		name, conf string
		ref        string
		wantErr    string // "line:col: message" ("" for none)
		wantWarn   string
		check      func(t *testing.T, o *Options)
	}{
		{
			name: "duplicate user",
			conf: "authorization {\n  users: [\n    { user: alice, password: one }\n    { user: bob, password: two }\n" +
				"    { user: alice, password: three }\n  ]\n}\n",
			ref:     `-t and start both exit 1: "FILE:1:1: Duplicate user "alice" detected"`,
			wantErr: `5:7: authorization.users[2].user: duplicate user "alice" (first at line 3)`,
		},
		{
			name: "users differing in case only",
			conf: "authorization {\n  users: [ { user: a, password: b }, { user: A, password: c } ]\n}\n",
			ref:  "-t valid; starts (user names are case sensitive)",
			check: func(t *testing.T, o *Options) {
				if len(o.Server.Auth.Users) != 2 {
					t.Fatalf("%d users, want 2", len(o.Server.Auth.Users))
				}
			},
		},
		{
			name:    "max_payload over max_pending",
			conf:    "max_pending: 1000\nmax_payload: 2000\n",
			ref:     `-t says valid, but it refuses to start: "max_payload (2000) cannot be higher than max_pending (1000)"`,
			wantErr: "2:1: max_payload: 2000 must not exceed max_pending (1000)",
		},
		{
			name:    "no_auth_user not configured",
			conf:    "authorization {\n  users: [ { user: a, password: b } ]\n}\nno_auth_user: nobody\n",
			ref:     `-t says valid, but it refuses to start: "no_auth_user: "nobody" not present as user or nkey in authorization block or account configuration"`,
			wantErr: `4:1: no_auth_user: "nobody" is not one of the configured users`,
		},
		{
			name: "allow_responses max -1",
			conf: "authorization {\n  users: [ { user: a, password: b, permissions: { allow_responses: { max: -1 } } } ]\n}\n",
			ref:  "-t valid; starts, and a responder may send any number of replies to one request",
			check: func(t *testing.T, o *Options) {
				if got := o.Server.Auth.Users[0].Permissions.Response.MaxMsgs; got != server.UnlimitedResponses {
					t.Fatalf("MaxMsgs %d, want %d (no limit)", got, server.UnlimitedResponses)
				}
			},
		},
		{
			name:     "allow_responses max 0",
			conf:     "authorization {\n  users: [ { user: a, password: b, permissions: { allow_responses: { max: 0 } } } ]\n}\n",
			ref:      "-t valid; starts, and one reply per request passes (the default)",
			wantWarn: "2:75: authorization.users[0].permissions.allow_responses.max: 0 is read as the default, 1",
			check: func(t *testing.T, o *Options) {
				if got := o.Server.Auth.Users[0].Permissions.Response.MaxMsgs; got != server.DefaultResponseMaxMsgs {
					t.Fatalf("MaxMsgs %d, want the default %d", got, server.DefaultResponseMaxMsgs)
				}
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "natsd.conf")
			if err := os.WriteFile(file, []byte(c.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			o, diag, err := Load(&Flags{ConfigFile: file})
			checkPositions(t, diag, err)
			if c.wantErr == "" && err != nil {
				t.Fatalf("refused (nats-server: %s): %v", c.ref, err)
			}
			if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), file+":"+c.wantErr)) {
				t.Fatalf("error %v, want %s:%s (nats-server: %s)", err, file, c.wantErr, c.ref)
			}
			var warnings []string
			if diag != nil {
				for _, w := range diag.Warnings {
					warnings = append(warnings, w.Error())
				}
			}
			if c.wantWarn == "" && len(warnings) > 0 {
				t.Fatalf("unexpected warnings %q", warnings)
			}
			if c.wantWarn != "" && (len(warnings) != 1 || warnings[0] != file+":"+c.wantWarn) {
				t.Fatalf("warnings %q, want %s:%s", warnings, file, c.wantWarn)
			}
			if c.check != nil && err == nil {
				c.check(t, o)
			}
		})
	}
}
