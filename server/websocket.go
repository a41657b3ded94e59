package server

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/conn"
	"github.com/natsd/natsd/server/websocket"
	"github.com/natsd/natsd/tlsconf"
)

// WebSocket clients (the websocket { } block), as nats-server v2.15.2
// serves them (recorded): the listener's connections are upgraded (TLS
// first for wss, then the HTTP upgrade, both within handshake_timeout, on
// a goroutine of their own), and each becomes an ordinary client whose
// socket is a websocket.Conn. They differ from other clients only in what
// they are told and how they authenticate:
//
//   - INFO gives the WebSocket listener's host and port, tls_required and
//     tls_available for wss, and the WebSocket URLs of the cluster as
//     connect_urls (peers announce them as ws_connect_urls on routes);
//   - the block's authorization (a user or a token) replaces the top-level
//     one for them, its no_auth_user replaces the top-level one, and cookies
//     of the upgrade request stand in for what CONNECT leaves out (a JWT, a
//     user, a password, a token); operator mode sees them as WEBSOCKET;
//   - /connz shows them with type "websocket"; logs tag them "wid:".
//
// The client is registered (cid, /connz) once the upgrade succeeded.

// WebSocketOptions is the websocket { } block.
type WebSocketOptions struct {
	Host      string
	Port      int    // 0: no WebSocket listener; RandomPort: any
	Advertise string // host:port announced to clients and peers
	// NoTLS serves ws:// (TLS is required unless it is set); otherwise TLS
	// is the block's tls { }, wss://.
	NoTLS bool
	TLS   *tlsconf.Options

	Compression      bool // permessage-deflate, when the client asks for it
	SameOrigin       bool
	AllowedOrigins   []string
	HandshakeTimeout time.Duration // 0: DefaultWebSocketHandshakeTimeout

	// Cookies whose values stand in for what CONNECT leaves out.
	JWTCookie, UserCookie, PassCookie, TokenCookie string
	// NoAuthUser replaces the top-level no_auth_user for WebSocket clients.
	NoAuthUser string
	// The block's authorization: a user or a token that replace the
	// top-level authorization for WebSocket clients, and their timeout.
	Username, Password, Token string
	AuthTimeout               time.Duration
	// Headers are added to every upgrade response.
	Headers [][2]string
	// PingInterval replaces ping_interval for WebSocket clients (0: no).
	PingInterval time.Duration
}

// DefaultWebSocketHandshakeTimeout bounds TLS and the upgrade when
// handshake_timeout is not set.
const DefaultWebSocketHandshakeTimeout = 2 * time.Second

// Enabled reports whether there is a WebSocket listener.
func (w *WebSocketOptions) Enabled() bool { return w != nil && w.Port != 0 }

func (w *WebSocketOptions) handshakeTimeout() time.Duration {
	if w.HandshakeTimeout > 0 {
		return w.HandshakeTimeout
	}
	return DefaultWebSocketHandshakeTimeout
}

// ownAuth reports whether the block has an authorization of its own.
func (w *WebSocketOptions) ownAuth() bool {
	return w != nil && (w.Username != "" || w.Token != "")
}

// wsServer is the server's WebSocket side; the maps are under Server.mu.
type wsServer struct {
	listeners map[net.Listener]struct{}
	current   net.Listener        // the newest: what INFO announces
	pending   map[net.Conn]bool   // accepted, in their handshake
	peerURLs  []string            // peers' WebSocket URLs, sorted
	peerByID  map[string][]string // the same, per peer
	hadPeers  bool

	tls    atomic.Pointer[tlsState]
	policy atomic.Pointer[websocket.Policy]
}

// wsClient is what a WebSocket client has that others do not.
type wsClient struct {
	conn *websocket.Conn
	// The values of the configured cookies in the upgrade request.
	jwt, user, pass, token string
	sess                   *tlsconf.Session // wss: the TLS session; nil for ws
	tls                    *tlsconf.Conn    // wss: the TLS connection (its state for the auth callout); nil for ws
}

// SetWebSocketTLS gives the server the certificates of websocket.tls (nil:
// none), as SetTLS does for the client listener.
func (s *Server) SetWebSocketTLS(st *tlsconf.Store) {
	if st == nil {
		s.ws.tls.Store(nil)
		return
	}
	s.ws.tls.Store(&tlsState{store: st, cfg: st.ServerConfig()})
}

// WebSocketTLSStore is the store SetWebSocketTLS gave (nil: none).
func (s *Server) WebSocketTLSStore() *tlsconf.Store {
	if st := s.ws.tls.Load(); st != nil {
		return st.store
	}
	return nil
}

// setWebSocketPolicy makes what the upgrade accepts follow o. The daemon
// checked the allowed origins; one that does not parse is left out.
func (s *Server) setWebSocketPolicy(o *Options) {
	w := o.WebSocket
	if w == nil {
		s.ws.policy.Store(&websocket.Policy{})
		return
	}
	p := &websocket.Policy{Secure: !w.NoTLS, SameOrigin: w.SameOrigin, Compression: w.Compression, Headers: w.Headers}
	for _, a := range w.AllowedOrigins {
		if og, err := websocket.ParseOrigin(a); err == nil {
			p.AllowedOrigins = append(p.AllowedOrigins, og)
		}
	}
	s.ws.policy.Store(p)
}

// ListenWebSocket makes ln a WebSocket listener of the server, the one INFO
// and ws_connect_urls announce, without accepting yet (see Listen).
func (s *Server) ListenWebSocket(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown || s.ldm {
		_ = ln.Close()
		return ErrServerClosed
	}
	if _, known := s.ws.listeners[ln]; !known {
		s.ws.listeners[ln] = struct{}{}
		s.ws.current = ln
	}
	return nil
}

// ServeWebSocket accepts WebSocket clients on ln until ln is closed.
func (s *Server) ServeWebSocket(ln net.Listener) error {
	if err := s.ListenWebSocket(ln); err != nil {
		return err
	}
	s.mu.Lock()
	if _, still := s.ws.listeners[ln]; !still || s.shutdown {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	conn.AcceptLoop(ln, s.acceptWebSocket, func(err error) {
		s.log.Error("Error accepting websocket connection", zap.Error(err))
	})
	return nil
}

// StopWebSocketListener stops accepting on ln and closes it; clients
// already upgraded stay.
func (s *Server) StopWebSocketListener(ln net.Listener) {
	s.mu.Lock()
	delete(s.ws.listeners, ln)
	if s.ws.current == ln {
		s.ws.current = nil
		for other := range s.ws.listeners {
			s.ws.current = other
		}
	}
	s.mu.Unlock()
	_ = ln.Close()
}

// acceptWebSocket starts the handshake of a new connection on a goroutine
// of its own: a slow client holds up no one.
func (s *Server) acceptWebSocket(nc net.Conn) {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.ws.pending[nc] = true
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c := s.upgrade(nc)
		s.mu.Lock()
		delete(s.ws.pending, nc)
		if c == nil || s.shutdown {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.clients[c.cid] = c
		n := len(s.clients)
		s.wg.Add(2)
		s.mu.Unlock()
		s.totalConns.Add(1)
		c.start(n)
	}()
}

// upgrade runs TLS (wss) and the HTTP upgrade within handshake_timeout and
// makes the client; nil when the handshake failed (answered, logged).
func (s *Server) upgrade(nc net.Conn) *client {
	o := s.getOpts()
	w := o.WebSocket
	if w == nil {
		return nil // a reload turned WebSocket off meanwhile
	}
	log := s.log.With(zap.String("client", nc.RemoteAddr().String()))
	timeout := w.handshakeTimeout()
	_ = nc.SetDeadline(time.Now().Add(timeout))
	sock := nc
	var sess *tlsconf.Session
	var tlsConn *tlsconf.Conn
	if !w.NoTLS {
		st := s.ws.tls.Load()
		if st == nil {
			log.Debug("websocket TLS handshake error: no certificates set")
			return nil
		}
		tc := tlsconf.Server(nc, st.cfg)
		if err := tc.Handshake(context.Background(), timeout); err != nil {
			log.Debug("websocket TLS handshake error", zap.Error(err))
			return nil
		}
		_ = nc.SetDeadline(time.Now().Add(timeout)) // Handshake cleared it
		sock, sess, tlsConn = tc, tlsconf.SessionOf(tc.ConnectionState()), tc
	}
	br := websocket.NewHandshakeReader(sock)
	up, err := websocket.Accept(br, sock, s.ws.policy.Load())
	if err != nil {
		var he *websocket.HandshakeError
		switch {
		case !asHandshakeError(err, &he):
			log.Debug("websocket handshake: no request", zap.Error(err))
		case he.NotWebSocket:
			// Health checks, scanners, NATS on the wrong port: routine.
			log.Debug(he.Error(), zap.Int("status", he.Status))
		default:
			log.Info(he.Error(), zap.Int("status", he.Status))
		}
		return nil
	}
	_ = nc.SetDeadline(time.Time{})
	wc := &wsClient{sess: sess, tls: tlsConn}
	wc.jwt, wc.user = cookie(up.Request, w.JWTCookie), cookie(up.Request, w.UserCookie)
	wc.pass, wc.token = cookie(up.Request, w.PassCookie), cookie(up.Request, w.TokenCookie)
	ws := &wsSocket{}
	wc.conn = websocket.NewConn(sock, websocket.Buffered(br), websocket.Config{
		Compress: up.Compress, MaxFrame: uint64(o.MaxPending),
		MaxWriteFrame: websocket.MaxWriteFrameFor(o.MaxPayload), // what the greeting INFO says
		CloseStatus:   func() (int, string) { return ws.c.wsCloseStatus() },
	})
	ws.Conn = wc.conn
	ws.c = newClient(s, ws, wc)
	return ws.c
}

func asHandshakeError(err error, he **websocket.HandshakeError) bool {
	e, ok := err.(*websocket.HandshakeError)
	*he = e
	return ok
}

// cookie is the value of the request's cookie name ("" for no name or no
// such cookie).
func cookie(r *http.Request, name string) string {
	if name == "" {
		return ""
	}
	if ck, err := r.Cookie(name); err == nil {
		return ck.Value
	}
	return ""
}

// wsCloseStatus is the close frame a WebSocket client is sent when it is
// closed: nats-server's status for the reason (recorded: 1001 for shutdown
// and stale connections, 1008 for authentication and limits, 1009 for
// max_payload), and natsd's 1002 for a protocol error, where nats-server
// sends none. A client that closed gets none.
func (c *client) wsCloseStatus() (int, string) {
	c.Lock()
	reason, _ := c.ClosedAtLocked()
	c.Unlock()
	var code int
	switch reason {
	case 0, conn.ClientClosed:
		return 0, ""
	case conn.ServerShutdown, conn.LameDuck, conn.StaleConnection, conn.ReadError, conn.WriteError:
		code = websocket.CloseGoingAway
	case conn.AuthTimeout, conn.AuthViolation, conn.AuthRevoked, conn.AuthExpired, conn.MaxConnectionsExceeded,
		conn.MaxAccountConnectionsExceeded, conn.SlowConsumerPendingBytes, conn.SlowConsumerWriteDeadline,
		conn.MaxControlLineExceeded, conn.Kicked:
		code = websocket.ClosePolicyViolation
	case conn.MaxPayloadExceeded:
		code = websocket.CloseMessageTooBig
	case conn.ParseError, conn.ProtocolViolation:
		code = websocket.CloseProtocolError
	default:
		code = websocket.CloseInternalError
	}
	return code, reason.String()
}

// wsReadEnded turns what ends a WebSocket client's reads into its close reason:
// a protocol error in the framing closes it as such (the close frame says
// what was wrong), the client's own close frame as Client Closed.
func (c *client) wsReadEnded(err error) {
	if ce, ok := err.(*websocket.CloseError); ok && !ce.Peer {
		c.log().Debug("WebSocket protocol error", zap.String("error", ce.Reason), zap.Int("status", ce.Code))
		c.Close(conn.ProtocolViolation)
	}
}

// wsSocket is a WebSocket client's net.Conn: the frames' payload, and a
// read error that says why the connection ends.
type wsSocket struct {
	*websocket.Conn
	c *client
}

func (w *wsSocket) Read(p []byte) (int, error) {
	n, err := w.Conn.Read(p)
	if err != nil && n == 0 {
		w.c.wsReadEnded(err)
	}
	return n, err
}

// --- what WebSocket clients are told ---

// wsHostPort is the WebSocket listener's host and port, as INFO gives them
// (the listener's, even with advertise: recorded). Call with s.mu held.
func (s *Server) wsHostPort(w *WebSocketOptions) (string, int) {
	host, port := DefaultHost, 0
	if w != nil {
		if w.Host != "" {
			host = w.Host
		}
		port = w.Port
	}
	if s.ws.current != nil {
		if a, ok := s.ws.current.Addr().(*net.TCPAddr); ok {
			port = a.Port
		}
	}
	return host, port
}

// ownWebSocketURLs are this server's WebSocket URLs ("host:port"): the
// advertise address, or the listener's. Call with s.mu held.
func (s *Server) ownWebSocketURLs() []string {
	w := s.getOpts().WebSocket
	if !w.Enabled() || s.ws.current == nil {
		return nil
	}
	if w.Advertise != "" {
		return []string{w.Advertise}
	}
	return HostURLs(s.wsHostPort(w))
}

// OwnWebSocketURLs are this server's WebSocket URLs as peers should
// announce them (ws_connect_urls); nil without a WebSocket listener.
func (s *Server) OwnWebSocketURLs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ownWebSocketURLs()
}

// SetPeerWebSocketURLs records peer id's WebSocket URLs (ws_connect_urls of
// its route INFO); WebSocket clients get a new INFO when the set changes.
func (s *Server) SetPeerWebSocketURLs(id string, urls []string) {
	s.mu.Lock()
	if s.ws.peerByID == nil {
		s.ws.peerByID = map[string][]string{}
	}
	s.ws.peerByID[id] = slices.Clone(urls)
	s.ws.hadPeers = s.ws.hadPeers || len(urls) > 0
	changed := s.recomputeWebSocketPeers()
	s.mu.Unlock()
	if changed {
		s.sendAsyncInfo(infoToWebSocket)
	}
}

// recomputeWebSocketPeers is recomputePeerURLs for WebSocket URLs. Call
// with s.mu held.
func (s *Server) recomputeWebSocketPeers() bool {
	own := s.ownWebSocketURLs()
	var all []string
	for _, urls := range s.ws.peerByID {
		for _, u := range urls {
			if !slices.Contains(own, u) && !slices.Contains(all, u) {
				all = append(all, u)
			}
		}
	}
	slices.Sort(all)
	if slices.Equal(all, s.ws.peerURLs) {
		return false
	}
	s.ws.peerURLs = all
	return true
}

// wsConnectURLs are a WebSocket client's connect_urls: ours, then the
// peers' (only theirs in lame duck mode), once a peer with a WebSocket
// listener was seen. Call with s.mu held.
func (s *Server) wsConnectURLs() []string {
	if s.ldm {
		return slices.Clone(s.ws.peerURLs)
	}
	if len(s.ws.peerURLs) == 0 && !s.ws.hadPeers {
		return nil
	}
	return append(s.ownWebSocketURLs(), s.ws.peerURLs...)
}

// wsAuthRequired is a WebSocket client's INFO auth_required: the block's
// authorization, or the top-level one (its no_auth_user counts; the
// block's does not, as in nats-server: recorded).
func wsAuthRequired(o *Options) bool {
	return o.WebSocket.ownAuth() || o.Auth.Required()
}

// wsInfo makes info a WebSocket client's INFO. Call with s.mu held.
func (s *Server) wsInfo(info *Info, o *Options) {
	w := o.WebSocket
	info.Host, info.Port = s.wsHostPort(w)
	info.ConnectURLs = s.wsConnectURLs()
	info.AuthRequired = wsAuthRequired(o)
	secure := w != nil && !w.NoTLS
	// nats-server says both for wss (recorded).
	info.TLSRequired, info.TLSAvailable = secure, secure
	info.TLSVerify = secure && w.TLS != nil && w.TLS.Verify
}

// WebSocketPort is the port the WebSocket listener is bound to (0: none).
func (s *Server) WebSocketPort() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ws.current == nil {
		return 0
	}
	_, port := s.wsHostPort(s.getOpts().WebSocket)
	return port
}

// WebSocketURL is "ws://host:port" (wss with TLS) for logs and the ports
// file; "" without a listener.
func (s *Server) WebSocketURL() string {
	o := s.getOpts()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ws.current == nil {
		return ""
	}
	host, port := s.wsHostPort(o.WebSocket)
	scheme := "ws"
	if o.WebSocket != nil && !o.WebSocket.NoTLS {
		scheme = "wss"
	}
	return scheme + "://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// --- how WebSocket clients authenticate ---

// authOpts is the authorization that applies to c: for a WebSocket client
// the block's user or token instead of the top-level authorization when it
// has one, its no_auth_user and timeout when set.
func (c *client) authOpts(o *Options) *AuthOptions {
	w := o.WebSocket
	if c.ws == nil || w == nil {
		return &o.Auth
	}
	a := o.Auth
	if w.ownAuth() {
		a = AuthOptions{Username: w.Username, Password: w.Password, Token: w.Token, Timeout: o.Auth.Timeout, External: o.Auth.External}
	}
	if w.NoAuthUser != "" {
		a.NoAuthUser = w.NoAuthUser
	}
	if w.AuthTimeout > 0 {
		a.Timeout = w.AuthTimeout
	}
	return &a
}

// wsFramesFor bounds the frames a WebSocket client is sent by the
// max_payload it is told after CONNECT (its account's may be smaller than
// the server's): nats.go refuses a frame over 8 times that.
func (c *client) wsFramesFor(maxPayload int) {
	if c.ws != nil {
		c.ws.conn.SetMaxWriteFrame(websocket.MaxWriteFrameFor(maxPayload))
	}
}

// applyCookies fills what a WebSocket client's CONNECT left out from the
// configured cookies of its upgrade request, field by field (recorded:
// a CONNECT user with the cookie's password, say).
func (c *client) applyCookies(co *connectOpts) {
	w := c.ws
	if w == nil {
		return
	}
	if co.JWT == "" {
		co.JWT = w.jwt
	}
	if co.User == "" {
		co.User = w.user
	}
	if co.Pass == "" {
		co.Pass = w.pass
	}
	if co.Token == "" {
		co.Token = w.token
	}
}

// connType is how the client connected, as user JWTs name it.
func (c *client) connType() string {
	if c.ws != nil {
		return ConnTypeWebSocket
	}
	return ConnTypeStandard
}
