package server

import (
	"slices"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// A closed connection keeps its subscriptions in /connz?state=closed.
func TestConnzClosedKeepsSubscriptions(t *testing.T) {
	srv, addr := startServer(t, Options{})
	c := connectRaw(t, addr, "")
	c.Send("SUB a.b 1\r\nSUB c q 2\r\nPING\r\n")
	if got := c.ReadLine(); got != "PONG" {
		t.Fatalf("got %q", got)
	}
	_ = c.Close()
	waitFor(t, ioTimeout, "the client to close", func() bool { return len(srv.Conns(false, true)) == 1 })
	ci := srv.Conns(false, true)[0]
	if len(ci.Subs) != 2 {
		t.Fatalf("closed connection: subscriptions %+v", ci.Subs)
	}
	var subjects []string
	for _, d := range ci.Subs {
		subjects = append(subjects, d.Subject+"/"+d.Queue)
	}
	slices.Sort(subjects)
	if !slices.Equal(subjects, []string{"a.b/", "c/q"}) {
		t.Fatalf("subjects %q", subjects)
	}
}

// When a reload turns auth on, a client that has not sent CONNECT yet gets
// the auth timeout a new client would.
func TestApplyAuthStartsAuthTimer(t *testing.T) {
	srv, addr := startServer(t, Options{})
	idle := testutil.DialProto(t, addr) // no CONNECT
	o := *srv.Options()
	o.Auth.Token = "t0k"
	o.Auth.Timeout = 200 * time.Millisecond
	srv.Apply(o, Changes{Auth: true})
	start := time.Now()
	got := idle.ReadUntilClosed()
	if !slices.Contains(got, "-ERR 'Authentication Timeout'") {
		t.Fatalf("got %q, want the auth timeout", got)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("closed after %v, before the 200ms timeout", d)
	}
}
