package testutil

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Certificates for tests are made by the tests, ECDSA P-256, into
// t.TempDir(): no private key is ever committed, and none outlives its test.

// CA is a test certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// PEM is the CA certificate; File is it written to a file (a ca_file).
	PEM  []byte
	File string

	parent *CA // the CA that issued this one, for an intermediate
}

// Cert is a certificate the CA issued, with its key, as PEM and as files.
type Cert struct {
	Leaf     *x509.Certificate
	CertPEM  []byte // the leaf, then the chain (CertSpec.Chain)
	KeyPEM   []byte // PKCS#8
	CertFile string
	KeyFile  string
}

// CertSpec says what to issue. Names are sorted by their form: an IP
// address becomes an IP SAN, a name with "@" an email SAN, one with "://"
// a URI SAN, anything else a DNS SAN. Subject defaults to CN=the first name.
type CertSpec struct {
	Names   []string
	Subject pkix.Name
	// RawSubject, when set, is the DER subject used as is (multi-valued
	// RDNs, attributes Go's pkix.Name cannot write in a chosen order).
	RawSubject []byte
	// Client and Server choose the extended key usages; neither means both.
	Client, Server bool
	// NotBefore and NotAfter default to an hour ago and a day from now.
	NotBefore, NotAfter time.Time
	// IsCA issues an intermediate CA (Issue returns it as a Cert; use
	// (*CA).Intermediate to issue from it).
	IsCA bool
}

// NewCA makes a self-signed CA named cn and writes its certificate to
// t.TempDir()/ca.pem.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          nextSerial(),
		Subject:               pkix.Name{CommonName: cn, Organization: []string{"natsd tests"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{Cert: cert, Key: key, PEM: pemCert(der)}
	ca.File = filepath.Join(t.TempDir(), "ca.pem")
	WriteBytes(t, ca.File, ca.PEM)
	return ca
}

// Issue issues a leaf valid for client and server authentication for names
// (see CertSpec) and writes it to a new temp directory as cert.pem and
// key.pem.
func (ca *CA) Issue(t testing.TB, names ...string) *Cert {
	t.Helper()
	return ca.IssueSpec(t, CertSpec{Names: names})
}

// IssueSpec issues a certificate as spec says, written like Issue's.
func (ca *CA) IssueSpec(t testing.TB, spec CertSpec) *Cert {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: nextSerial(),
		Subject:      spec.Subject,
		RawSubject:   spec.RawSubject,
		NotBefore:    spec.NotBefore,
		NotAfter:     spec.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if spec.RawSubject == nil && spec.Subject.String() == "" && len(spec.Names) > 0 {
		tmpl.Subject = pkix.Name{CommonName: spec.Names[0]}
	}
	if spec.IsCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	if spec.Client || !spec.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	if spec.Server || !spec.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	for _, n := range spec.Names {
		switch {
		case net.ParseIP(n) != nil:
			tmpl.IPAddresses = append(tmpl.IPAddresses, net.ParseIP(n))
		case strings.Contains(n, "://"):
			u, err := url.Parse(n)
			if err != nil {
				t.Fatalf("IssueSpec: URI SAN %q: %v", n, err)
			}
			tmpl.URIs = append(tmpl.URIs, u)
		case strings.Contains(n, "@"):
			tmpl.EmailAddresses = append(tmpl.EmailAddresses, n)
		default:
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatalf("IssueSpec: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := &Cert{Leaf: leaf, CertPEM: pemCert(der), KeyPEM: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})}
	if ca.parent != nil {
		c.CertPEM = append(c.CertPEM, ca.PEM...) // the chain up to the root
	}
	dir := t.TempDir()
	c.CertFile, c.KeyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	WriteBytes(t, c.CertFile, c.CertPEM)
	WriteBytes(t, c.KeyFile, c.KeyPEM)
	return c
}

// Intermediate issues an intermediate CA under ca. Leaves it issues carry
// the intermediate after them in CertPEM, so that a peer trusting only the
// root can verify them.
func (ca *CA) Intermediate(t testing.TB, cn string) *CA {
	t.Helper()
	c := ca.IssueSpec(t, CertSpec{Subject: pkix.Name{CommonName: cn}, IsCA: true})
	block, _ := pem.Decode(c.KeyPEM)
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: c.Leaf, Key: key.(crypto.Signer), PEM: pemCert(c.Leaf.Raw), File: c.CertFile, parent: ca}
}

// WriteTo writes the certificate and key to certFile and keyFile (as a new
// file each, or over the old ones: no rename), for tests that replace the
// files a server watches.
func (c *Cert) WriteTo(t testing.TB, certFile, keyFile string) {
	t.Helper()
	WriteBytes(t, certFile, c.CertPEM)
	WriteBytes(t, keyFile, c.KeyPEM)
}

// SPKIHash is the hex SHA-256 of the leaf's SubjectPublicKeyInfo, as
// pinned_certs lists certificates.
func (c *Cert) SPKIHash() string {
	sum := sha256.Sum256(c.Leaf.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// WriteBytes writes b to name (creating or truncating it), failing the test
// on error.
func WriteBytes(t testing.TB, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(name, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// nextSerial is random, as a CA's must be: two test CAs (or two runs)
// never issue the same issuer and serial.
func nextSerial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		panic(err) // crypto/rand does not fail
	}
	return n.Add(n, big.NewInt(1))
}

func pemCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
