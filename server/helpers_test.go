package server

import (
	"context"
	"net"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/internal/testutil"
)

// ioTimeout bounds every read and write a test does on a socket: a hung
// server fails the test instead of the run.
const ioTimeout = 3 * time.Second

// startServer serves o on a loopback listener with a random port and shuts
// the server down when the test ends. It returns the client address.
func startServer(t testing.TB, o Options) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	srv := New(o, zap.NewNop(), "test")
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		select {
		case <-served:
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after Shutdown")
		}
	})
	return srv, ln.Addr().String()
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// defaultConnect is a quiet client with headers: no +OK, no async INFO.
const defaultConnect = `{"verbose":false,"pedantic":false,"headers":true,"protocol":0}`

// connectRaw dials addr, sends CONNECT connect (defaultConnect if empty)
// and waits for the PONG that proves it was accepted.
func connectRaw(t testing.TB, addr, connect string) *testutil.ProtoConn {
	t.Helper()
	c := testutil.DialProto(t, addr)
	if connect == "" {
		connect = defaultConnect
	}
	c.Send("CONNECT " + connect + "\r\n")
	if got := c.Flush(); len(got) != 0 {
		t.Fatalf("after CONNECT: unexpected %v", got)
	}
	return c
}
