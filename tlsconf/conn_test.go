package tlsconf

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// sessionPair is a TLS session over loopback TCP: the server side as
// natsd makes it (Server), the client side read by the test.
func sessionPair(tb testing.TB) (*Conn, *tls.Conn) {
	tb.Helper()
	ca := testutil.NewCA(tb, "conn CA")
	c := ca.Issue(tb, "localhost")
	st, err := NewStore(&Options{CertFile: c.CertFile, KeyFile: c.KeyFile})
	if err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept()
		accepted <- nc
	}()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	cli := tls.Client(raw, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	srv := Server(<-accepted, st.ServerConfig())
	done := make(chan error, 1)
	go func() { done <- cli.Handshake() }()
	if err := srv.Handshake(context.Background(), 5*time.Second); err != nil {
		tb.Fatal(err)
	}
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close(); cli.Close() })
	return srv, cli
}

// WriteBuffers delivers every byte, in order, also for chunks larger than
// a batch and with the session written through between batches.
func TestWriteBuffers(t *testing.T) {
	srv, cli := sessionPair(t)
	var want bytes.Buffer
	var bufs [][]byte
	for i, n := range []int{10, 32 * 1024, 200 * 1024, 1, 70 * 1024} {
		b := bytes.Repeat([]byte{byte('a' + i)}, n)
		bufs = append(bufs, b)
		want.Write(b)
	}
	batched := int64(want.Len())
	want.WriteString("tail.")
	total := int64(want.Len())
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(io.LimitReader(cli, total))
		got <- b
	}()
	if n, err := srv.WriteBuffers(bufs); err != nil || n != batched {
		t.Fatalf("WriteBuffers: %d, %v", n, err)
	}
	if _, err := srv.Write([]byte("tail.")); err != nil { // written through
		t.Fatal(err)
	}
	select {
	case b := <-got:
		if !bytes.Equal(b, want.Bytes()) {
			t.Fatalf("read %d bytes, want %d, or they differ", len(b), want.Len())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the reader did not get everything")
	}
}

// BenchmarkTLSWriteChunks writes a writer's batch of queued chunks (four
// full 32 KiB chunks, as a busy connection has; one of 2 KiB, as a quiet
// one has) to a TLS session: one Write per chunk (what net.Buffers does
// on a *tls.Conn), or WriteBuffers.
func BenchmarkTLSWriteChunks(b *testing.B) {
	for _, shape := range []struct {
		name   string
		chunks int
		size   int
	}{{"4x32KiB", 4, 32 * 1024}, {"1x2KiB", 1, 2 * 1024}} {
		bufs := make([][]byte, shape.chunks)
		for i := range bufs {
			bufs[i] = bytes.Repeat([]byte("x"), shape.size)
		}
		for _, mode := range []string{"Write each", "WriteBuffers"} {
			b.Run(shape.name+"/"+mode, func(b *testing.B) {
				srv, cli := sessionPair(b)
				go func() { _, _ = io.Copy(io.Discard, cli) }()
				b.SetBytes(int64(shape.chunks * shape.size))
				b.ResetTimer()
				for range b.N {
					if mode == "WriteBuffers" {
						if _, err := srv.WriteBuffers(bufs); err != nil {
							b.Fatal(err)
						}
						continue
					}
					for _, c := range bufs {
						if _, err := srv.Write(c); err != nil {
							b.Fatal(err)
						}
					}
				}
			})
		}
	}
}
