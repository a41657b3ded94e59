package main

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// A config reload applies every TLS change: TLS on and off for the client
// listener, optional TLS, HTTPS monitoring, route TLS. Connections made
// before a change stay as they are.

// waitReloads waits until n config reloads were logged.
func waitReloads(t *testing.T, p *testutil.Proc, n int) {
	t.Helper()
	testutil.Eventually(t, syncWait, func() error {
		if got := strings.Count(p.Log(), "Reloaded server configuration ("); got < n {
			return fmt.Errorf("%d reloads logged, want %d", got, n)
		}
		return nil
	})
}

func TestTLSReloadClientListener(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "reload")
	httpsPort := testutil.FreePort(t)
	base := "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\n"
	n := startConfNode(t, base, 0)
	url := n.ClientURL() // nats:// now; the port stays
	plain := connect(t, url)

	// TLS on.
	saveAtomically(t, n.path, base+p.tlsBlock(""))
	waitReloads(t, n.Proc, 1)
	if c, err := tryConnect(url); err == nil {
		c.Close()
		t.Fatal("a client that does not trust the certificate connected after TLS was turned on")
	}
	secure := connect(t, url, p.opts(nil)...)
	roundTrip(t, secure)
	roundTrip(t, plain) // connected before: stays, in plain text

	// TLS optional.
	saveAtomically(t, n.path, base+"allow_non_tls: true\n"+p.tlsBlock(""))
	waitReloads(t, n.Proc, 2)
	roundTrip(t, connect(t, url))

	// Verify on: a client without a certificate is refused from now on.
	saveAtomically(t, n.path, base+p.tlsBlock("verify: true"))
	waitReloads(t, n.Proc, 3)
	if c, err := tryConnect(url, p.opts(nil)...); err == nil {
		c.Close()
		t.Fatal("verify turned on by a reload: a client without a certificate connected")
	}
	roundTrip(t, connect(t, url, p.opts(p.client)...))

	// HTTPS monitoring in place of HTTP.
	saveAtomically(t, n.path, fmt.Sprintf("listen: 127.0.0.1:-1\nhttps: 127.0.0.1:%d\n", httpsPort)+p.tlsBlock("verify: true"))
	waitReloads(t, n.Proc, 4)
	v := httpsGet(t, p.pool(), fmt.Sprintf("https://127.0.0.1:%d/varz", httpsPort))
	if v["https_port"] != float64(httpsPort) || v["http_port"] != float64(0) {
		t.Fatalf("/varz after the move to HTTPS: https_port %v http_port %v", v["https_port"], v["http_port"])
	}

	// TLS off (and monitoring back on HTTP): a file change that turns TLS
	// off is held back, as a config cut short could do it; SIGHUP applies it.
	saveAtomically(t, n.path, base)
	waitLog(t, n.Proc, "client TLS would be turned off")
	n.Signal(syscall.SIGHUP)
	waitReloads(t, n.Proc, 5)
	roundTrip(t, connect(t, url))
	if c, err := tryConnect(url, append(p.opts(nil), nats.Secure())...); err == nil {
		c.Close()
		t.Fatal("a client requiring TLS connected after TLS was turned off")
	}
	roundTrip(t, plain)
	roundTrip(t, secure) // its TLS session stays
	if _, err := tryHTTPSGet(p.pool(), fmt.Sprintf("https://127.0.0.1:%d/varz", httpsPort)); err == nil {
		t.Fatal("HTTPS monitoring still served after https was removed")
	}
}

// TestTLSReloadRoutes: a reload that adds cluster.tls keeps the plain route
// already up, and routes made from then on use TLS: a TLS node joins, a
// plain one is refused.
func TestTLSReloadRoutes(t *testing.T) {
	t.Parallel()
	bin := testutil.NatsdBin(t)
	p := newPKI(t, "route reload")
	cpA := testutil.FreePort(t)
	plainConf := fmt.Sprintf("listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\nserver_name: A\ncluster {\n  name: tls\n  listen: 127.0.0.1:%d\n}\n", cpA)
	a := startConfNode(t, plainConf, cpA)
	b := tlsNode(t, bin, "B", "", routeURL("127.0.0.1", cpA))
	waitMesh(t, 10*time.Second, a.node, b)

	tlsConf := strings.Replace(plainConf, "\n}\n", "\n  "+routeTLS(p.server, p.ca, "")+"\n}\n", 1)
	saveAtomically(t, a.path, tlsConf)
	waitReloads(t, a.Proc, 1)
	c := tlsNode(t, bin, "C", routeTLS(p.ca.Issue(t, "localhost", "127.0.0.1"), p.ca, ""), routeURL("127.0.0.1", cpA))
	waitRoutes(t, c, 1, 10*time.Second)
	// A registers C's route a moment after C does (CI once looked in
	// between): wait for both of A's routes — B's plain one must still be
	// one of them.
	testutil.Eventually(t, 10*time.Second, func() error {
		if got := a.numRoutes(t); got < 2 {
			return fmt.Errorf("A has %d routes: the plain route to B went, or C's is not registered", got)
		}
		return nil
	})
	before := countLog(a.Proc, "TLS route handshake error")
	d := tlsNode(t, bin, "D", "", routeURL("127.0.0.1", cpA))
	waitRouteRefusals(t, a.node, before+2)
	if got := d.numRoutes(t); got != 0 {
		t.Fatalf("a plain node joined a TLS cluster: %d routes", got)
	}
}
