package tlsconf

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
)

func write(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	testutil.WriteBytes(t, p, b)
	return p
}

// TestStoreRefusesBrokenFiles: each broken file is refused with a
// *FileError naming the option, the file and what is wrong. nats-server
// refuses the same files (its texts in the comments).
func TestStoreRefusesBrokenFiles(t *testing.T) {
	ca := testutil.NewCA(t, "store CA")
	a, b := ca.Issue(t, "localhost"), ca.Issue(t, "localhost")
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.pem")
	empty := write(t, dir, "empty.pem", nil)
	half := write(t, dir, "half.pem", a.CertPEM[:len(a.CertPEM)/2])
	encrypted := write(t, dir, "enc.pem", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1, 2, 3}}))
	legacyEnc := write(t, dir, "legacy-enc.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00"}, Bytes: []byte{1, 2, 3}}))
	damagedKey := write(t, dir, "damaged-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("not a key")}))
	certAndCA := write(t, dir, "chain-cut.pem", append(append([]byte{}, a.CertPEM...), ca.PEM[:len(ca.PEM)-30]...))

	cases := []struct {
		name    string
		o       Options
		key     string // FileError.Key
		file    string
		wantErr string
	}{
		// nats-server: "error parsing X509 certificate/key pair: open F: no such file or directory".
		{"cert_file missing", Options{CertFile: missing, KeyFile: a.KeyFile}, "cert_file", missing, "open: no such file or directory"},
		{"key_file missing", Options{CertFile: a.CertFile, KeyFile: missing}, "key_file", missing, "open: no such file or directory"},
		{"cert_file a directory", Options{CertFile: dir, KeyFile: a.KeyFile}, "cert_file", dir, "is a directory"},
		// nats-server: "... tls: private key does not match public key".
		{"key of another certificate", Options{CertFile: a.CertFile, KeyFile: b.KeyFile}, "key_file", b.KeyFile,
			"does not go with cert_file " + a.CertFile + ": tls: private key does not match public key"},
		// nats-server: "... failed to find certificate PEM data in certificate input, but did find a private key".
		{"files swapped", Options{CertFile: a.KeyFile, KeyFile: a.CertFile}, "cert_file", a.KeyFile, "are cert_file and key_file swapped?"},
		// nats-server: "... failed to find any PEM data in certificate input".
		{"cert_file empty", Options{CertFile: empty, KeyFile: a.KeyFile}, "cert_file", empty, "no CERTIFICATE in it"},
		{"key_file empty", Options{CertFile: a.CertFile, KeyFile: empty}, "key_file", empty, "the file is empty"},
		{"cert_file cut short", Options{CertFile: half, KeyFile: a.KeyFile}, "cert_file", half, "cut short or damaged"},
		{"chain cut short", Options{CertFile: certAndCA, KeyFile: a.KeyFile}, "cert_file", certAndCA, "after certificate 1 is cut short"},
		// nats-server: "... tls: failed to parse private key".
		{"key encrypted", Options{CertFile: a.CertFile, KeyFile: encrypted}, "key_file", encrypted, "encrypted"},
		{"legacy key encrypted", Options{CertFile: a.CertFile, KeyFile: legacyEnc}, "key_file", legacyEnc, "encrypted"},
		{"key damaged", Options{CertFile: a.CertFile, KeyFile: damagedKey}, "key_file", damagedKey, "the private key does not parse"},
		{"key_file holds a certificate", Options{CertFile: a.CertFile, KeyFile: a.CertFile}, "key_file", a.CertFile, "no private key in it"},
		// nats-server: "missing 'key_file' in TLS configuration" (the daemon says so first).
		{"key_file not given", Options{CertFile: a.CertFile}, "key_file", "", "missing: cert_file " + a.CertFile + " needs its private key"},
		{"cert_file not given", Options{KeyFile: a.KeyFile}, "cert_file", "", "missing"},
		{"a certs pair broken", Options{Certs: []CertPair{{a.CertFile, a.KeyFile}, {b.CertFile, a.KeyFile}}}, "key_file", a.KeyFile, "does not go with cert_file " + b.CertFile},
		// nats-server: "open F: no such file or directory".
		{"ca_file missing", Options{CertFile: a.CertFile, KeyFile: a.KeyFile, CAFile: missing}, "ca_file", missing, "open: no such file or directory"},
		// nats-server: "failed to parse root ca certificate".
		{"ca_file empty", Options{CertFile: a.CertFile, KeyFile: a.KeyFile, CAFile: empty}, "ca_file", empty, "no certificate in it"},
		{"ca_file holds a key", Options{CertFile: a.CertFile, KeyFile: a.KeyFile, CAFile: a.KeyFile}, "ca_file", a.KeyFile, "no certificate in it"},
		{"ca_file cut short", Options{CAFile: half}, "ca_file", half, "cut short"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewStore(&c.o)
			var fe *FileError
			if !errors.As(err, &fe) {
				t.Fatalf("NewStore: %v (%T), want a *FileError; store %v", err, err, s)
			}
			if fe.Key != c.key || fe.File != c.file || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("got %s (key %q file %q), want key %q file %q and %q", err, fe.Key, fe.File, c.key, c.file, c.wantErr)
			}
			want := c.key + " " + c.file + ": "
			if c.file == "" {
				want = c.key + ": "
			}
			if !strings.HasPrefix(err.Error(), want) {
				t.Fatalf("%q does not start with %q", err, want)
			}
		})
	}
}

// TestStoreAcceptsWhatNatsServerAccepts: key formats, chains, a CA bundle
// with text around the certificates (nats-server -t accepts each), and an
// empty block (nats-server starts, and fails every handshake).
func TestStoreAcceptsWhatNatsServerAccepts(t *testing.T) {
	ca := testutil.NewCA(t, "store CA")
	inter := ca.Intermediate(t, "intermediate")
	a := ca.Issue(t, "localhost")
	chained := inter.Issue(t, "localhost")
	dir := t.TempDir()

	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sec1, _ := x509.MarshalECPrivateKey(ecKey)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	selfSigned := func(key any, pub any) []byte {
		tmpl := &x509.Certificate{SerialNumber: a.Leaf.SerialNumber, DNSNames: []string{"localhost"},
			NotBefore: a.Leaf.NotBefore, NotAfter: a.Leaf.NotAfter}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	}
	cases := []struct {
		name string
		o    Options
	}{
		{"PKCS#8 EC key", Options{CertFile: a.CertFile, KeyFile: a.KeyFile}},
		{"SEC1 EC key", Options{CertFile: write(t, dir, "ec.pem", selfSigned(ecKey, &ecKey.PublicKey)),
			KeyFile: write(t, dir, "ec-key.pem", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1}))}},
		{"PKCS#1 RSA key", Options{CertFile: write(t, dir, "rsa.pem", selfSigned(rsaKey, &rsaKey.PublicKey)),
			KeyFile: write(t, dir, "rsa-key.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)}))}},
		{"leaf and intermediate in cert_file", Options{CertFile: chained.CertFile, KeyFile: chained.KeyFile}},
		{"CA bundle with text and a key around the certificates", Options{CertFile: a.CertFile, KeyFile: a.KeyFile,
			CAFile: write(t, dir, "bundle.pem", []byte("# our roots\n"+string(ca.PEM)+"garbage\n"+string(a.KeyPEM)+string(inter.PEM)))}},
		{"certs list", Options{Certs: []CertPair{{a.CertFile, a.KeyFile}, {chained.CertFile, chained.KeyFile}}}},
		{"empty block", Options{}},
		{"ca_file only", Options{CAFile: ca.File}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := NewStore(&c.o)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.o.Pairs()) > 0 && (s.Leaf() == nil || s.NotAfter().IsZero()) {
				t.Fatal("no leaf")
			}
			if len(c.o.Pairs()) == 0 && (s.Leaf() != nil || !s.NotAfter().IsZero()) {
				t.Fatal("a leaf without a pair")
			}
		})
	}
}

// pairFiles are the fixed paths a server is configured with, which tests
// replace as an operator (or certbot, or Kubernetes) would.
type pairFiles struct{ cert, key, ca string }

func newPairFiles(t *testing.T, c *testutil.Cert, ca *testutil.CA) pairFiles {
	dir := t.TempDir()
	p := pairFiles{filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem")}
	c.WriteTo(t, p.cert, p.key)
	testutil.WriteBytes(t, p.ca, ca.PEM)
	return p
}

// renameInto writes b next to path and renames it over path, as tools
// that replace files atomically do.
func renameInto(t *testing.T, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	testutil.WriteBytes(t, tmp, b)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestStoreReload(t *testing.T) {
	ca := testutil.NewCA(t, "reload CA")
	a, b, c := ca.Issue(t, "localhost"), ca.Issue(t, "localhost"), ca.Issue(t, "localhost")
	f := newPairFiles(t, a, ca)
	s, err := NewStore(&Options{CertFile: f.cert, KeyFile: f.key, CAFile: f.ca})
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string { return s.Leaf().SerialNumber.String() }
	if serial() != a.Leaf.SerialNumber.String() {
		t.Fatal("not a")
	}
	if got := strings.Join(s.Files(), " "); got != f.cert+" "+f.key+" "+f.ca {
		t.Fatalf("Files %s", got)
	}

	// Nothing changed.
	if changed, err := s.Reload(); changed || err != nil {
		t.Fatalf("unchanged files: changed=%v err=%v", changed, err)
	}

	// Rename-into-place, key first then certificate: in between, the key
	// does not match and the old pair keeps serving.
	renameInto(t, f.key, b.KeyPEM)
	changed, err := s.Reload()
	var fe *FileError
	if !errors.As(err, &fe) || fe.Key != "key_file" || fe.File != f.key || changed {
		t.Fatalf("half-replaced pair: changed=%v err=%v", changed, err)
	}
	if serial() != a.Leaf.SerialNumber.String() {
		t.Fatal("a refused reload changed the pair")
	}
	renameInto(t, f.cert, b.CertPEM)
	if changed, err := s.Reload(); !changed || err != nil {
		t.Fatalf("renamed pair: changed=%v err=%v", changed, err)
	}
	if serial() != b.Leaf.SerialNumber.String() || !s.NotAfter().Equal(b.Leaf.NotAfter) {
		t.Fatal("not b after reload")
	}

	// cp over the old files (truncate and write in place).
	c.WriteTo(t, f.cert, f.key)
	if changed, err := s.Reload(); !changed || err != nil {
		t.Fatalf("copied pair: changed=%v err=%v", changed, err)
	}
	if serial() != c.Leaf.SerialNumber.String() {
		t.Fatal("not c after cp")
	}

	// A file caught half written is refused.
	testutil.WriteBytes(t, f.cert, a.CertPEM[:200])
	if _, err := s.Reload(); err == nil || !strings.Contains(err.Error(), "cert_file "+f.cert) {
		t.Fatalf("half-written certificate: %v", err)
	}
	if serial() != c.Leaf.SerialNumber.String() {
		t.Fatal("a refused reload changed the pair")
	}
	// A CA file removed is refused too; the pool stays.
	c.WriteTo(t, f.cert, f.key)
	pool := s.Pool()
	if err := os.Remove(f.ca); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reload(); err == nil || !strings.Contains(err.Error(), "ca_file "+f.ca+": open: no such file") {
		t.Fatalf("removed CA: %v", err)
	}
	if s.Pool() != pool {
		t.Fatal("pool replaced by a refused reload")
	}
}

// TestStoreReloadSymlinkSwap: Kubernetes mounts a secret as
// dir/cert.pem -> ..data/cert.pem, ..data -> ..2024_01_01; an update
// writes a new timestamped directory and renames a new ..data link over
// the old. The paths natsd was given never change.
func TestStoreReloadSymlinkSwap(t *testing.T) {
	ca := testutil.NewCA(t, "k8s CA")
	a, b := ca.Issue(t, "localhost"), ca.Issue(t, "localhost")
	dir := t.TempDir()
	version := func(name string, c *testutil.Cert) {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		c.WriteTo(t, filepath.Join(d, "tls.crt"), filepath.Join(d, "tls.key"))
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(name, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..v1", a)
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.Symlink(filepath.Join("..data", f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	s, err := NewStore(&Options{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")})
	if err != nil {
		t.Fatal(err)
	}
	version("..v2", b)
	if changed, err := s.Reload(); !changed || err != nil {
		t.Fatalf("changed=%v err=%v", changed, err)
	}
	if !s.Leaf().Equal(b.Leaf) {
		t.Fatal("not the new certificate")
	}
}
