package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// TestTraceRedactsCredentials: with tracing on (trace: true in a config,
// or -DV), natsd logs CONNECTs as nats-server does — "pass":"[REDACTED]",
// "auth_token":"[REDACTED]" — and no password or token, right or wrong,
// reaches the log, whatever shape the CONNECT has.
func TestTraceRedactsCredentials(t *testing.T) {
	const (
		rightPass  = "Pw-right-7f3a"
		wrongPass  = "Pw-wrong-91c2"
		rightToken = "Tok-right-55e1"
		wrongToken = "Tok-wrong-0d9b"
	)
	secrets := []string{rightPass, wrongPass, rightToken, wrongToken,
		"Esc-4e1", "aped-b81", "Uni-key-2c7", "Broken-a90", "Upper-6d2", "Jwt-3f8", "Sig-c41", "Nested-77b"}

	up := startNatsdConf(t, "debug: true\ntrace: true\nauthorization { user: alice, password: "+rightPass+" }\n")
	connect(t, up.ClientURL(), nats.UserInfo("alice", rightPass))
	if _, err := nats.Connect(up.ClientURL(), nats.UserInfo("alice", wrongPass), nats.Timeout(3*time.Second)); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("wrong password: %v", err)
	}
	// CONNECTs no library sends, each refused.
	for _, c := range []string{
		`{"verbose":false,"user":"alice","pass":"Esc-4e1\"aped-b81"}`,
		`{"verbose":false,"user":"alice","p\u0061ss":"Uni-key-2c7"}`,
		`{"verbose":false,"user":"alice","PASS":"Upper-6d2","jwt":"Jwt-3f8","sig":"Sig-c41","x":{"pass":"Nested-77b"}}`,
		`{"verbose":false,"user":"alice","pass":"Broken-a90`,
	} {
		raw := testutil.DialProto(t, up.ClientAddr())
		raw.Send("CONNECT " + c + "\r\nPING\r\n")
		raw.ReadUntilClosed()
	}

	tok := startNatsd(t, "-DV", "--auth", rightToken)
	connect(t, tok.ClientURL(), nats.Token(rightToken))
	if _, err := nats.Connect(tok.ClientURL(), nats.Token(wrongToken), nats.Timeout(3*time.Second)); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("wrong token: %v", err)
	}

	// Every CONNECT traced: 2 from nats.go and 4 raw, 2 with a token.
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := strings.Count(up.Log(), "<<- [CONNECT "); n != 6 {
			return fmt.Errorf("%d CONNECT traces with user and password, want 6", n)
		}
		if n := strings.Count(tok.Log(), "<<- [CONNECT "); n != 2 {
			return fmt.Errorf("%d CONNECT traces with a token, want 2", n)
		}
		return nil
	})
	for name, p := range map[string]*testutil.Proc{"user/password": up, "token": tok} {
		log := p.Log()
		for _, s := range secrets {
			if strings.Contains(log, s) {
				t.Errorf("%s: the log has %q", name, s)
			}
		}
	}
	for _, want := range []string{
		`"user":"alice","pass":"[REDACTED]"`,
		`"p\u0061ss":"[REDACTED]"`,
		`"PASS":"[REDACTED]","jwt":"[REDACTED]","sig":"[REDACTED]","x":{"pass":"[REDACTED]"}`,
		`"pass":[REDACTED]]`,
	} {
		if !strings.Contains(up.Log(), want) {
			t.Errorf("user/password log lacks %s", want)
		}
	}
	if n := strings.Count(tok.Log(), `"auth_token":"[REDACTED]"`); n != 2 {
		t.Errorf(`token log has %d "auth_token":"[REDACTED]", want 2`, n)
	}
}
