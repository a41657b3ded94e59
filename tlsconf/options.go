package tlsconf

import (
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Defaults, as nats-server v2.15.2 applies them (recorded with /varz and
// handshakes against it).
const (
	// DefaultTimeout bounds the TLS handshake when timeout is not written,
	// or written as 0 (/varz tls_timeout: 2).
	DefaultTimeout = 2 * time.Second
	// DefaultHandshakeFirstFallback is handshake_first: auto: the server
	// waits this long for a client's TLS handshake before it sends INFO in
	// plain text (measured: INFO after 50ms).
	DefaultHandshakeFirstFallback = 50 * time.Millisecond
	// DefaultMinVersion is min_version when not written: a TLS 1.1 client
	// is refused ("client offered only unsupported versions").
	DefaultMinVersion = Version(tls.VersionTLS12)
)

// Options is one tls { } block: the top-level one (clients, and HTTPS
// monitoring) or cluster.tls (routes). The zero value of a field is the
// key not written; the builders apply the defaults.
type Options struct {
	// CertFile and KeyFile are the server's pair (cert_file, key_file);
	// Certs is the certs list, the other way to give pairs (more than one:
	// the handshake picks by SNI). nats-server refuses both ways at once.
	// Relative paths are relative to natsd's working directory, as in
	// nats-server (not to the config file's directory).
	CertFile string
	KeyFile  string
	Certs    []CertPair
	// CAFile verifies peers' certificates; empty means the system roots.
	CAFile string

	// Verify asks for and verifies a client certificate (verify); routes
	// always verify, whatever the block says.
	Verify bool
	// VerifyAndMap maps the verified certificate to a user (verify_and_map).
	// Written true it also sets Verify, unless verify is written false.
	VerifyAndMap bool
	// VerifyCertAndCheckKnownURLs (routes only) accepts a route only if a
	// DNS name of its certificate matches the host of a configured route URL.
	VerifyCertAndCheckKnownURLs bool
	// Insecure skips verifying the certificate of a server natsd dials
	// (routes); it has no effect on connections natsd accepts.
	Insecure bool

	// Timeout bounds the handshake; 0 is DefaultTimeout. nats-server
	// accepts a negative timeout, with which every handshake fails at once.
	Timeout time.Duration
	// HandshakeFirst: the TLS handshake comes before INFO. With a
	// HandshakeFirstFallback the server sends INFO in plain text after that
	// long without a handshake (handshake_first: auto, or a duration).
	HandshakeFirst         bool
	HandshakeFirstFallback time.Duration

	// CipherSuites (TLS 1.2 only: Go chooses TLS 1.3's) and
	// CurvePreferences; nil is Go's defaults, which is what nats-server
	// offers. Insecure suites need AllowInsecureCipherSuites.
	CipherSuites              []CipherSuite
	AllowInsecureCipherSuites bool
	CurvePreferences          []tls.CurveID
	// MinVersion: 0 is DefaultMinVersion.
	MinVersion Version
	// PinnedCerts are the lower-case hex SHA-256 of the peer certificates'
	// SubjectPublicKeyInfo allowed; empty pins nothing.
	PinnedCerts []string
}

// CertPair is one certificate and its key.
type CertPair struct {
	CertFile string
	KeyFile  string
}

// Pairs is every pair the block names: cert_file/key_file, or the certs list.
func (o *Options) Pairs() []CertPair {
	if o.CertFile != "" || o.KeyFile != "" {
		return append([]CertPair{{o.CertFile, o.KeyFile}}, o.Certs...)
	}
	return o.Certs
}

// Files is every file the block reads, each once, in the order Store loads
// them: what a watcher watches to reload on change.
func (o *Options) Files() []string {
	var out []string
	seen := map[string]bool{}
	add := func(f string) {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	for _, p := range o.Pairs() {
		add(p.CertFile)
		add(p.KeyFile)
	}
	add(o.CAFile)
	return out
}

// HandshakeTimeout is Timeout with its default applied.
func (o *Options) HandshakeTimeout() time.Duration {
	if o.Timeout == 0 {
		return DefaultTimeout
	}
	return o.Timeout
}

func (o *Options) minVersion() uint16 {
	if o.MinVersion == 0 {
		return uint16(DefaultMinVersion)
	}
	return uint16(o.MinVersion)
}

// CipherSuite is a TLS cipher suite; it prints as its name.
type CipherSuite uint16

func (c CipherSuite) String() string { return tls.CipherSuiteName(uint16(c)) }

// CipherSuiteByName finds a suite by the name nats-server accepts in
// cipher_suites: Go's name, exact case ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256").
// insecure reports one of Go's InsecureCipherSuites, which nats-server
// refuses unless allow_insecure_cipher_suites is true.
func CipherSuiteByName(name string) (c CipherSuite, insecure, ok bool) {
	for _, s := range tls.CipherSuites() {
		if s.Name == name {
			return CipherSuite(s.ID), false, true
		}
	}
	for _, s := range tls.InsecureCipherSuites() {
		if s.Name == name {
			return CipherSuite(s.ID), true, true
		}
	}
	return 0, false, false
}

// curves are the names curve_preferences accepts (nats-server's list,
// recorded from its --help_tls: the names Go prints for them).
var curves = []tls.CurveID{
	tls.CurveP256, tls.CurveP384, tls.CurveP521, tls.X25519,
	tls.X25519MLKEM768, tls.SecP256r1MLKEM768, tls.SecP384r1MLKEM1024,
}

// CurveByName finds a curve by the name curve_preferences accepts, exact
// case ("CurveP256", "X25519", "X25519MLKEM768").
func CurveByName(name string) (tls.CurveID, bool) {
	for _, c := range curves {
		if c.String() == name {
			return c, true
		}
	}
	return 0, false
}

// Version is a TLS protocol version; it prints as min_version writes it.
type Version uint16

func (v Version) String() string {
	switch v {
	case tls.VersionTLS10:
		return "1.0"
	case tls.VersionTLS11:
		return "1.1"
	case tls.VersionTLS12:
		return "1.2"
	case tls.VersionTLS13:
		return "1.3"
	}
	return fmt.Sprintf("0x%04x", uint16(v))
}

// ParseVersion reads min_version: "1.2" or "1.3". nats-server knows "1.0"
// and "1.1" only to refuse them.
func ParseVersion(s string) (Version, error) {
	switch s {
	case "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	case "1.0", "1.1":
		return 0, fmt.Errorf("unsupported TLS version %s: the lowest is 1.2", s)
	}
	return 0, fmt.Errorf("unknown TLS version %q: expected \"1.2\" or \"1.3\"", s)
}

// ParsePin reads one pinned_certs entry: 64 hex digits, either case (the
// SHA-256 of a certificate's DER SubjectPublicKeyInfo, as `openssl x509
// -pubkey -noout | openssl pkey -pubin -outform der | sha256sum` prints).
// It returns the lower-case form.
func ParsePin(s string) (string, error) {
	if len(s) != 64 {
		return "", fmt.Errorf("%q is not a SHA-256 in hex (64 hex digits) of a certificate's SubjectPublicKeyInfo", s)
	}
	if _, err := hex.DecodeString(s); err != nil {
		return "", fmt.Errorf("%q is not a SHA-256 in hex (64 hex digits) of a certificate's SubjectPublicKeyInfo", s)
	}
	return strings.ToLower(s), nil
}

var errHandshakeFirst = errors.New(`expected true, false, "auto" or a duration such as "300ms"`)

// ParseHandshakeFirst reads handshake_first (also spelled first and
// immediate) written as a string, as nats-server v2.15.2 does: "true" and
// "on" are true, "false" and "off" false (any case); "auto" is true with
// DefaultHandshakeFirstFallback; any other value is a Go duration: true,
// with that fallback if it is positive ("0s" and "-1s" mean no fallback).
// "yes", "no", "1" are refused.
func ParseHandshakeFirst(s string) (first bool, fallback time.Duration, err error) {
	switch strings.ToLower(s) {
	case "true", "on":
		return true, 0, nil
	case "false", "off":
		return false, 0, nil
	case "auto":
		return true, DefaultHandshakeFirstFallback, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return false, 0, errHandshakeFirst
	}
	return true, max(d, 0), nil
}
