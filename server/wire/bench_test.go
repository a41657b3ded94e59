package wire

import (
	"bytes"
	"strconv"
	"testing"
)

type nopHandler struct{ n int }

func (h *nopHandler) Connect([]byte) error                   { return nil }
func (h *nopHandler) Info([]byte) error                      { return nil }
func (h *nopHandler) Pub(m *Msg) error                       { h.n += len(m.Data); return nil }
func (h *nopHandler) Sub(_, _, _ []byte) error               { return nil }
func (h *nopHandler) Unsub([]byte, int64) error              { return nil }
func (h *nopHandler) Ping() error                            { return nil }
func (h *nopHandler) Pong() error                            { return nil }
func (h *nopHandler) OK() error                              { return nil }
func (h *nopHandler) Err([]byte) error                       { return nil }
func (h *nopHandler) RouteSub(_, _, _ []byte, _ int32) error { return nil }
func (h *nopHandler) RouteUnsub(_, _, _ []byte) error        { return nil }
func (h *nopHandler) RouteMsg(m *Msg) error                  { h.n += len(m.Data); return nil }

func pubBatch(n, size int) []byte {
	var b bytes.Buffer
	payload := bytes.Repeat([]byte("x"), size)
	for range n {
		b.WriteString("PUB orders.eu.123 " + strconv.Itoa(size) + "\r\n")
		b.Write(payload)
		b.WriteString("\r\n")
	}
	return b.Bytes()
}

// BenchmarkParsePub parses 100 pipelined 16-byte PUBs per op, as they arrive
// from a fast publisher. It must not allocate.
func BenchmarkParsePub(b *testing.B) {
	buf := pubBatch(100, 16)
	p := NewClientParser(&nopHandler{}, Limits{MaxControlLine: 4096, MaxPayload: 1 << 20})
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Parse(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParsePubSplit feeds the same stream in 1000-byte reads, so that
// control lines and payloads cross read boundaries.
func BenchmarkParsePubSplit(b *testing.B) {
	buf := pubBatch(100, 16)
	p := NewClientParser(&nopHandler{}, Limits{MaxControlLine: 4096, MaxPayload: 1 << 20})
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		for i := 0; i < len(buf); i += 1000 {
			if err := p.Parse(buf[i:min(i+1000, len(buf))]); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkParseRouteMsg(b *testing.B) {
	var buf bytes.Buffer
	for range 100 {
		buf.WriteString("RMSG $G orders.eu.123 + _INBOX.abc g1 g2 16\r\nxxxxxxxxxxxxxxxx\r\n")
	}
	p := NewRouteParser(&nopHandler{}, Limits{})
	b.SetBytes(int64(buf.Len()))
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Parse(buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}
