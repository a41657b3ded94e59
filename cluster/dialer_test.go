package cluster

import (
	"bufio"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestConfiguredPeerDialsBack: the route we dialed to a configured peer
// drops and the peer dials us instead. The accepted route is then the
// configured route to that peer: /routez says so, and a reload that removes
// the route closes it.
func TestConfiguredPeerDialsBack(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	peerPort := ln.Addr().(*net.TCPAddr).Port
	peerURL := &url.URL{Scheme: "nats-route", Host: ln.Addr().String()}

	a := newNode(t, Options{Name: "test"})
	a.cl.mu.Lock()
	setRoutes(a.cl, []*url.URL{peerURL})
	a.cl.mu.Unlock()
	a.cl.Start()

	// The fake peer answers A's dial as a 2.9 server would.
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(ioTimeout))
	nc, err := ln.Accept()
	if err != nil {
		t.Fatalf("A did not dial the configured route: %v", err)
	}
	_ = nc.SetDeadline(time.Now().Add(ioTimeout))
	br := bufio.NewReader(nc)
	for _, op := range []string{"CONNECT ", "INFO "} {
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, op) {
			t.Fatalf("A's dialed route sent %q (%v), want %s", line, err, op)
		}
	}
	if _, err := nc.Write([]byte(peerInfo29("NPEER", "test", peerPort))); err != nil {
		t.Fatal(err)
	}
	waitRoutes(t, a, 1)
	if r := a.cl.Stats().Routes[0]; !r.DidSolicit || !r.IsConfigured {
		t.Fatalf("dialed route: %+v", r)
	}

	// The dialed connection drops; the peer dials A before A redials.
	_ = nc.Close()
	waitRoutes(t, a, 0)
	p := dial(t, a.routeAddr)
	p.Send(`CONNECT {"verbose":false,"name":"NPEER","cluster":"test"}` + "\r\n" + peerInfo29("NPEER", "test", peerPort))
	waitRoutes(t, a, 1)
	if r := a.cl.Stats().Routes[0]; r.DidSolicit || !r.IsConfigured {
		t.Errorf("accepted route to the configured peer: did_solicit %v is_configured %v, want false, true", r.DidSolicit, r.IsConfigured)
	}

	o := *a.cl.currentOpts()
	removed := o.Routes
	o.Routes = nil
	a.cl.Apply(o, Changes{RemovedRoutes: removed})
	for _, l := range p.ReadUntilClosed() {
		if l != "PING" && !strings.HasPrefix(l, "RS+ ") {
			t.Errorf("peer got %q", l)
		}
	}
	waitRoutes(t, a, 0)
}

// TestDialerAdoptsRouteFromPeerThatDialedFirst: A's route to B fails at
// first (B is not up); B comes up and dials A. A's dialer must take that
// route as its own rather than dial a second connection, whose duplicate
// resolution would close the route carrying traffic (and what was in flight
// on it).
func TestDialerAdoptsRouteFromPeerThatDialedFirst(t *testing.T) {
	t.Parallel()
	// B's port is held by a listener that hangs up at once: A's first
	// dial fails there, as it would while B is not up.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bAddr := ln.Addr().String()
	a := startNode(t, Options{Name: "test", Routes: []*url.URL{{Scheme: "nats-route", Host: bAddr}}})
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.Close()
	_ = ln.Close()
	b := newNodeOn(t, Options{Name: "test", Routes: []*url.URL{a.url()}}, bAddr)
	b.cl.Start()
	waitRoutes(t, a, 1)
	waitRoutes(t, b, 1)
	ra, rb := a.cl.Stats().Routes[0], b.cl.Stats().Routes[0]
	if ra.DidSolicit || !rb.DidSolicit {
		t.Fatalf("B dialed A: A's route %+v, B's %+v", ra, rb)
	}
	// A's dialer wakes (reconnect delay) and adopts B's route: from then on
	// A counts it as configured. The route is still the first one.
	waitFor(t, 3*reconnectDelay, "A's dialer to adopt B's route", func() bool {
		return a.cl.Stats().Routes[0].IsConfigured
	})
	if x, y := a.cl.Stats().Routes, b.cl.Stats().Routes; len(x) != 1 || len(y) != 1 || x[0].Rid != ra.Rid || y[0].Rid != rb.Rid {
		t.Fatalf("the route was replaced: A %+v, B %+v", x, y)
	}
}

// TestGossipOfConfiguredRoute: a peer gossips a server at the address one
// of our configured routes names, but written as servers write it in
// gossip — nats-route://host:port/, with a trailing slash — while the
// config wrote it without one, or with the nats:// scheme. It is the
// configured route all the same: no second dialer may start for it (a
// second dialer makes duplicate connections, and a route it makes is not
// the configured one: /routez is_configured is false, and a reload that
// removes the configured route does not close it).
func TestGossipOfConfiguredRoute(t *testing.T) {
	for _, scheme := range []string{"nats-route", "nats"} {
		t.Run(scheme, func(t *testing.T) {
			// The configured peer is not listening yet: A's first dial
			// fails and its dialer waits a second, knowing no peer id.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			peerAddr := ln.Addr().String()
			_ = ln.Close()
			a := newNode(t, Options{Name: "test", Routes: []*url.URL{{Scheme: scheme, Host: peerAddr}}})
			a.cl.Start()
			waitFor(t, ioTimeout, "A's first dial to fail", func() bool {
				a.cl.mu.Lock()
				defer a.cl.mu.Unlock()
				return len(a.cl.solicits) == 1
			})

			p := fakePeer(t, a, "NB")
			_, port, _ := net.SplitHostPort(peerAddr)
			p.Send(`INFO {"server_id":"NC","server_name":"NC","cluster":"test","port":` + port +
				`,"ip":"nats-route://` + peerAddr + `/"}` + "\r\n")
			// A handles gossip as it reads it: once the PONG to our PING
			// is back, a second dialer would have been started already.
			p.Flush()
			a.cl.mu.Lock()
			n := len(a.cl.solicits)
			a.cl.mu.Unlock()
			if n != 1 {
				t.Fatalf("%d dialers for one configured route", n)
			}
		})
	}
}
