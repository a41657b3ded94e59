package tlsconf

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
)

// The listener configs (ServerConfig, MonitorConfig, RouteListenerConfig)
// are built once and never change: each handshake asks GetConfigForClient
// for the config of the Store's current set, built the first time a
// handshake sees that set. A handshake therefore uses the newest files,
// and a connection keeps the config it was made with.

// ServerConfig is the config of the client listener: the server's pairs,
// min_version, cipher_suites and curve_preferences; with verify, a client
// must present a certificate that the CA pool (ca_file, else the system
// roots) verifies for client authentication; with pinned_certs, that
// certificate's key must be pinned. (nats-server asks no certificate
// without verify, so pinned_certs without verify refuses every client.)
func (s *Store) ServerConfig() *tls.Config {
	return s.listener(func(m *material) *tls.Config {
		c := s.base(m)
		if s.opts.Verify {
			c.ClientAuth = tls.RequireAndVerifyClientCert
			c.ClientCAs = m.pool
		}
		c.VerifyConnection = s.pinCheck()
		return c
	})
}

// MonitorConfig is the config of HTTPS monitoring, which uses the
// top-level tls { } block: the same pairs and protocol limits, but no client
// certificate is asked for, whatever verify says, so that a browser can
// read it (nats-server's documented and recorded behaviour); pinned_certs
// does not apply either.
func (s *Store) MonitorConfig() *tls.Config {
	return s.listener(s.base)
}

// RouteListenerConfig is the config of the route listener. Routes always
// verify the peer (nats-server forces verify on in cluster.tls): the peer
// must present a certificate the CA pool verifies for client
// authentication. With pinned_certs its key must be pinned; with
// verify_cert_and_check_known_urls one of its DNS names must match the host
// of a configured route URL: knownHosts is called on each handshake for
// the current list (nil: none is known, every route is refused). Only DNS
// names count: a route URL by IP address matches no certificate, as with
// nats-server (recorded: it refuses such a route when it authenticates,
// logging "authentication error"; natsd refuses it in the handshake).
func (s *Store) RouteListenerConfig(knownHosts func() []string) *tls.Config {
	return s.listener(func(m *material) *tls.Config {
		c := s.base(m)
		c.ClientAuth = tls.RequireAndVerifyClientCert
		c.ClientCAs = m.pool
		pins := s.pinCheck()
		check := s.opts.VerifyCertAndCheckKnownURLs
		c.VerifyConnection = func(cs tls.ConnectionState) error {
			if pins != nil {
				if err := pins(cs); err != nil {
					return err
				}
			}
			if check {
				var hosts []string
				if knownHosts != nil {
					hosts = knownHosts()
				}
				return checkKnownHosts(cs, hosts)
			}
			return nil
		}
		return c
	})
}

// RouteDialConfig is the config for one route natsd dials to serverName
// (the host of the route URL): the peer's certificate is verified for that
// name against the CA pool (ca_file, else the system roots) unless insecure
// is set; natsd presents its first pair; pinned_certs applies to the
// peer's certificate either way. Call it for each dial: it reads the
// current set. (Recorded: nats-server dialing nats-route://127.0.0.1:port
// refuses a certificate without that IP address; with insecure it routes.)
func (s *Store) RouteDialConfig(serverName string) *tls.Config {
	m := s.cur.Load()
	c := s.base(m)
	c.Certificates = nil
	c.GetClientCertificate = s.GetClientCertificate
	c.ServerName = serverName
	c.RootCAs = m.pool
	c.InsecureSkipVerify = s.opts.Insecure
	c.VerifyConnection = s.pinCheck()
	return c
}

// base is what every side shares: the pairs and the protocol limits.
func (s *Store) base(m *material) *tls.Config {
	c := &tls.Config{
		Certificates:     m.certs,
		MinVersion:       s.opts.minVersion(),
		CurvePreferences: s.opts.CurvePreferences,
	}
	for _, cs := range s.opts.CipherSuites {
		c.CipherSuites = append(c.CipherSuites, uint16(cs))
	}
	return c
}

// built is the config of one set of files for one side.
type built struct {
	m   *material
	cfg *tls.Config
}

// listener returns a config whose every handshake uses the config that
// build makes of the Store's current set. Its own fields are those of the
// set current now, for callers that read them.
func (s *Store) listener(build func(m *material) *tls.Config) *tls.Config {
	var last atomic.Pointer[built]
	forSet := func(m *material) *tls.Config {
		if b := last.Load(); b != nil && b.m == m {
			return b.cfg
		}
		cfg := build(m)
		// Session tickets are sealed with keys of this set: a client that
		// resumes a session made before a reload would otherwise skip the
		// new certificate, and its own certificate the new CA.
		var key [32]byte
		if _, err := rand.Read(key[:]); err == nil {
			cfg.SetSessionTicketKeys([][32]byte{key})
		} else {
			cfg.SessionTicketsDisabled = true
		}
		last.Store(&built{m: m, cfg: cfg})
		return cfg
	}
	c := forSet(s.cur.Load()).Clone()
	c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return forSet(s.cur.Load()), nil
	}
	return c
}

// ErrNotPinned refuses a peer whose certificate's key is not in pinned_certs.
var ErrNotPinned = errors.New("certificate not pinned")

// pinCheck checks the peer's leaf against pinned_certs (nil: none pinned).
func (s *Store) pinCheck() func(tls.ConnectionState) error {
	if len(s.opts.PinnedCerts) == 0 {
		return nil
	}
	pins := map[string]bool{}
	for _, p := range s.opts.PinnedCerts {
		pins[strings.ToLower(p)] = true
	}
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return ErrNotPinned
		}
		sum := sha256.Sum256(cs.PeerCertificates[0].RawSubjectPublicKeyInfo)
		if !pins[hex.EncodeToString(sum[:])] {
			return ErrNotPinned
		}
		return nil
	}
}

// checkKnownHosts accepts a peer if a DNS name of its certificate matches
// one of hosts (verify_cert_and_check_known_urls).
func checkKnownHosts(cs tls.ConnectionState, hosts []string) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("no certificate to check against the route URLs")
	}
	names := cs.PeerCertificates[0].DNSNames
	for _, n := range names {
		for _, h := range hosts {
			if MatchDNSName(n, h) {
				return nil
			}
		}
	}
	return fmt.Errorf("certificate DNS names %q match no configured route URL", names)
}

// MatchDNSName reports whether a certificate's DNS name matches host as RFC
// 6125 §6.4 says, as nats-server documents it for
// verify_cert_and_check_known_urls: case-insensitive, a trailing dot
// ignored, and a wildcard only as the whole left-most label ("*.example.com"
// matches "a.example.com", not "example.com" nor "a.b.example.com").
func MatchDNSName(name, host string) bool {
	name = strings.ToLower(strings.TrimSuffix(name, "."))
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if name == "" || host == "" {
		return false
	}
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		_, hostRest, found := strings.Cut(host, ".")
		return found && hostRest == rest && rest != "" && !strings.Contains(rest, "*")
	}
	return name == host
}
