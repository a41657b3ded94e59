package cluster

import (
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// TestDuplicateRoutesResolve: two servers that dial each other at the same
// moment end up with exactly one route, and agree which.
func TestDuplicateRoutesResolve(t *testing.T) {
	t.Parallel()
	for i := range 8 {
		a := newNode(t, Options{Name: "test"})
		b := newNode(t, Options{Name: "test"})
		a.cl.mu.Lock()
		setRoutes(a.cl, []*url.URL{b.url()})
		a.cl.mu.Unlock()
		b.cl.mu.Lock()
		setRoutes(b.cl, []*url.URL{a.url()})
		b.cl.mu.Unlock()
		start := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			<-start
			a.cl.Start()
		}()
		close(start)
		b.cl.Start()
		<-done

		settled := func() bool {
			ra, rb := a.cl.Stats(), b.cl.Stats()
			if len(ra.Routes) != 1 || len(rb.Routes) != 1 {
				return false
			}
			x, y := ra.Routes[0], rb.Routes[0]
			// Both sides hold the same connection: one dialed it, the
			// other accepted it. (Of two connections that both registered,
			// the one dialed by the smaller id stays; a dialer that finds
			// the peer already connected adopts that route instead.)
			return x.RemoteID == b.srv.ID() && y.RemoteID == a.srv.ID() && x.DidSolicit != y.DidSolicit
		}
		waitFor(t, 5*time.Second, "one agreed route", settled)
		// The survivor takes over the loser's dialer once the loser's
		// handshake is done: both sides then count it as configured. And
		// once each side holds one connection, the loser is closed on both:
		// nothing is left that could replace the agreed route. (A route
		// agreed before the second handshake finished may still give way
		// to the connection the rule prefers: the first agreement is not
		// the final one, so it is checked once one connection is left.)
		waitFor(t, ioTimeout, "the survivor configured and the loser closed on both sides", func() bool {
			x, y := a.cl.Stats(), b.cl.Stats()
			return len(x.Routes) == 1 && len(y.Routes) == 1 && x.Routes[0].IsConfigured && y.Routes[0].IsConfigured &&
				numConns(a) == 1 && numConns(b) == 1
		})
		if !settled() {
			t.Fatalf("iteration %d: one connection left on each side, but not the same route", i)
		}
		a.cl.Shutdown()
		b.cl.Shutdown()
	}
}

// TestGossipFullMesh: B and C know only A; gossip makes them meet.
func TestGossipFullMesh(t *testing.T) {
	t.Parallel()
	a := startNode(t, Options{Name: "test"})
	b := startNode(t, Options{Name: "test"}, a)
	waitRoutes(t, b, 1)
	c := startNode(t, Options{Name: "test"}, a)
	for _, n := range []*node{a, b, c} {
		waitRoutes(t, n, 2)
	}
	ids := map[*node]string{a: a.srv.ID(), b: b.srv.ID(), c: c.srv.ID()}
	for n, self := range ids {
		peers := n.peerIDs()
		if len(peers) != 2 || peers[self] {
			t.Errorf("%s's peers %v", self, peers)
		}
	}
	// The B–C route is not configured on either side.
	for _, r := range b.cl.Stats().Routes {
		if r.RemoteID == c.srv.ID() && r.IsConfigured {
			t.Error("gossiped route shown as configured on B")
		}
	}
	// Messages go directly between B and C (one hop).
	cc := client(t, c)
	cc.Send("SUB direct 1\r\n")
	cc.Flush()
	waitFor(t, ioTimeout, "C's interest on B", func() bool { return b.srv.NumSubscriptions() == 1 })
	cb := client(t, b)
	cb.Send("PUB direct 2\r\nhi\r\n")
	cb.Flush()
	if got := cc.Recv(1); len(got) != 1 || got[0].Line != "MSG direct 1 2" {
		t.Errorf("C's client got %q", testutil.Lines(got))
	}
	// Every client URL reaches every server.
	for _, n := range []*node{a, b, c} {
		urls := n.srv.ConnectURLs()
		for _, m := range []*node{a, b, c} {
			if !slices.Contains(urls, m.clientAddr) {
				t.Errorf("connect_urls %q lack %s", urls, m.clientAddr)
			}
		}
	}
}

// TestApplyRemovesRoute: a reload that removes a route closes it, does not
// redial it, and refuses the peer if it dials back.
func TestApplyRemovesRoute(t *testing.T) {
	t.Parallel()
	a := startNode(t, Options{Name: "test"})
	b := startNode(t, Options{Name: "test"}, a)
	waitRoutes(t, a, 1)
	waitRoutes(t, b, 1)

	o := *b.cl.currentOpts()
	removed := o.Routes
	o.Routes = nil
	b.cl.Apply(o, Changes{RemovedRoutes: removed})
	waitRoutes(t, a, 0)
	waitRoutes(t, b, 0)
	waitFor(t, ioTimeout, "B's dialer to stop", func() bool {
		b.cl.mu.Lock()
		defer b.cl.mu.Unlock()
		return len(b.cl.solicits) == 0
	})
	// Only its own URL: peers came and went (nats-server keeps the list).
	if got, own := a.srv.ConnectURLs(), a.srv.OwnClientURLs(); !slices.Equal(got, own) {
		t.Errorf("A advertises %q after the route went, want only its own %q", got, own)
	}

	// A dials B: refused, and again after A's redial delay.
	ao := *a.cl.currentOpts()
	ao.Routes = []*url.URL{b.url()}
	a.cl.Apply(ao, Changes{AddedRoutes: ao.Routes})
	waitRefused(t, b, a.srv.ID(), 1, 2, refusedRemoved)
	if n := b.cl.NumRoutes(); n != 0 {
		t.Fatalf("after two refused dials: B has %d routes", n)
	}
	// A registers its side on B's INFO, before B reads A's and refuses: a
	// redial shows on A for that moment (CI once counted it), never for long.
	waitRoutes(t, a, 0)

	// Configured again on B: the route comes back.
	o.Routes = []*url.URL{a.url()}
	b.cl.Apply(o, Changes{AddedRoutes: o.Routes})
	waitRoutes(t, a, 1)
	waitRoutes(t, b, 1)
}

// TestApplyReplacesRoute: a reload that swaps one route for another keeps
// refusing the removed peer.
func TestApplyReplacesRoute(t *testing.T) {
	t.Parallel()
	a := startNode(t, Options{Name: "test"})
	c := startNode(t, Options{Name: "test"})
	b := startNode(t, Options{Name: "test"}, a)
	waitRoutes(t, a, 1)

	o := *b.cl.currentOpts()
	removed := o.Routes
	o.Routes = []*url.URL{c.url()}
	b.cl.Apply(o, Changes{AddedRoutes: o.Routes, RemovedRoutes: removed})
	waitFor(t, 5*time.Second, "B routed to C only", func() bool {
		ids := b.peerIDs()
		return len(ids) == 1 && ids[c.srv.ID()] && a.cl.NumRoutes() == 0
	})

	ao := *a.cl.currentOpts()
	ao.Routes = []*url.URL{b.url()}
	a.cl.Apply(ao, Changes{AddedRoutes: ao.Routes})
	waitRefused(t, b, a.srv.ID(), 1, 2, refusedRemoved)
	if b.peerIDs()[a.srv.ID()] {
		t.Fatal("B took A back after removing it")
	}
}

// refusedRemoved is what a server logs each time it refuses a peer whose
// route a reload removed.
const refusedRemoved = "Refusing route from a peer whose route was removed by a reload"

// TestApplyAddsRoute: an added route is dialed and registered, as
// configured and dialed by us; the same set again changes nothing. How
// soon it is up is BenchmarkApplyAddsRoute's (a test does not time).
func TestApplyAddsRoute(t *testing.T) {
	a := startNode(t, Options{Name: "test"})
	b := startNode(t, Options{Name: "test"})
	o := *b.cl.currentOpts()
	o.Routes = []*url.URL{a.url()}
	b.cl.Apply(o, Changes{AddedRoutes: o.Routes})
	waitFor(t, 5*time.Second, "the added route", func() bool { return a.cl.NumRoutes() == 1 && b.cl.NumRoutes() == 1 })
	r := b.cl.Stats().Routes[0]
	if !r.IsConfigured || !r.DidSolicit {
		t.Errorf("added route: %+v", r)
	}
	if n := b.logged("Adding route " + routeKey(a.url())); n != 1 {
		t.Errorf("B logged adding the route %d times", n)
	}
	// The same set again changes nothing. Apply decides synchronously:
	// had it dropped or re-added the route, it would have logged it
	// before returning.
	b.cl.Apply(o, Changes{})
	if n := b.logged("Adding route " + routeKey(a.url())); n != 1 {
		t.Errorf("the same routes again: B logged adding the route %d times", n)
	}
	if n := b.logs.FilterMessageSnippet("Removed route").Len(); n != 0 {
		t.Errorf("the same routes again: B removed %d routes", n)
	}
	if got := b.cl.Stats().Routes; len(got) != 1 || got[0].Rid != r.Rid {
		t.Errorf("the same routes again replaced the route: %+v", got)
	}
}

// BenchmarkApplyAddsRoute measures how long a route added by a reload
// (Cluster.Apply) takes to be registered on both sides: it is dialed at
// once, not after the 1 s redial delay. Each iteration is a fresh pair.
// Run it with: go test -run '^$' -bench ApplyAddsRoute ./cluster/
// (the route is polled every 5 ms, so that is its resolution).
func BenchmarkApplyAddsRoute(b *testing.B) {
	for b.Loop() {
		b.StopTimer()
		x := startNode(b, Options{Name: "test"})
		y := startNode(b, Options{Name: "test"})
		o := *y.cl.currentOpts()
		o.Routes = []*url.URL{x.url()}
		b.StartTimer()
		y.cl.Apply(o, Changes{AddedRoutes: o.Routes})
		waitFor(b, 5*time.Second, "the added route", func() bool { return x.cl.NumRoutes() == 1 && y.cl.NumRoutes() == 1 })
		b.StopTimer()
		x.stop(b)
		y.stop(b)
		b.StartTimer()
	}
}

// TestApplyRouteAuthorization: accepted routes whose credentials the new
// cluster authorization refuses are closed; a peer with the new ones joins.
func TestApplyRouteAuthorization(t *testing.T) {
	a := startNode(t, Options{Name: "test", Username: "ru", Password: "rp"})
	b := startNode(t, Options{Name: "test", Username: "ru", Password: "rp"}, a)
	waitRoutes(t, a, 1)
	ao := *a.cl.currentOpts()
	ao.Password = "new"
	a.cl.Apply(ao, Changes{Auth: true})
	waitRoutes(t, a, 0)
	c := startNode(t, Options{Name: "test", Username: "ru", Password: "new"}, a)
	waitRoutes(t, c, 1)
	// B redials with the old password: refused, and again a second later.
	waitRefused(t, a, b.srv.ID(), 1, a.logged("Route authorization error")+2, "Route authorization error")
	if a.peerIDs()[b.srv.ID()] {
		t.Fatal("A took B back with the old password")
	}
}

func TestRouteKey(t *testing.T) {
	tests := []struct{ in, want string }{
		{"nats-route://h:4248", "nats-route://h:4248"},
		{"nats-route://user:pass@h:4248", "nats-route://h:4248"},
		{"nats-route://user@h:4248/", "nats-route://h:4248"},
		{"nats://10.0.0.1:6222", "nats-route://10.0.0.1:6222"},
		{"nats-route://Host.Example:6222/", "nats-route://host.example:6222"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := routeKey(u); got != tt.want {
			t.Errorf("routeKey(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if u.String() != tt.in {
			t.Errorf("routeKey changed its argument to %q", u)
		}
	}
}
