package main

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// A raw WebSocket client for the tests that look at the wire: the upgrade's
// status and headers, the frames a server sends (close frames and their
// status), frames no library would send. Written from RFC 6455, not from
// natsd's code.

// wsRaw is an upgraded (or refused) connection.
type wsRaw struct {
	t    testing.TB
	nc   net.Conn
	br   *bufio.Reader
	Resp *http.Response
	// Body is the refusal's body (upgrade refused).
	Body string
	// Info is the greeting INFO (upgraded).
	Info map[string]any
}

// wsUpgrade dials addr (TLS when tlsConf is not nil) and sends an upgrade
// request with the extra headers ("Name: value"); on 101 it reads the
// greeting INFO.
func wsUpgrade(t testing.TB, addr string, tlsConf *tls.Config, headers ...string) *wsRaw {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	if tlsConf != nil {
		tc := tls.Client(nc, tlsConf)
		if err := tc.Handshake(); err != nil {
			t.Fatalf("TLS to %s: %v", addr, err)
		}
		nc = tc
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	return wsRequest(t, nc, req+"\r\n")
}

// wsRequest sends a raw request on nc and reads the answer.
func wsRequest(t testing.TB, nc net.Conn, req string) *wsRaw {
	t.Helper()
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	w := &wsRaw{t: t, nc: nc, br: bufio.NewReader(nc)}
	resp, err := http.ReadResponse(w.br, nil)
	if err != nil {
		t.Fatalf("reading the upgrade response: %v", err)
	}
	w.Resp = resp
	if resp.StatusCode != http.StatusSwitchingProtocols {
		b, _ := io.ReadAll(resp.Body)
		w.Body = string(b)
		return w
	}
	f := w.ReadFrame()
	line, _, _ := strings.Cut(string(f.Payload), "\r\n")
	if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "INFO ")), &w.Info); err != nil {
		t.Fatalf("greeting %q: %v", f.Payload, err)
	}
	return w
}

// wsRawFrame is a frame as the server sent it (payload inflated if RSV1).
type wsRawFrame struct {
	Op         byte
	Compressed bool
	Payload    []byte
	Err        error // the connection ended (EOF) instead
}

// Close is a close frame's status code and reason.
func (f wsRawFrame) Close() (int, string) {
	if f.Op != 8 || len(f.Payload) < 2 {
		return 0, ""
	}
	return int(binary.BigEndian.Uint16(f.Payload)), string(f.Payload[2:])
}

// ReadFrame reads the next frame, or returns one with Err set.
func (w *wsRaw) ReadFrame() wsRawFrame {
	var h [2]byte
	if _, err := io.ReadFull(w.br, h[:]); err != nil {
		return wsRawFrame{Err: err}
	}
	if h[1]&0x80 != 0 {
		w.t.Fatalf("the server masked a frame")
	}
	f := wsRawFrame{Op: h[0] & 0x0f, Compressed: h[0]&0x40 != 0}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, _ = io.ReadFull(w.br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, _ = io.ReadFull(w.br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	f.Payload = make([]byte, n)
	if _, err := io.ReadFull(w.br, f.Payload); err != nil {
		return wsRawFrame{Err: err}
	}
	if f.Compressed {
		r := flate.NewReader(io.MultiReader(bytes.NewReader(f.Payload), bytes.NewReader([]byte{0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff})))
		d, err := io.ReadAll(r)
		if err != nil {
			w.t.Fatalf("inflating a frame: %v", err)
		}
		f.Payload = d
	}
	return f
}

// ReadUntilClosed reads frames until the connection ends and returns the
// data frames' payload and the close frame (Op 0 when none came).
func (w *wsRaw) ReadUntilClosed() (data string, closeFrame wsRawFrame) {
	for {
		f := w.ReadFrame()
		switch {
		case f.Err != nil:
			return data, closeFrame
		case f.Op == 8:
			closeFrame = f
		case f.Op == 1 || f.Op == 2:
			data += string(f.Payload)
		}
	}
}

// ReadUntil reads data frames until their payload contains s.
func (w *wsRaw) ReadUntil(s string) string {
	w.t.Helper()
	var data string
	for !strings.Contains(data, s) {
		f := w.ReadFrame()
		if f.Err != nil || f.Op == 8 {
			code, reason := f.Close()
			w.t.Fatalf("waiting for %q: %v (close %d %q), got %q", s, f.Err, code, reason, data)
		}
		data += string(f.Payload)
	}
	return data
}

// Send writes a masked binary frame of p (final, opcode 2).
func (w *wsRaw) Send(p string) { w.SendFrame(0x82, true, []byte(p)) }

// SendFrame writes one frame: b0 is FIN, RSV and opcode; masked or not.
func (w *wsRaw) SendFrame(b0 byte, masked bool, p []byte) {
	w.t.Helper()
	out := []byte{b0}
	var m byte
	if masked {
		m = 0x80
	}
	switch n := len(p); {
	case n < 126:
		out = append(out, m|byte(n))
	case n < 1<<16:
		out = binary.BigEndian.AppendUint16(append(out, m|126), uint16(n))
	default:
		out = binary.BigEndian.AppendUint64(append(out, m|127), uint64(n))
	}
	if masked {
		key := []byte{0xa1, 0x0b, 0x5c, 0x77}
		out = append(out, key...)
		for i, c := range p {
			out = append(out, c^key[i%4])
		}
	} else {
		out = append(out, p...)
	}
	if _, err := w.nc.Write(out); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// SendRaw writes bytes as they are (a header that lies, say).
func (w *wsRaw) SendRaw(b []byte) {
	if _, err := w.nc.Write(b); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// wsConf is a config with a WebSocket listener on loopback (a free port)
// and the block's extra keys.
func wsConf(extra string) string {
	return "websocket {\n  listen: \"127.0.0.1:-1\"\n  " + extra + "\n}\n"
}

// wsStart starts bin with conf (loopback client port and monitoring added).
func wsStart(t testing.TB, bin, conf string) *testutil.Proc {
	t.Helper()
	path := testutil.WriteFile(t, "ws.conf", "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\n"+conf)
	p := testutil.Start(t, bin, "-c", path)
	if p.WebSocketURL() == "" {
		t.Fatalf("no websocket in the ports file: %+v", p.Ports)
	}
	return p
}

// wsConnz is /connz's entry of the connection named name.
func wsConnz(t testing.TB, p *testutil.Proc, name string) (map[string]any, error) {
	for _, c := range httpGet(t, p.MonitorURL()+"/connz")["connections"].([]any) {
		m := c.(map[string]any)
		if m["name"] == name {
			return m, nil
		}
	}
	return nil, errors.New("no connection named " + name)
}

// dialRaw dials addr, closed when the test ends.
func dialRaw(t testing.TB, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { nc.Close() })
	return nc
}
