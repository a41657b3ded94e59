package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// TLS for clients, with nats.go: each test is one natsd process, run in
// parallel with the others.

// TestTLSClientRequired: tls { } with verify. A client trusting the CA and
// presenting a certificate connects, pub/sub works over TLS, /connz and
// /varz show it; one without a certificate, one with a certificate of
// another CA, and one that does not trust the server are refused.
func TestTLSClientRequired(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "clients")
	other := newPKI(t, "other")
	srv, _ := tlsNatsd(t, "http: 127.0.0.1:-1\n"+p.tlsBlock("verify: true\ntimeout: 1.5"))
	url := srv.ClientURL()
	if !strings.HasPrefix(url, "tls://") {
		t.Fatalf("ports file: client URL %q, want tls:// as nats-server writes it", url)
	}
	nc := connect(t, url, p.opts(p.client)...)
	sub, _ := nc.SubscribeSync("tls.>")
	pub := connect(t, url, p.opts(p.client)...)
	_ = nc.Flush()
	_ = pub.Publish("tls.hello", []byte("over TLS"))
	if m := nextMsg(t, sub); string(m.Data) != "over TLS" {
		t.Fatalf("got %q", m.Data)
	}
	if got := peerCert(t, nc).SerialNumber; got.Cmp(p.server.Leaf.SerialNumber) != 0 {
		t.Fatalf("server presented serial %v, want %v", got, p.server.Leaf.SerialNumber)
	}

	for name, opts := range map[string][]nats.Option{
		"no client certificate":     p.opts(nil),
		"another CA's certificate":  p.opts(other.client),
		"a server it cannot verify": other.opts(p.client),
	} {
		if c, err := tryConnect(url, opts...); err == nil {
			c.Close()
			t.Errorf("%s: connected", name)
		}
	}

	v := varzOf(t, srv)
	if v["tls_required"] != true || v["tls_verify"] != true || v["tls_timeout"] != 1.5 || v["auth_timeout"] != 2.5 {
		t.Errorf("/varz tls_required %v tls_verify %v tls_timeout %v auth_timeout %v", v["tls_required"], v["tls_verify"], v["tls_timeout"], v["auth_timeout"])
	}
	if got, want := v["tls_cert_not_after"], p.server.Leaf.NotAfter.UTC().Format(time.RFC3339); got != want {
		t.Errorf("/varz tls_cert_not_after %v, want %v", got, want)
	}
	cz := httpGet(t, srv.MonitorURL()+"/connz")
	for _, c := range cz["connections"].([]any) {
		c := c.(map[string]any)
		certs, _ := c["tls_peer_certs"].([]any)
		if c["tls_version"] != "1.3" || c["tls_cipher_suite"] == nil || len(certs) != 1 ||
			certs[0].(map[string]any)["spki_sha256"] != p.client.SPKIHash() {
			t.Errorf("/connz entry: %v", c)
		}
	}
	// The refused ones closed with "TLS Handshake Failure".
	testutil.Eventually(t, 5*time.Second, func() error {
		n := 0
		for _, c := range httpGet(t, srv.MonitorURL()+"/connz?state=closed")["connections"].([]any) {
			if c.(map[string]any)["reason"] == "TLS Handshake Failure" {
				n++
			}
		}
		if n < 2 {
			return fmt.Errorf("%d closed with TLS Handshake Failure", n)
		}
		return nil
	})
}

// TestTLSHandshakeFirstClients: handshake_first: true serves only clients
// that handshake first; "auto" (a fallback) serves both kinds.
func TestTLSHandshakeFirstClients(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "first")
	first, _ := tlsNatsd(t, p.tlsBlock("handshake_first: true\ntimeout: 0.5"))
	auto, _ := tlsNatsd(t, p.tlsBlock(`handshake_first: "auto"`))

	for _, srv := range []*testutil.Proc{first, auto} {
		nc := connect(t, srv.ClientURL(), append(p.opts(nil), nats.TLSHandshakeFirst())...)
		roundTrip(t, nc)
	}
	// Without handshake first: served by "auto" (INFO in plain text after
	// the fallback), not by true (the server waits for a handshake).
	nc := connect(t, auto.ClientURL(), p.opts(nil)...)
	roundTrip(t, nc)
	if c, err := tryConnect(first.ClientURL(), p.opts(nil)...); err == nil {
		c.Close()
		t.Fatal("handshake_first: true served a client that waits for INFO")
	}
}

// TestTLSAllowNonTLS: allow_non_tls serves plain and TLS clients on one port.
func TestTLSAllowNonTLS(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "optional")
	srv, _ := tlsNatsd(t, "http: 127.0.0.1:-1\nallow_non_tls: true\n"+p.tlsBlock(""))
	url := srv.ClientURL()
	if !strings.HasPrefix(url, "nats://") {
		t.Fatalf("client URL %q, want nats:// (TLS is optional)", url)
	}
	plain := connect(t, url)
	roundTrip(t, plain)
	if _, err := plain.TLSConnectionState(); err == nil {
		t.Fatal("the plain client is on TLS")
	}
	secure := connect(t, url, append(p.opts(nil), nats.Secure())...)
	roundTrip(t, secure)
	peerCert(t, secure)
	var versions []string
	for _, c := range httpGet(t, srv.MonitorURL()+"/connz")["connections"].([]any) {
		v, _ := c.(map[string]any)["tls_version"].(string)
		versions = append(versions, v)
	}
	if strings.Join(versions, ",") != ",1.3" {
		t.Fatalf("/connz tls_version: %q", versions)
	}
	if v := varzOf(t, srv); v["tls_required"] != nil || v["tls_cert_not_after"] == nil {
		t.Fatalf("/varz: tls_required %v, tls_cert_not_after %v", v["tls_required"], v["tls_cert_not_after"])
	}
}

// TestTLSVerifyAndMapClients: verify_and_map with nats.go clients: the
// certificate's email, DNS name or subject names the user, whose password
// (if any) the client must still give; a certificate that maps to no user
// is refused, whatever credentials come with it.
func TestTLSVerifyAndMapClients(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "map")
	alice := p.ca.Issue(t, "alice@acme.com")
	bob := p.ca.Issue(t, "bob.acme.com")
	carol := p.ca.Issue(t, "carol")
	srv, _ := tlsNatsd(t, "http: 127.0.0.1:-1\n"+p.tlsBlock("verify_and_map: true")+`
authorization { users: [
  { user: "alice@acme.com" }
  { user: "bob.acme.com", password: "pw", permissions: { publish: "bob.>" } }
  { user: "CN=carol" }
  { user: "dave", password: "dpw" }
] }
`)
	url := srv.ClientURL()
	for _, c := range []struct {
		cert  *testutil.Cert
		extra []nats.Option
		user  string // "" refused
	}{
		{alice, nil, "alice@acme.com"},
		{carol, nil, "CN=carol"},
		{bob, nil, ""},
		{bob, []nats.Option{nats.UserInfo("bob.acme.com", "pw")}, "bob.acme.com"},
		{bob, []nats.Option{nats.UserInfo("x", "pw")}, "bob.acme.com"},
		{p.client, []nats.Option{nats.UserInfo("dave", "dpw")}, ""}, // maps to no one
		{nil, []nats.Option{nats.UserInfo("dave", "dpw")}, ""},      // no certificate at all
	} {
		name := "no certificate"
		if c.cert != nil {
			name = c.cert.Leaf.Subject.String()
		}
		nc, err := tryConnect(url, append(p.opts(c.cert), c.extra...)...)
		if c.user == "" {
			if err == nil {
				nc.Close()
				t.Errorf("%s: connected, want refused", name)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		cid, _ := nc.GetClientID()
		cz := httpGet(t, fmt.Sprintf("%s/connz?auth=1&cid=%d", srv.MonitorURL(), cid))
		if got := cz["connections"].([]any)[0].(map[string]any)["authorized_user"]; got != c.user {
			t.Errorf("%s: authorized_user %v, want %q", name, got, c.user)
		}
		nc.Close()
	}
	// The mapped user's permissions apply.
	nc := connect(t, url, append(p.opts(bob), nats.UserInfo("", "pw"))...)
	errs := make(chan error, 1)
	nc.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err })
	_ = nc.Publish("elsewhere", nil)
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "Permissions Violation") {
			t.Fatalf("publish outside bob.>: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no permissions violation for the mapped user")
	}
	waitLog(t, srv, `User "x" found in connect proto, but user required from cert`)
}

// TestTLSBadInputProcess: with raw sockets against the process, each bad
// client — plain text on a TLS port, silence, half a handshake, garbage
// after the handshake — costs one connection, closed within the timeout,
// while a nats.go client keeps publishing and receiving.
func TestTLSBadInputProcess(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "bad")
	srv, _ := tlsNatsd(t, "http: 127.0.0.1:-1\n"+p.tlsBlock("timeout: 0.5"))
	good := connect(t, srv.ClientURL(), p.opts(nil)...)
	addr := srv.ClientAddr()
	after := func(do func(net.Conn) error) func(t *testing.T) error {
		return func(t *testing.T) error {
			c, err := net.DialTimeout("tcp", addr, 3*time.Second)
			if err != nil {
				return err
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 4096)
			if n, err := c.Read(buf); err != nil || !strings.HasPrefix(string(buf[:n]), "INFO ") {
				return fmt.Errorf("no INFO: %q %v", buf[:n], err)
			}
			if err := do(c); err != nil {
				return err
			}
			// The server must close: reads end with EOF (or a reset), not
			// the 5 s deadline.
			start := time.Now()
			_, err = io.Copy(io.Discard, c)
			if isTimeoutErr(err) {
				return fmt.Errorf("still open after %v", time.Since(start))
			}
			return nil
		}
	}
	for _, c := range []struct {
		name string
		run  func(t *testing.T) error
	}{
		{"plain text", after(func(c net.Conn) error { _, err := io.WriteString(c, "CONNECT {}\r\nPING\r\n"); return err })},
		{"silence", after(func(net.Conn) error { return nil })},
		{"half a handshake", after(func(c net.Conn) error { _, err := c.Write([]byte{0x16, 0x03, 0x01, 0x01, 0x00, 0x01}); return err })},
		{"garbage after the handshake", after(func(c net.Conn) error {
			tc := tls.Client(c, &tls.Config{RootCAs: p.pool(), ServerName: "localhost"})
			if err := tc.Handshake(); err != nil {
				return err
			}
			_, err := tc.Write([]byte("\x00\xffgarbage\r\n"))
			return err
		})},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := closedCount(t, srv)
			if err := c.run(t); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 5*time.Second, func() error {
				if n := closedCount(t, srv); n != before+1 {
					return fmt.Errorf("%d closed connections, want %d", n, before+1)
				}
				return nil
			})
			roundTrip(t, good)
		})
	}
}

func closedCount(t *testing.T, p *testutil.Proc) int {
	return int(httpGet(t, p.MonitorURL()+"/connz?state=closed")["total"].(float64))
}

// TestTLSFlags: --tls --tlscert --tlskey --tlscacert --tlsverify serve TLS
// without a config file.
func TestTLSFlags(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "flags")
	srv := startNatsd(t, "--tlscert", p.server.CertFile, "--tlskey", p.server.KeyFile, "--tlscacert", p.ca.File, "--tlsverify")
	if _, err := tryConnect(srv.ClientURL(), p.opts(nil)...); err == nil {
		t.Fatal("--tlsverify: a client without a certificate connected")
	}
	roundTrip(t, connect(t, srv.ClientURL(), p.opts(p.client)...))
}

// TestTLSMonitoringHTTPS: https_port (and -ms) serve monitoring over TLS
// with the client block's certificate, asking none of the client even with
// verify; plain HTTP on that port gets nothing; http and https together
// are refused at start, as nats-server refuses them.
func TestTLSMonitoringHTTPS(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "https")
	srv, _ := tlsNatsd(t, "https: 127.0.0.1:-1\n"+p.tlsBlock("verify: true"))
	url := srv.MonitorURL()
	if !strings.HasPrefix(url, "https://") {
		t.Fatalf("monitoring URL %q, want https://", url)
	}
	v := httpsGet(t, p.pool(), url+"/varz")
	if v["https_port"] == float64(0) || v["http_port"] != float64(0) || v["tls_required"] != true {
		t.Fatalf("/varz over HTTPS: https_port %v http_port %v tls_required %v", v["https_port"], v["http_port"], v["tls_required"])
	}
	if _, err := tryHTTPSGet(nil, url+"/varz"); err == nil {
		t.Fatal("a client that does not trust the CA read /varz")
	}
	if _, err := tryGet(strings.Replace(url, "https://", "http://", 1) + "/varz"); err == nil {
		t.Fatal("plain HTTP was served on the HTTPS port")
	}

	flags := startNatsd(t, "--tlscert", p.server.CertFile, "--tlskey", p.server.KeyFile, "-ms", "-1")
	httpsGet(t, p.pool(), flags.MonitorURL()+"/healthz")

	out, err := runNatsd(t, "-c", testutil.WriteFile(t, "both.conf", "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\nhttps: 127.0.0.1:-1\n"+p.tlsBlock("")))
	if err == nil || !strings.Contains(out, "not both") {
		t.Fatalf("http and https together: %v\n%s", err, out)
	}
}
