package server

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/wire"
)

// Read buffer sizes: a connection starts small so that 10,000 idle clients
// cost little, grows while reads fill it, and shrinks back when idle.
const (
	startReadBuf = 512
	minReadBuf   = 64
	maxReadBuf   = 64 * 1024
	shrinkAfter  = 2 // consecutive short reads before halving
)

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

// client is one client connection.
type client struct {
	srv   *Server
	cid   uint64
	nc    net.Conn
	host  string
	port  int
	start time.Time

	// Owned by the read goroutine.
	parser *wire.Parser
	prod   producer
	rbuf   []byte
	short  int

	mu       sync.Mutex // guards everything below
	out      outbound
	subs     map[string]*subscription
	opts     connectOpts
	headers  bool // HMSG allowed: the client asked for headers and the server has them
	flags    clientFlags
	user     *User
	perms    *perms
	replies  map[string]*replyGrant // allow_responses: requests this client may answer
	pingsOut int
	rttStart time.Time
	rtt      time.Duration
	last     time.Time // last publish, subscription change or PING from the client
	pingT    *time.Timer
	authT    *time.Timer
	reason   ClosedState
	stop     time.Time
	outMsgs  int64
	outBytes int64

	inMsgs, inBytes atomic.Int64 // written by the read goroutine only
	// authed: passed auth (or none is required). Atomic because every op
	// checks it and a reload may revoke it from another goroutine.
	authed atomic.Bool
}

type clientFlags uint16

const (
	connectReceived clientFlags = 1 << iota // a CONNECT was processed
	firstPongSent                           // a PONG went out after CONNECT: async INFO allowed
	infoAfterPong                           // send the connect_info INFO after the next PONG
	closed                                  // closeConnection ran
	writeLoopDone
)

func (f clientFlags) has(x clientFlags) bool { return f&x != 0 }

func newClient(s *Server, conn net.Conn) *client {
	c := &client{
		srv:   s,
		cid:   s.nextCID.Add(1),
		nc:    conn,
		start: time.Now(),
		subs:  make(map[string]*subscription),
		// CONNECT's defaults (a client that never sends CONNECT, or leaves
		// fields out, gets these): verbose, pedantic and echo are on.
		opts: connectOpts{Verbose: true, Pedantic: true, Echo: true},
	}
	if addr, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		c.host, c.port = addr.IP.String(), addr.Port
	}
	c.out.init()
	c.prod.init(s, true)
	opts := s.getOpts()
	c.parser = wire.NewClientParser(c, wire.Limits{MaxControlLine: opts.MaxControlLine, MaxPayload: opts.MaxPayload})
	c.admitBeforeConnect(&opts.Auth)
	return c
}

// admitBeforeConnect decides what a client may do before its CONNECT: with
// no authorization configured, anything; with no_auth_user, what that user
// may (its permissions apply from the first byte, as in nats-server); else
// nothing but CONNECT. Call with c.mu held, or before c is shared.
func (c *client) admitBeforeConnect(a *AuthOptions) {
	switch {
	case !a.Configured():
		c.user, c.perms = nil, nil
		c.authed.Store(true)
	case a.noAuthUser() != nil:
		c.setUser(a.noAuthUser())
		c.authed.Store(true)
	default:
		c.user, c.perms = nil, nil
		c.authed.Store(false)
	}
}

// setUser makes u the client's user and its permissions the client's. Call
// with c.mu held.
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

// String reads like nats-server's connection tag: "127.0.0.1:53412 - cid:5".
func (c *client) String() string {
	return net.JoinHostPort(c.host, strconv.Itoa(c.port)) + " - cid:" + strconv.FormatUint(c.cid, 10)
}

// armTimers starts the keepalive and, when authorization is configured, the
// auth timer: a client must send CONNECT within the auth timeout then, even
// one that no_auth_user lets in without credentials.
func (c *client) armTimers(opts *Options) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flags.has(closed) {
		return
	}
	first := min(opts.PingInterval, firstPingMax)
	c.pingT = time.AfterFunc(first, c.pingTimerFired)
	if opts.Auth.Configured() {
		c.authT = time.AfterFunc(opts.Auth.Timeout, c.authTimerFired)
	}
}

// readLoop reads, parses and delivers until the connection ends.
func (c *client) readLoop() {
	defer c.srv.wg.Done()
	c.rbuf = make([]byte, startReadBuf)
	for {
		n, err := c.nc.Read(c.rbuf)
		if n > 0 {
			c.refreshLimits()
			perr := c.parser.Parse(c.rbuf[:n])
			if c.prod.active {
				c.prod.active = false
				now := time.Now()
				c.mu.Lock()
				c.last = now
				c.mu.Unlock()
			}
			c.prod.flush()
			if perr != nil {
				c.protocolError(perr)
				return
			}
			c.sizeReadBuffer(n)
		}
		if err != nil {
			c.closeConnection(ClosedClientClosed)
			return
		}
		if !c.paceOwnReplies() {
			return
		}
	}
}

// paceOwnReplies keeps what a client makes the server say to it (PONG, +OK,
// -ERR, INFO) within max_pending, like every other byte queued for it: a
// client that writes faster than it reads is not read from until its writer
// has drained half of its queue (its own writes then back up into TCP), and
// one whose queue is past max_pending anyway is cut off as a slow consumer.
// A client that reads nothing at all is closed by the write deadline. It
// reports whether the connection is still open.
func (c *client) paceOwnReplies() bool {
	maxPending := c.srv.getOpts().MaxPending
	c.mu.Lock()
	if c.flags.has(closed) {
		c.mu.Unlock()
		return false
	}
	pending := int64(c.out.pending())
	var stall chan struct{}
	if pending > maxPending/2 {
		if c.out.stall == nil {
			c.out.stall = make(chan struct{})
		}
		stall = c.out.stall
	}
	c.mu.Unlock()
	if pending > maxPending {
		c.srv.slowConsumer(c)
		return false
	}
	if stall != nil {
		t := time.NewTimer(2 * c.srv.getOpts().WriteDeadline)
		select {
		case <-stall:
		case <-t.C:
		}
		t.Stop()
	}
	return true
}

// refreshLimits picks up limits changed by a reload.
func (c *client) refreshLimits() {
	o := c.srv.getOpts()
	c.parser.MaxControlLine = o.MaxControlLine
	c.parser.MaxPayload = o.MaxPayload
}

// sizeReadBuffer grows the read buffer while reads fill it and shrinks it
// when they do not, so idle clients hold little memory.
func (c *client) sizeReadBuffer(n int) {
	switch {
	case n == len(c.rbuf) && len(c.rbuf) < maxReadBuf:
		c.rbuf = make([]byte, len(c.rbuf)*2)
		c.short = 0
	case n < len(c.rbuf)/2 && len(c.rbuf) > minReadBuf:
		c.short++
		if c.short > shrinkAfter {
			c.rbuf = make([]byte, max(len(c.rbuf)/2, minReadBuf, startReadBuf))
			c.short = 0
		}
	default:
		c.short = 0
	}
}

// protocolError ends the connection after a malformed op: with the -ERR that
// nats-server sends for it, or silently.
func (c *client) protocolError(err error) {
	if pe, ok := err.(*wire.Error); ok {
		if text := pe.ErrText(); text != "" {
			c.log().Debug("Client parser ERROR", zap.String("error", text))
			c.sendErrAndClose(text, ClosedProtocolError(pe.Kind))
			return
		}
		c.log().Debug("Client parser ERROR", zap.Error(err))
		c.closeConnection(ClosedProtocolError(pe.Kind))
		return
	}
	if ce, ok := err.(*closeErr); ok {
		if ce.text != "" {
			c.sendErrAndClose(ce.text, ce.reason)
		} else {
			c.closeConnection(ce.reason)
		}
		return
	}
	c.closeConnection(ClosedProtocolViolation)
}

// closeErr is returned by handlers to end the connection, with an -ERR text
// or ("") silently.
type closeErr struct {
	text   string
	reason ClosedState
}

func (e *closeErr) Error() string { return e.reason.String() }

var (
	errAuthViolation = &closeErr{wire.ErrAuthorization, ClosedAuthViolation}
	errBadConnect    = &closeErr{"", ClosedProtocolViolation}
	errInvalidProto  = &closeErr{wire.ErrInvalidProtocol, ClosedProtocolViolation}
	errNoRespHeaders = &closeErr{wire.ErrNoRespondersHeaders, ClosedProtocolViolation}
	errClientErr     = &closeErr{"", ClosedClientClosed}
)

const errMaxConns = wire.ErrMaxConnections

// sendErrAndClose queues "-ERR 'text'" and closes once it is written.
func (c *client) sendErrAndClose(text string, reason ClosedState) {
	c.trace("->>", "-ERR", []byte(text))
	c.mu.Lock()
	if !c.flags.has(closed) {
		c.out.appendErr(text)
	}
	c.mu.Unlock()
	c.closeConnection(reason)
}

// sendErr queues "-ERR 'text'" and keeps the connection.
func (c *client) sendErr(text string) {
	c.trace("->>", "-ERR", []byte(text))
	c.mu.Lock()
	if !c.flags.has(closed) {
		c.out.appendErr(text)
	}
	c.mu.Unlock()
	c.prod.mark(c)
}

func (c *client) sendOK() {
	c.mu.Lock()
	if !c.flags.has(closed) {
		c.out.write(wire.OK)
	}
	c.mu.Unlock()
	c.prod.mark(c)
}

// closeConnection ends the connection for reason: its subscriptions go, the
// writer writes what is queued (an -ERR, say) and closes the socket. It is
// idempotent and safe from any goroutine.
func (c *client) closeConnection(reason ClosedState) {
	c.mu.Lock()
	if c.flags.has(closed) {
		c.mu.Unlock()
		return
	}
	c.flags |= closed
	c.reason = reason
	c.stop = time.Now()
	if c.out.stall != nil {
		// Producers waiting for this client to drain need wait no more.
		close(c.out.stall)
		c.out.stall = nil
	}
	if c.pingT != nil {
		c.pingT.Stop()
	}
	if c.authT != nil {
		c.authT.Stop()
	}
	info := c.connInfoLocked() // for /connz?state=closed, subscriptions included
	subs := make([]*subscription, 0, len(c.subs))
	for _, sub := range c.subs {
		subs = append(subs, sub)
	}
	c.subs = nil
	hard := reason.isSlowConsumer()
	c.mu.Unlock()

	for _, sub := range subs {
		c.srv.removeLocalSub(sub)
	}
	c.srv.removeClient(c)
	c.srv.recordClosed(info)
	if hard {
		// A slow consumer's queue is what is wrong: do not try to write it.
		_ = c.nc.Close()
	}
	c.out.wake()
	c.log().Debug("Client connection closed", zap.String("reason", reason.String()))
}

// Ping timer: send a keepalive PING, or give up after ping_max unanswered.
func (c *client) pingTimerFired() {
	opts := c.srv.getOpts()
	c.mu.Lock()
	if c.flags.has(closed) {
		c.mu.Unlock()
		return
	}
	now := time.Now()
	// With a measured RTT less than an hour old, a client that was active
	// within the interval needs no PING (nats-server's rule). Until a PONG
	// answers a server PING there is no RTT, so PINGs always go out.
	if c.rtt > 0 && now.Sub(c.rttStart) < time.Hour && now.Sub(c.last) < opts.PingInterval {
		c.pingT.Reset(opts.PingInterval)
		c.mu.Unlock()
		return
	}
	if c.pingsOut+1 > opts.PingMax {
		c.mu.Unlock()
		c.srv.stats.staleConnections.Add(1)
		c.log().Debug("Stale Client Connection - Closing")
		c.sendErrAndClose(wire.ErrStaleConnection, ClosedStaleConnection)
		return
	}
	c.pingsOut++
	c.rttStart = now
	c.out.write(wire.Ping)
	c.pingT.Reset(opts.PingInterval)
	c.mu.Unlock()
	c.out.wake()
}

// authTimerFired closes a client that has not sent a CONNECT that passed.
func (c *client) authTimerFired() {
	c.mu.Lock()
	done := c.flags.has(connectReceived) || c.flags.has(closed)
	c.mu.Unlock()
	if done {
		return
	}
	c.log().Debug("Authentication Timeout")
	c.sendErrAndClose(wire.ErrAuthTimeout, ClosedAuthTimeout)
}
