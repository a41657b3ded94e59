package authcallout

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
)

// client_tls is made from a real handshake's state: version and cipher as
// nats-server writes them, the client's certificate as a verified chain
// when the server verified it, else as presented.
func TestClientTLS(t *testing.T) {
	ca := testutil.NewCA(t, "callout CA")
	srvCert := ca.Issue(t, "127.0.0.1")
	cliCert := ca.Issue(t, "alice")
	pair := func(c *testutil.Cert) tls.Certificate {
		kp, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	for _, verify := range []bool{true, false} {
		sc := &tls.Config{Certificates: []tls.Certificate{pair(srvCert)}, MinVersion: tls.VersionTLS13, ClientAuth: tls.RequireAnyClientCert}
		if verify {
			sc.ClientAuth, sc.ClientCAs = tls.RequireAndVerifyClientCert, pool
		}
		cc := &tls.Config{Certificates: []tls.Certificate{pair(cliCert)}, RootCAs: pool, ServerName: "127.0.0.1"}
		a, b := net.Pipe()
		server, client := tls.Server(a, sc), tls.Client(b, cc)
		errs := make(chan error, 1)
		go func() { errs <- client.Handshake() }()
		if err := server.Handshake(); err != nil {
			t.Fatal(err)
		}
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		st := server.ConnectionState()
		ct := clientTLS(&st)
		_ = a.Close() // not the TLS conns: their close_notify would wait on the unbuffered pipe
		_ = b.Close()
		if ct.Version != "1.3" || ct.Cipher != tls.CipherSuiteName(st.CipherSuite) {
			t.Errorf("version %q cipher %q", ct.Version, ct.Cipher)
		}
		leaf := func(s string) string {
			blk, _ := pem.Decode([]byte(s))
			if blk == nil {
				return ""
			}
			c, err := x509.ParseCertificate(blk.Bytes)
			if err != nil {
				return ""
			}
			return c.Subject.CommonName
		}
		switch {
		case verify && (len(ct.VerifiedChains) != 1 || len(ct.VerifiedChains[0]) != 2 || leaf(ct.VerifiedChains[0][0]) != "alice" || len(ct.Certs) != 0):
			t.Errorf("verified: chains %d, certs %d", len(ct.VerifiedChains), len(ct.Certs))
		case !verify && (len(ct.VerifiedChains) != 0 || len(ct.Certs) != 1 || leaf(ct.Certs[0]) != "alice"):
			t.Errorf("not verified: chains %d, certs %d", len(ct.VerifiedChains), len(ct.Certs))
		}
	}
}
