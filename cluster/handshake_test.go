package cluster

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/internal/testutil"
	"github.com/natsd/natsd/server"
)

func TestRouteHandshakeAndRegistration(t *testing.T) {
	a := startNode(t, Options{Name: "test"})
	// Interest that exists before the route: sent in the RS+ burst.
	ca := client(t, a)
	ca.Send("SUB early 1\r\n")
	ca.Flush()
	b := startNode(t, Options{Name: "test"}, a)
	waitRoutes(t, a, 1)
	waitRoutes(t, b, 1)

	ra, rb := a.cl.Stats().Routes[0], b.cl.Stats().Routes[0]
	if ra.RemoteID != b.srv.ID() || ra.RemoteName != b.srv.Name() || ra.DidSolicit || ra.IsConfigured {
		t.Errorf("A's route: %+v", ra)
	}
	if rb.RemoteID != a.srv.ID() || !rb.DidSolicit || !rb.IsConfigured || rb.Port != a.routePort() || rb.IP != "127.0.0.1" {
		t.Errorf("B's route: %+v", rb)
	}
	waitFor(t, ioTimeout, "the RS+ burst", func() bool { return len(b.cl.Stats().Routes[0].Subs) == 1 })
	if subs := b.cl.Stats().Routes[0].Subs; !slices.Equal(subs, []string{"early"}) {
		t.Errorf("B's view of A's interest: %q", subs)
	}

	// Each side's clients learn the other's client URL.
	if got := b.srv.ConnectURLs(); !slices.Contains(got, a.clientAddr) || !slices.Contains(got, b.clientAddr) {
		t.Errorf("B's connect_urls = %q", got)
	}
	if got := a.srv.ConnectURLs(); !slices.Contains(got, b.clientAddr) {
		t.Errorf("A's connect_urls = %q", got)
	}
	if st := b.cl.Stats(); st.Name != "test" || st.Port != b.routePort() || len(st.Routes) != 1 || !slices.Equal(st.URLs, []string{a.routeAddr}) {
		t.Errorf("B's cluster stats: %+v", st)
	}

	// Messages both ways.
	cb := client(t, b)
	cb.Send("SUB fromA 1\r\n")
	cb.Flush()
	waitFor(t, ioTimeout, "B's interest on A", func() bool { return a.srv.NumSubscriptions() == 2 })
	cb.Send("PUB early 2\r\nhi\r\n")
	cb.Flush()
	if got := ca.Recv(1); len(got) != 1 || got[0].Line != "MSG early 1 2" || got[0].Payload != "hi" {
		t.Errorf("A's client got %q", testutil.Lines(got))
	}
	ca.Send("PUB fromA r 3\r\nyes\r\n")
	ca.Flush()
	if got := cb.Recv(1); len(got) != 1 || got[0].Line != "MSG fromA 1 r 3" || got[0].Payload != "yes" {
		t.Errorf("B's client got %q", testutil.Lines(got))
	}

	// The RS- goes when the last subscriber does.
	ca.Send("UNSUB 1\r\n")
	ca.Flush()
	waitFor(t, ioTimeout, "the RS-", func() bool { return len(b.cl.Stats().Routes[0].Subs) == 0 })
}

// TestRouteInfo checks the INFO a route port sends: what an old-style
// (2.9) peer sends, nothing that would make a 2.10+ peer pool or compress.
func TestRouteInfo(t *testing.T) {
	a := startNode(t, Options{Name: "east"})
	p := dial(t, a.routeAddr)
	in := p.Info
	if in["server_id"] != a.srv.ID() || in["server_name"] != a.srv.Name() || in["proto"] != float64(3) || in["headers"] != true ||
		in["cluster"] != "east" || in["port"] != float64(a.routePort()) || in["host"] != "127.0.0.1" || in["version"] != server.ProtocolVersion {
		t.Errorf("route INFO = %v", in)
	}
	if urls, _ := in["connect_urls"].([]any); len(urls) != 1 || urls[0] != a.clientAddr {
		t.Errorf("connect_urls = %v, want [%s]", in["connect_urls"], a.clientAddr)
	}
	for _, k := range []string{"route_pool_size", "compression", "lnoc", "auth_required", "cluster_dynamic", "ldm"} {
		if _, ok := in[k]; ok {
			t.Errorf("route INFO has %q", k)
		}
	}
}

func TestRoutePortRefusesClients(t *testing.T) {
	a := startNode(t, Options{Name: "test"})
	p := dial(t, a.routeAddr)
	p.Send(`CONNECT {"verbose":false,"pedantic":false,"lang":"go","version":"1.55.0","protocol":1}` + "\r\n")
	if got := p.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'attempted to connect to route port'"}) {
		t.Errorf("client CONNECT on the route port: %q", got)
	}
}

func TestRouteFirstOpMustBeConnect(t *testing.T) {
	a := startNode(t, Options{Name: "test"})
	p := dial(t, a.routeAddr)
	p.Send(peerInfo29("NFAKE", "test", 16001))
	if got := p.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'Authorization Violation'"}) {
		t.Errorf("INFO before CONNECT: %q", got)
	}
	if a.cl.NumRoutes() != 0 {
		t.Error("registered a route without CONNECT")
	}
}

func TestClusterNameMismatch(t *testing.T) {
	t.Parallel() // the dynamic node's first attempt is refused; it redials after 1 s
	a := startNode(t, Options{Name: "y"})
	p := dial(t, a.routeAddr)
	p.Send(`CONNECT {"verbose":false,"name":"NFAKE","cluster":"x"}` + "\r\n")
	if got := p.ReadUntilClosed(); !slices.Equal(got, []string{`-ERR 'Rejecting connection, cluster name "x" does not match "y"'`}) {
		t.Errorf("wrong cluster name: %q", got)
	}

	// A node with another static name never joins; a dynamic one adopts
	// the static name.
	b := startNode(t, Options{Name: "x"}, a)
	c := startNode(t, Options{}, a)
	waitRoutes(t, c, 1)
	if got := c.cl.Name(); got != "y" {
		t.Errorf("dynamic node's cluster name = %q, want y", got)
	}
	if got := dial(t, c.clientAddr).Info["cluster"]; got != "y" {
		t.Errorf("dynamic node's client INFO cluster = %v", got)
	}
	// B redials every second and is refused each time: after the second
	// refusal, A still holds C's route only and B none.
	waitRefused(t, a, b.srv.ID(), 0, 2, "Rejecting route: cluster name mismatch", "theirs", "x")
	// C's route may be between connections at this instant on a loaded
	// machine (CI saw A with none once): wait for it, then B must still
	// have none.
	waitRoutes(t, a, 1)
	if b.cl.NumRoutes() != 0 || a.cl.NumRoutes() != 1 {
		t.Fatalf("B (cluster x) has %d routes, A %d", b.cl.NumRoutes(), a.cl.NumRoutes())
	}
}

func TestNegotiateName(t *testing.T) {
	srv := server.New(server.Options{}, zap.NewNop(), "test")
	tests := []struct {
		name          string
		ours          string
		oursDynamic   bool
		theirs        string
		theirsDynamic bool
		wantOK        bool
		wantName      string
		wantDynamic   bool
	}{
		{"same static", "east", false, "east", false, true, "east", false},
		{"same, peer dynamic", "east", false, "east", true, true, "east", false},
		{"static vs other static", "east", false, "west", false, false, "east", false},
		{"static vs dynamic", "east", false, "zzz", true, false, "east", false},
		{"dynamic adopts static", "bbb", true, "aaa", false, true, "aaa", false},
		{"dynamic adopts smaller static too", "zzz", true, "aaa", false, true, "aaa", false},
		{"dynamic adopts larger dynamic", "bbb", true, "ccc", true, true, "ccc", true},
		{"dynamic keeps larger own dynamic", "ccc", true, "bbb", true, false, "ccc", true},
		{"empty theirs, dynamic ours", "bbb", true, "", false, false, "bbb", true},
		{"empty theirs, static ours", "east", false, "", false, false, "east", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{Name: tt.ours}, srv, zap.NewNop())
			c.dynamic = tt.oursDynamic
			ok, name := c.negotiateName(tt.theirs, tt.theirsDynamic)
			if ok != tt.wantOK || name != tt.wantName {
				t.Errorf("negotiateName(%q, %v) = %v, %q; want %v, %q", tt.theirs, tt.theirsDynamic, ok, name, tt.wantOK, tt.wantName)
			}
			if c.Name() != tt.wantName || c.dynamic != tt.wantDynamic {
				t.Errorf("after: name %q dynamic %v; want %q %v", c.Name(), c.dynamic, tt.wantName, tt.wantDynamic)
			}
		})
	}
	// A cluster without a name gets a 22-character dynamic one.
	c := New(Options{}, srv, zap.NewNop())
	if len(c.Name()) != 22 || !c.dynamic || strings.ContainsAny(c.Name(), " \t") {
		t.Errorf("dynamic name %q (dynamic %v)", c.Name(), c.dynamic)
	}
}

func TestRouteAuth(t *testing.T) {
	a := startNode(t, Options{Name: "test", Username: "ru", Password: "rp"})
	if dial(t, a.routeAddr).Info["auth_required"] != true {
		t.Error("route INFO without auth_required")
	}
	// The dialer's cluster credentials, and credentials in the route URL.
	b := startNode(t, Options{Name: "test", Username: "ru", Password: "rp"}, a)
	cURL := a.url()
	cURL.User = url.UserPassword("ru", "rp")
	c := newNode(t, Options{Name: "test", Routes: []*url.URL{cURL}})
	c.cl.Start()
	// A has both as peers. (Not "B and C have one route each": A gossips C
	// to B, which dials C, and C, without route authorization, takes it —
	// a second route that can form before a poll sees the first alone.)
	waitFor(t, 5*time.Second, "A's routes to B and C", func() bool {
		ids := a.peerIDs()
		return ids[b.srv.ID()] && ids[c.srv.ID()]
	})

	for _, connect := range []string{
		`{"verbose":false,"name":"NFAKE","cluster":"test","user":"ru","pass":"nope"}`,
		`{"verbose":false,"name":"NFAKE","cluster":"test","user":"nope","pass":"rp"}`,
		`{"verbose":false,"name":"NFAKE","cluster":"test"}`,
	} {
		p := dial(t, a.routeAddr)
		p.Send("CONNECT " + connect + "\r\n")
		if got := p.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'Authorization Violation'"}) {
			t.Errorf("CONNECT %s: %q", connect, got)
		}
	}
	// The dialer registers the route on A's INFO and drops it at A's -ERR
	// (both servers greet with INFO first), so what must hold is A's side:
	// A never takes the peer with the wrong password.
	n := a.logged("Route authorization error")
	d := startNode(t, Options{Name: "test", Username: "ru", Password: "wrong"}, a)
	// D is refused, redials a second later and is refused again.
	waitRefused(t, a, d.srv.ID(), 0, n+2, "Route authorization error")
	if a.peerIDs()[d.srv.ID()] {
		t.Fatal("A took D with the wrong password")
	}
}

func TestRouteAuthTimeout(t *testing.T) {
	a := startNode(t, Options{Name: "test", AuthTimeout: 100 * time.Millisecond})
	p := dial(t, a.routeAddr)
	start := time.Now()
	if got := p.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'Authorization Violation'"}) {
		t.Errorf("silent route peer: %q", got)
	}
	if el := time.Since(start); el < 50*time.Millisecond {
		t.Errorf("closed after %v, before the auth timeout", el)
	}
}

// TestSelfRoute: a route to our own address is dropped and never redialed.
func TestSelfRoute(t *testing.T) {
	a := newNode(t, Options{Name: "test"})
	a.cl.mu.Lock()
	setRoutes(a.cl, []*url.URL{a.url()})
	a.cl.mu.Unlock()
	a.cl.Start()
	waitFor(t, ioTimeout, "the dialer to give up", func() bool {
		a.cl.mu.Lock()
		defer a.cl.mu.Unlock()
		return len(a.cl.solicits) == 0 && len(a.cl.conns) == 0
	})
	if a.cl.NumRoutes() != 0 {
		t.Error("registered a route to itself")
	}
}

func TestDuplicateServerName(t *testing.T) {
	a := startNode(t, Options{Name: "test"})
	p := dial(t, a.routeAddr)
	p.Send(`CONNECT {"verbose":false,"name":"NOTHER","cluster":"test"}` + "\r\n")
	p.Send(`INFO {"server_id":"NOTHER","server_name":"` + a.srv.Name() + `","port":1,"cluster":"test"}` + "\r\n")
	if got := p.ReadUntilClosed(); len(got) != 0 {
		t.Errorf("duplicate server name: %q, want a silent close", got)
	}
	if a.cl.NumRoutes() != 0 {
		t.Error("registered a peer with our own name")
	}
}
