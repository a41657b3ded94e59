package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/natsd/natsd/internal/testutil"
)

// nkey users: the server sends a nonce in INFO, the client signs it with
// its seed and sends the signature in CONNECT. Every case runs against
// natsd and nats-server v2.15.2 with the same config: what the reference
// does is what the test expects (recorded there, checked every run).

// implementations are the servers a behaviour test runs against.
func implementations(t *testing.T) []struct{ name, bin string } {
	return []struct{ name, bin string }{{"natsd", testutil.NatsdBin(t)}, {"nats-server", testutil.NatsServerBin(t)}}
}

// startConf starts bin with conf (loopback, a free port).
func startConf(t *testing.T, bin, conf string) *testutil.Proc {
	t.Helper()
	path := testutil.WriteFile(t, "server.conf", "listen: 127.0.0.1:-1\n"+conf)
	return testutil.Start(t, bin, "-c", path)
}

// newUserKey makes a user nkey.
func newUserKey(t *testing.T) (nkeys.KeyPair, string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	return kp, pub
}

// signNonce signs the nonce of a greeting INFO as nats.go does.
func signNonce(t *testing.T, kp nkeys.KeyPair, nonce string) string {
	t.Helper()
	sig, err := kp.Sign([]byte(nonce))
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(sig)
}

// rawConnect sends CONNECT with fields (verbose off) and a PING, and
// returns what the server answered until it closed the connection or sent
// PONG.
func rawConnect(t *testing.T, addr string, fields map[string]any, sign func(nonce string) string) (nonce string, lines []string) {
	t.Helper()
	c := testutil.DialProto(t, addr)
	defer c.Close()
	nonce, _ = c.Info["nonce"].(string)
	if sign != nil {
		fields["sig"] = sign(nonce)
	}
	fields["verbose"] = false
	b, _ := json.Marshal(fields)
	c.Send("CONNECT " + string(b) + "\r\nPING\r\n")
	for {
		l := c.ReadLine()
		lines = append(lines, l)
		if l == "PONG" || strings.HasPrefix(l, "-ERR") {
			if strings.HasPrefix(l, "-ERR") && !c.ClosedWithin(5*time.Second) {
				t.Errorf("the connection stayed open after %q", l)
			}
			return nonce, lines
		}
	}
}

func TestNkeyUsers(t *testing.T) {
	kp, pub := newUserKey(t)
	accKP, accPub := newUserKey(t)
	other, otherPub := newUserKey(t)
	conf := fmt.Sprintf(`
authorization {
  users [
    {nkey: %s, permissions: {publish: "ok.>", subscribe: ">"}}
    {user: alice, password: apass}
  ]
}
accounts {
  A { users [ {nkey: %s} ] }
}
`, pub, accPub)
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			p := startConf(t, impl.bin, conf)

			// nats.go's Nkey option logs in; the user's permissions apply.
			nc := connect(t, p.ClientURL(), nats.Nkey(pub, kp.Sign))
			errs := make(chan error, 4)
			nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err })
			sub, _ := nc.SubscribeSync("ok.>")
			_ = nc.Publish("ok.1", []byte("a"))
			_ = nc.Publish("denied", []byte("b"))
			_ = nc.Flush()
			nextIs(t, sub, "ok.1", "a")
			select {
			case err := <-errs:
				if !strings.Contains(err.Error(), `Permissions Violation for Publish to "denied"`) {
					t.Errorf("publish to a denied subject: %v", err)
				}
			case <-time.After(5 * time.Second):
				t.Error("no permissions violation for a denied publish")
			}

			// An account's nkey user lands in that account.
			anc := connect(t, p.ClientURL(), nats.Nkey(accPub, accKP.Sign))
			asub, _ := anc.SubscribeSync("ok.>")
			_ = anc.Flush()
			_ = nc.Publish("ok.2", nil)
			_ = nc.Flush()
			_ = anc.Publish("ok.3", []byte("in A"))
			nextIs(t, asub, "ok.3", "in A") // not ok.2 from $G
			nextIs(t, sub, "ok.2", "")

			// Password users still log in beside nkey users.
			connect(t, p.ClientURL(), nats.UserInfo("alice", "apass"))

			// The nonce: 15 characters of URL-safe base64, new for each client.
			n1, lines := rawConnect(t, p.ClientAddr(), map[string]any{"nkey": pub}, func(n string) string { return signNonce(t, kp, n) })
			n2, _ := rawConnect(t, p.ClientAddr(), map[string]any{"user": "alice", "pass": "apass"}, nil)
			if len(n1) != 15 || n1 == n2 || strings.ContainsAny(n1, "+/=") {
				t.Errorf("nonces %q, %q: want 15 URL-safe base64 characters, one per client", n1, n2)
			}
			if lines[len(lines)-1] != "PONG" {
				t.Errorf("a signed nonce: %q", lines)
			}

			refused := []struct {
				name   string
				fields map[string]any
				sign   func(string) string
			}{
				{"signed by another key", map[string]any{"nkey": pub}, func(n string) string { return signNonce(t, other, n) }},
				{"no signature", map[string]any{"nkey": pub}, nil},
				{"signature not base64", map[string]any{"nkey": pub, "sig": "%%%"}, nil},
				{"another nonce signed", map[string]any{"nkey": pub}, func(string) string { return signNonce(t, kp, "not the nonce") }},
				{"a key no user has", map[string]any{"nkey": otherPub}, func(n string) string { return signNonce(t, other, n) }},
				{"not a key", map[string]any{"nkey": "alice"}, func(n string) string { return signNonce(t, kp, n) }},
			}
			for _, r := range refused {
				if _, lines := rawConnect(t, p.ClientAddr(), r.fields, r.sign); strings.Join(lines, "|") != "-ERR 'Authorization Violation'" {
					t.Errorf("%s: %q, want -ERR 'Authorization Violation' and the connection closed", r.name, lines)
				}
			}
			// Those refusals touched no one else.
			_ = nc.Publish("ok.4", []byte("still here"))
			nextIs(t, sub, "ok.4", "still here")
		})
	}
}
