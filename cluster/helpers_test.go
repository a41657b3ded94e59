package cluster

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
)

// ioTimeout bounds every socket read and write of a test.
const ioTimeout = 3 * time.Second

// node is one natsd in-process: a server on a loopback client listener and
// its cluster on a loopback route listener.
type node struct {
	srv        *server.Server
	cl         *Cluster
	clientAddr string
	routeAddr  string
}

// newNode starts a server and its cluster listener (routes are not dialed
// until cl.Start). co.Host, co.Port and a zero AuthTimeout are filled in.
func newNode(t *testing.T, co Options) *node {
	t.Helper()
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Host: "127.0.0.1"}, zap.NewNop(), "test")
	servedClients := make(chan struct{})
	go func() {
		defer close(servedClients)
		_ = srv.Serve(cln)
	}()
	co.Host = "127.0.0.1"
	co.Port = rln.Addr().(*net.TCPAddr).Port
	if co.AuthTimeout == 0 {
		co.AuthTimeout = 2 * time.Second
	}
	cl := New(co, srv, testLogger(t))
	srv.SetRouter(cl)
	servedRoutes := make(chan struct{})
	go func() {
		defer close(servedRoutes)
		_ = cl.Serve(rln)
	}()
	n := &node{srv: srv, cl: cl, clientAddr: cln.Addr().String(), routeAddr: rln.Addr().String()}
	t.Cleanup(func() {
		cl.Shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
		for _, ch := range []chan struct{}{servedClients, servedRoutes} {
			select {
			case <-ch:
			case <-time.After(5 * time.Second):
				t.Errorf("a Serve did not return")
			}
		}
	})
	// The INFO a route sends carries the bound port: wait until Serve has
	// registered the listener before anything dials.
	waitFor(t, ioTimeout, "the route listener", func() bool {
		var v server.Varz
		cl.VarzCluster(&v)
		return v.Cluster.Port != 0
	})
	return n
}

// startNode is newNode plus Start, dialing routes.
func startNode(t *testing.T, co Options, routes ...*node) *node {
	t.Helper()
	for _, r := range routes {
		co.Routes = append(co.Routes, r.url())
	}
	n := newNode(t, co)
	n.cl.Start()
	return n
}

func (n *node) url() *url.URL { return &url.URL{Scheme: "nats-route", Host: n.routeAddr} }

func (n *node) routePort() int {
	_, p, _ := net.SplitHostPort(n.routeAddr)
	port, _ := strconv.Atoi(p)
	return port
}

// peerIDs lists the server ids n has registered routes to.
func (n *node) peerIDs() map[string]bool {
	ids := map[string]bool{}
	for _, r := range n.cl.Routez(false).Routes {
		ids[r.RemoteID] = true
	}
	return ids
}

// testLogger is a no-op logger, or with CLUSTER_DEBUG set in the
// environment a development logger naming the test: what both sides of a
// route did, when a test needs explaining.
func testLogger(t testing.TB) *zap.Logger {
	if os.Getenv("CLUSTER_DEBUG") == "" {
		return zap.NewNop()
	}
	l, err := zap.NewDevelopment()
	if err != nil {
		t.Fatal(err)
	}
	return l.With(zap.String("test", t.Name()))
}

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

// stays checks that cond holds for the whole of d.
func stays(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !cond() {
			t.Fatalf("%s stopped holding", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func waitRoutes(t testing.TB, n *node, want int) {
	t.Helper()
	waitFor(t, 5*time.Second, strconv.Itoa(want)+" routes", func() bool { return n.cl.NumRoutes() == want })
}

// conn speaks a protocol by hand: a client on a client port, or a fake
// route peer on a route port.
type conn struct {
	t     testing.TB
	nc    net.Conn
	br    *bufio.Reader
	info  map[string]any // the first INFO
	infos []string       // INFO lines flush skipped (async INFO, gossip)
}

type frame struct {
	line    string
	payload string
}

func dial(t testing.TB, addr string) *conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	c := &conn{t: t, nc: nc, br: bufio.NewReader(nc)}
	line := c.readLine()
	if !strings.HasPrefix(line, "INFO ") {
		t.Fatalf("greeting %q, want INFO", line)
	}
	if err := json.Unmarshal([]byte(line[5:]), &c.info); err != nil {
		t.Fatalf("INFO: %v", err)
	}
	return c
}

// client connects a quiet client to n and waits for its PONG.
func client(t testing.TB, n *node) *conn {
	t.Helper()
	c := dial(t, n.clientAddr)
	c.send(`CONNECT {"verbose":false,"pedantic":false,"headers":true}` + "\r\n")
	if got := c.flush(); len(got) != 0 {
		t.Fatalf("after CONNECT: %v", got)
	}
	return c
}

// fakePeer dials n's route port and completes the handshake as a 2.9.10
// server would (CONNECT, then INFO), then waits until n registered it.
func fakePeer(t testing.TB, n *node, id string) *conn {
	t.Helper()
	before := n.cl.NumRoutes()
	p := dial(t, n.routeAddr)
	p.send(`CONNECT {"echo":true,"verbose":false,"pedantic":false,"tls_required":false,"headers":true,"name":"` + id + `","cluster":"` + n.cl.Name() + `"}` + "\r\n")
	p.send(peerInfo29(id, n.cl.Name(), 16000+len(id)))
	waitFor(t, ioTimeout, "the fake peer "+id+" to register", func() bool { return n.cl.NumRoutes() == before+1 })
	return p
}

// peerInfo29 is an INFO as nats-server 2.9.10 sends it.
func peerInfo29(id, cluster string, port int) string {
	return `INFO {"server_id":"` + id + `","server_name":"` + id + `","version":"2.9.10","proto":2,"go":"go1.19.8","host":"127.0.0.1","port":` +
		strconv.Itoa(port) + `,"headers":true,"max_payload":1048576,"nonce":"abc","cluster":"` + cluster + `","connect_urls":["127.0.0.1:` +
		strconv.Itoa(port+1) + `"],"lnoc":true} ` + "\r\n"
}

func (c *conn) send(s string) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(c.nc, s); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *conn) readLine() string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	line, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (partial %q)", err, line)
	}
	return strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
}

func (c *conn) readFrame() frame {
	c.t.Helper()
	f := frame{line: c.readLine()}
	fields := strings.Fields(f.line)
	if len(fields) >= 3 && (fields[0] == "MSG" || fields[0] == "HMSG" || fields[0] == "RMSG") {
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
			c.t.Fatalf("payload of %q not followed by CRLF", f.line)
		}
		f.payload = string(buf[:n])
	}
	return f
}

// flush sends PING and returns what came before the PONG, answering and
// leaving out keepalive PINGs and setting INFO lines aside in c.infos.
func (c *conn) flush() []frame {
	c.t.Helper()
	c.send("PING\r\n")
	var got []frame
	for {
		f := c.readFrame()
		switch {
		case f.line == "PONG":
			return got
		case f.line == "PING":
			c.send("PONG\r\n")
		case strings.HasPrefix(f.line, "INFO "):
			c.infos = append(c.infos, f.line)
		default:
			got = append(got, f)
		}
	}
}

// readUntilClosed returns the lines read until the other side closed.
func (c *conn) readUntilClosed() []string {
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

func lines(fs []frame) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.line
	}
	return out
}

// recv flushes until n frames arrived (messages routed through another
// server arrive asynchronously) and returns them.
func (c *conn) recv(n int) []frame {
	c.t.Helper()
	var got []frame
	deadline := time.Now().Add(ioTimeout)
	for len(got) < n {
		if time.Now().After(deadline) {
			c.t.Fatalf("got %q, want %d frames", lines(got), n)
		}
		got = append(got, c.flush()...)
		if len(got) < n {
			time.Sleep(2 * time.Millisecond)
		}
	}
	return got
}
