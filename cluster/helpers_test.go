package cluster

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/natsd/natsd/internal/testutil"
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
	// logs records everything the cluster logs, debug included: the events
	// a test waits for to know that something did not happen (a refused
	// redial, a closed duplicate) instead of sleeping.
	logs *observer.ObservedLogs
	// stop shuts the cluster and the server down (once; the test's
	// cleanup calls it too).
	stop     func(testing.TB)
	stopOnce sync.Once
}

// newNode starts a server and its cluster listener (routes are not dialed
// until cl.Start). co.Host, co.Port and a zero AuthTimeout are filled in.
func newNode(t testing.TB, co Options) *node {
	t.Helper()
	return newNodeOn(t, co, "127.0.0.1:0")
}

// newNodeOn is newNode with the route listener on routeAddr.
func newNodeOn(t testing.TB, co Options, routeAddr string) *node {
	t.Helper()
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rln, err := net.Listen("tcp", routeAddr)
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
	core, logs := observer.New(zapcore.DebugLevel)
	cl := New(co, srv, zap.New(zapcore.NewTee(testLogger(t).Core(), core)))
	srv.SetRouter(cl)
	servedRoutes := make(chan struct{})
	go func() {
		defer close(servedRoutes)
		_ = cl.Serve(rln)
	}()
	n := &node{srv: srv, cl: cl, clientAddr: cln.Addr().String(), routeAddr: rln.Addr().String(), logs: logs}
	n.stop = func(t testing.TB) {
		n.stopOnce.Do(func() {
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
	}
	t.Cleanup(func() { n.stop(t) })
	// The INFO a route sends carries the bound port: wait until Serve has
	// registered the listener before anything dials.
	waitFor(t, ioTimeout, "the route listener", func() bool {
		return cl.Stats().Port != 0
	})
	return n
}

// startNode is newNode plus Start, dialing routes.
func startNode(t testing.TB, co Options, routes ...*node) *node {
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
	for _, r := range n.cl.Stats().Routes {
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

// logged counts n's log entries with message msg whose fields include
// each key/value pair of kv (compared as strings).
func (n *node) logged(msg string, kv ...string) int {
	k := 0
	for _, e := range n.logs.FilterMessage(msg).All() {
		f := e.ContextMap()
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			if fmt.Sprint(f[kv[i]]) != kv[i+1] {
				ok = false
			}
		}
		if ok {
			k++
		}
	}
	return k
}

// waitLogged waits until n has logged msg (with the fields kv) at least k
// times: the event that proves that what a test waits out has happened,
// for instance that a peer's redial was refused again.
func waitLogged(t testing.TB, n *node, k int, msg string, kv ...string) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d× %q %v in the log", k, msg, kv), func() bool { return n.logged(msg, kv...) >= k })
}

// waitRefused waits until n has logged msg (with the fields kv) k times —
// each a refused dial — or registered the peer with id more than the reg
// times it already has, which is what the refusals are to prevent; it
// fails in the second case.
func waitRefused(t testing.TB, n *node, id string, reg, k int, msg string, kv ...string) {
	t.Helper()
	waitFor(t, 10*time.Second, fmt.Sprintf("%d× %q %v in the log", k, msg, kv), func() bool {
		return n.logged(msg, kv...) >= k || n.registered(id) != reg
	})
	if got := n.registered(id); got != reg {
		t.Fatalf("the peer %s was registered %d times, want %d: taken instead of refused", id, got, reg)
	}
}

// registered counts the times n registered a route to the peer with id.
func (n *node) registered(id string) int {
	return n.logged(`Registering remote route "` + id + `"`)
}

func waitRoutes(t testing.TB, n *node, want int) {
	t.Helper()
	waitFor(t, 5*time.Second, strconv.Itoa(want)+" routes", func() bool { return n.cl.NumRoutes() == want })
}

// dial connects to a client port, or to a route port as a fake route
// peer. Its Flush answers PINGs (a peer must) and sets INFO lines aside in
// Infos (async INFO, gossip).
func dial(t testing.TB, addr string) *testutil.ProtoConn {
	t.Helper()
	c := testutil.DialProto(t, addr)
	c.AnswerPings = true
	c.SetAsideInfo = true
	return c
}

// client connects a quiet client to n and waits for its PONG.
func client(t testing.TB, n *node) *testutil.ProtoConn {
	t.Helper()
	c := dial(t, n.clientAddr)
	c.Send(`CONNECT {"verbose":false,"pedantic":false,"headers":true}` + "\r\n")
	if got := c.Flush(); len(got) != 0 {
		t.Fatalf("after CONNECT: %v", got)
	}
	return c
}

// fakePeer dials n's route port and completes the handshake as a 2.9.10
// server would (CONNECT, then INFO), then waits until n registered it.
func fakePeer(t testing.TB, n *node, id string) *testutil.ProtoConn {
	t.Helper()
	before := n.cl.NumRoutes()
	p := dial(t, n.routeAddr)
	p.Send(`CONNECT {"echo":true,"verbose":false,"pedantic":false,"tls_required":false,"headers":true,"name":"` + id + `","cluster":"` + n.cl.Name() + `"}` + "\r\n")
	p.Send(peerInfo29(id, n.cl.Name(), 16000+len(id)))
	waitFor(t, ioTimeout, "the fake peer "+id+" to register", func() bool { return n.cl.NumRoutes() == before+1 })
	return p
}

// peerInfo29 is an INFO as nats-server 2.9.10 sends it.
func peerInfo29(id, cluster string, port int) string {
	return `INFO {"server_id":"` + id + `","server_name":"` + id + `","version":"2.9.10","proto":2,"go":"go1.19.8","host":"127.0.0.1","port":` +
		strconv.Itoa(port) + `,"headers":true,"max_payload":1048576,"nonce":"abc","cluster":"` + cluster + `","connect_urls":["127.0.0.1:` +
		strconv.Itoa(port+1) + `"],"lnoc":true} ` + "\r\n"
}

// setRoutes replaces the configured routes of a cluster not yet started.
func setRoutes(cl *Cluster, routes []*url.URL) {
	o := *cl.currentOpts()
	o.Routes = routes
	cl.opts.Store(&o)
}

// numConns counts n's route connections, registered or not (a duplicate
// still in its handshake, an extra connection).
func numConns(n *node) int {
	n.cl.mu.Lock()
	defer n.cl.mu.Unlock()
	return len(n.cl.conns)
}
