package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/conn"
	"github.com/natsd/natsd/server/outbuf"
	"github.com/natsd/natsd/tlsconf"
)

// TLS for clients, as nats-server v2.15.2 does it (recorded against it):
//
//   - tls { }: INFO goes out in plain text with tls_required, then the
//     client starts the handshake; anything else is a failed handshake.
//   - handshake_first: the handshake comes first and INFO follows over
//     TLS. With a fallback (handshake_first: auto, or a duration) a client
//     that sends nothing for that long gets INFO in plain text and upgrades
//     after it, as without handshake_first.
//   - allow_non_tls: INFO says tls_available; a client may upgrade after it
//     or stay in plain text. The client's first byte tells which (a TLS
//     handshake record starts with 0x16).
//
// Every handshake is bounded by the tls timeout and runs on the
// connection's reader goroutine, never the accept loop. The client is
// registered (cid, /connz) from accept on, as in nats-server; one whose
// handshake fails closes with "TLS Handshake Failure". The connection core
// (server/conn) knows nothing of this: it reads and writes a clientSocket,
// which is the TCP socket until the handshake and the TLS session after.

// tlsState is the client listener's TLS as the daemon set it.
type tlsState struct {
	store *tlsconf.Store
	cfg   *tls.Config // store.ServerConfig(): each handshake uses the current files
}

// SetTLS gives the server the certificates of its tls { } block (nil: none).
// Options.TLS says whether clients use TLS; st says with which files. The
// daemon sets st before Apply turns TLS on, and clears it after Apply turned
// it off; connections already accepted keep the session they have.
func (s *Server) SetTLS(st *tlsconf.Store) {
	if st == nil {
		s.tls.Store(nil)
		return
	}
	s.tls.Store(&tlsState{store: st, cfg: st.ServerConfig()})
}

// TLSStore is the store SetTLS gave (nil: none).
func (s *Server) TLSStore() *tlsconf.Store {
	if st := s.tls.Load(); st != nil {
		return st.store
	}
	return nil
}

// tlsRequired: clients must use TLS (INFO tls_required, /varz tls_required).
func tlsRequired(o *Options) bool { return o.TLS != nil && !o.AllowNonTLS }

// setMapper prepares verify_and_map for o: the certificate of a client
// names its user among authorization.users.
func (s *Server) setMapper(o *Options) {
	if o.TLS == nil || !o.TLS.VerifyAndMap || len(o.Auth.Users) == 0 {
		s.mapper.Store(nil)
		return
	}
	names := make([]string, len(o.Auth.Users))
	for i, u := range o.Auth.Users {
		names[i] = u.Username
	}
	s.mapper.Store(tlsconf.NewUserMapper(names))
}

// clientSocket is a client's socket on a listener with TLS: the TCP socket
// until the handshake, the TLS session after it. Close (embedded) closes
// the TCP socket, which ends the session too.
type clientSocket struct {
	net.Conn // the TCP socket
	tc       atomic.Pointer[tlsconf.Conn]

	// Optional TLS (allow_non_tls): the first read decides. mu is held by
	// a plain-text write and by the upgrade, so that no plain byte goes
	// out in the middle of a handshake; decided ends that.
	optional bool
	decided  atomic.Bool
	mu       sync.Mutex
	upgrade  func(prefix []byte) (*tlsconf.Conn, error)
	scratch  net.Buffers // the writer's, for writev in plain text
}

func (s *clientSocket) Read(b []byte) (int, error) {
	if tc := s.tc.Load(); tc != nil {
		return tc.Read(b)
	}
	if !s.optional || s.decided.Load() {
		return s.Conn.Read(b)
	}
	n, err := s.Conn.Read(b)
	if n == 0 {
		return n, err
	}
	if !tlsconf.IsHandshakeRecord(b[0]) {
		s.decided.Store(true) // plain text from now on
		return n, err
	}
	prefix := append([]byte(nil), b[:n]...)
	s.mu.Lock()
	tc, herr := s.upgrade(prefix)
	if herr == nil {
		s.tc.Store(tc)
	}
	s.decided.Store(true)
	s.mu.Unlock()
	if herr != nil {
		return 0, herr
	}
	return tc.Read(b)
}

func (s *clientSocket) Write(b []byte) (int, error) {
	if tc := s.tc.Load(); tc != nil {
		return tc.Write(b)
	}
	if s.optional && !s.decided.Load() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if tc := s.tc.Load(); tc != nil {
			return tc.Write(b)
		}
	}
	return s.Conn.Write(b)
}

// WriteBuffers hands the writer's chunks to the TLS session in one batch
// (tlsconf.Conn.WriteBuffers), or to the socket in one writev once the
// client chose plain text. Only the writer calls it.
func (s *clientSocket) WriteBuffers(bufs [][]byte) (int64, error) {
	if tc := s.tc.Load(); tc != nil {
		return tc.WriteBuffers(bufs)
	}
	if s.decided.Load() {
		return outbuf.WriteTo(s.Conn, bufs, &s.scratch)
	}
	var n int64
	for _, b := range bufs {
		k, err := s.Write(b)
		n += int64(k)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// clientTLS is what a client accepted on a TLS listener needs for its
// handshake, fixed at accept.
type clientTLS struct {
	opts  *tlsconf.Options
	cfg   *tls.Config // nil: no certificates were set, every handshake fails
	allow bool        // allow_non_tls

	// Set once by the handshake, under the connection's lock.
	sess *tlsconf.Session
	leaf *x509.Certificate // the client's verified certificate, if any
	// running: the reader and writer serve the session; until then a
	// close must close the socket itself (the writer would).
	running atomic.Bool
}

// wrapTLS makes nc a clientSocket when o asks for TLS.
func (s *Server) wrapTLS(nc net.Conn, o *Options) (net.Conn, *clientTLS) {
	if o.TLS == nil {
		return nc, nil
	}
	ct := &clientTLS{opts: o.TLS, allow: o.AllowNonTLS}
	if st := s.tls.Load(); st != nil {
		ct.cfg = st.cfg
	}
	return &clientSocket{Conn: nc}, ct
}

var errNoTLSConfig = errors.New("tls: no certificates set for the client listener")

// handshake runs the client's TLS handshake in the server's order (see the
// top of this file). It reports whether INFO was already sent (in plain
// text) and false when the connection failed and is closed. It runs on the
// reader's goroutine before the reader and writer start; with allow_non_tls
// it only arranges for the first read to decide.
func (c *client) handshake() (infoSent, ok bool) {
	ct, sock := c.tls, c.sock
	timeout := ct.opts.HandshakeTimeout()
	if ct.allow && !ct.opts.HandshakeFirst {
		c.optionalTLS()
		return false, true
	}
	var prefix []byte
	first := ct.opts.HandshakeFirst
	if first && ct.opts.HandshakeFirstFallback > 0 {
		// Wait that long for the client to start: a client that does not
		// handshake first is waiting for INFO.
		buf := make([]byte, 512)
		_ = sock.Conn.SetReadDeadline(time.Now().Add(ct.opts.HandshakeFirstFallback))
		n, err := sock.Conn.Read(buf)
		_ = sock.Conn.SetReadDeadline(time.Time{})
		switch {
		case n > 0:
			prefix = buf[:n]
		case isTimeout(err):
			first = false
			if ct.allow {
				c.optionalTLS() // after the fallback INFO says tls_available
				return false, true
			}
		default:
			c.tlsFailed(err)
			return false, false
		}
	}
	if !first {
		_ = sock.Conn.SetWriteDeadline(time.Now().Add(timeout))
		_, err := sock.Conn.Write(c.srv.clientInfo(c, false))
		_ = sock.Conn.SetWriteDeadline(time.Time{})
		if err != nil {
			c.tlsFailed(err)
			return true, false
		}
		infoSent = true
	}
	tc, err := c.tlsHandshake(prefix, first)
	if err != nil {
		return infoSent, false
	}
	sock.tc.Store(tc)
	return infoSent, true
}

// optionalTLS arranges allow_non_tls: the first byte the client sends
// decides between a handshake and plain text.
func (c *client) optionalTLS() {
	sock := c.sock
	sock.optional = true
	sock.upgrade = func(prefix []byte) (*tlsconf.Conn, error) {
		return c.tlsHandshake(prefix, false)
	}
}

// tlsHandshake runs the server side of the handshake on the client's TCP
// socket, prefix being what was read of it already. On failure the
// connection is closed with "TLS Handshake Failure".
func (c *client) tlsHandshake(prefix []byte, first bool) (*tlsconf.Conn, error) {
	ct := c.tls
	if ct.cfg == nil {
		c.tlsFailed(errNoTLSConfig)
		return nil, errNoTLSConfig
	}
	tc := tlsconf.Server(tlsconf.Replay(c.sock.Conn, prefix), ct.cfg)
	if err := tc.Handshake(context.Background(), ct.opts.HandshakeTimeout()); err != nil {
		c.tlsFailed(err)
		return nil, err
	}
	cs := tc.ConnectionState()
	sess := tlsconf.SessionOf(cs)
	sess.First = first
	c.Lock()
	ct.sess = sess
	if len(cs.VerifiedChains) > 0 {
		ct.leaf = cs.PeerCertificates[0]
	}
	c.Unlock()
	c.log().Debug("TLS handshake complete", zap.String("version", sess.Version), zap.String("cipher_suite", sess.CipherSuite))
	return tc, nil
}

// tlsFailed ends a connection whose handshake failed: one closed
// connection, logged at debug (port scanners and plain-text clients are
// routine), as nats-server does for most of them.
func (c *client) tlsFailed(err error) {
	if isTimeout(err) {
		c.log().Debug("TLS handshake timeout", zap.Error(err))
	} else {
		c.log().Debug("TLS handshake error", zap.Error(err))
	}
	c.Close(conn.TLSHandshakeFailure)
	if !c.tls.running.Load() {
		_ = c.sock.Conn.Close() // no writer runs to close it
	}
}

// peerCert is the client's verified certificate (nil: none).
func (c *client) peerCertLocked() *x509.Certificate {
	if c.tls == nil {
		return nil
	}
	return c.tls.leaf
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// authenticate checks a CONNECT's credentials: with verify_and_map and
// authorization.users, the client's certificate names its user (see
// authenticateCert); otherwise the CONNECT's credentials do (authenticate).
// Call without the client's lock.
func (c *client) authenticate(a *AuthOptions, co *connectOpts) (*User, bool) {
	m := c.srv.mapper.Load()
	if m == nil || a.Token != "" || a.Username != "" || c.ws != nil {
		// verify_and_map is the client listener's: WebSocket clients
		// authenticate with what they send.
		return authenticate(a, co, c.nonce)
	}
	c.Lock()
	leaf := c.peerCertLocked()
	c.Unlock()
	return authenticateCert(a, co, m, leaf)
}

// authenticateCert is verify_and_map with authorization.users, as nats-server
// v2.15.2 does it (recorded): the certificate maps to a user (see
// tlsconf.UserMapper) or the client is refused, whatever its CONNECT says;
// the CONNECT's user is ignored (nats-server warns about it), and its pass
// must be the mapped user's password — none when the user has none. A
// client without a verified certificate (plain text under allow_non_tls)
// maps to no one. no_auth_user does not apply.
func authenticateCert(a *AuthOptions, co *connectOpts, m *tlsconf.UserMapper, leaf *x509.Certificate) (*User, bool) {
	if leaf == nil {
		return nil, false
	}
	name, ok := m.Map(leaf)
	if !ok {
		return nil, false
	}
	for _, u := range a.Users {
		if u.Username == name {
			return u, secretMatches(u.Password, co.Pass)
		}
	}
	return nil, false
}
