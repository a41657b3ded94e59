package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FileError is a file of a tls { } block that cannot be used: Key is the
// option that names it ("cert_file", "key_file", "ca_file"), so that the
// daemon can point at the line that wrote it.
type FileError struct {
	Key  string
	File string
	Err  error
}

func (e *FileError) Error() string {
	if e.File == "" {
		return fmt.Sprintf("%s: %v", e.Key, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Key, e.File, e.Err)
}
func (e *FileError) Unwrap() error { return e.Err }

// Store holds the certificates and CA pool a tls { } block names, and
// reloads them. It is safe for concurrent use: handshakes read the current
// set without a lock while Reload replaces it.
type Store struct {
	opts Options

	cur atomic.Pointer[material]
	// reloading serialises Reload, so that two watchers reloading at once
	// cannot install an older read after a newer one.
	reloading sync.Mutex
}

// material is one consistent read of the files: the pairs, the pool and
// what was read, replaced as a whole.
type material struct {
	certs []tls.Certificate // Leaf set on each
	pool  *x509.CertPool    // nil: the system roots
	// contents are the bytes read, file by file, to tell a reload that
	// changed something from one that did not.
	contents map[string][]byte
	loaded   time.Time
}

// NewStore loads the files o names. With no pair (an empty tls { }), it
// serves no certificate: every handshake then fails, as with nats-server.
// The Store keeps a copy of o.
func NewStore(o *Options) (*Store, error) {
	s := &Store{opts: *o}
	m, err := load(&s.opts)
	if err != nil {
		return nil, err
	}
	s.cur.Store(m)
	return s, nil
}

// Options returns the block the Store was made from.
func (s *Store) Options() *Options { o := s.opts; return &o }

// Files is every file the Store reads (Options.Files).
func (s *Store) Files() []string { return s.opts.Files() }

// Reload re-reads every file. If they all load and each key matches its
// certificate, the new set serves every handshake from now on and changed
// reports whether any file's content differs from the set it replaced.
// Otherwise the error names the file and what is wrong with it, and the
// previous set keeps serving.
func (s *Store) Reload() (changed bool, err error) {
	s.reloading.Lock()
	defer s.reloading.Unlock()
	m, err := load(&s.opts)
	if err != nil {
		return false, err
	}
	old := s.cur.Load()
	changed = !sameContents(old.contents, m.contents)
	if !changed {
		return false, nil // keep the old set: its load time says when it was read
	}
	s.cur.Store(m)
	return true, nil
}

// Leaf is the current certificate of the first pair (nil with none).
func (s *Store) Leaf() *x509.Certificate {
	m := s.cur.Load()
	if len(m.certs) == 0 {
		return nil
	}
	return m.certs[0].Leaf
}

// Leaves are the current certificates of every pair, for expiry warnings.
func (s *Store) Leaves() []*x509.Certificate {
	m := s.cur.Load()
	out := make([]*x509.Certificate, len(m.certs))
	for i := range m.certs {
		out[i] = m.certs[i].Leaf
	}
	return out
}

// NotAfter is when the current certificate of the first pair expires, as
// /varz tls_cert_not_after reports it (zero with no pair).
func (s *Store) NotAfter() time.Time {
	if l := s.Leaf(); l != nil {
		return l.NotAfter
	}
	return time.Time{}
}

// Loaded is when the current set was read.
func (s *Store) Loaded() time.Time { return s.cur.Load().loaded }

// Pool is the current CA pool (nil: the system roots).
func (s *Store) Pool() *x509.CertPool { return s.cur.Load().pool }

// GetCertificate serves the current pair that suits the client's hello
// (by SNI and key type, as crypto/tls chooses among Certificates), for
// tls.Config.GetCertificate.
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return pick(s.cur.Load().certs, hello)
}

// GetClientCertificate serves the current first pair when natsd dials (a
// route), for tls.Config.GetClientCertificate. With no pair it sends none.
func (s *Store) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	m := s.cur.Load()
	if len(m.certs) == 0 {
		return &tls.Certificate{}, nil
	}
	return &m.certs[0], nil
}

var errNoCertificates = errors.New("tls: no certificates configured")

func pick(certs []tls.Certificate, hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	switch len(certs) {
	case 0:
		return nil, errNoCertificates
	case 1:
		return &certs[0], nil
	}
	for i := range certs {
		if hello.SupportsCertificate(&certs[i]) == nil {
			return &certs[i], nil
		}
	}
	return &certs[0], nil // as crypto/tls does when none suits
}

func sameContents(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// load reads every file of o, each once, and checks each pair. Each file is
// read into memory first and then parsed, so that a file replaced while it
// is read is either seen whole or refused, never half used.
func load(o *Options) (*material, error) {
	pairs := o.Pairs()
	for _, p := range pairs {
		if p.CertFile == "" {
			return nil, &FileError{Key: "cert_file", Err: fmt.Errorf("missing: key_file %s needs its certificate", p.KeyFile)}
		}
		if p.KeyFile == "" {
			return nil, &FileError{Key: "key_file", Err: fmt.Errorf("missing: cert_file %s needs its private key", p.CertFile)}
		}
	}
	m := &material{contents: map[string][]byte{}, loaded: time.Now()}
	read := func(key, name string) ([]byte, error) {
		if b, ok := m.contents[name]; ok {
			return b, nil
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return nil, &FileError{Key: key, File: name, Err: unwrapPath(err)}
		}
		m.contents[name] = b
		return b, nil
	}
	for _, p := range pairs {
		certPEM, err := read("cert_file", p.CertFile)
		if err != nil {
			return nil, err
		}
		keyPEM, err := read("key_file", p.KeyFile)
		if err != nil {
			return nil, err
		}
		c, err := loadPair(p, certPEM, keyPEM)
		if err != nil {
			return nil, err
		}
		m.certs = append(m.certs, c)
	}
	if o.CAFile != "" {
		b, err := read("ca_file", o.CAFile)
		if err != nil {
			return nil, err
		}
		certs, err := parseCerts(b)
		if err == nil && len(certs) == 0 {
			err = errors.New("no certificate in it")
		}
		if err != nil {
			return nil, &FileError{Key: "ca_file", File: o.CAFile, Err: err}
		}
		m.pool = x509.NewCertPool()
		for _, c := range certs {
			m.pool.AddCert(c)
		}
	}
	return m, nil
}

// unwrapPath drops the *PathError's repetition of the file name.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

func loadPair(p CertPair, certPEM, keyPEM []byte) (tls.Certificate, error) {
	certs, err := parseCerts(certPEM)
	if err == nil && len(certs) == 0 {
		err = errors.New("no CERTIFICATE in it")
		if hasKey(certPEM) {
			err = errors.New("no CERTIFICATE in it, but a private key: are cert_file and key_file swapped?")
		}
	}
	if err != nil {
		return tls.Certificate{}, &FileError{Key: "cert_file", File: p.CertFile, Err: err}
	}
	if err := checkKey(keyPEM); err != nil {
		return tls.Certificate{}, &FileError{Key: "key_file", File: p.KeyFile, Err: err}
	}
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The certificate and the key each parsed: what is left is that
		// they are not a pair (or a key type crypto/tls cannot use).
		return tls.Certificate{}, &FileError{Key: "key_file", File: p.KeyFile,
			Err: fmt.Errorf("does not go with cert_file %s: %v", p.CertFile, err)}
	}
	c.Leaf = certs[0]
	return c, nil
}

// parseCerts reads every CERTIFICATE block of a PEM file. Text around the
// blocks is allowed, as in any bundle; a block that does not parse, or a
// BEGIN line with no END (a file cut short), is an error, so that a
// partly written file is refused rather than partly used.
func parseCerts(b []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", len(out)+1, err)
		}
		out = append(out, c)
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return nil, fmt.Errorf("a PEM block after certificate %d is cut short or damaged", len(out))
	}
	return out, nil
}

func hasKey(b []byte) bool {
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return false
		}
		if isKeyType(block.Type) {
			return true
		}
	}
}

func isKeyType(t string) bool {
	return t == "PRIVATE KEY" || t == "EC PRIVATE KEY" || t == "RSA PRIVATE KEY"
}

var errEncrypted = errors.New("the private key is encrypted: natsd, like nats-server, reads unencrypted keys only")

// checkKey finds the private key of a key_file and parses it, to say what
// is wrong with the file itself before the pair is checked.
func checkKey(b []byte) error {
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") {
			return errEncrypted
		}
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			_, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			_, err = x509.ParseECPrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			_, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "ENCRYPTED PRIVATE KEY":
			return errEncrypted
		default:
			continue
		}
		if err != nil {
			return fmt.Errorf("the private key does not parse: %v", err)
		}
		return nil
	}
	if bytes.Contains(rest, []byte("-----BEGIN")) {
		return errors.New("a PEM block is cut short or damaged")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return errors.New("the file is empty")
	}
	return errors.New("no private key in it")
}
