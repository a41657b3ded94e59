package daemon

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
)

// TestWebSocketConfigsFollowReference runs `nats-server -t -c` (v2.15.2)
// on every WebSocket golden case and checks that natsd accepts what it
// accepts and refuses what it refuses. Four cases pass -t but nats-server
// refuses to start with them (recorded by starting it): natsd refuses them
// at load, with the same words.
func TestWebSocketConfigsFollowReference(t *testing.T) {
	bin := testutil.NatsServerBin(t)
	dir := goldenCerts(t)
	t.Chdir(dir)
	refusedAtStart := map[string]string{
		"ws_no_tls":                "websocket requires TLS configuration",
		"ws_auth_conflicts":        `no_auth_user: "nobody" not present as user or nkey in authorization block or account configuration`,
		"ws_no_auth_user_no_users": `no_auth_user: "bob" present, but users/nkeys are not defined`,
		"ws_jwt_cookie":            `trusted operators or trusted keys configuration is required for JWT authentication via cookie "nats_jwt"`,
	}
	files, err := filepath.Glob(filepath.Join(optionsDir, "ws_*.conf"))
	if err != nil || len(files) < 10 {
		t.Fatalf("%d WebSocket cases: %v", len(files), err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".conf")
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, "-t", "-c", file)
			cmd.Dir = dir
			out, err := cmd.CombinedOutput()
			refValid := err == nil
			why, refused := refusedAtStart[name]
			if refused {
				if !refValid {
					t.Fatalf("nats-server -t now refuses it: %s", out)
				}
				refValid = false
			}
			_, _, loadErr := Load(&Flags{ConfigFile: file})
			if refValid != (loadErr == nil) {
				t.Fatalf("nats-server: %s\nnatsd: %v", strings.TrimSpace(string(out)), loadErr)
			}
			// The refusals nats-server only makes at start are natsd's at
			// load, with its words (words that differ only in naming the
			// websocket block are fine).
			if refused && !strings.Contains(loadErr.Error(), strings.TrimPrefix(why, "no_auth_user: ")) {
				t.Errorf("natsd says %v\nnats-server says %q", loadErr, why)
			}
		})
	}
}

// TestWebSocketValuesFollowReference: each value of each key, alone in a
// block that is otherwise valid, is accepted by natsd exactly when
// `nats-server -t -c` (v2.15.2) accepts it; the golden cases show natsd's
// messages.
func TestWebSocketValuesFollowReference(t *testing.T) {
	bin := testutil.NatsServerBin(t)
	dir := goldenCerts(t)
	t.Chdir(dir)
	ws := func(kv string) string { return "websocket { port: 8080, no_tls: true, " + kv + " }\n" }
	cases := []string{
		ws(`host: "127.0.0.1"`), ws(`net: "127.0.0.1"`), ws(`host: 5`), ws(`listen: 8080`), ws(`listen: "127.0.0.1:8080"`), ws(`listen: "abc"`),
		ws(`port: -1`), ws(`port: "8080"`), ws(`advertise: "example.com"`), ws(`advertise: "example.com:443"`), ws(`advertise: 5`),
		ws(`no_tls: false, tls { cert_file: "certs/server.pem", key_file: "certs/server-key.pem" }`), ws(`tls { foo: true }`),
		ws(`tls { cert_file: "certs/server.pem" }`), ws(`tls { cert_file: "certs/missing.pem", key_file: "certs/server-key.pem" }`),
		ws(`compression: true`), ws(`compression: "yes"`), ws(`same_origin: true`), ws(`same_origin: 1`),
		ws(`allowed_origins: ["http://a.example.com"]`), ws(`allowed_origins: "http://a.example.com"`), ws(`allowed_origins: []`),
		ws(`allowed_origins: 5`), ws(`handshake_timeout: "2s"`), ws(`handshake_timeout: 2`), ws(`handshake_timeout: "abc"`),
		ws(`handshake_timeout: 2.5`), ws(`handshake_timeout: "-2s"`), ws(`jwt_cookie: 1`), ws(`user_cookie: u`), ws(`pass_cookie: p`),
		ws(`token_cookie: t`), ws(`token_cookie: 1`), ws(`username_cookie: u`), ws(`password_cookie: p`), ws(`nkey_cookie: n`),
		ws(`authorization { user: a, password: b }`), ws(`authorization { username: a, pass: b }`), ws(`authorization { token: t }`),
		ws(`authorization { timeout: 2 }`), ws(`authorization { timeout: "3s" }`), ws(`authorization { timeout: 0.5 }`),
		ws(`authorization { users: [] }`), ws(`authorization { nkey: x }`), ws(`authorization { permissions {} }`),
		ws(`authorization { foo: 1 }`), ws(`authorization: 5`), ws(`headers { X-A: "b" }`), ws(`headers { X-A: true }`),
		ws(`headers { Sec-WebSocket-Protocol: "x" }`), ws(`ping_interval: "30s"`), ws(`max_payload: 100`), ws(`verify_and_map: true`),
		ws(`allow_non_tls: true`), ws(`foo: 1`), "websocket: 8080\n", "ws { port: 8080, no_tls: true }\n",
	}
	// -t passes these, then nats-server refuses to start (recorded).
	refusedAtStart := map[string]bool{
		ws(`headers { Sec-WebSocket-Protocol: "x" }`): true, // invalid header "Sec-WebSocket-Protocol", "Sec-WebSocket-" prefix not allowed
	}
	for _, c := range cases {
		file := testutil.WriteFile(t, "ws.conf", c)
		cmd := exec.Command(bin, "-t", "-c", file)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		refValid := err == nil && !refusedAtStart[c]
		_, _, loadErr := Load(&Flags{ConfigFile: file})
		if refValid != (loadErr == nil) {
			t.Errorf("%s  nats-server -t: %s\n  natsd: %v", strings.TrimSpace(c), strings.TrimSpace(string(out)), loadErr)
		}
	}
}
