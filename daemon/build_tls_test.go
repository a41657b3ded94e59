package daemon

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
)

// goldenCerts makes the certificates the TLS golden cases name, in
// DIR/certs, and returns DIR:
//
//	certs/ca.pem                          the CA
//	certs/server.pem, certs/server-key.pem localhost, 127.0.0.1
//	certs/route.pem, certs/route-key.pem   route.example.net
//	certs/other-key.pem                   a key that goes with no certificate
//	certs/not-a-cert.pem                  text, no PEM
func goldenCerts(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	certs := filepath.Join(dir, "certs")
	if err := os.Mkdir(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	ca := testutil.NewCA(t, "golden CA")
	testutil.WriteBytes(t, filepath.Join(certs, "ca.pem"), ca.PEM)
	ca.Issue(t, "localhost", "127.0.0.1").WriteTo(t, filepath.Join(certs, "server.pem"), filepath.Join(certs, "server-key.pem"))
	ca.Issue(t, "route.example.net").WriteTo(t, filepath.Join(certs, "route.pem"), filepath.Join(certs, "route-key.pem"))
	testutil.WriteBytes(t, filepath.Join(certs, "other-key.pem"), ca.Issue(t, "other").KeyPEM)
	testutil.WriteBytes(t, filepath.Join(certs, "not-a-cert.pem"), []byte("hello\n"))
	return dir
}

// TestTLSConfigsFollowReference runs `nats-server -t -c` (v2.15.2) on every
// TLS golden case, in the directory of the generated certificates, and
// checks that natsd accepts what it accepts and refuses what it refuses.
// Two cases pass -t but nats-server refuses to start with them (recorded
// by starting it): natsd refuses them at load.
func TestTLSConfigsFollowReference(t *testing.T) {
	bin := testutil.NatsServerBin(t)
	dir := goldenCerts(t)
	t.Chdir(dir)
	refusedAtStart := map[string]string{
		"https_both":   `"Can't start monitoring: can't specify both HTTP (8222) and HTTPs (8443) ports"`,
		"https_no_tls": `"Can't start monitoring: TLS cert and key required for HTTPS"`,
	}
	files, err := filepath.Glob(filepath.Join(optionsDir, "*.conf"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".conf")
		if !strings.HasPrefix(name, "tls_") && !strings.HasPrefix(name, "https_") {
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, "-t", "-c", file)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			refValid := err == nil
			if why, ok := refusedAtStart[name]; ok {
				if !refValid {
					t.Fatalf("nats-server -t now refuses it: %s", out)
				}
				refValid = false
				out = []byte("-t valid, refuses to start: " + why)
			}
			_, _, loadErr := Load(&Flags{ConfigFile: file})
			if refValid != (loadErr == nil) {
				t.Fatalf("nats-server: %s\nnatsd: %v", strings.TrimSpace(string(out)), loadErr)
			}
		})
	}
	if n < 10 {
		t.Fatalf("only %d TLS cases", n)
	}
}

// TestTLSValuesFollowReference: each value of each key, alone in a block
// that is otherwise valid, is accepted by natsd exactly when `nats-server
// -t -c` (v2.15.2) accepts it. The golden cases show natsd's messages.
func TestTLSValuesFollowReference(t *testing.T) {
	bin := testutil.NatsServerBin(t)
	dir := goldenCerts(t)
	t.Chdir(dir)
	const pin = "8c6b9a36487b66f8cf4f2151debad5e64f79db976d1b6be780f03fd81f7c50e7"
	client := func(kv string) string {
		return `tls { cert_file: "certs/server.pem", key_file: "certs/server-key.pem", ` + kv + " }\n"
	}
	route := func(kv string) string {
		return `cluster { port: -1, tls { cert_file: "certs/route.pem", key_file: "certs/route-key.pem", ` + kv + " } }\n"
	}
	cases := []string{
		client(`verify: true`), client(`verify: "yes"`), client(`verify: 1`), client(`verify_and_map: true`),
		client(`verify: true, verify_and_map: false`), client(`verify_and_map: true, verify: false`),
		client(`insecure: true`), client(`verify_cert_and_check_known_urls: true`), client(`verify_cert_and_check_known_urls: false`),
		route(`verify_cert_and_check_known_urls: true`), route(`insecure: true`), route(`verify: false`), route(`verify_and_map: true`),
		client(`timeout: 5`), client(`timeout: 0.5`), client(`timeout: "3s"`), client(`timeout: 3s`), client(`timeout: -1`),
		client(`timeout: 0`), client(`timeout: true`), client(`timeout: "abc"`),
		client(`handshake_first: true`), client(`handshake_first: false`), client(`handshake_first: "300ms"`),
		client(`handshake_first: "auto"`), client(`handshake_first: auto`), client(`handshake_first: "true"`), client(`handshake_first: "on"`),
		client(`handshake_first: "0s"`), client(`handshake_first: "-1s"`), client(`handshake_first: "TRUE"`), client(`handshake_first: "AUTO"`),
		client(`handshake_first: "off"`), client(`handshake_first: "yes"`), client(`handshake_first: "1"`), client(`handshake_first: "t"`),
		client(`handshake_first: "no"`), client(`handshake_first: 5`), client(`handshake_first: 1.5`), client(`first: true`),
		client(`immediate: "auto"`), route(`handshake_first: true`),
		client(`cipher_suites: ["TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"]`), client(`cipher_suites: "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"`),
		client(`cipher_suites: ["tls_ecdhe_ecdsa_with_aes_128_gcm_sha256"]`), client(`cipher_suites: ["BOGUS"]`),
		client(`cipher_suites: ["TLS_RSA_WITH_AES_128_CBC_SHA"]`), client(`cipher_suites: ["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"]`),
		client(`cipher_suites: ["TLS_RSA_WITH_RC4_128_SHA"], allow_insecure_cipher_suites: true`),
		client(`allow_insecure_cipher_suites: true, cipher_suites: ["TLS_RSA_WITH_3DES_EDE_CBC_SHA"]`),
		client(`cipher_suites: ["TLS_AES_128_GCM_SHA256"]`), client(`cipher_suites: []`),
		client(`cipher_suites: ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305"]`),
		client(`curve_preferences: ["CurveP256"]`), client(`curve_preferences: ["CurveP384", "CurveP521", "X25519"]`),
		client(`curve_preferences: ["X25519MLKEM768", "SecP256r1MLKEM768", "SecP384r1MLKEM1024"]`),
		client(`curve_preferences: ["P256"]`), client(`curve_preferences: ["curvep256"]`), client(`curve_preferences: []`),
		client(`curve_preferences: "CurveP256"`),
		client(`min_version: "1.2"`), client(`min_version: "1.3"`), client(`min_version: "1.1"`), client(`min_version: "1.0"`),
		client(`min_version: "1.4"`), client(`min_version: "TLS1.2"`), client(`min_version: 1.2`), client(`min_version: 12`),
		client(`pinned_certs: ["` + pin + `"]`), client(`pinned_certs: ["` + strings.ToUpper(pin) + `"]`), client(`pinned_certs: []`),
		client(`pinned_certs: ["abc"]`), client(`pinned_certs: ["` + pin[:63] + `"]`), client(`pinned_certs: ["` + pin + `7"]`),
		client(`pinned_certs: ["g` + pin[1:] + `"]`), client(`pinned_certs: "` + pin + `"`), client(`pinned_certs: { a: 1 }`),
		client(`cert_store: "WindowsCurrentUser"`), client(`cert_match_by: "Subject"`), client(`cert_match: "x"`),
		client(`cert_match_skip_invalid: true`), client(`ca_certs_match: ["x"]`), client(`ocsp_peer: true`),
		client(`ocsp_peer: { verify: true }`), client(`connection_rate_limit: 10`),
		client(`rate_limit: 10`), client(`ocsp: true`), client(`server_name: x`), client(`max_version: "1.3"`), client(`allow_non_tls: true`),
		client(`ca_file: "certs/ca.pem"`), client(`ca_file: ""`), client(`ca_file: "certs/nope.pem"`), client(`ca_file: "certs/server-key.pem"`),
		client(`ca_file: "certs/not-a-cert.pem"`), client(`CA_File: "certs/ca.pem", VERIFY: true`),
		`tls { cert_file: "certs/server.pem", key_file: "certs/other-key.pem" }`,
		`tls { cert_file: "certs/server-key.pem", key_file: "certs/server-key.pem" }`,
		`tls { cert_file: "certs/not-a-cert.pem", key_file: "certs/server-key.pem" }`,
		`tls { cert_file: "certs/server.pem", key_file: "certs/not-a-cert.pem" }`,
		`tls { cert_file: "certs/server.pem" }`, `tls { key_file: "certs/server-key.pem" }`, `tls { }`, `tls { cert_file: "" }`,
		`tls { cert_file: 1, key_file: "certs/server-key.pem" }`,
		`tls { certs: [ { cert_file: "certs/server.pem", key_file: "certs/server-key.pem" }, { cert_file: "certs/route.pem", key_file: "certs/route-key.pem" } ] }`,
		`tls { certs: [ { cert_file: "certs/server.pem" } ] }`, `tls { certs: [] }`, `tls { certs: [ "certs/server.pem" ] }`,
		`tls { certs: [ { cert_file: "certs/server.pem", key_file: "certs/other-key.pem" } ] }`,
		`tls { certs: [ { cert_file: "certs/server.pem", key_file: "certs/server-key.pem", foo: 1 } ] }`,
		`tls { key_file: "certs/server-key.pem", certs: [ { cert_file: "certs/server.pem", key_file: "certs/server-key.pem" } ] }`,
		`tls: true`, `tls: "x"`, `cluster { port: -1, tls: true }`, `cluster { port: -1, tls { } }`,
		"allow_non_tls: true", `allow_non_tls: "yes"`, "allow_non_tls: 1", "ocsp: true", "ocsp_cache: true",
		client("") + "https_port: -1", client("") + `https: "127.0.0.1:-1"`, client("") + `https_port: "abc"`,
	}
	for _, conf := range cases {
		file := testutil.WriteFile(t, "tls.conf", conf+"\n")
		out, err := exec.Command(bin, "-t", "-c", file).CombinedOutput()
		_, _, loadErr := Load(&Flags{ConfigFile: file})
		if (err == nil) != (loadErr == nil) {
			t.Errorf("%s\n  nats-server: %s\n  natsd: %v", conf, strings.TrimSpace(string(out)), loadErr)
		}
	}
}

// TestTLSFlags: --tls, --tlsverify, --tlscert, --tlskey, --tlscacert and
// -ms as nats-server v2.15.2 reads them, alone and over a file's tls block
// (recorded by starting it and reading /varz tls_required, tls_verify,
// tls_timeout, or its refusal).
func TestTLSFlags(t *testing.T) {
	dir := goldenCerts(t)
	t.Chdir(dir)
	const cert, key, ca = "certs/server.pem", "certs/server-key.pem", "certs/ca.pem"
	write := func(name, src string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	verifying := write("verify.conf", "port: 4333\ntls { cert_file: "+cert+", key_file: "+key+", ca_file: "+ca+", verify: true, timeout: 5, handshake_first: true, min_version: \"1.3\" }\n")
	mapping := write("map.conf", "tls { cert_file: "+cert+", key_file: "+key+", ca_file: "+ca+", verify_and_map: true }\n")
	monitor := write("monitor.conf", "listen: 127.0.0.1:4333\nhttp_port: 8222\n")

	cases := []struct {
		name    string
		flags   Flags
		want    map[string]string
		wantErr string
	}{
		// nats-server: "TLS required for client connections", tls_verify absent.
		{name: "--tls --tlscert --tlskey",
			flags: Flags{TLS: true, TLSCert: cert, TLSKey: key, Set: set("tls", "tlscert", "tlskey")},
			want:  map[string]string{"Server.TLS.CertFile": `"certs/server.pem"`, "Server.TLS.KeyFile": `"certs/server-key.pem"`, "Server.TLS.Verify": ""}},
		{name: "--tlscert --tlskey without --tls: TLS on",
			flags: Flags{TLSCert: cert, TLSKey: key, Set: set("tlscert", "tlskey")},
			want:  map[string]string{"Server.TLS.CertFile": `"certs/server.pem"`}},
		{name: "--tlsverify without --tlscacert: system roots",
			flags: Flags{TLSVerify: true, TLSCert: cert, TLSKey: key, Set: set("tlsverify", "tlscert", "tlskey")},
			want:  map[string]string{"Server.TLS.Verify": "true", "Server.TLS.CAFile": ""}},
		{name: "--tlsverify --tlscacert",
			flags: Flags{TLSVerify: true, TLSCert: cert, TLSKey: key, TLSCACert: ca, Set: set("tlsverify", "tlscert", "tlskey", "tlscacert")},
			want:  map[string]string{"Server.TLS.Verify": "true", "Server.TLS.CAFile": `"certs/ca.pem"`}},
		{name: "--tlsverify=false still turns TLS on",
			flags: Flags{TLSCert: cert, TLSKey: key, Set: set("tlsverify", "tlscert", "tlskey")},
			want:  map[string]string{"Server.TLS.CertFile": `"certs/server.pem"`, "Server.TLS.Verify": ""}},
		{name: "--tls=false wins over the other TLS flags",
			flags: Flags{TLS: false, TLSVerify: true, TLSCert: cert, TLSKey: key, Set: set("tls", "tlsverify", "tlscert", "tlskey")},
			want:  map[string]string{"Server.TLS.CertFile": ""}},
		// nats-server: "TLS Server certificate must be present and valid".
		{name: "--tls alone", flags: Flags{TLS: true, Set: set("tls")}, wantErr: "natsd: --tlscert: TLS for clients needs a certificate and its key"},
		{name: "--tlscacert alone", flags: Flags{TLSCACert: ca, Set: set("tlscacert")}, wantErr: "natsd: --tlscert:"},
		// nats-server: "TLS Server private key must be present and valid".
		{name: "--tls --tlscert", flags: Flags{TLS: true, TLSCert: cert, Set: set("tls", "tlscert")}, wantErr: "natsd: --tlskey: TLS for clients needs the certificate's private key"},
		// nats-server: "error parsing X509 certificate/key pair: tls: private key does not match public key".
		{name: "--tlskey of another certificate",
			flags:   Flags{TLS: true, TLSCert: cert, TLSKey: "certs/other-key.pem", Set: set("tls", "tlscert", "tlskey")},
			wantErr: "natsd: --tlskey certs/other-key.pem: does not go with cert_file certs/server.pem"},
		{name: "--tlscert missing",
			flags:   Flags{TLS: true, TLSCert: "certs/nope.pem", TLSKey: key, Set: set("tls", "tlscert", "tlskey")},
			wantErr: "natsd: --tlscert certs/nope.pem: open: no such file or directory"},
		{name: "--tlscacert not a certificate",
			flags:   Flags{TLS: true, TLSCert: cert, TLSKey: key, TLSCACert: "certs/not-a-cert.pem", Set: set("tls", "tlscert", "tlskey", "tlscacert")},
			wantErr: "natsd: --tlscacert certs/not-a-cert.pem: no certificate in it"},

		// Over a file's block: the flags alone give the files and verify.
		{name: "file block, no flags", flags: Flags{ConfigFile: verifying},
			want: map[string]string{"Server.TLS.Verify": "true", "Server.TLS.Timeout": "5s", "Server.TLS.CAFile": `"certs/ca.pem"`}},
		{name: "file block, --tls: the file's certificate is not used",
			flags: Flags{ConfigFile: verifying, TLS: true, Set: set("tls")}, wantErr: "natsd: --tlscert:"},
		{name: "file block, --tlscert: nor its key",
			flags: Flags{ConfigFile: verifying, TLSCert: cert, Set: set("tlscert")}, wantErr: "natsd: --tlskey:"},
		{name: "file block, --tls=false: TLS off",
			flags: Flags{ConfigFile: verifying, TLS: false, Set: set("tls")},
			want:  map[string]string{"Server.TLS.CertFile": "", "Server.TLS.HandshakeFirst": "", "Server.Port": "4333"}},
		// nats-server: tls_verify absent, tls_timeout 5, still TLS first.
		// It also drops the file's min_version: natsd keeps it.
		{name: "file block, --tlscert --tlskey: verify from the flags, the rest from the file",
			flags: Flags{ConfigFile: verifying, TLSCert: cert, TLSKey: key, Set: set("tlscert", "tlskey")},
			want: map[string]string{"Server.TLS.Verify": "", "Server.TLS.CAFile": "", "Server.TLS.Timeout": "5s",
				"Server.TLS.HandshakeFirst": "true", "Server.TLS.MinVersion": "1.3"}},
		// nats-server keeps verify_and_map (an unmapped client is refused).
		{name: "file verify_and_map, --tlsverify",
			flags: Flags{ConfigFile: mapping, TLSVerify: true, TLSCert: cert, TLSKey: key, TLSCACert: ca, Set: set("tlsverify", "tlscert", "tlskey", "tlscacert")},
			want:  map[string]string{"Server.TLS.Verify": "true", "Server.TLS.VerifyAndMap": "true"}},

		// -ms: HTTPS monitoring, on the client host like -m.
		{name: "-ms with TLS",
			flags: Flags{ConfigFile: verifying, HTTPSPort: 8443, Set: set("https_port")},
			want:  map[string]string{"Monitor.HTTPSPort": "8443", "Monitor.Host": `"0.0.0.0"`, "Monitor.Port": ""}},
		// nats-server: "can't specify both HTTP (8222) and HTTPs (8443) ports".
		{name: "-ms over the file's http_port",
			flags:   Flags{ConfigFile: monitor, TLS: true, TLSCert: cert, TLSKey: key, HTTPSPort: 8443, Set: set("https_port", "tls", "tlscert", "tlskey")},
			wantErr: "https_port: monitoring is served over HTTP or HTTPS, not both: http port 8222 and https port 8443 are set"},
		// nats-server: "TLS cert and key required for HTTPS".
		{name: "-ms without TLS",
			flags:   Flags{ConfigFile: "-", HTTPSPort: 8443, Set: set("https_port")},
			wantErr: "https_port: HTTPS monitoring uses the top-level tls { } block"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.flags
			if f.ConfigFile == "-" {
				f.ConfigFile = ""
			}
			o, diag, err := Load(&f)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(allErrors(diag, err), tc.wantErr) || len(diag.Errors) != 1 {
					t.Fatalf("errors:\n%v\nwant just one, containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %s", allErrors(diag, err))
			}
			got := renderMap(o)
			for k, want := range tc.want {
				if got[k] != want {
					t.Errorf("%s = %q, want %q", k, got[k], want)
				}
			}
			if hasWarning(diag, "does not serve TLS") {
				t.Errorf("TLS is served, but a warning says it is not: %v", diag.Warnings)
			}
		})
	}
}

func hasWarning(diag *Diagnostics, s string) bool {
	for _, w := range diag.Warnings {
		if strings.Contains(w.Error(), s) {
			return true
		}
	}
	return false
}
