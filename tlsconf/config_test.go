package tlsconf

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// tlsServer is a TLS echo server on loopback with cfg: each connection
// completes its handshake, then echoes lines. Handshake errors go to errs.
type tlsServer struct {
	addr string
	errs chan error
}

func startTLSServer(t *testing.T, cfg *tls.Config) *tlsServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tlsServer{addr: ln.Addr().String(), errs: make(chan error, 100)}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				tc := tls.Server(c, cfg)
				_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
				if err := tc.Handshake(); err != nil {
					select {
					case s.errs <- err:
					default:
					}
					return
				}
				_ = tc.SetDeadline(time.Time{})
				r := bufio.NewReader(tc)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := tc.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return s
}

// lastErr is the next handshake error the server saw (nil after 5 s).
func (s *tlsServer) lastErr() error {
	select {
	case err := <-s.errs:
		return err
	case <-time.After(5 * time.Second):
		return nil
	}
}

// dial connects with cfg and proves the connection with one echo: in TLS
// 1.3 a server refuses a client certificate only after the client's
// handshake returned.
func dial(t *testing.T, addr string, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tc := tls.Client(nc, cfg)
	t.Cleanup(func() { tc.Close() })
	if err := echo(tc); err != nil {
		return nil, err
	}
	return tc, nil
}

func echo(tc *tls.Conn) error {
	_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
	defer tc.SetDeadline(time.Time{})
	if _, err := tc.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(tc).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return fmt.Errorf("echo %q", line)
	}
	return nil
}

func pool(cas ...*testutil.CA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.Cert)
	}
	return p
}

func clientCfg(ca *testutil.CA, cert *testutil.Cert) *tls.Config {
	c := &tls.Config{RootCAs: pool(ca), ServerName: "localhost"}
	if cert != nil {
		pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
		if err != nil {
			panic(err)
		}
		// Sent whatever CAs the server names: crypto/tls would send none
		// for a certificate of a CA the server does not list.
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
	}
	return c
}

func mustStore(t *testing.T, o *Options) *Store {
	t.Helper()
	s, err := NewStore(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRotationReachesNewHandshakesOnly is the heart of rotation: replace
// the files, Reload, and a new client sees the new certificate while a
// client connected before keeps working on its session; a broken pair is
// refused and the new one keeps serving.
func TestRotationReachesNewHandshakesOnly(t *testing.T) {
	ca := testutil.NewCA(t, "rotation CA")
	a, b, c := ca.Issue(t, "localhost"), ca.Issue(t, "localhost"), ca.Issue(t, "localhost")
	f := newPairFiles(t, a, ca)
	s := mustStore(t, &Options{CertFile: f.cert, KeyFile: f.key})
	srv := startTLSServer(t, s.ServerConfig())

	old, err := dial(t, srv.addr, clientCfg(ca, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := old.ConnectionState().PeerCertificates[0]; !got.Equal(a.Leaf) {
		t.Fatal("first client did not see a")
	}

	renameInto(t, f.key, b.KeyPEM)
	renameInto(t, f.cert, b.CertPEM)
	if changed, err := s.Reload(); !changed || err != nil {
		t.Fatalf("reload: %v %v", changed, err)
	}
	fresh, err := dial(t, srv.addr, clientCfg(ca, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := fresh.ConnectionState().PeerCertificates[0]; !got.Equal(b.Leaf) {
		t.Fatalf("new client saw %v, want b", got.SerialNumber)
	}
	if err := echo(old); err != nil {
		t.Fatalf("connection made before the reload: %v", err)
	}

	// c's certificate with b's key: refused, b keeps serving.
	testutil.WriteBytes(t, f.cert, c.CertPEM)
	if _, err := s.Reload(); err == nil || !strings.Contains(err.Error(), "key_file "+f.key+": does not go with cert_file "+f.cert) {
		t.Fatalf("mismatched pair: %v", err)
	}
	third, err := dial(t, srv.addr, clientCfg(ca, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := third.ConnectionState().PeerCertificates[0]; !got.Equal(b.Leaf) {
		t.Fatal("a refused pair is serving")
	}
	if err := echo(old); err != nil {
		t.Fatal(err)
	}
}

// TestRotationEndsSessionResumption: a client that kept a session ticket
// from before a reload does not resume it after: it sees the new
// certificate (a resumed TLS 1.3 session reports the old one).
func TestRotationEndsSessionResumption(t *testing.T) {
	ca := testutil.NewCA(t, "resumption CA")
	a, b := ca.Issue(t, "localhost"), ca.Issue(t, "localhost")
	f := newPairFiles(t, a, ca)
	s := mustStore(t, &Options{CertFile: f.cert, KeyFile: f.key})
	srv := startTLSServer(t, s.ServerConfig())
	cfg := clientCfg(ca, nil)
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(4)

	first, err := dial(t, srv.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	first.Close() // the ticket arrived with the echo
	again, err := dial(t, srv.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !again.ConnectionState().DidResume {
		t.Fatal("no resumption before the reload: the test proves nothing")
	}
	b.WriteTo(t, f.cert, f.key)
	if _, err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	after, err := dial(t, srv.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st := after.ConnectionState(); st.DidResume || !st.PeerCertificates[0].Equal(b.Leaf) {
		t.Fatalf("after the reload: resumed=%v, certificate b=%v", st.DidResume, st.PeerCertificates[0].Equal(b.Leaf))
	}
}

// TestVerifyAndCARotation: verify asks for a client certificate and checks
// it against ca_file, for client authentication; a new ca_file applies to
// new handshakes after Reload.
func TestVerifyAndCARotation(t *testing.T) {
	ca1, ca2 := testutil.NewCA(t, "CA one"), testutil.NewCA(t, "CA two")
	srvCert := ca1.Issue(t, "localhost")
	c1, c2 := ca1.Issue(t, "client one"), ca2.Issue(t, "client two")
	serverOnly := ca1.IssueSpec(t, testutil.CertSpec{Names: []string{"frank"}, Server: true})
	f := newPairFiles(t, srvCert, ca1)
	s := mustStore(t, &Options{CertFile: f.cert, KeyFile: f.key, CAFile: f.ca, Verify: true})
	srv := startTLSServer(t, s.ServerConfig())

	if _, err := dial(t, srv.addr, clientCfg(ca1, c1)); err != nil {
		t.Fatalf("client of ca_file refused: %v", err)
	}
	// nats-server logs "tls: client didn't provide a certificate",
	// "x509: certificate signed by unknown authority", "x509: certificate
	// specifies an incompatible key usage".
	for _, c := range []struct {
		name string
		cert *testutil.Cert
		want string
	}{
		{"no certificate", nil, "didn't provide a certificate"},
		{"other CA", c2, "unknown authority"},
		{"server-only key usage", serverOnly, "incompatible key usage"},
	} {
		if _, err := dial(t, srv.addr, clientCfg(ca1, c.cert)); err == nil {
			t.Fatalf("%s: accepted", c.name)
		}
		if err := srv.lastErr(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("%s: server error %v, want %q", c.name, err, c.want)
		}
	}

	renameInto(t, f.ca, ca2.PEM)
	if changed, err := s.Reload(); !changed || err != nil {
		t.Fatal(changed, err)
	}
	if _, err := dial(t, srv.addr, clientCfg(ca1, c2)); err != nil {
		t.Fatalf("client of the new CA refused: %v", err)
	}
	if _, err := dial(t, srv.addr, clientCfg(ca1, c1)); err == nil {
		t.Fatal("client of the old CA accepted after the CA was replaced")
	}

	// Without verify no certificate is asked for.
	plain := startTLSServer(t, mustStore(t, &Options{CertFile: f.cert, KeyFile: f.key}).ServerConfig())
	if _, err := dial(t, plain.addr, clientCfg(ca1, nil)); err != nil {
		t.Fatal(err)
	}
}

// TestPinnedCerts: with pinned_certs a client's key must be pinned; without
// verify no client certificate is asked for, so every client is refused
// (recorded: nats-server logs "certificate not pinned" for each).
func TestPinnedCerts(t *testing.T) {
	ca := testutil.NewCA(t, "pin CA")
	srvCert, c1, c2 := ca.Issue(t, "localhost"), ca.Issue(t, "one"), ca.Issue(t, "two")
	pins := []string{c1.SPKIHash()}

	s := mustStore(t, &Options{CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, CAFile: ca.File, Verify: true, PinnedCerts: pins})
	srv := startTLSServer(t, s.ServerConfig())
	if _, err := dial(t, srv.addr, clientCfg(ca, c1)); err != nil {
		t.Fatalf("pinned client refused: %v", err)
	}
	if _, err := dial(t, srv.addr, clientCfg(ca, c2)); err == nil {
		t.Fatal("client not pinned accepted")
	}
	if err := srv.lastErr(); !errors.Is(err, ErrNotPinned) {
		t.Fatalf("server error %v", err)
	}

	noVerify := startTLSServer(t, mustStore(t, &Options{CertFile: srvCert.CertFile, KeyFile: srvCert.KeyFile, PinnedCerts: pins}).ServerConfig())
	if _, err := dial(t, noVerify.addr, clientCfg(ca, c1)); err == nil {
		t.Fatal("pinned_certs without verify accepted a client (nats-server refuses them all)")
	}

	// HTTPS monitoring asks for no certificate and pins none, whatever the
	// block says, as nats-server (recorded with curl and verify: true).
	mon := startTLSServer(t, s.MonitorConfig())
	if _, err := dial(t, mon.addr, clientCfg(ca, nil)); err != nil {
		t.Fatalf("monitoring asked for a client certificate: %v", err)
	}
}

// TestProtocolLimits: min_version, cipher_suites and curve_preferences
// bound what a client may use; an empty block serves no certificate.
func TestProtocolLimits(t *testing.T) {
	ca := testutil.NewCA(t, "limits CA")
	cert := ca.Issue(t, "localhost")
	base := Options{CertFile: cert.CertFile, KeyFile: cert.KeyFile}
	suite := func(name string) uint16 { id, _, _ := CipherSuiteByName(name); return uint16(id) }
	curve := func(name string) tls.CurveID { c, _ := CurveByName(name); return c }

	cases := []struct {
		name   string
		server func(o *Options)
		client func(c *tls.Config)
		ok     bool
	}{
		{"default: TLS 1.2 accepted", nil, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, true},
		{"default: TLS 1.1 refused", nil, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS11, tls.VersionTLS11 }, false},
		{"min_version 1.3 refuses 1.2", func(o *Options) { o.MinVersion = tls.VersionTLS13 }, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }, false},
		{"min_version 1.3 accepts 1.3", func(o *Options) { o.MinVersion = tls.VersionTLS13 }, nil, true},
		{"cipher_suites: the suite listed", func(o *Options) {
			o.CipherSuites = []CipherSuite{CipherSuite(suite("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"))}
		}, func(c *tls.Config) {
			c.MaxVersion, c.CipherSuites = tls.VersionTLS12, []uint16{suite("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384")}
		}, true},
		{"cipher_suites: another suite", func(o *Options) {
			o.CipherSuites = []CipherSuite{CipherSuite(suite("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"))}
		}, func(c *tls.Config) {
			c.MaxVersion, c.CipherSuites = tls.VersionTLS12, []uint16{suite("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")}
		}, false},
		{"curve_preferences: the curve listed", func(o *Options) { o.CurvePreferences = []tls.CurveID{curve("CurveP384")} },
			func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{curve("CurveP384")} }, true},
		{"curve_preferences: another curve", func(o *Options) { o.CurvePreferences = []tls.CurveID{curve("CurveP384")} },
			func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{curve("X25519")} }, false},
		{"default curves include the hybrid ones", nil,
			func(c *tls.Config) { c.CurvePreferences = []tls.CurveID{curve("X25519MLKEM768")} }, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := base
			if c.server != nil {
				c.server(&o)
			}
			srv := startTLSServer(t, mustStore(t, &o).ServerConfig())
			cc := clientCfg(ca, nil)
			if c.client != nil {
				c.client(cc)
			}
			_, err := dial(t, srv.addr, cc)
			if c.ok != (err == nil) {
				t.Fatalf("handshake error %v, want ok=%v", err, c.ok)
			}
		})
	}

	t.Run("no certificate", func(t *testing.T) {
		srv := startTLSServer(t, mustStore(t, &Options{}).ServerConfig())
		if _, err := dial(t, srv.addr, clientCfg(ca, nil)); err == nil {
			t.Fatal("handshake without a certificate succeeded")
		}
		// nats-server logs the same.
		if err := srv.lastErr(); err == nil || !strings.Contains(err.Error(), "no certificates configured") {
			t.Fatalf("server error %v", err)
		}
	})
}

// TestRouteConfigs: both ends of a route verify each other; a dialer
// checks the listener's name; verify_cert_and_check_known_urls, insecure
// and pinned_certs as documented.
func TestRouteConfigs(t *testing.T) {
	ca, other := testutil.NewCA(t, "route CA"), testutil.NewCA(t, "other CA")
	certA := ca.Issue(t, "a.example.net", "127.0.0.1")
	certB := ca.Issue(t, "b.example.net")
	wild := ca.Issue(t, "*.example.net")
	stranger := other.Issue(t, "a.example.net")
	node := func(c *testutil.Cert, mod func(*Options)) *Store {
		o := &Options{CertFile: c.CertFile, KeyFile: c.KeyFile, CAFile: ca.File}
		if mod != nil {
			mod(o)
		}
		return mustStore(t, o)
	}
	a := node(certA, nil)
	srv := startTLSServer(t, a.RouteListenerConfig(nil))

	if _, err := dial(t, srv.addr, node(certB, nil).RouteDialConfig("a.example.net")); err != nil {
		t.Fatalf("route between two nodes of the CA: %v", err)
	}
	if _, err := dial(t, srv.addr, node(certB, nil).RouteDialConfig("127.0.0.1")); err != nil {
		t.Fatalf("route by IP: %v", err)
	}
	if _, err := dial(t, srv.addr, node(certB, nil).RouteDialConfig("c.example.net")); err == nil {
		t.Fatal("dialer accepted a certificate not for the name it dialed")
	}
	noCert := mustStore(t, &Options{CAFile: ca.File})
	if _, err := dial(t, srv.addr, noCert.RouteDialConfig("a.example.net")); err == nil {
		t.Fatal("route without a certificate accepted: routes always verify")
	}

	// insecure: the dialer skips the check of the listener's certificate
	// (the listener still checks the dialer's).
	strangerSrv := startTLSServer(t, mustStore(t, &Options{CertFile: stranger.CertFile, KeyFile: stranger.KeyFile, CAFile: ca.File}).RouteListenerConfig(nil))
	if _, err := dial(t, strangerSrv.addr, node(certB, nil).RouteDialConfig("a.example.net")); err == nil {
		t.Fatal("dialer accepted a listener of another CA")
	}
	if _, err := dial(t, strangerSrv.addr, node(certB, func(o *Options) { o.Insecure = true }).RouteDialConfig("a.example.net")); err != nil {
		t.Fatalf("insecure dial: %v", err)
	}
	// pinned_certs on the dialer: the listener's key must be pinned.
	if _, err := dial(t, srv.addr, node(certB, func(o *Options) { o.PinnedCerts = []string{certB.SPKIHash()} }).RouteDialConfig("a.example.net")); !errors.Is(err, ErrNotPinned) {
		t.Fatalf("dialer pinning another key: %v", err)
	}
	if _, err := dial(t, srv.addr, node(certB, func(o *Options) { o.PinnedCerts = []string{certA.SPKIHash()} }).RouteDialConfig("a.example.net")); err != nil {
		t.Fatalf("dialer pinning the listener's key: %v", err)
	}

	// verify_cert_and_check_known_urls: a DNS name of the dialer's
	// certificate must match a route URL's host.
	var mu sync.Mutex
	known := []string{"b.example.net"}
	hosts := func() []string { mu.Lock(); defer mu.Unlock(); return known }
	checked := startTLSServer(t, node(certA, func(o *Options) { o.VerifyCertAndCheckKnownURLs = true }).RouteListenerConfig(hosts))
	if _, err := dial(t, checked.addr, node(certB, nil).RouteDialConfig("a.example.net")); err != nil {
		t.Fatalf("known route refused: %v", err)
	}
	if _, err := dial(t, checked.addr, node(wild, nil).RouteDialConfig("a.example.net")); err != nil {
		t.Fatalf("wildcard certificate for a known route refused: %v", err)
	}
	mu.Lock()
	known = []string{"c.other.net"}
	mu.Unlock()
	if _, err := dial(t, checked.addr, node(certB, nil).RouteDialConfig("a.example.net")); err == nil {
		t.Fatal("route matching no route URL accepted")
	}
	if err := checked.lastErr(); err == nil || !strings.Contains(err.Error(), `certificate DNS names ["b.example.net"] match no configured route URL`) {
		t.Fatalf("server error %v", err)
	}
}

func TestMatchDNSName(t *testing.T) {
	cases := []struct {
		name, host string
		ok         bool
	}{
		{"a.example.net", "a.example.net", true},
		{"A.Example.NET", "a.example.net.", true},
		{"*.example.net", "b.example.net", true},
		{"*.example.net", "example.net", false},
		{"*.example.net", "a.b.example.net", false},
		{"a*.example.net", "ab.example.net", false},
		{"*", "localhost", false},
		{"*.", "a.", false},
		{"a.example.net", "b.example.net", false},
		{"", "", false},
	}
	for _, c := range cases {
		if got := MatchDNSName(c.name, c.host); got != c.ok {
			t.Errorf("%q vs %q: %v", c.name, c.host, got)
		}
	}
}

// TestReloadDuringHandshakes: handshakes run while the pair flips between
// two; each completes with one whole pair (run with -race).
func TestReloadDuringHandshakes(t *testing.T) {
	ca := testutil.NewCA(t, "race CA")
	a, b := ca.Issue(t, "localhost"), ca.Issue(t, "localhost")
	f := newPairFiles(t, a, ca)
	s := mustStore(t, &Options{CertFile: f.cert, KeyFile: f.key})
	srv := startTLSServer(t, s.ServerConfig())

	done := make(chan struct{})
	var wg sync.WaitGroup
	var seen sync.Map
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				nc, err := net.DialTimeout("tcp", srv.addr, 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				tc := tls.Client(nc, clientCfg(ca, nil))
				err = echo(tc)
				tc.Close()
				if err != nil {
					t.Error(err)
					return
				}
				seen.Store(tc.ConnectionState().PeerCertificates[0].SerialNumber.String(), true)
			}
		}()
	}
	for i := range 40 {
		next := b
		if i%2 == 1 {
			next = a
		}
		renameInto(t, f.key, next.KeyPEM)
		renameInto(t, f.cert, next.CertPEM)
		if _, err := s.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	for _, c := range []*testutil.Cert{a, b} {
		if _, ok := seen.Load(c.Leaf.SerialNumber.String()); !ok {
			t.Logf("certificate %v not seen (the reloads may all have been between two handshakes)", c.Leaf.SerialNumber)
		}
	}
}
