package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// Certificates that rotate themselves: the files change on disk, nobody
// signals natsd, and new handshakes get the new certificate while
// connections already made stay.

// rotationWithin is the issue's bound: a new client sees the new
// certificate within 5 s of the files changing.
const rotationWithin = 5 * time.Second

// certDir holds the files a natsd config names: cert.pem, key.pem, ca.pem.
type certDir struct {
	dir, cert, key, ca string
}

func newCertDir(t *testing.T, p *pki, c *testutil.Cert) *certDir {
	t.Helper()
	d := t.TempDir()
	cd := &certDir{dir: d, cert: filepath.Join(d, "cert.pem"), key: filepath.Join(d, "key.pem"), ca: filepath.Join(d, "ca.pem")}
	testutil.WriteBytes(t, cd.ca, p.ca.PEM)
	c.WriteTo(t, cd.cert, cd.key)
	return cd
}

func (cd *certDir) block(extra string) string {
	return fmt.Sprintf("tls {\n  cert_file: %q\n  key_file: %q\n  ca_file: %q\n  %s\n}\n", cd.cert, cd.key, cd.ca, extra)
}

// rename replaces the pair by renaming new files into place, the key first.
func (cd *certDir) rename(t *testing.T, c *testutil.Cert) {
	t.Helper()
	replaceFile(t, cd.key, c.KeyPEM)
	replaceFile(t, cd.cert, c.CertPEM)
}

// served is the serial of the certificate a TLS server at addr presents
// now (a new handshake, trusting pool; with client, presenting it). The
// TLS session starts right away: for a client port, after reading INFO.
func served(pool *x509.CertPool, addr string, afterInfo bool, client *tls.Certificate) (*big.Int, error) {
	nc, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(3 * time.Second))
	if afterInfo {
		buf := make([]byte, 4096)
		if _, err := nc.Read(buf); err != nil {
			return nil, err
		}
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	tc := tls.Client(nc, cfg)
	if err := tc.Handshake(); err != nil {
		return nil, err
	}
	return tc.ConnectionState().PeerCertificates[0].SerialNumber, nil
}

func waitServed(t *testing.T, pool *x509.CertPool, addr string, afterInfo bool, client *tls.Certificate, want *big.Int, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		got, err := served(pool, addr, afterInfo, client)
		if err != nil {
			return err
		}
		if got.Cmp(want) != 0 {
			return fmt.Errorf("serves serial %v, want %v", got, want)
		}
		return nil
	})
}

// TestTLSCertRotation: the client certificate is replaced on disk (renamed
// into place, copied over, a Kubernetes ..data symlink swap); with no
// signal, a new client sees the new certificate within 5 s, HTTPS
// monitoring serves it too, and a client connected before stays connected
// on its old session.
func TestTLSCertRotation(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "rotate")
	for _, how := range []string{"rename", "copy over", "..data swap"} {
		t.Run(how, func(t *testing.T) {
			t.Parallel()
			first := p.ca.Issue(t, "localhost", "127.0.0.1")
			cd := newCertDir(t, p, first)
			var swap func(c *testutil.Cert)
			switch how {
			case "rename":
				swap = func(c *testutil.Cert) { cd.rename(t, c) }
			case "copy over":
				swap = func(c *testutil.Cert) { c.WriteTo(t, cd.cert, cd.key) }
			case "..data swap":
				swap = k8sSecret(t, cd, first)
			}
			srv, _ := tlsNatsd(t, "https: 127.0.0.1:-1\n"+cd.block(""))
			old := connect(t, srv.ClientURL(), p.opts(nil)...)
			if got := peerCert(t, old).SerialNumber; got.Cmp(first.Leaf.SerialNumber) != 0 {
				t.Fatalf("first certificate: serial %v", got)
			}
			oldCID, _ := old.GetClientID()

			second := p.ca.Issue(t, "localhost", "127.0.0.1")
			swap(second)
			nc := func() error {
				nc, err := tryConnect(srv.ClientURL(), p.opts(nil)...)
				if err != nil {
					return err
				}
				defer nc.Close()
				cs, _ := nc.TLSConnectionState()
				if got := cs.PeerCertificates[0].SerialNumber; got.Cmp(second.Leaf.SerialNumber) != 0 {
					return fmt.Errorf("a new client sees serial %v", got)
				}
				return nil
			}
			testutil.Eventually(t, rotationWithin, nc)
			https := strings.TrimPrefix(srv.MonitorURL(), "https://")
			waitServed(t, p.pool(), https, false, nil, second.Leaf.SerialNumber, time.Second)

			// The old client: still connected, on its old session.
			roundTrip(t, old)
			if got := peerCert(t, old).SerialNumber; got.Cmp(first.Leaf.SerialNumber) != 0 {
				t.Fatalf("the old client's session changed: serial %v", got)
			}
			if cid, _ := old.GetClientID(); cid != oldCID || old.Stats().Reconnects != 0 {
				t.Fatalf("the old client reconnected (cid %d -> %d)", oldCID, cid)
			}
			waitLog(t, srv, "TLS certificates reloaded (file change) for tls")
			if strings.Contains(srv.Log(), "Reloaded server configuration") {
				t.Fatal("the config was reloaded: only the certificates changed")
			}
		})
	}
}

// k8sSecret lays cd out as Kubernetes mounts a secret (cert.pem ->
// ..data/cert.pem, ..data -> ..2024_v1) and returns a swap that publishes
// a new version as the kubelet does: a new directory, a new ..data link
// renamed over the old one.
func k8sSecret(t *testing.T, cd *certDir, c *testutil.Cert) func(*testutil.Cert) {
	t.Helper()
	version := 0
	publish := func(c *testutil.Cert) {
		version++
		v := fmt.Sprintf("..v%d", version)
		if err := os.Mkdir(filepath.Join(cd.dir, v), 0o755); err != nil {
			t.Fatal(err)
		}
		c.WriteTo(t, filepath.Join(cd.dir, v, "cert.pem"), filepath.Join(cd.dir, v, "key.pem"))
		tmp := filepath.Join(cd.dir, "..data_tmp")
		if err := os.Symlink(v, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(cd.dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	_ = os.Remove(cd.cert)
	_ = os.Remove(cd.key)
	publish(c)
	for _, f := range []string{"cert.pem", "key.pem"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(cd.dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	return publish
}

// TestTLSRouteCertRotation: cluster.tls's files rotate as the client's do:
// the route listener's next handshake presents the new certificate, and
// the route already up stays.
func TestTLSRouteCertRotation(t *testing.T) {
	t.Parallel()
	bin := testutil.NatsdBin(t)
	p := newPKI(t, "route rotate")
	first := p.ca.Issue(t, "localhost", "127.0.0.1")
	cd := newCertDir(t, p, first)
	a := tlsNode(t, bin, "A", strings.ReplaceAll(cd.block(""), "\n", "\n  "))
	b := tlsNode(t, bin, "B", routeTLS(p.ca.Issue(t, "localhost", "127.0.0.1"), p.ca, ""), routeURL("127.0.0.1", a.clusterPort))
	waitMesh(t, 10*time.Second, a, b)
	client, err := tls.X509KeyPair(p.client.CertPEM, p.client.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	routeAddr := fmt.Sprintf("127.0.0.1:%d", a.clusterPort)
	waitServed(t, p.pool(), routeAddr, false, &client, first.Leaf.SerialNumber, time.Second)
	second := p.ca.Issue(t, "localhost", "127.0.0.1")
	cd.rename(t, second)
	waitServed(t, p.pool(), routeAddr, false, &client, second.Leaf.SerialNumber, rotationWithin)
	waitLog(t, a.Proc, "TLS certificates reloaded (file change) for cluster.tls")
	waitMesh(t, time.Second, a, b) // the route stayed
	checkPubSubBothWays(t, a, b)
}

// TestTLSCertRotationRefusesBrokenFiles: a certificate cut short, or a key
// that does not go with the certificate, is refused with "file: what" in
// the log and /varz, the previous pair keeps serving, and a good pair
// written after is taken and clears the error. SIGHUP re-reads the files
// too (with the watcher off).
func TestTLSCertRotationRefusesBrokenFiles(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "broken")
	for _, watch := range []bool{true, false} {
		name := "watcher"
		var args []string
		if !watch {
			name, args = "SIGHUP", []string{"--no_config_watch"}
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			first := p.ca.Issue(t, "localhost", "127.0.0.1")
			cd := newCertDir(t, p, first)
			srv, _ := tlsNatsd(t, "http: 127.0.0.1:-1\n"+cd.block(""), args...)
			addr := srv.ClientAddr()
			kick := func() {
				if !watch {
					srv.Signal(syscall.SIGHUP)
				}
			}
			second, third := p.ca.Issue(t, "localhost", "127.0.0.1"), p.ca.Issue(t, "localhost", "127.0.0.1")
			for _, bad := range []struct {
				name       string
				cert, key  []byte
				file, what string
			}{
				{"cut short", second.CertPEM[:len(second.CertPEM)/2], second.KeyPEM, cd.cert, "cut short or damaged (cert_file)"},
				{"mismatched", second.CertPEM, third.KeyPEM, cd.key, "does not go with cert_file " + cd.cert},
			} {
				logFrom := len(srv.Log())
				replaceFile(t, cd.key, bad.key)
				replaceFile(t, cd.cert, bad.cert)
				kick()
				want := "refused for tls, the previous certificate keeps serving: " + bad.file + ": "
				testutil.Eventually(t, rotationWithin, func() error {
					for _, l := range strings.Split(srv.Log()[logFrom:], "\n") {
						if strings.Contains(l, want) && strings.Contains(l, bad.what) {
							return nil
						}
					}
					return fmt.Errorf("%s: the log does not say %q … %q", bad.name, want, bad.what)
				})
				testutil.Eventually(t, time.Second, func() error {
					if e, _ := varzOf(t, srv)["tls_cert_error"].(string); !strings.HasPrefix(e, bad.file+": ") || !strings.Contains(e, bad.what) {
						return fmt.Errorf("%s: /varz tls_cert_error %q", bad.name, e)
					}
					return nil
				})
				waitServed(t, p.pool(), addr, true, nil, first.Leaf.SerialNumber, time.Second)
			}
			cd.rename(t, third)
			kick()
			waitServed(t, p.pool(), addr, true, nil, third.Leaf.SerialNumber, rotationWithin)
			if e := varzOf(t, srv)["tls_cert_error"]; e != nil {
				t.Fatalf("/varz tls_cert_error after a good pair: %v", e)
			}
		})
	}
}

// TestTLSExpiryWarning: a certificate that expires within 30 days is
// warned about at startup.
func TestTLSExpiryWarning(t *testing.T) {
	t.Parallel()
	p := newPKI(t, "expiry")
	soon := p.ca.IssueSpec(t, testutil.CertSpec{Names: []string{"localhost"}, NotAfter: time.Now().Add(10*24*time.Hour - time.Hour)})
	srv, _ := tlsNatsd(t, fmt.Sprintf("tls { cert_file: %q, key_file: %q }\n", soon.CertFile, soon.KeyFile))
	// The ports file can be there before the log line is read from the
	// process's stderr: wait for the line.
	waitLog(t, srv, fmt.Sprintf("TLS certificate %s (tls) expires in 10 days", soon.CertFile))
	later := p.ca.IssueSpec(t, testutil.CertSpec{Names: []string{"localhost"}, NotAfter: time.Now().Add(31 * 24 * time.Hour)})
	far, _ := tlsNatsd(t, fmt.Sprintf("tls { cert_file: %q, key_file: %q }\n", later.CertFile, later.KeyFile))
	waitLog(t, far, "Server is ready") // logged after any expiry warning
	if strings.Contains(far.Log(), "expires in") {
		t.Fatalf("a certificate valid for 31 days was warned about:\n%s", far.Log())
	}
}
