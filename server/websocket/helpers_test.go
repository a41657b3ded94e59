package websocket

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// A client's side of the wire, written independently of the package's
// code: frames as a browser or nats.go sends them, and a decoder of what
// the server sends.

type frameSpec struct {
	op       byte
	payload  []byte
	notFin   bool
	rsv1     bool
	unmasked bool
	rsv2     bool
	key      [4]byte
}

func clientFrame(f frameSpec) []byte {
	b0 := f.op
	if !f.notFin {
		b0 |= 0x80
	}
	if f.rsv1 {
		b0 |= 0x40
	}
	if f.rsv2 {
		b0 |= 0x20
	}
	out := []byte{b0}
	var m byte
	if !f.unmasked {
		m = 0x80
	}
	n := len(f.payload)
	switch {
	case n < 126:
		out = append(out, m|byte(n))
	case n < 1<<16:
		out = binary.BigEndian.AppendUint16(append(out, m|126), uint16(n))
	default:
		out = binary.BigEndian.AppendUint64(append(out, m|127), uint64(n))
	}
	if f.unmasked {
		return append(out, f.payload...)
	}
	key := f.key
	if key == [4]byte{} {
		key = [4]byte{0x37, 0xfa, 0x21, 0x3d}
	}
	out = append(out, key[:]...)
	for i, c := range f.payload {
		out = append(out, c^key[i%4])
	}
	return out
}

// deflateMsg compresses p as a permessage-deflate message (tail removed).
func deflateMsg(t testing.TB, p []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, _ := testDeflaters.Get().(*flate.Writer)
	if w == nil {
		w, _ = flate.NewWriter(&buf, flate.DefaultCompression)
	}
	w.Reset(&buf)
	defer testDeflaters.Put(w)
	_, _ = w.Write(p)
	_ = w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// testDeflaters spares the fuzz targets a megabyte of allocation per run.
var testDeflaters sync.Pool

// serverFrame is a frame the server sent, decoded (inflated if RSV1).
type serverFrame struct {
	op         byte
	fin        bool
	compressed bool
	payload    []byte
	raw        []byte // the payload on the wire (compressed if RSV1)
}

func (f serverFrame) closeCode() (int, string) {
	if len(f.payload) < 2 {
		return 0, ""
	}
	return int(binary.BigEndian.Uint16(f.payload)), string(f.payload[2:])
}

// readServerFrames decodes every frame in b; a server frame must not be
// masked.
func readServerFrames(t testing.TB, b []byte) []serverFrame {
	t.Helper()
	var out []serverFrame
	for len(b) > 0 {
		if len(b) < 2 {
			t.Fatalf("truncated frame header % x", b)
		}
		f := serverFrame{op: b[0] & 0x0f, fin: b[0]&0x80 != 0, compressed: b[0]&0x40 != 0}
		if b[1]&0x80 != 0 {
			t.Fatalf("the server masked a frame")
		}
		n, hl := uint64(b[1]&0x7f), 2
		switch n {
		case 126:
			n, hl = uint64(binary.BigEndian.Uint16(b[2:])), 4
		case 127:
			n, hl = binary.BigEndian.Uint64(b[2:]), 10
		}
		if uint64(len(b)-hl) < n {
			t.Fatalf("truncated frame: %d of %d bytes", len(b)-hl, n)
		}
		f.payload = append([]byte(nil), b[hl:hl+int(n)]...)
		f.raw = f.payload
		b = b[hl+int(n):]
		if f.compressed {
			r := flate.NewReader(io.MultiReader(bytes.NewReader(f.payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
			d, err := io.ReadAll(r)
			if err != nil {
				t.Fatalf("inflating a server frame: %v", err)
			}
			f.payload = d
		}
		out = append(out, f)
	}
	return out
}

// scriptConn is a net.Conn whose reads return the chunks of a script, then
// EOF, and whose writes are recorded.
type scriptConn struct {
	mu     sync.Mutex
	chunks [][]byte
	out    bytes.Buffer
	closed bool
	writes int
}

func newScriptConn(chunks ...[]byte) *scriptConn { return &scriptConn{chunks: chunks} }

func (s *scriptConn) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.chunks) > 0 && len(s.chunks[0]) == 0 {
		s.chunks = s.chunks[1:]
	}
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.chunks[0])
	s.chunks[0] = s.chunks[0][n:]
	return n, nil
}

func (s *scriptConn) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, net.ErrClosed
	}
	s.writes++
	return s.out.Write(p)
}

func (s *scriptConn) written() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]byte(nil), s.out.Bytes()...)
}

func (s *scriptConn) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}
func (s *scriptConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *scriptConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *scriptConn) SetDeadline(time.Time) error      { return nil }
func (s *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (s *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// readAll reads c until an error, with reads of size n, and returns the
// payload and the error that ended it.
func readAll(c *Conn, n int) ([]byte, error) {
	var out []byte
	buf := make([]byte, n)
	for {
		k, err := c.Read(buf)
		out = append(out, buf[:k]...)
		if err != nil {
			return out, err
		}
		if k == 0 {
			return out, errors.New("Read returned 0 bytes and no error")
		}
	}
}

// split cuts b into pieces of size n (the last may be shorter).
func split(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

func join(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
