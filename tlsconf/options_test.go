package tlsconf

import (
	"crypto/tls"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The values below were recorded with `nats-server-v2.15.2 -t -c FILE` on
// a tls { } block holding the value, and by running it where -t could not
// tell (handshake_first, /varz tls_timeout).

func TestCipherSuiteByName(t *testing.T) {
	cases := []struct {
		name     string
		ok       bool
		insecure bool
	}{
		{"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", true, false},
		{"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", true, false},
		{"TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", true, false},
		{"TLS_AES_128_GCM_SHA256", true, false}, // a TLS 1.3 suite: accepted (Go ignores it in the list)
		// nats-server: "insecure cipher suites configured without
		// 'allow_insecure_cipher_suites' option set: NAME".
		{"TLS_RSA_WITH_AES_128_CBC_SHA", true, true},
		{"TLS_RSA_WITH_AES_128_GCM_SHA256", true, true},
		{"TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", true, true},
		{"TLS_RSA_WITH_RC4_128_SHA", true, true},
		{"TLS_RSA_WITH_3DES_EDE_CBC_SHA", true, true},
		// nats-server: "unrecognized cipher NAME".
		{"tls_ecdhe_ecdsa_with_aes_128_gcm_sha256", false, false},
		{"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", false, false}, // Go's old alias
		{"BOGUS", false, false},
	}
	for _, c := range cases {
		id, insecure, ok := CipherSuiteByName(c.name)
		if ok != c.ok || insecure != c.insecure {
			t.Errorf("%s: ok=%v insecure=%v, want ok=%v insecure=%v", c.name, ok, insecure, c.ok, c.insecure)
		}
		if ok && id.String() != c.name {
			t.Errorf("%s prints as %s", c.name, id)
		}
	}
	// Every name nats-server lists in --help_tls is known.
	n := 0
	for _, s := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		if _, _, ok := CipherSuiteByName(s.Name); !ok {
			t.Errorf("%s unknown", s.Name)
		}
		n++
	}
	if n != 25 {
		t.Errorf("%d suites; nats-server v2.15.2 lists 25", n)
	}
}

func TestCurveByName(t *testing.T) {
	for _, name := range []string{"CurveP256", "CurveP384", "CurveP521", "X25519", "X25519MLKEM768", "SecP256r1MLKEM768", "SecP384r1MLKEM1024"} {
		c, ok := CurveByName(name)
		if !ok || c.String() != name {
			t.Errorf("%s: %v %v", name, c, ok)
		}
	}
	// nats-server: "unrecognized curve preference NAME".
	for _, name := range []string{"P256", "curvep256", "Bogus", ""} {
		if _, ok := CurveByName(name); ok {
			t.Errorf("%q accepted", name)
		}
	}
}

func TestParseVersion(t *testing.T) {
	cases := []struct {
		in      string
		want    Version
		wantErr string
	}{
		{"1.2", tls.VersionTLS12, ""},
		{"1.3", tls.VersionTLS13, ""},
		// nats-server: "unsupported TLS version: TLS 1.1".
		{"1.1", 0, "unsupported TLS version 1.1"},
		{"1.0", 0, "unsupported TLS version 1.0"},
		// nats-server: "unknown version: X".
		{"1.4", 0, "unknown TLS version"},
		{"TLS1.2", 0, "unknown TLS version"},
		{"1.2.0", 0, "unknown TLS version"},
		{" 1.2", 0, "unknown TLS version"},
	}
	for _, c := range cases {
		v, err := ParseVersion(c.in)
		if c.wantErr == "" && (err != nil || v != c.want) {
			t.Errorf("%q: %v %v", c.in, v, err)
		}
		if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
			t.Errorf("%q: error %v, want %q", c.in, err, c.wantErr)
		}
	}
	if Version(tls.VersionTLS13).String() != "1.3" || DefaultMinVersion.String() != "1.2" {
		t.Error("versions print as min_version writes them")
	}
}

func TestParsePin(t *testing.T) {
	const pin = "8c6b9a36487b66f8cf4f2151debad5e64f79db976d1b6be780f03fd81f7c50e7"
	if got, err := ParsePin(pin); err != nil || got != pin {
		t.Fatalf("%v %v", got, err)
	}
	if got, err := ParsePin(strings.ToUpper(pin)); err != nil || got != pin {
		t.Fatalf("upper case: %v %v (nats-server accepts it)", got, err)
	}
	// nats-server: "'pinned_certs' key X does not look like hex-encoded
	// sha256 of DER encoded SubjectPublicKeyInfo".
	for _, bad := range []string{"abc", "zz", pin[:63], pin + "7", "g" + pin[1:], ""} {
		if _, err := ParsePin(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseHandshakeFirst(t *testing.T) {
	// Recorded by connecting to nats-server v2.15.2 with a TLS-first client
	// and with an INFO-first one timing the INFO.
	cases := []struct {
		in       string
		first    bool
		fallback time.Duration
		bad      bool
	}{
		{in: "true", first: true}, {in: "TRUE", first: true}, {in: "on", first: true}, {in: "On", first: true},
		{in: "false"}, {in: "off"}, {in: "oFF"},
		{in: "auto", first: true, fallback: 50 * time.Millisecond},
		{in: "AUTO", first: true, fallback: 50 * time.Millisecond},
		{in: "300ms", first: true, fallback: 300 * time.Millisecond},
		{in: "1s", first: true, fallback: time.Second},
		{in: "0s", first: true}, {in: "0", first: true},
		{in: "-1s", first: true},
		// nats-server: `field "handshake_first"'s value "X" is invalid`.
		{in: "yes", bad: true}, {in: "no", bad: true}, {in: "t", bad: true}, {in: "1", bad: true}, {in: "abc", bad: true},
	}
	for _, c := range cases {
		first, fb, err := ParseHandshakeFirst(c.in)
		if c.bad != (err != nil) || first != c.first || fb != c.fallback {
			t.Errorf("%q: first=%v fallback=%v err=%v; want first=%v fallback=%v bad=%v", c.in, first, fb, err, c.first, c.fallback, c.bad)
		}
	}
}

func TestOptionsFilesAndDefaults(t *testing.T) {
	o := &Options{CertFile: "c.pem", KeyFile: "k.pem", CAFile: "ca.pem",
		Certs: []CertPair{{"c2.pem", "k2.pem"}, {"c.pem", "k.pem"}}}
	if got := fmt.Sprint(o.Files()); got != "[c.pem k.pem c2.pem k2.pem ca.pem]" {
		t.Errorf("Files %s", got)
	}
	if o.HandshakeTimeout() != 2*time.Second {
		t.Errorf("default timeout %v, nats-server's /varz says 2", o.HandshakeTimeout())
	}
	o.Timeout = 250 * time.Millisecond
	if o.HandshakeTimeout() != 250*time.Millisecond || o.minVersion() != tls.VersionTLS12 {
		t.Error("timeout or min version")
	}
}
