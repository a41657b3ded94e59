package server

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

func parseInfo(t *testing.T, line string) Info {
	t.Helper()
	if !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("got %q, want INFO", line)
	}
	var in Info
	if err := json.Unmarshal([]byte(line[5:]), &in); err != nil {
		t.Fatalf("INFO: %v", err)
	}
	return in
}

func TestLameDuck(t *testing.T) {
	// Tiny durations: the 30 s minimum is the daemon's rule, not the server's.
	srv, addr := startServer(t, Options{LameDuckDuration: 200 * time.Millisecond, LameDuckGracePeriod: 50 * time.Millisecond})
	const peer = "10.1.2.3:4222"
	srv.SetPeerURLs("NPEER", []string{peer})
	own := "127.0.0.1:" + strings.Split(addr, ":")[1]

	// a: protocol 1 and its first PONG sent: takes async INFO.
	a := testutil.DialProto(t, addr)
	a.Send(`CONNECT {"verbose":false,"protocol":1}` + "\r\nPING\r\n")
	if line := a.ReadLine(); line != "PONG" {
		t.Fatalf("got %q, want PONG", line)
	}
	in := parseInfo(t, a.ReadLine())
	if !in.ConnectInfo || in.RemoteAccount != GlobalAccountName || in.LameDuckMode || !slices.Equal(in.ConnectURLs, []string{own, peer}) {
		t.Fatalf("connect_info INFO = %+v", in)
	}
	// b: protocol 0: never gets async INFO.
	b := connectRaw(t, addr, "")
	// c: protocol 1 but no PING yet, so no first PONG: no async INFO.
	c := testutil.DialProto(t, addr)
	c.Send(`CONNECT {"verbose":true,"protocol":1}` + "\r\n")
	if line := c.ReadLine(); line != "+OK" {
		t.Fatalf("got %q, want +OK", line)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.LameDuck(ctx)
	}()

	in = parseInfo(t, a.ReadLine())
	if !in.LameDuckMode || !slices.Equal(in.ConnectURLs, []string{peer}) {
		t.Errorf("lame duck INFO: ldm %v connect_urls %q; want true and the other servers only", in.LameDuckMode, in.ConnectURLs)
	}
	if !srv.InLameDuck() {
		t.Error("InLameDuck() = false")
	}
	// The listener closed before the INFO went out.
	if nc, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = nc.Close()
		t.Error("client listener still accepts in lame duck mode")
	}
	for name, rc := range map[string]*testutil.ProtoConn{"a": a, "b": b, "c": c} {
		if got := rc.ReadUntilClosed(); len(got) != 0 {
			t.Errorf("client %s got %q before the close", name, got)
		}
	}
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("LameDuck did not return")
	}
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Errorf("clients closed after %v, before the grace period", el)
	}
	closed := srv.Conns(false, true)
	if len(closed) != 3 {
		t.Fatalf("%d closed, want 3", len(closed))
	}
	for _, ci := range closed {
		if ci.Reason != "Lame Duck Mode" {
			t.Errorf("cid %d closed for %q", ci.Cid, ci.Reason)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(ln); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve in lame duck mode = %v, want ErrServerClosed", err)
	}
}

// TestLameDuckCanceled: a canceled context ends the drain; clients stay.
func TestLameDuckCanceled(t *testing.T) {
	srv, addr := startServer(t, Options{LameDuckDuration: time.Minute, LameDuckGracePeriod: 30 * time.Second})
	c := connectRaw(t, addr, "")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		srv.LameDuck(ctx)
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("LameDuck ignored its context")
	}
	if got := c.Flush(); len(got) != 0 {
		t.Errorf("client got %q", testutil.Lines(got))
	}
	if srv.NumClients() != 1 {
		t.Errorf("%d clients, want 1", srv.NumClients())
	}
}

// TestAsyncInfoOnPeerChange: clients that take async INFO learn about new
// and departed peers; others do not.
func TestAsyncInfoOnPeerChange(t *testing.T) {
	srv, addr := startServer(t, Options{})
	own := "127.0.0.1:" + strings.Split(addr, ":")[1]
	a := testutil.DialProto(t, addr)
	a.Send(`CONNECT {"verbose":false,"protocol":1}` + "\r\nPING\r\n")
	if a.ReadLine() != "PONG" {
		t.Fatal("no PONG")
	}
	if in := parseInfo(t, a.ReadLine()); in.ConnectURLs != nil {
		t.Fatalf("connect_urls without peers = %q", in.ConnectURLs)
	}
	b := connectRaw(t, addr, "")

	srv.SetPeerURLs("N1", []string{"10.0.0.2:4222", own})
	if in := parseInfo(t, a.ReadLine()); !slices.Equal(in.ConnectURLs, []string{own, "10.0.0.2:4222"}) {
		t.Errorf("after a peer joined: %q", in.ConnectURLs)
	}
	srv.SetPeerURLs("N2", []string{"10.0.0.2:4222"}) // same URL: no change, no INFO
	srv.RemovePeerURLs("N3")                         // unknown peer: no INFO
	srv.RemovePeerURLs("N1")                         // N2 still has the URL: no INFO
	srv.RemovePeerURLs("N2")
	// Once peers were seen, the list keeps our own URL (nats-server does):
	// a client ignores an INFO without connect_urls.
	if in := parseInfo(t, a.ReadLine()); !slices.Equal(in.ConnectURLs, []string{own}) {
		t.Errorf("after the peers left: %q, want only our own", in.ConnectURLs)
	}
	if got := a.Flush(); len(got) != 0 {
		t.Errorf("extra INFO: %q", testutil.Lines(got))
	}
	if got := b.Flush(); len(got) != 0 {
		t.Errorf("protocol 0 client got %q", testutil.Lines(got))
	}
}
