// Package wslib measures natsd's hand-written WebSocket framing
// (server/websocket) against github.com/gobwas/ws and
// github.com/coder/websocket on natsd's hot path, over loopback TCP: a
// client's masked frames of NATS protocol read into 32 KiB buffers (what
// the client's parser is handed), and the writer's batches of two chunks
// sent as frames; each with permessage-deflate too. One op is one NATS
// message; allocations are per message.
//
// It is a module of its own so that natsd does not depend on the libraries
// it measures:
//
//	cd bench/wslib && go test -run '^$' -bench . -benchtime 2s -count 5
//
// docs/websocket.md has the results and the choice they led to.
package wslib

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"

	natsws "github.com/natsd/natsd/server/websocket"
)

// server is one implementation's side of an upgraded connection.
type server interface {
	read(p []byte) (int, error)
	write(bufs [][]byte) error
}

type impl struct {
	name   string
	accept func(b *testing.B, ln net.Listener, compress bool) server
}

var impls = []impl{
	{"natsd", acceptNatsd},
	{"gobwas", acceptGobwas},
	{"coder", acceptCoder},
}

// --- natsd: server/websocket ---

type natsdServer struct{ c *natsws.Conn }

func (s natsdServer) read(p []byte) (int, error) { return s.c.Read(p) }
func (s natsdServer) write(bufs [][]byte) error {
	_, err := s.c.WriteBuffers(bufs)
	return err
}

func acceptNatsd(b *testing.B, ln net.Listener, compress bool) server {
	nc, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	br := natsws.NewHandshakeReader(nc)
	up, err := natsws.Accept(br, nc, &natsws.Policy{Compression: compress})
	if err != nil {
		b.Fatal(err)
	}
	return natsdServer{natsws.NewConn(nc, natsws.Buffered(br), natsws.Config{Compress: up.Compress})}
}

// --- gobwas/ws, low level: wsutil.Reader, wsflate, headers by hand ---

type gobwasServer struct {
	nc       net.Conn
	rd       *wsutil.Reader
	msg      wsflate.MessageState
	fr       *wsflate.Reader
	cur      io.Reader
	compress bool
	hdr      bytes.Buffer
	cbuf     bytes.Buffer
	fw       *wsflate.Writer
	vec      net.Buffers
}

func acceptGobwas(b *testing.B, ln net.Listener, compress bool) server {
	nc, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	ext := wsflate.Extension{Parameters: wsflate.Parameters{ServerNoContextTakeover: true, ClientNoContextTakeover: true}}
	u := ws.Upgrader{}
	if compress {
		u.Negotiate = ext.Negotiate
	}
	if _, err := u.Upgrade(nc); err != nil {
		b.Fatal(err)
	}
	_, on := ext.Accepted()
	s := &gobwasServer{nc: nc, compress: on && compress}
	s.rd = &wsutil.Reader{Source: bufio.NewReaderSize(nc, 32<<10), State: ws.StateServerSide | ws.StateExtended,
		Extensions: []wsutil.RecvExtension{&s.msg}}
	s.fr = wsflate.NewReader(nil, func(r io.Reader) wsflate.Decompressor { return flate.NewReader(r) })
	s.fw = wsflate.NewWriter(&s.cbuf, func(w io.Writer) wsflate.Compressor {
		f, _ := flate.NewWriter(w, flate.BestSpeed)
		return f
	})
	return s
}

func (s *gobwasServer) read(p []byte) (int, error) {
	for {
		if s.cur != nil {
			n, err := s.cur.Read(p)
			if err == io.EOF {
				s.cur = nil
				if n > 0 {
					return n, nil
				}
				continue
			}
			return n, err
		}
		if _, err := s.rd.NextFrame(); err != nil {
			return 0, err
		}
		s.cur = s.rd
		if s.msg.IsCompressed() {
			s.fr.Reset(s.rd)
			s.cur = s.fr
		}
	}
}

func (s *gobwasServer) write(bufs [][]byte) error {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	h := ws.Header{Fin: true, OpCode: ws.OpBinary, Length: int64(total)}
	s.vec = append(s.vec[:0], nil)
	if s.compress && total >= 64 {
		s.cbuf.Reset()
		s.fw.Reset(&s.cbuf)
		for _, b := range bufs {
			_, _ = s.fw.Write(b)
		}
		_ = s.fw.Flush()
		h.Length, h.Rsv = int64(s.cbuf.Len()), ws.Rsv(true, false, false)
		s.vec = append(s.vec, s.cbuf.Bytes())
	} else {
		s.vec = append(s.vec, bufs...)
	}
	s.hdr.Reset()
	_ = ws.WriteHeader(&s.hdr, h)
	s.vec[0] = s.hdr.Bytes()
	_, err := s.vec.WriteTo(s.nc)
	return err
}

// --- coder/websocket: Accept through net/http, NetConn to read ---

type coderServer struct {
	c    *websocket.Conn
	nc   net.Conn
	join []byte
}

func acceptCoder(b *testing.B, ln net.Listener, compress bool) server {
	got := make(chan *websocket.Conn, 1)
	mode := websocket.CompressionDisabled
	if compress {
		mode = websocket.CompressionNoContextTakeover
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{CompressionMode: mode, CompressionThreshold: 64})
		if err != nil {
			b.Error(err)
			return
		}
		c.SetReadLimit(-1)
		got <- c
		<-r.Context().Done()
	})}
	go func() { _ = hs.Serve(ln) }()
	b.Cleanup(func() { _ = hs.Close() })
	c := <-got
	return &coderServer{c: c, nc: websocket.NetConn(context.Background(), c, websocket.MessageBinary)}
}

func (s *coderServer) read(p []byte) (int, error) { return s.nc.Read(p) }
func (s *coderServer) write(bufs [][]byte) error {
	s.join = s.join[:0]
	for _, b := range bufs {
		s.join = append(s.join, b...) // the API takes one []byte per message
	}
	return s.c.Write(context.Background(), websocket.MessageBinary, s.join)
}

// --- the client: raw frames, as nats.go or a browser sends them ---

func dialClient(b *testing.B, addr string, compress bool) (net.Conn, *bufio.Reader) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	if compress {
		req += "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n"
	}
	if _, err := io.WriteString(nc, req+"\r\n"); err != nil {
		b.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		b.Fatalf("upgrade: %v %v", resp, err)
	}
	if compress && !strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		b.Fatalf("compression not negotiated: %v", resp.Header)
	}
	return nc, br
}

func pubs(n, size int) []byte {
	var buf bytes.Buffer
	payload := bytes.Repeat([]byte("x"), size)
	for range n {
		buf.WriteString("PUB bench.x " + strconv.Itoa(size) + "\r\n")
		buf.Write(payload)
		buf.WriteString("\r\n")
	}
	return buf.Bytes()
}

func maskedFrame(payload []byte, compressed bool) []byte {
	b0 := byte(0x82)
	if compressed {
		b0 |= 0x40
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n < 1<<16:
		out = append(out, 0x80|126, byte(n>>8), byte(n))
	default:
		out = append(out, 0x80|127, 0, 0, 0, 0, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	key := []byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, key...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}

func deflate(p []byte) []byte {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestSpeed)
	_, _ = w.Write(p)
	_ = w.Flush()
	return bytes.TrimSuffix(buf.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// BenchmarkIn: the client streams frames of perFrame 16-byte PUBs (1: a
// browser sending each message as it is published; 64: nats.go flushing a
// batch); the server reads them into 32 KiB buffers.
func BenchmarkIn(b *testing.B) {
	for _, tc := range []struct {
		name     string
		perFrame int
		compress bool
	}{{"1perFrame", 1, false}, {"64perFrame", 64, false}, {"64perFrame-deflate", 64, true}} {
		for _, im := range impls {
			b.Run(tc.name+"/"+im.name, func(b *testing.B) {
				msg := pubs(tc.perFrame, 16)
				payload := msg
				if tc.compress {
					payload = deflate(msg)
				}
				stream := bytes.Repeat(maskedFrame(payload, tc.compress), max(1, 256<<10/len(payload)))
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				defer ln.Close()
				srvCh := make(chan server, 1)
				go func() { srvCh <- im.accept(b, ln, tc.compress) }()
				nc, _ := dialClient(b, ln.Addr().String(), tc.compress)
				defer nc.Close()
				s := <-srvCh
				go func() {
					for {
						if _, err := nc.Write(stream); err != nil {
							return
						}
					}
				}()
				per := len(msg) / tc.perFrame
				buf := make([]byte, 32<<10)
				b.SetBytes(int64(per))
				b.ReportAllocs()
				got := 0
				for b.Loop() {
					for got < per {
						n, err := s.read(buf)
						if err != nil {
							b.Fatal(err)
						}
						got += n
					}
					got -= per
				}
			})
		}
	}
}

// BenchmarkOut: the server's writer sends batches of n MSGs (two chunks,
// as the outbound queue hands them over); the client drains the socket.
func BenchmarkOut(b *testing.B) {
	for _, tc := range []struct {
		name     string
		n, size  int
		compress bool
	}{{"64x16B", 64, 16, false}, {"16x1KiB", 16, 1024, false}, {"64x16B-deflate", 64, 16, true}} {
		for _, im := range impls {
			b.Run(tc.name+"/"+im.name, func(b *testing.B) {
				batch := bytes.ReplaceAll(pubs(tc.n, tc.size), []byte("PUB"), []byte("MSG"))
				bufs := [][]byte{batch[:len(batch)/2], batch[len(batch)/2:]}
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					b.Fatal(err)
				}
				defer ln.Close()
				srvCh := make(chan server, 1)
				go func() { srvCh <- im.accept(b, ln, tc.compress) }()
				nc, br := dialClient(b, ln.Addr().String(), tc.compress)
				defer nc.Close()
				s := <-srvCh
				go func() { _, _ = io.Copy(io.Discard, br) }()
				b.SetBytes(int64(len(batch) / tc.n))
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					if i%tc.n == 0 {
						if err := s.write(bufs); err != nil {
							b.Fatal(err)
						}
					}
					i++
				}
			})
		}
	}
}
