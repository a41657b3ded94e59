package testutil

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ProtoTimeout bounds every read and write a ProtoConn does: a hung server
// fails the test instead of the run.
const ProtoTimeout = 3 * time.Second

// ProtoConn is a TCP client speaking the NATS protocol by hand: a client on
// a client port, or a fake route peer on a route port. Its methods fail the
// test on an I/O error or timeout.
type ProtoConn struct {
	// Info is the greeting INFO, decoded.
	Info map[string]any
	// Infos holds the INFO lines Flush set aside (with SetAsideInfo).
	Infos []string
	// AnswerPings makes Flush answer the other side's PINGs with PONG (a
	// route peer must, or it is dropped as stale); otherwise Flush leaves
	// them out unanswered.
	AnswerPings bool
	// SetAsideInfo makes Flush move INFO lines (async INFO, gossip) to Infos
	// instead of returning them.
	SetAsideInfo bool

	t  testing.TB
	nc net.Conn
	br *bufio.Reader
}

// Frame is one thing the server sent: a control line (without CRLF) and,
// for MSG/HMSG/RMSG, the payload (header block included, without CRLF).
type Frame struct {
	Line    string
	Payload string
}

// DialProto connects to addr (host:port), reads the greeting INFO into
// Info and closes the connection when the test ends.
func DialProto(t testing.TB, addr string) *ProtoConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ProtoTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	c := &ProtoConn{t: t, nc: nc, br: bufio.NewReader(nc)}
	line := c.ReadLine()
	if !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("greeting = %q, want INFO", line)
	}
	if err := json.Unmarshal([]byte(line[5:]), &c.Info); err != nil {
		t.Fatalf("greeting INFO: %v", err)
	}
	return c
}

// Send writes s as it is (include the CRLFs).
func (c *ProtoConn) Send(s string) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(ProtoTimeout))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write %q: %v", s, err)
	}
}

// ReadLine reads one line and returns it without its CRLF.
func (c *ProtoConn) ReadLine() string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(ProtoTimeout))
	line, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (partial %q)", err, line)
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
}

// ReadFrame reads a control line and, for MSG/HMSG/RMSG, its payload.
func (c *ProtoConn) ReadFrame() Frame {
	c.t.Helper()
	f := Frame{Line: c.ReadLine()}
	fields := strings.Fields(f.Line)
	if len(fields) < 3 {
		return f
	}
	switch fields[0] {
	case "MSG", "HMSG", "RMSG":
		n, err := strconv.Atoi(fields[len(fields)-1])
		if err != nil {
			c.t.Fatalf("bad size in %q", f.Line)
		}
		buf := make([]byte, n+2)
		_ = c.nc.SetReadDeadline(time.Now().Add(ProtoTimeout))
		if _, err := io.ReadFull(c.br, buf); err != nil {
			c.t.Fatalf("payload of %q: %v", f.Line, err)
		}
		if string(buf[n:]) != "\r\n" {
			c.t.Fatalf("payload of %q not followed by CRLF: %q", f.Line, buf)
		}
		f.Payload = string(buf[:n])
	}
	return f
}

// Flush sends PING and returns what arrived before the PONG, leaving out
// the other side's PINGs (answered with AnswerPings) and, with
// SetAsideInfo, INFO lines. Everything the server queued for this
// connection before it read the PING comes first.
func (c *ProtoConn) Flush() []Frame {
	c.t.Helper()
	c.Send("PING\r\n")
	var got []Frame
	for {
		f := c.ReadFrame()
		switch {
		case f.Line == "PONG":
			return got
		case f.Line == "PING":
			if c.AnswerPings {
				c.Send("PONG\r\n")
			}
		case c.SetAsideInfo && strings.HasPrefix(f.Line, "INFO "):
			c.Infos = append(c.Infos, f.Line)
		default:
			got = append(got, f)
		}
	}
}

// Recv flushes until n frames arrived (messages routed through another
// server arrive asynchronously) and returns them.
func (c *ProtoConn) Recv(n int) []Frame {
	c.t.Helper()
	var got []Frame
	deadline := time.Now().Add(ProtoTimeout)
	for len(got) < n {
		if time.Now().After(deadline) {
			c.t.Fatalf("got %q, want %d frames", Lines(got), n)
		}
		got = append(got, c.Flush()...)
		if len(got) < n {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return got
}

// Expect reads lines until one equals want, skipping the server's PINGs;
// any other line fails the test.
func (c *ProtoConn) Expect(want string) {
	c.t.Helper()
	for {
		l := c.ReadLine()
		if l == want {
			return
		}
		if l != "PING" {
			c.t.Fatalf("got %q, want %q", l, want)
		}
	}
}

// ReadUntilClosed reads lines until the other side closes the connection
// and returns them (an -ERR, say). It fails if the connection stays open
// for ProtoTimeout.
func (c *ProtoConn) ReadUntilClosed() []string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(ProtoTimeout))
	var lines []string
	for {
		line, err := c.br.ReadString('\n')
		if line != "" {
			lines = append(lines, strings.TrimRight(line, "\r\n"))
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.t.Fatalf("connection still open after %v (read %q)", ProtoTimeout, lines)
			}
			return lines
		}
	}
}

// ClosedWithin reads and discards until the other side closes the
// connection, and reports whether it did within d.
func (c *ProtoConn) ClosedWithin(d time.Duration) bool {
	deadline := time.Now().Add(d)
	buf := make([]byte, 64*1024)
	for time.Now().Before(deadline) {
		_ = c.nc.SetReadDeadline(deadline)
		if _, err := c.br.Read(buf); err != nil {
			var ne net.Error
			return !errors.As(err, &ne) || !ne.Timeout()
		}
	}
	return false
}

// LocalPort is the client side's port, as the server sees it.
func (c *ProtoConn) LocalPort() int { return c.nc.LocalAddr().(*net.TCPAddr).Port }

// Close closes the connection (without the protocol saying goodbye).
func (c *ProtoConn) Close() error { return c.nc.Close() }

// Lines returns the control lines of fs.
func Lines(fs []Frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Line
	}
	return out
}

// NetConn is the socket (to read it raw, say to drain it in a benchmark).
func (c *ProtoConn) NetConn() net.Conn { return c.nc }
