package server

import (
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/conn"
	"github.com/natsd/natsd/server/wire"
)

// clientReads sizes a client's read buffer: small so that 10,000 idle
// clients cost little, growing while reads fill it.
var clientReads = conn.ReadSizing{Start: 512, Min: 64, Max: 64 * 1024}

// connectOpts is what a client's CONNECT says about itself.
type connectOpts struct {
	Verbose      bool   `json:"verbose"`
	Pedantic     bool   `json:"pedantic"`
	Echo         bool   `json:"echo"`
	Headers      bool   `json:"headers"`
	NoResponders bool   `json:"no_responders"`
	Protocol     int    `json:"protocol"`
	User         string `json:"user"`
	Pass         string `json:"pass"`
	Token        string `json:"auth_token"`
	Name         string `json:"name"`
	Lang         string `json:"lang"`
	Version      string `json:"version"`
	TLSRequired  bool   `json:"tls_required"`
	Account      string `json:"account"`
	NewAccount   bool   `json:"new_account"`
	JWT          string `json:"jwt"`
	Nkey         string `json:"nkey"`
	Sig          string `json:"sig"`
}

// client is one client connection: the connection core plus the client
// protocol, its subscriptions, its user and permissions.
type client struct {
	conn.Conn // the socket, queue, writer, timers; its lock guards the fields below too

	srv *Server
	acc atomic.Pointer[Account] // the client's account: written under the lock, read lock-free
	cid uint64
	// On a TLS listener (nil otherwise): the socket that becomes a TLS
	// session, and the handshake's settings and outcome (tls.go).
	sock *clientSocket
	tls  *clientTLS
	// On WebSocket (nil otherwise): the framing socket, the cookies, the
	// wss session (websocket.go).
	ws *wsClient

	// Owned by the read goroutine.
	parser *wire.Parser
	prod   producer

	// Guarded by the connection's lock.
	subs    map[string]*subscription
	opts    connectOpts
	headers bool // HMSG allowed: the client asked for headers and the server has them
	flags   clientFlags
	user    *User
	perms   *perms
	replies map[string]*replyGrant // allow_responses: requests this client may answer
	bound   bool                   // counted in acc's connections
	extTag  any                    // an external authenticator's (Identity.Tag); nil otherwise
	expiry  *time.Timer            // closes the client when its JWT expires

	// nonce is what the greeting INFO asks the client to sign (nkeys, JWT);
	// nil when no such auth is configured. Set before the client is shared.
	nonce []byte

	// authed: may do more than CONNECT (passed auth, or none is required,
	// or no_auth_user applies). Atomic because every op checks it and a
	// reload may revoke it from another goroutine.
	authed atomic.Bool
}

type clientFlags uint16

const (
	connectReceived clientFlags = 1 << iota // a CONNECT was processed
	firstPongSent                           // a PONG went out after CONNECT: async INFO allowed
	infoAfterPong                           // send the connect_info INFO after the next PONG
	calloutAdmitted                         // the auth callout's service admitted the client
)

func (f clientFlags) has(x clientFlags) bool { return f&x != 0 }

func newClient(s *Server, nc net.Conn, ws *wsClient) *client {
	c := &client{
		srv:  s,
		ws:   ws,
		cid:  s.nextCID.Add(1),
		subs: make(map[string]*subscription),
		// CONNECT's defaults (a client that never sends CONNECT, or leaves
		// fields out, gets these): verbose, pedantic and echo are on.
		opts: connectOpts{Verbose: true, Pedantic: true, Echo: true},
	}
	c.Init(nc, c)
	c.prod.init(s, true)
	opts := s.getOpts()
	c.parser = wire.NewClientParser(c, wire.Limits{MaxControlLine: opts.MaxControlLine, MaxPayload: opts.MaxPayload})
	auth := c.authOpts(opts)
	if auth.nonceRequired() {
		c.nonce = newNonce()
	}
	c.admitBeforeConnect(auth)
	return c
}

// account is the account the client is bound to (never nil once started).
func (c *client) account() *Account { return c.acc.Load() }

// setAccount binds the client to a (and counts it there), unless a is full
// or the client closed. It reports whether the client is bound to a now.
func (c *client) setAccount(a *Account) bool {
	c.Lock()
	defer c.Unlock()
	old := c.acc.Load()
	if old == a && c.bound {
		return true
	}
	if c.IsClosedLocked() || !a.bind() {
		return false
	}
	if c.bound {
		old.unbind()
	}
	c.acc.Store(a)
	c.bound = true
	return true
}

// admitBeforeConnect decides what a client may do before its CONNECT: with
// no authorization configured, anything; with no_auth_user, what that user
// may (its permissions apply from the first byte, as in nats-server); else
// nothing but CONNECT. Call with the lock held, or before c is shared.
func (c *client) admitBeforeConnect(a *AuthOptions) {
	switch {
	case !a.Configured():
		c.setUser(nil)
		c.authed.Store(true)
	case a.noAuthUser() != nil:
		c.setUser(a.noAuthUser())
		c.authed.Store(true)
	default:
		c.setUser(nil)
		c.authed.Store(false)
	}
	if c.acc.Load() == nil {
		// Before CONNECT the client is in no_auth_user's account, else $G;
		// start binds it there (or says the account is full).
		acc := c.srv.gacc
		if u := a.noAuthUser(); u != nil {
			if ua := c.srv.userAccount(u); ua != nil {
				acc = ua
			}
		}
		c.acc.Store(acc)
	}
}

// setUser makes u the client's user and its permissions the client's. Call
// with the lock held.
func (c *client) setUser(u *User) {
	c.user = u
	c.perms = nil
	if u != nil && u.Permissions != nil {
		c.perms = newPerms(u.Permissions)
	}
}

func (c *client) log() *zap.Logger {
	return c.srv.log.With(zap.String("client", c.String()))
}

// String reads like nats-server's connection tag: "127.0.0.1:53412 - cid:5",
// "wid:5" for a WebSocket client.
func (c *client) String() string {
	tag := " - cid:"
	if c.ws != nil {
		tag = " - wid:"
	}
	return c.HostPort() + tag + strconv.FormatUint(c.cid, 10)
}

// --- conn.Owner ---

// Limits are the server's max_pending and write_deadline now.
func (c *client) Limits() conn.Limits {
	o := c.srv.getOpts()
	return conn.Limits{MaxPending: o.MaxPending, WriteDeadline: o.WriteDeadline}
}

// Keepalive is nats-server's client rule: ping_interval and ping_max, no
// PING to a client active within the interval once its RTT is known.
// A WebSocket client's interval is websocket.ping_interval when set.
func (c *client) Keepalive() conn.Keepalive {
	o := c.srv.getOpts()
	iv := o.PingInterval
	if c.ws != nil && o.WebSocket != nil && o.WebSocket.PingInterval > 0 {
		iv = o.WebSocket.PingInterval
	}
	return conn.Keepalive{Interval: iv, Max: o.PingMax, SkipIfActive: true, StaleErr: wire.ErrStaleConnection}
}

// Closed forgets the client: its subscriptions go, its snapshot is kept
// for /connz?state=closed.
func (c *client) Closed(reason conn.Reason) {
	c.Lock()
	info := c.statsLocked() // subscriptions included
	connected := c.flags.has(connectReceived)
	subs := make([]*subscription, 0, len(c.subs))
	for _, sub := range c.subs {
		subs = append(subs, sub)
	}
	c.subs = nil
	pending := c.PendingLocked()
	if c.expiry != nil {
		c.expiry.Stop()
	}
	if c.bound {
		c.bound = false
		c.acc.Load().unbind()
	}
	c.Unlock()

	for _, sub := range subs {
		sub.acc.removeLocalSub(sub)
	}
	if c.tls != nil && !c.tls.running.Load() {
		// Closed during its handshake (shutdown, say): no writer runs to
		// close the socket, and closing it ends the handshake at once.
		_ = c.sock.Conn.Close()
	}
	c.srv.removeClient(c)
	c.srv.recordClosed(info)
	if sink := c.srv.eventSink(); sink != nil && connected {
		sink.ClientDisconnected(info)
	}
	switch reason {
	case conn.SlowConsumerWriteDeadline:
		c.srv.CountSlowConsumer()
		c.log().Info("Slow Consumer Detected: WriteDeadline exceeded", zap.Duration("write_deadline", c.srv.getOpts().WriteDeadline), zap.Int("pending", pending))
	case conn.StaleConnection:
		c.srv.stats.staleConnections.Add(1)
		c.log().Debug("Stale Client Connection - Closing")
	}
	c.log().Debug("Client connection closed", zap.String("reason", reason.String()))
}

// --- the connection's life ---

// start runs the connection: on a TLS listener the handshake first, on the
// reader's goroutine (tls.go), then the greeting INFO (unless the handshake
// sent it), the max_connections check, the timers, the reader and writer.
// The server counted both goroutines (wg.Add(2)).
func (c *client) start(n int) {
	if c.tls == nil {
		c.begin(n, true)
		c.run()
		return
	}
	go func() {
		infoSent, ok := c.handshake()
		if !ok {
			c.srv.wg.Add(-2) // neither the reader nor the writer runs
			return
		}
		c.begin(n, !infoSent)
		c.run()
	}()
}

// run starts the writer and the reader.
func (c *client) run() {
	if c.tls != nil {
		c.tls.running.Store(true)
	}
	go func() { defer c.srv.wg.Done(); c.WriteLoop() }()
	go func() { defer c.srv.wg.Done(); c.ReadLoop(clientReads, c.read, c.protocolError) }()
}

// begin sends the greeting INFO (with sendInfo), checks max_connections
// and arms the keepalive and auth timers.
func (c *client) begin(n int, sendInfo bool) {
	opts := c.srv.getOpts()
	if sendInfo {
		c.Send(c.srv.clientInfo(c, false))
	}
	acc := c.acc.Load()
	switch {
	case opts.MaxConnections < 0 || n > opts.MaxConnections:
		// nats-server sends the INFO first, then the -ERR (recorded).
		c.log().Info("Maximum connections exceeded", zap.Int("max_connections", max(opts.MaxConnections, 0)))
		c.SendErrAndClose(wire.ErrMaxConnections, conn.MaxConnectionsExceeded)
	case !c.setAccount(acc):
		c.log().Info("Maximum account connections exceeded", zap.String("account", acc.Name))
		c.SendErrAndClose(wire.ErrMaxAccountConnections, conn.MaxAccountConnectionsExceeded)
	default:
		c.ArmKeepalive(min(c.Keepalive().Interval, firstPingMax))
		if auth := c.authOpts(opts); auth.Configured() {
			// With authorization configured a client must send CONNECT
			// within the auth timeout, also one that no_auth_user lets in
			// without credentials.
			c.Lock()
			c.ArmAuthTimerLocked(auth.Timeout, wire.ErrAuthTimeout, c.connected)
			c.Unlock()
		}
	}
}

// connected reports whether a CONNECT was processed (the auth timer's test).
func (c *client) connected() bool {
	c.Lock()
	defer c.Unlock()
	return c.flags.has(connectReceived)
}

// read parses and delivers one read's worth of bytes.
func (c *client) read(b []byte) error {
	o := c.srv.getOpts() // limits a reload changed apply from this read on
	c.parser.MaxControlLine = o.MaxControlLine
	c.parser.MaxPayload = c.maxPayload(o)
	perr := c.parser.Parse(b)
	if c.prod.active {
		c.prod.active = false
		now := time.Now()
		c.Lock()
		c.TouchLocked(now)
		c.Unlock()
	}
	c.prod.flush()
	if perr != nil {
		return perr
	}
	c.paceOwnReplies(o)
	return nil
}

// paceOwnReplies keeps what a client makes the server say to it (PONG, +OK,
// -ERR, INFO) within max_pending, like every other byte queued for it: a
// client that writes faster than it reads is not read from until its writer
// has drained half of its queue (its own writes then back up into TCP), and
// one whose queue is past max_pending anyway is cut off as a slow consumer.
// A client that reads nothing at all is closed by the write deadline.
func (c *client) paceOwnReplies(o *Options) {
	c.Lock()
	pending := int64(c.PendingLocked())
	stall := c.StallLocked(o.MaxPending)
	c.Unlock()
	if pending > o.MaxPending {
		c.srv.slowConsumer(c)
		return
	}
	if stall != nil {
		t := time.NewTimer(2 * o.WriteDeadline)
		select {
		case <-stall:
		case <-t.C:
		}
		t.Stop()
	}
}

// protocolError ends the connection after a malformed op: with the -ERR that
// nats-server sends for it, or silently.
func (c *client) protocolError(err error) {
	if pe, ok := err.(*wire.Error); ok {
		if text := pe.ErrText(); text != "" {
			c.log().Debug("Client parser ERROR", zap.String("error", text))
			c.trace("->>", "-ERR", []byte(text))
			c.SendErrAndClose(text, conn.ForParseError(pe.Kind))
			return
		}
		c.log().Debug("Client parser ERROR", zap.Error(err))
		c.Close(conn.ForParseError(pe.Kind))
		return
	}
	if ce, ok := err.(*closeErr); ok {
		if ce.text != "" {
			c.trace("->>", "-ERR", []byte(ce.text))
			c.SendErrAndClose(ce.text, ce.reason)
		} else {
			c.Close(ce.reason)
		}
		return
	}
	c.Close(conn.ProtocolViolation)
}

// closeErr is returned by handlers to end the connection, with an -ERR text
// or ("") silently.
type closeErr struct {
	text   string
	reason conn.Reason
}

func (e *closeErr) Error() string { return e.reason.String() }

var (
	errAuthViolation = &closeErr{wire.ErrAuthorization, conn.AuthViolation}
	errBadConnect    = &closeErr{"", conn.ProtocolViolation}
	errInvalidProto  = &closeErr{wire.ErrInvalidProtocol, conn.ProtocolViolation}
	errNoRespHeaders = &closeErr{wire.ErrNoRespondersHeaders, conn.ProtocolViolation}
	errClientErr     = &closeErr{"", conn.ClientClosed}
)

// sendErr queues "-ERR 'text'" and keeps the connection; the writer is
// woken after the read.
func (c *client) sendErr(text string) {
	c.trace("->>", "-ERR", []byte(text))
	c.Lock()
	if !c.IsClosedLocked() {
		q := c.Queue()
		q.Commit(wire.AppendErr(q.Tail(len(text)+10), text))
	}
	c.Unlock()
	c.prod.mark(c)
}

func (c *client) sendOK() {
	c.enqueue(wire.OK)
}

// enqueue appends raw protocol bytes; the writer is woken after the read.
func (c *client) enqueue(b []byte) {
	c.Enqueue(b)
	c.prod.mark(c)
}

// maxPayload is the largest message the client may publish: the server's
// max_payload, or its account's when that is smaller.
func (c *client) maxPayload(o *Options) int {
	mp := o.MaxPayload
	if a := c.acc.Load(); a != nil {
		if l := a.limits().MaxPayload; l > 0 && l < mp {
			mp = l
		}
	}
	return mp
}

// maxSubs is the client's subscription limit (0: none): the server's
// max_subscriptions or its account's, the smaller.
func (c *client) maxSubs(o *Options) int {
	ms := o.MaxSubs
	if a := c.acc.Load(); a != nil {
		if l := a.limits().MaxSubscriptions; l > 0 && (ms == 0 || l < ms) {
			ms = l
		}
	}
	return ms
}
