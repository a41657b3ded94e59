package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
	"github.com/natsd/natsd/server/conn"
	"github.com/natsd/natsd/tlsconf"
)

// tlsEnv is a CA and the server certificate it issued, for a server with
// TLS on its client listener.
type tlsEnv struct {
	ca  *testutil.CA
	srv *testutil.Cert
}

func newTLSEnv(t *testing.T) *tlsEnv {
	t.Helper()
	ca := testutil.NewCA(t, "server test CA")
	return &tlsEnv{ca: ca, srv: ca.Issue(t, "localhost", "127.0.0.1")}
}

// start serves o with tls (the server's pair added) and returns the server
// and its address.
func (e *tlsEnv) start(t *testing.T, o Options, tlsOpts tlsconf.Options) (*Server, string) {
	t.Helper()
	tlsOpts.CertFile, tlsOpts.KeyFile = e.srv.CertFile, e.srv.KeyFile
	if tlsOpts.CAFile == "" {
		tlsOpts.CAFile = e.ca.File
	}
	st, err := tlsconf.NewStore(&tlsOpts)
	if err != nil {
		t.Fatal(err)
	}
	o.TLS = &tlsOpts
	srv, addr := startServerWith(t, o, func(s *Server) { s.SetTLS(st) })
	return srv, addr
}

// clientConfig trusts the test CA and, with cert, presents it.
func (e *tlsEnv) clientConfig(cert *testutil.Cert) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(e.ca.Cert)
	c := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if cert != nil {
		pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
		if err != nil {
			panic(err)
		}
		c.Certificates = []tls.Certificate{pair}
	}
	return c
}

// startServerWith is startServer with a hook that runs before serving.
func startServerWith(t *testing.T, o Options, before func(*Server)) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.Host = "127.0.0.1"
	srv := New(o, nil, "test")
	before(srv)
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	})
	return srv, ln.Addr().String()
}

// lineConn reads protocol lines from a plain or TLS connection.
type lineConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func newLineConn(t *testing.T, nc net.Conn) *lineConn {
	t.Cleanup(func() { _ = nc.Close() })
	return &lineConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (l *lineConn) line() (string, error) {
	_ = l.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	s, err := l.br.ReadString('\n')
	return strings.TrimRight(s, "\r\n"), err
}

func (l *lineConn) mustLine() string {
	l.t.Helper()
	s, err := l.line()
	if err != nil {
		l.t.Fatalf("read: %v (got %q)", err, s)
	}
	return s
}

func (l *lineConn) send(s string) {
	l.t.Helper()
	_ = l.nc.SetWriteDeadline(time.Now().Add(ioTimeout))
	if _, err := io.WriteString(l.nc, s); err != nil {
		l.t.Fatalf("write: %v", err)
	}
}

func infoOf(t *testing.T, line string) map[string]any {
	t.Helper()
	js, ok := strings.CutPrefix(line, "INFO ")
	if !ok {
		t.Fatalf("want INFO, got %q", line)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(js), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func dialRaw(t *testing.T, addr string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return nc
}

// upgrade runs the client side of a handshake on nc.
func upgrade(t *testing.T, nc net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	t.Helper()
	tc := tls.Client(nc, cfg)
	_ = tc.SetDeadline(time.Now().Add(ioTimeout))
	err := tc.Handshake()
	_ = tc.SetDeadline(time.Time{})
	return tc, err
}

// ping sends CONNECT and PING and returns the line answering them.
func ping(l *lineConn, connect string) string {
	l.send("CONNECT " + connect + "\r\nPING\r\n")
	s, err := l.line()
	if err != nil {
		return "error: " + err.Error()
	}
	return s
}

func TestTLSInfoThenUpgrade(t *testing.T) {
	e := newTLSEnv(t)
	srv, addr := e.start(t, Options{}, tlsconf.Options{Verify: true})
	nc := dialRaw(t, addr)
	plain := newLineConn(t, nc)
	info := infoOf(t, plain.mustLine())
	if info["tls_required"] != true || info["tls_verify"] != true || info["tls_available"] != nil {
		t.Fatalf("INFO tls fields: required %v verify %v available %v", info["tls_required"], info["tls_verify"], info["tls_available"])
	}
	client := e.ca.Issue(t, "client")
	tc, err := upgrade(t, nc, e.clientConfig(client))
	if err != nil {
		t.Fatal(err)
	}
	l := newLineConn(t, tc)
	if got := ping(l, `{"verbose":false}`); got != "PONG" {
		t.Fatalf("after upgrade: %q", got)
	}
	cs := srv.Conns(true, false)
	if len(cs) != 1 || cs[0].TLSVersion != "1.3" || cs[0].TLSCipherSuite == "" || cs[0].TLSFirst || len(cs[0].TLSPeerCerts) != 1 {
		t.Fatalf("conn stats: %+v", cs)
	}
	if got := cs[0].TLSPeerCerts[0]; got.Subject != "CN=client" || got.SPKISHA256 != client.SPKIHash() {
		t.Fatalf("peer cert: %+v", got)
	}
}

func TestTLSHandshakeFirst(t *testing.T) {
	e := newTLSEnv(t)
	for _, tc := range []struct {
		name     string
		fallback time.Duration
	}{{"no fallback", 0}, {"fallback", 100 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, addr := e.start(t, Options{}, tlsconf.Options{HandshakeFirst: true, HandshakeFirstFallback: tc.fallback})
			// A client that starts with the handshake gets INFO over TLS.
			s, err := upgrade(t, dialRaw(t, addr), e.clientConfig(nil))
			if err != nil {
				t.Fatal(err)
			}
			l := newLineConn(t, s)
			if info := infoOf(t, l.mustLine()); info["tls_required"] != true {
				t.Fatalf("INFO: %v", info)
			}
			if got := ping(l, "{}"); got != "+OK" {
				t.Fatalf("CONNECT: %q", got)
			}
			waitFor(t, ioTimeout, "the session in /connz", func() bool {
				cs := srv.Conns(true, false)
				return len(cs) == 1 && cs[0].TLSFirst && cs[0].TLSVersion != ""
			})
		})
	}
	t.Run("fallback: INFO in plain text, then the upgrade", func(t *testing.T) {
		_, addr := e.start(t, Options{}, tlsconf.Options{HandshakeFirst: true, HandshakeFirstFallback: 100 * time.Millisecond})
		nc := dialRaw(t, addr)
		info := infoOf(t, newLineConn(t, nc).mustLine()) // sent once the fallback passed
		if info["tls_required"] != true {
			t.Fatalf("INFO: %v", info)
		}
		s, err := upgrade(t, nc, e.clientConfig(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := ping(newLineConn(t, s), `{"verbose":false}`); got != "PONG" {
			t.Fatalf("after upgrade: %q", got)
		}
	})
}

func TestTLSAllowNonTLS(t *testing.T) {
	e := newTLSEnv(t)
	for _, fallback := range []time.Duration{0, 50 * time.Millisecond} {
		srv, addr := e.start(t, Options{AllowNonTLS: true}, tlsconf.Options{HandshakeFirst: fallback > 0, HandshakeFirstFallback: fallback})
		// Plain text.
		l := newLineConn(t, dialRaw(t, addr))
		info := infoOf(t, l.mustLine())
		if info["tls_available"] != true || info["tls_required"] != nil {
			t.Fatalf("INFO: %v", info)
		}
		if got := ping(l, `{"verbose":false}`); got != "PONG" {
			t.Fatalf("plain: %q", got)
		}
		// TLS after INFO.
		nc := dialRaw(t, addr)
		newLineConn(t, nc).mustLine()
		s, err := upgrade(t, nc, e.clientConfig(nil))
		if err != nil {
			t.Fatal(err)
		}
		if got := ping(newLineConn(t, s), `{"verbose":false}`); got != "PONG" {
			t.Fatalf("TLS: %q", got)
		}
		var versions []string
		for _, c := range srv.Conns(true, false) {
			versions = append(versions, c.TLSVersion)
		}
		if strings.Join(versions, ",") != ",1.3" {
			t.Fatalf("tls versions in /connz: %q", versions)
		}
	}
}

// TestTLSBadInput: each bad client costs one connection, closed with "TLS
// Handshake Failure" within the tls timeout (or, after the handshake, with
// the protocol's error), while a good client keeps working.
func TestTLSBadInput(t *testing.T) {
	e := newTLSEnv(t)
	srv, addr := e.start(t, Options{}, tlsconf.Options{Timeout: 500 * time.Millisecond})
	good, err := upgrade(t, func() net.Conn { nc := dialRaw(t, addr); newLineConn(t, nc).mustLine(); return nc }(), e.clientConfig(nil))
	if err != nil {
		t.Fatal(err)
	}
	gl := newLineConn(t, good)
	if got := ping(gl, `{"verbose":false}`); got != "PONG" {
		t.Fatal(got)
	}
	cases := []struct {
		name   string
		do     func(nc net.Conn) // after the plain INFO
		reason conn.Reason
	}{
		{"plain text on a TLS port", func(nc net.Conn) { _, _ = io.WriteString(nc, "CONNECT {}\r\nPING\r\n") }, conn.TLSHandshakeFailure},
		{"nothing after INFO", func(net.Conn) {}, conn.TLSHandshakeFailure},
		{"half a ClientHello", func(nc net.Conn) { _, _ = nc.Write([]byte{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00}) }, conn.TLSHandshakeFailure},
		{"a huge handshake record", func(nc net.Conn) { _, _ = nc.Write([]byte("\x16\x03\x01\x00\x05hello-garbage")) }, conn.TLSHandshakeFailure},
		{"garbage after the handshake", func(nc net.Conn) {
			s, err := upgrade(t, nc, e.clientConfig(nil))
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = io.WriteString(s, "\x00\x01garbage\r\n")
		}, conn.ParseError},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(srv.Conns(false, true))
			nc := dialRaw(t, addr)
			newLineConn(t, nc).mustLine()
			c.do(nc)
			// The server closes: a read ends (no hang), within the timeout
			// and the reads' bound.
			_ = nc.SetReadDeadline(time.Now().Add(ioTimeout))
			if _, err := io.Copy(io.Discard, nc); err != nil && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "reset") {
				t.Fatalf("the server did not close the connection: %v", err)
			}
			waitFor(t, ioTimeout, "the closed connection", func() bool { return len(srv.Conns(false, true)) == before+1 })
			closed := srv.Conns(false, true)
			if got := closed[len(closed)-1].Reason; got != c.reason.String() {
				t.Fatalf("reason %q, want %q", got, c.reason)
			}
			if got := ping(gl, `{"verbose":false}`); got != "PONG" {
				t.Fatalf("the good client: %q", got)
			}
		})
	}
}

// TestTLSShutdownDuringHandshake: shutdown does not wait for a handshake
// the client never finishes (the timeout is a minute; Shutdown is given 5 s).
func TestTLSShutdownDuringHandshake(t *testing.T) {
	e := newTLSEnv(t)
	st, err := tlsconf.NewStore(&tlsconf.Options{CertFile: e.srv.CertFile, KeyFile: e.srv.KeyFile})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{Host: "127.0.0.1", TLS: &tlsconf.Options{CertFile: e.srv.CertFile, KeyFile: e.srv.KeyFile, Timeout: time.Minute}}, nil, "test")
	srv.SetTLS(st)
	go func() { _ = srv.Serve(ln) }()
	nc := dialRaw(t, ln.Addr().String())
	newLineConn(t, nc).mustLine()
	waitFor(t, ioTimeout, "the client", func() bool { return srv.NumClients() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown waited for the handshake: %v", err)
	}
}

// TestTLSVerifyAndMap replays what nats-server v2.15.2 answered (recorded
// with these users and certificates): the certificate names the user,
// the CONNECT's user is ignored, its pass must be the mapped user's.
func TestTLSVerifyAndMap(t *testing.T) {
	e := newTLSEnv(t)
	users := []*User{{Username: "alice@acme.com"}, {Username: "bob.acme.com", Password: "pw"}, {Username: "carol", Password: "cpw"}}
	srv, addr := e.start(t, Options{Auth: AuthOptions{Users: users}}, tlsconf.Options{Verify: true, VerifyAndMap: true})
	alice := e.ca.IssueSpec(t, testutil.CertSpec{Names: []string{"alice@acme.com"}, Subject: pkix.Name{CommonName: "alice", Organization: []string{"Acme"}}})
	bob := e.ca.Issue(t, "bob.acme.com")
	nobody := e.ca.Issue(t, "nobody.acme.com")
	cases := []struct {
		cert    *testutil.Cert
		connect string
		user    string // "" refused
	}{
		{alice, `{}`, "alice@acme.com"},
		{alice, `{"user":"alice@acme.com"}`, "alice@acme.com"},
		{alice, `{"user":"nobody"}`, "alice@acme.com"},
		{alice, `{"user":"alice@acme.com","pass":"x"}`, ""},
		{alice, `{"user":"carol","pass":"cpw"}`, ""},
		{bob, `{}`, ""},
		{bob, `{"pass":"pw"}`, "bob.acme.com"},
		{bob, `{"user":"bob.acme.com","pass":"pw"}`, "bob.acme.com"},
		{bob, `{"user":"bob.acme.com","pass":"bad"}`, ""},
		{nobody, `{}`, ""},
		{nobody, `{"user":"carol","pass":"cpw"}`, ""},
	}
	for _, c := range cases {
		nc := dialRaw(t, addr)
		newLineConn(t, nc).mustLine()
		s, err := upgrade(t, nc, e.clientConfig(c.cert))
		if err != nil {
			t.Fatal(err)
		}
		l := newLineConn(t, s)
		got := ping(l, strings.TrimSuffix(c.connect, "}")+func() string {
			if c.connect == "{}" {
				return `"verbose":false}`
			}
			return `,"verbose":false}`
		}())
		want := "PONG"
		if c.user == "" {
			want = "-ERR 'Authorization Violation'"
		}
		if got != want {
			t.Errorf("%s with %s: %q, want %q", c.cert.Leaf.Subject, c.connect, got, want)
			continue
		}
		if c.user == "" {
			continue
		}
		var found bool
		for _, cs := range srv.Conns(true, false) {
			found = found || cs.User == c.user
		}
		if !found {
			t.Errorf("%s with %s: no connection of user %q", c.cert.Leaf.Subject, c.connect, c.user)
		}
		_ = s.Close()
	}
}
