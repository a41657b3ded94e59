package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// Routes over TLS, among natsd nodes and with nats-server v2.15.2.

// routeTLS is a cluster.tls block presenting cert and trusting ca.
func routeTLS(cert *testutil.Cert, ca *testutil.CA, extra string) string {
	return fmt.Sprintf("tls {\n    cert_file: %q\n    key_file: %q\n    ca_file: %q\n    %s\n  }", cert.CertFile, cert.KeyFile, ca.File, extra)
}

// tlsNode starts bin (natsd or nats-server) with a plain client port, HTTP
// monitoring and a cluster listener on a free port with tlsBlock, routing
// to routes (URLs).
func tlsNode(t *testing.T, bin, name, tlsBlock string, routes ...string) *node {
	t.Helper()
	return startTLSNodeAt(t, bin, name, testutil.FreePort(t), tlsBlock, routes...)
}

// startTLSNodeAt is tlsNode on cluster port cp.
func startTLSNodeAt(t *testing.T, bin, name string, cp int, tlsBlock string, routes ...string) *node {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\nserver_name: %s\n", name)
	fmt.Fprintf(&b, "cluster {\n  name: tls\n  listen: 127.0.0.1:%d\n  %s\n", cp, tlsBlock)
	if len(routes) > 0 {
		fmt.Fprintf(&b, "  routes: [%s]\n", strings.Join(routes, ", "))
	}
	b.WriteString("}\n")
	p := testutil.Start(t, bin, "-c", testutil.WriteFile(t, name+".conf", b.String()))
	return &node{Proc: p, clusterPort: cp}
}

func routeURL(host string, port int) string { return fmt.Sprintf("nats-route://%s:%d", host, port) }

// countLog counts s in p's log.
func countLog(p *testutil.Proc, s string) int { return strings.Count(p.Log(), s) }

// waitRouteRefusals waits until n logged at least k failed route handshakes.
func waitRouteRefusals(t *testing.T, n *node, k int) {
	t.Helper()
	testutil.Eventually(t, 15*time.Second, func() error {
		if c := countLog(n.Proc, "TLS route handshake error"); c < k {
			return fmt.Errorf("%d failed route handshakes logged, want %d", c, k)
		}
		return nil
	})
}

// TestTLSRoutesThreeNatsd: three natsd nodes whose routes all use TLS with
// verify both ways form a full mesh from one seed (the gossiped routes too)
// and carry traffic; a node with a certificate of another CA, and a node
// with no TLS at all, never join.
func TestTLSRoutesThreeNatsd(t *testing.T) {
	t.Parallel()
	bin := testutil.NatsdBin(t)
	p := newPKI(t, "routes")
	block := func() string { return routeTLS(p.ca.Issue(t, "localhost", "127.0.0.1"), p.ca, "timeout: 1") }
	a := tlsNode(t, bin, "A", block())
	seed := routeURL("127.0.0.1", a.clusterPort)
	b := tlsNode(t, bin, "B", block(), seed)
	c := tlsNode(t, bin, "C", block(), seed)
	waitMesh(t, 10*time.Second, a, b, c)
	checkWalkthroughTraffic(t, a.Proc, b.Proc, c.Proc)
	cl := varzOf(t, a.Proc)["cluster"].(map[string]any)
	if cl["tls_required"] != true || cl["tls_verify"] != true || cl["tls_timeout"] != float64(1) || cl["auth_timeout"] != float64(2) || cl["tls_cert_not_after"] == nil {
		t.Errorf("/varz cluster: %v", cl)
	}

	other := newPKI(t, "intruder")
	d := tlsNode(t, bin, "D", routeTLS(other.server, other.ca, ""), seed)
	before := countLog(a.Proc, "TLS route handshake error")
	e := tlsNode(t, bin, "E", "", seed)
	// D dials A every second and fails each time, as does E; two rounds of
	// refusals on A and on D mean they tried, and were refused, again.
	waitRouteRefusals(t, a, before+4)
	waitRouteRefusals(t, d, 2)
	for _, n := range []*node{a, b, c} {
		if got := n.numRoutes(t); got != 2 {
			t.Errorf("%s has %d routes, want 2", n.ClientURL(), got)
		}
	}
	for _, n := range []*node{d, e} {
		if got := n.numRoutes(t); got != 0 {
			t.Errorf("a node without a valid certificate has %d routes", got)
		}
	}
}

// TestTLSMixedClusterNatsServer: natsd and nats-server v2.15.2 route over
// TLS with verify on both sides, each dialing the other in turn, and carry
// pub/sub, replies, headers and queue groups both ways.
func TestTLSMixedClusterNatsServer(t *testing.T) {
	t.Parallel()
	natsd, peer := testutil.NatsdBin(t), testutil.NatsServerBin(t)
	p := newPKI(t, "mixed")
	block := func() string { return routeTLS(p.ca.Issue(t, "localhost", "127.0.0.1"), p.ca, "verify: true") }
	for _, natsdSeed := range []bool{true, false} {
		name := "nats-server dials natsd"
		if !natsdSeed {
			name = "natsd dials nats-server"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var n, s *node
			if natsdSeed {
				n = tlsNode(t, natsd, "natsd", block())
				s = tlsNode(t, peer, "peer", block(), routeURL("127.0.0.1", n.clusterPort))
			} else {
				s = tlsNode(t, peer, "peer", block())
				n = tlsNode(t, natsd, "natsd", block(), routeURL("127.0.0.1", s.clusterPort))
			}
			waitMesh(t, 15*time.Second, n, s)
			for _, x := range []*node{n, s} {
				if cl := varzOf(t, x.Proc)["cluster"].(map[string]any); cl["tls_required"] != true || cl["tls_verify"] != true {
					t.Fatalf("%s: /varz cluster %v", x.ClientURL(), cl)
				}
			}
			checkPubSubBothWays(t, n, s)
			checkQueueAcross(t, n, s)
		})
	}
	t.Run("nats-server refuses natsd with another CA's certificate", func(t *testing.T) {
		t.Parallel()
		other := newPKI(t, "stranger")
		s := tlsNode(t, peer, "peer", block())
		n := tlsNode(t, natsd, "natsd", routeTLS(other.server, other.ca, ""), routeURL("127.0.0.1", s.clusterPort))
		waitRouteRefusals(t, n, 2)
		if got := n.numRoutes(t); got != 0 {
			t.Fatalf("natsd has %d routes", got)
		}
	})
}

// TestTLSRouteOptions: insecure, pinned_certs and
// verify_cert_and_check_known_urls on routes.
func TestTLSRouteOptions(t *testing.T) {
	t.Parallel()
	bin := testutil.NatsdBin(t)
	p := newPKI(t, "options")

	t.Run("insecure", func(t *testing.T) {
		t.Parallel()
		// A's certificate names localhost only: dialing 127.0.0.1 fails
		// verification, unless insecure.
		a := tlsNode(t, bin, "A", routeTLS(p.ca.Issue(t, "localhost"), p.ca, ""))
		b := tlsNode(t, bin, "B", routeTLS(p.ca.Issue(t, "localhost"), p.ca, ""), routeURL("127.0.0.1", a.clusterPort))
		waitRouteRefusals(t, b, 2)
		if !strings.Contains(b.Log(), "127.0.0.1") || b.numRoutes(t) != 0 {
			t.Fatalf("B routed to a server whose certificate does not name 127.0.0.1:\n%s", b.Log())
		}
		c := tlsNode(t, bin, "C", routeTLS(p.ca.Issue(t, "localhost"), p.ca, "insecure: true"), routeURL("127.0.0.1", a.clusterPort))
		waitRoutes(t, c, 1, 10*time.Second)
	})

	t.Run("pinned_certs", func(t *testing.T) {
		t.Parallel()
		pinned, stranger := p.ca.Issue(t, "localhost", "127.0.0.1"), p.ca.Issue(t, "localhost", "127.0.0.1")
		own := p.ca.Issue(t, "localhost", "127.0.0.1")
		a := tlsNode(t, bin, "A", routeTLS(own, p.ca, fmt.Sprintf("pinned_certs: [%q, %q]", pinned.SPKIHash(), own.SPKIHash())))
		b := tlsNode(t, bin, "B", routeTLS(pinned, p.ca, ""), routeURL("127.0.0.1", a.clusterPort))
		waitRoutes(t, b, 1, 10*time.Second)
		before := countLog(a.Proc, "TLS route handshake error")
		c := tlsNode(t, bin, "C", routeTLS(stranger, p.ca, ""), routeURL("127.0.0.1", a.clusterPort))
		waitRouteRefusals(t, a, before+2)
		if got := c.numRoutes(t); got != 0 {
			t.Fatalf("a peer with an unpinned certificate has %d routes", got)
		}
	})

	t.Run("verify_cert_and_check_known_urls", func(t *testing.T) {
		t.Parallel()
		// A knows B by the name localhost (its route list), so B, whose
		// certificate names localhost, is accepted; C's names no known
		// host and is refused.
		cpB := testutil.FreePort(t)
		a := tlsNode(t, bin, "A", routeTLS(p.ca.Issue(t, "localhost", "127.0.0.1"), p.ca, "verify_cert_and_check_known_urls: true"), routeURL("localhost", cpB))
		b := startTLSNodeAt(t, bin, "B", cpB, routeTLS(p.ca.Issue(t, "localhost", "127.0.0.1"), p.ca, ""), routeURL("127.0.0.1", a.clusterPort))
		waitMesh(t, 10*time.Second, a, b)
		before := countLog(a.Proc, "TLS route handshake error")
		c := tlsNode(t, bin, "C", routeTLS(p.ca.Issue(t, "c.example.com", "127.0.0.1"), p.ca, ""), routeURL("127.0.0.1", a.clusterPort))
		waitRouteRefusals(t, a, before+2)
		if got := c.numRoutes(t); got != 0 {
			t.Fatalf("a peer no route URL names has %d routes", got)
		}
	})
}
