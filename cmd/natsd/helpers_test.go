package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// connectRetry connects, retrying for a few seconds while the server starts.
func connectRetry(t *testing.T, url string) *nats.Conn {
	t.Helper()
	var nc *nats.Conn
	testutil.Eventually(t, 10*time.Second, func() error {
		var err error
		nc, err = nats.Connect(url, nats.Timeout(2*time.Second))
		return err
	})
	t.Cleanup(nc.Close)
	return nc
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func httpGet(t *testing.T, url string) map[string]any {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
	return m
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func httpGetVarz(t *testing.T, p *testutil.Proc) map[string]any {
	t.Helper()
	return httpGet(t, p.MonitorURL()+"/varz")
}

// raw is a plain TCP client speaking the protocol by hand.
type raw struct {
	conn net.Conn
	r    *bufio.Reader
}

func rawConn(t *testing.T, url string) *raw {
	t.Helper()
	addr := strings.TrimPrefix(url, "nats://")
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &raw{conn: c, r: bufio.NewReader(c)}
	if line := r.line(t); !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("greeting %q", line)
	}
	return r
}

func (r *raw) send(t *testing.T, s string) {
	t.Helper()
	if _, err := r.conn.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

func (r *raw) line(t *testing.T) string {
	t.Helper()
	_ = r.conn.SetReadDeadline(time.Now().Add(3 * time.Second))
	s, err := r.r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading a line: %v (so far %q)", err, s)
	}
	return strings.TrimRight(s, "\r\n")
}

// expect reads lines until one equals want (skipping PINGs from the server).
func (r *raw) expect(t *testing.T, want string) {
	t.Helper()
	for {
		l := r.line(t)
		if l == want {
			return
		}
		if l != "PING" {
			t.Fatalf("got %q, want %q", l, want)
		}
	}
}

// closedWithin reads and discards until the server closes the connection.
func (r *raw) closedWithin(d time.Duration) bool {
	deadline := time.Now().Add(d)
	buf := make([]byte, 64*1024)
	for time.Now().Before(deadline) {
		_ = r.conn.SetReadDeadline(deadline)
		if _, err := r.conn.Read(buf); err != nil {
			return !isTimeoutErr(err)
		}
	}
	return false
}

func isTimeoutErr(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
