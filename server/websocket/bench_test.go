package websocket

import (
	"bytes"
	"net"
	"strconv"
	"testing"
	"time"
)

// The hot path alone: a client's frames read into a parser-sized buffer,
// and a writer's chunks sent as a frame. Neither may allocate per message.
// bench/wslib runs the same cases through github.com/gobwas/ws and
// github.com/coder/websocket over loopback TCP.

func pubs(n, size int) []byte {
	var b bytes.Buffer
	payload := bytes.Repeat([]byte("x"), size)
	for range n {
		b.WriteString("PUB bench.x " + strconv.Itoa(size) + "\r\n")
		b.Write(payload)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// loopConn serves the same bytes forever and discards writes.
type loopConn struct {
	src []byte
	off int
}

func (l *loopConn) Read(p []byte) (int, error) {
	n := copy(p, l.src[l.off:])
	l.off = (l.off + n) % len(l.src)
	return n, nil
}
func (l *loopConn) Write(p []byte) (int, error)      { return len(p), nil }
func (l *loopConn) Close() error                     { return nil }
func (l *loopConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (l *loopConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (l *loopConn) SetDeadline(time.Time) error      { return nil }
func (l *loopConn) SetReadDeadline(time.Time) error  { return nil }
func (l *loopConn) SetWriteDeadline(time.Time) error { return nil }

// benchRead reads frames of perFrame 16-byte PUBs (1: a browser that sends
// each message as it comes; 64: nats.go flushing a batch) into 32 KiB
// buffers; one op is one message.
func benchRead(b *testing.B, perFrame int, compress bool) {
	msg := pubs(perFrame, 16)
	payload := msg
	if compress {
		payload = deflateMsg(b, msg)
	}
	frame := clientFrame(frameSpec{op: opBinary, payload: payload, rsv1: compress})
	stream := bytes.Repeat(frame, max(1, 65536/len(frame)))
	c := NewConn(&loopConn{src: stream}, nil, Config{Compress: compress})
	buf := make([]byte, 32<<10)
	per := len(msg) / perFrame
	b.SetBytes(int64(per))
	b.ReportAllocs()
	got := 0
	for b.Loop() {
		for got < per {
			n, err := c.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			got += n
		}
		got -= per
	}
}

func BenchmarkRead1PerFrame(b *testing.B)            { benchRead(b, 1, false) }
func BenchmarkRead64PerFrame(b *testing.B)           { benchRead(b, 64, false) }
func BenchmarkRead64PerFrameCompressed(b *testing.B) { benchRead(b, 64, true) }

// benchWrite sends batches of n MSG lines of size bytes each, as the
// connection's writer hands them over (one op is one message).
func benchWrite(b *testing.B, n, size int, compress bool) {
	benchWriteFrames(b, n, size, compress, 0)
}

// benchWriteFrames is benchWrite with frames of at most maxFrame bytes.
func benchWriteFrames(b *testing.B, n, size int, compress bool, maxFrame int) {
	batch := bytes.ReplaceAll(pubs(n, size), []byte("PUB"), []byte("MSG"))
	bufs := [][]byte{batch[:len(batch)/2], batch[len(batch)/2:]}
	c := NewConn(&loopConn{src: []byte{0}}, nil, Config{Compress: compress, MaxWriteFrame: maxFrame})
	b.SetBytes(int64(len(batch) / n))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%n == 0 {
			if _, err := c.WriteBuffers(bufs); err != nil {
				b.Fatal(err)
			}
		}
		i++
	}
}

func BenchmarkWriteBatch64x16(b *testing.B)           { benchWrite(b, 64, 16, false) }
func BenchmarkWriteBatch64x16Compressed(b *testing.B) { benchWrite(b, 64, 16, true) }
func BenchmarkWriteBatch16x1K(b *testing.B)           { benchWrite(b, 16, 1024, false) }

// A backlog of 4 MiB (a client that fell behind) in frames of 512 KiB:
// nats.go's limit for a max_payload of 64 KiB.
func BenchmarkWriteBacklogSplit(b *testing.B) { benchWriteFrames(b, 4096, 1024, false, 512<<10) }
