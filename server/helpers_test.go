package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
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

// rawConn is a client speaking the protocol by hand over TCP.
type rawConn struct {
	t    testing.TB
	nc   net.Conn
	br   *bufio.Reader
	info map[string]any // the greeting INFO
}

// frame is one thing the server sent: a control line (without CRLF) and,
// for MSG/HMSG/RMSG, the payload (header block included, without CRLF).
type frame struct {
	line    string
	payload string
}

// dialRaw connects to addr and reads the greeting INFO.
func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	c := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
	line := c.readLine()
	if !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("greeting = %q, want INFO", line)
	}
	if err := json.Unmarshal([]byte(line[5:]), &c.info); err != nil {
		t.Fatalf("greeting INFO: %v", err)
	}
	return c
}

// defaultConnect is a quiet client with headers: no +OK, no async INFO.
const defaultConnect = `{"verbose":false,"pedantic":false,"headers":true,"protocol":0}`

// connectRaw dials addr, sends CONNECT connect (defaultConnect if empty)
// and waits for the PONG that proves it was accepted.
func connectRaw(t testing.TB, addr, connect string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	if connect == "" {
		connect = defaultConnect
	}
	c.send("CONNECT " + connect + "\r\n")
	if got := c.flush(); len(got) != 0 {
		t.Fatalf("after CONNECT: unexpected %v", got)
	}
	return c
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

func (c *rawConn) readLine() string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	line, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (partial %q)", err, line)
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
}

func (c *rawConn) readFrame() frame {
	c.t.Helper()
	f := frame{line: c.readLine()}
	fields := strings.Fields(f.line)
	if len(fields) < 3 {
		return f
	}
	switch fields[0] {
	case "MSG", "HMSG", "RMSG":
		n, err := strconv.Atoi(fields[len(fields)-1])
		if err != nil {
			c.t.Fatalf("bad size in %q", f.line)
		}
		buf := make([]byte, n+2)
		_ = c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
		if _, err := io.ReadFull(c.br, buf); err != nil {
			c.t.Fatalf("payload of %q: %v", f.line, err)
		}
		if string(buf[n:]) != "\r\n" {
			c.t.Fatalf("payload of %q not followed by CRLF: %q", f.line, buf)
		}
		f.payload = string(buf[:n])
	}
	return f
}

// flush sends PING and returns what arrived before the PONG, leaving out
// the server's keepalive PINGs. Everything the server queued for this
// connection before it read the PING comes first.
func (c *rawConn) flush() []frame {
	c.t.Helper()
	c.send("PING\r\n")
	var got []frame
	for {
		f := c.readFrame()
		switch f.line {
		case "PONG":
			return got
		case "PING":
			continue
		}
		got = append(got, f)
	}
}

// readUntilClosed reads lines until the server closes the connection and
// returns them (an -ERR, say). It fails if the connection stays open.
func (c *rawConn) readUntilClosed() []string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	var lines []string
	for {
		line, err := c.br.ReadString('\n')
		if line != "" {
			lines = append(lines, strings.TrimRight(line, "\r\n"))
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("connection still open after %v (read %q)", ioTimeout, lines)
			}
			return lines
		}
	}
}

// localPort is the client side's port, as the server sees it.
func (c *rawConn) localPort() int { return c.nc.LocalAddr().(*net.TCPAddr).Port }

func lines(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.line
	}
	return out
}
