package server

import (
	"fmt"
	"io"
	"net"
	"testing"

	"github.com/natsd/natsd/server/wire"
)

// BenchmarkPublish measures the publish path in-process: one message from a
// client to fan subscribers (raw sockets that read and discard), through
// the subject index, the subscribers' queues and their writers. It must not
// allocate per message:
//
//	go test -run '^$' -bench Publish -benchmem ./server
func BenchmarkPublish(b *testing.B) {
	for _, fan := range []int{0, 1, 5} {
		for _, size := range []int{16, 1024} {
			b.Run(fmt.Sprintf("subs=%d/size=%d", fan, size), func(b *testing.B) {
				benchPublish(b, fan, size)
			})
		}
	}
}

// BenchmarkPublishHeaders is BenchmarkPublish with a header block that has
// no trace header: message tracing must cost such messages nothing either.
func BenchmarkPublishHeaders(b *testing.B) {
	hdr := []byte("NATS/1.0\r\nX-Request-Id: 6f1a8e2c\r\nContent-Type: text/plain\r\n\r\n")
	for _, fan := range []int{0, 1} {
		b.Run(fmt.Sprintf("subs=%d/size=16", fan), func(b *testing.B) {
			benchPublishMsg(b, fan, 16, hdr)
		})
	}
}

func benchPublish(b *testing.B, fan, size int) { benchPublishMsg(b, fan, size, nil) }

func benchPublishMsg(b *testing.B, fan, size int, hdr []byte) {
	srv, addr := startServer(b, Options{})
	for i := range fan {
		c := connectRaw(b, addr, "")
		c.Send(fmt.Sprintf("SUB bench.subject %d\r\n", i+1))
		c.Flush()
		go drain(c.NetConn())
	}
	pub := connectRaw(b, addr, "")
	pc := clientOn(b, srv, pub.LocalPort())
	data := append(hdr[:len(hdr):len(hdr)], make([]byte, size)...)
	m := wire.Msg{Subject: []byte("bench.subject"), SizeField: fmt.Appendf(nil, "%d", len(data)), Data: data, HdrLen: len(hdr)}
	if len(hdr) > 0 {
		m.HdrField = fmt.Appendf(nil, "%d", len(hdr))
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	// The benchmark goroutine stands in for the publisher's read loop (the
	// real one is idle: the raw publisher sends nothing), flushing every 64
	// messages as a read of 64 small PUBs would.
	for i := range b.N {
		if err := pc.Pub(&m); err != nil {
			b.Fatal(err)
		}
		if i%64 == 63 {
			pc.prod.flush()
		}
	}
	pc.prod.flush()
}

// clientOn finds the server's client whose remote port is port.
func clientOn(t testing.TB, srv *Server, port int) *client {
	t.Helper()
	for _, c := range srv.snapshotClients() {
		if c.Port() == port {
			return c
		}
	}
	t.Fatalf("no client on port %d", port)
	return nil
}

func drain(nc net.Conn) { _, _ = io.Copy(io.Discard, nc) }
