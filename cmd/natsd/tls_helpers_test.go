package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// Helpers of the TLS tests. Every certificate is made by the test
// (testutil.NewCA), in its temp dirs.

// pki is a CA with a server certificate (localhost, 127.0.0.1) and a client
// certificate.
type pki struct {
	ca     *testutil.CA
	server *testutil.Cert
	client *testutil.Cert
}

func newPKI(t *testing.T, name string) *pki {
	t.Helper()
	ca := testutil.NewCA(t, name+" CA")
	return &pki{ca: ca, server: ca.Issue(t, "localhost", "127.0.0.1"), client: ca.Issue(t, name+" client")}
}

// tlsBlock is a tls { } block for the server's pair, the CA and extra keys.
func (p *pki) tlsBlock(extra string) string {
	return fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  %s\n}\n", p.server.CertFile, p.server.KeyFile, p.ca.File, extra)
}

// opts are nats.go's options to trust the CA and, with cert, present it.
func (p *pki) opts(cert *testutil.Cert) []nats.Option {
	o := []nats.Option{nats.RootCAs(p.ca.File)}
	if cert != nil {
		o = append(o, nats.ClientCert(cert.CertFile, cert.KeyFile))
	}
	return o
}

// pool trusts the CA.
func (p *pki) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.ca.Cert)
	return pool
}

// tryConnect is connect that returns the error.
func tryConnect(url string, opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect(url, append([]nats.Option{nats.Timeout(3 * time.Second), nats.NoReconnect()}, opts...)...)
}

// peerCert is the certificate the server presented to nc.
func peerCert(t *testing.T, nc *nats.Conn) *x509.Certificate {
	t.Helper()
	cs, err := nc.TLSConnectionState()
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.PeerCertificates) == 0 {
		t.Fatal("no peer certificate")
	}
	return cs.PeerCertificates[0]
}

// roundTrip checks that nc still works: a message to itself.
func roundTrip(t *testing.T, nc *nats.Conn) {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.Publish(inbox, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	nextMsg(t, sub)
}

// httpsGet GETs url trusting pool and decodes the JSON answer.
func httpsGet(t *testing.T, pool *x509.CertPool, url string) map[string]any {
	t.Helper()
	m, err := tryHTTPSGet(pool, url)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func tryHTTPSGet(pool *x509.CertPool, url string) (map[string]any, error) {
	c := http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("GET %s: %v: %s", url, err, b)
	}
	return m, nil
}

// tlsNatsd starts natsd with conf (which sets no listen) on loopback with a
// plain monitoring port, and returns it and its config path.
func tlsNatsd(t *testing.T, conf string, args ...string) (*testutil.Proc, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "natsd.conf")
	if err := os.WriteFile(path, []byte("listen: 127.0.0.1:-1\n"+conf), 0o644); err != nil {
		t.Fatal(err)
	}
	return testutil.Start(t, testutil.NatsdBin(t), append([]string{"-c", path}, args...)...), path
}

// replaceFile writes b to a temp file beside path and renames it over path,
// as certbot and most deploy tools replace a file.
func replaceFile(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// waitLog waits until the process log contains s.
func waitLog(t *testing.T, p *testutil.Proc, s string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(p.Log(), s) {
			return fmt.Errorf("log lacks %q", s)
		}
		return nil
	})
}

// varzOf reads /varz over plain HTTP.
func varzOf(t *testing.T, p *testutil.Proc) map[string]any {
	t.Helper()
	return httpGet(t, p.MonitorURL()+"/varz")
}
