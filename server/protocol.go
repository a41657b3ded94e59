package server

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/natsd/natsd/server/conn"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/subject"
	"github.com/natsd/natsd/server/wire"
)

// The client protocol: *client implements wire.ClientHandler. Every method
// runs on the connection's read goroutine. Errors that keep the connection
// open (Invalid Subject, permission violations) are sent here; a returned
// error closes the connection (see protocolError).

// Connect handles CONNECT {json}.
func (c *client) Connect(arg []byte) error {
	c.traceConnect(arg)
	c.Lock()
	opts := c.opts // a later CONNECT overlays the earlier one, as in nats-server
	c.Unlock()
	if err := json.Unmarshal(arg, &opts); err != nil {
		c.log().Debug("Malformed CONNECT", zap.Error(connectJSONError(err)))
		return errBadConnect
	}
	c.applyCookies(&opts)
	if opts.Protocol < 0 || opts.Protocol > 1 {
		return errInvalidProto
	}
	if opts.Account != "" || opts.NewAccount {
		// Legacy account fields are refused even with no auth configured.
		return errAuthViolation
	}
	so := c.srv.getOpts()
	headers := opts.Headers && !so.NoHeaderSupport
	if opts.NoResponders && !headers {
		return errNoRespHeaders
	}
	var user *User
	var ident *Identity
	calledOut := false
	acc := c.srv.gacc
	auth := c.authOpts(so)
	switch {
	case auth.External != nil:
		id, err := auth.External.Authenticate(c.credentials(&opts))
		if err != nil || id == nil || id.Account == nil {
			c.log().Info("Authorization Error", zap.Error(err))
			return errAuthViolation
		}
		ident, user, acc = id, id.User, id.Account
	case auth.Configured():
		if opts.User != "" && c.srv.mapper.Load() != nil && c.ws == nil {
			c.log().Warn(`User "` + opts.User + `" found in connect proto, but user required from cert`)
		}
		u, ok := c.authenticate(auth, &opts)
		if co := auth.Callout; co != nil && co.delegates(auth, &opts, u, ok, c.srv.userAccount(u)) {
			id, err := c.callout(co, &opts)
			if err != nil || id == nil || id.Account == nil {
				c.log().Info("Authorization Error: refused by the auth callout", zap.String("user", opts.User), zap.Error(err))
				return errAuthViolation
			}
			ident, user, acc, calledOut = id, id.User, id.Account, true
			break
		}
		if !ok {
			c.log().Info("Authorization Error", zap.String("user", opts.User), zap.String("nkey", opts.Nkey))
			return errAuthViolation
		}
		user = u
		if user != nil {
			if acc = c.srv.userAccount(user); acc == nil {
				c.log().Info("Authorization Error: the user's account does not exist", zap.String("user", user.Name()))
				return errAuthViolation
			}
		}
	}
	if cur := c.acc.Load(); acc != cur {
		c.Lock()
		nsubs := len(c.subs)
		c.Unlock()
		if nsubs > 0 {
			// Subscriptions made before CONNECT belong to the account
			// the client was in then: it may not move them.
			return errAuthViolation
		}
		if !c.setAccount(acc) {
			c.log().Info("Maximum account connections exceeded", zap.String("account", acc.Name))
			return &closeErr{wire.ErrMaxAccountConnections, conn.MaxAccountConnectionsExceeded}
		}
	}
	// The account's max_payload applies from the next op on, also in this
	// read.
	c.parser.MaxPayload = c.maxPayload(so)
	c.wsFramesFor(c.parser.MaxPayload)

	c.Lock()
	first := !c.flags.has(connectReceived)
	c.opts = opts
	c.headers = headers
	c.flags |= connectReceived
	c.authed.Store(true)
	if opts.Protocol >= 1 && !c.flags.has(firstPongSent) {
		c.flags |= infoAfterPong
	}
	c.setUser(user)
	if calledOut {
		c.flags |= calloutAdmitted
	}
	if ident != nil {
		c.extTag = ident.Tag
		c.armExpiry(ident.Expires)
	}
	c.StopAuthTimerLocked()
	var event *ConnStats
	sink := c.srv.eventSink()
	if first && sink != nil {
		event = c.statsLocked()
	}
	c.Unlock()
	if event != nil {
		sink.ClientConnected(event)
	}
	c.parser.Headers = headers
	if opts.Verbose {
		c.sendOK()
	}
	return nil
}

// requireAuth refuses any op but CONNECT before a client has authenticated.
func (c *client) requireAuth() error {
	if !c.authed.Load() {
		return errAuthViolation
	}
	return nil
}

// Info handles an INFO from a client: ignored, but it must be JSON.
func (c *client) Info(arg []byte) error {
	if err := c.requireAuth(); err != nil {
		return err
	}
	if !json.Valid(arg) {
		return errBadConnect
	}
	return nil
}

// Ping answers PONG; the first PONG after a protocol-1 CONNECT is followed
// by an INFO with connect_info (nats-server 2.12+).
func (c *client) Ping() error {
	c.trace("<<-", "PING", nil)
	if err := c.requireAuth(); err != nil {
		return err
	}
	var info []byte
	c.Lock()
	c.TouchLocked(time.Now())
	c.Queue().Write(wire.Pong)
	if c.flags.has(connectReceived) {
		c.flags |= firstPongSent
		if c.flags.has(infoAfterPong) {
			c.flags &^= infoAfterPong
			info = c.srv.clientInfo(c, true)
		}
	}
	c.Unlock()
	if info != nil {
		c.enqueue(info)
	}
	c.prod.mark(c)
	return nil
}

// Pong answers the server's keepalive PING.
func (c *client) Pong() error {
	c.trace("<<-", "PONG", nil)
	if err := c.requireAuth(); err != nil {
		return err
	}
	c.Conn.Pong()
	return nil
}

// OK: a client's +OK is ignored.
func (c *client) OK() error { return c.requireAuth() }

// Err: a client that sends -ERR is closed, silently.
func (c *client) Err([]byte) error { return errClientErr }

// Sub handles SUB subject [queue] sid. The checks run in nats-server's
// order: permissions, the subscription limit, a reused sid, the subject.
func (c *client) Sub(subj, queue, sid []byte) error {
	if c.srv.tracing.Load() {
		c.trace("<<-", "SUB", joinArgs(subj, queue, sid))
	}
	if err := c.requireAuth(); err != nil {
		return err
	}
	so := c.srv.getOpts()
	c.Lock()
	if c.IsClosedLocked() {
		c.Unlock()
		return nil
	}
	c.TouchLocked(time.Now())
	verbose := c.opts.Verbose
	if !c.canSubscribe(subj, queue) {
		c.Unlock()
		c.sendErr(subPermViolation(subj, queue))
		return nil
	}
	if ms := c.maxSubs(so); ms > 0 && len(c.subs) >= ms {
		c.Unlock()
		c.log().Info("Maximum subscriptions exceeded", zap.Int("max_subscriptions", ms))
		c.sendErr(wire.ErrMaxSubscriptions)
		return nil
	}
	if _, dup := c.subs[string(sid)]; dup {
		// A reused sid is ignored; the first subscription stays.
		c.Unlock()
		if verbose {
			c.sendOK()
		}
		return nil
	}
	acc := c.acc.Load()
	sub := &subscription{to: c, acc: acc, subject: string(subj), queue: string(queue), sid: bytes.Clone(sid)}
	if err := acc.sl.Insert(sub.subject, sub.queue, sub); err != nil {
		c.Unlock()
		c.sendErr(wire.ErrInvalidSubject)
		return nil
	}
	c.subs[string(sid)] = sub
	c.Unlock()
	acc.localInterestAdded(sub)
	if verbose {
		c.sendOK()
	}
	return nil
}

// Unsub handles UNSUB sid [max].
func (c *client) Unsub(sid []byte, maxMsgs int64) error {
	if c.srv.tracing.Load() {
		c.trace("<<-", "UNSUB", sid)
	}
	if err := c.requireAuth(); err != nil {
		return err
	}
	c.Lock()
	c.TouchLocked(time.Now())
	verbose := c.opts.Verbose
	sub := c.subs[string(sid)]
	remove := false
	if sub != nil {
		if maxMsgs > 0 && maxMsgs > sub.delivered {
			sub.max = maxMsgs
		} else {
			delete(c.subs, string(sid))
			remove = true
		}
	}
	c.Unlock()
	if remove {
		sub.acc.removeLocalSub(sub)
	}
	if verbose {
		c.sendOK()
	}
	return nil
}

// Reserved subject prefixes a client may not publish to (2.15's rules) and
// reply prefixes it may not use.
var (
	reservedPub   = [][]byte{[]byte("$NRG."), []byte("$GR."), []byte("_GR_.")}
	reservedReply = [][]byte{[]byte("_R_."), []byte("$JS.ACK."), []byte("_GR_.")}
)

func hasAnyPrefix(b []byte, prefixes [][]byte) bool {
	for _, p := range prefixes {
		if bytes.HasPrefix(b, p) {
			return true
		}
	}
	return false
}

// Pub handles a complete PUB or HPUB.
func (c *client) Pub(m *wire.Msg) error {
	if c.srv.tracing.Load() {
		op := "PUB"
		if m.HdrField != nil {
			op = "HPUB"
		}
		c.trace("<<-", op, joinArgs(m.Subject, m.Reply, m.HdrField, m.SizeField))
		c.trace("<<-", "MSG_PAYLOAD:", []byte(strconv.Quote(string(m.Data))))
	}
	if err := c.requireAuth(); err != nil {
		return err
	}
	c.CountIn(1, int64(len(m.Data)))
	acc := c.acc.Load()
	c.prod.setAccount(acc)
	c.prod.inMsgs++
	c.prod.inBytes += int64(len(m.Data))
	c.prod.accStats.inMsgs++
	c.prod.accStats.inBytes += int64(len(m.Data))

	c.prod.active = true
	verbose, pedantic := c.opts.Verbose, c.opts.Pedantic // only this goroutine writes opts
	c.Lock()
	allowed := c.perms == nil || c.canPublish(m.Subject)
	c.Unlock()

	var tr *msgTrace
	if m.HdrLen > 0 {
		tr = c.srv.startTrace(acc, m, c, false)
	}
	if pedantic && !subject.ValidLiteralBytes(m.Subject) {
		// Reported, and still delivered (recorded from nats-server).
		c.sendErr(wire.ErrInvalidPubSubject)
	}
	if !allowed || hasAnyPrefix(m.Subject, reservedPub) {
		c.refusePub(tr, pubPermViolation(m.Subject))
		return nil
	}
	if len(m.Reply) > 0 && hasAnyPrefix(m.Reply, reservedReply) {
		c.refusePub(tr, replyPermViolation(m.Reply))
		return nil
	}
	if verbose {
		c.sendOK()
	}
	if ms := acc.cfg.Load().mappings; ms != nil {
		if subj, ok := ms.apply(m.Subject); ok {
			m.Subject = subj
			if tr != nil {
				tr.mapped(subj)
			}
		}
	}
	if tr != nil {
		c.prod.trace = tr
		c.prod.publish(acc, c, m)
		c.prod.trace = nil
		tr.finish()
		return nil
	}
	c.prod.publish(acc, c, m)
	return nil
}

// refusePub answers a publish the client may not make; a traced one's
// event says why it went nowhere (as nats-server's does).
func (c *client) refusePub(tr *msgTrace, text string) {
	c.sendErr(text)
	if tr != nil {
		tr.ingressError(text)
		tr.finish()
	}
}

// joinArgs joins the non-empty arguments with spaces, for trace lines.
func joinArgs(args ...[]byte) []byte {
	var b []byte
	for _, a := range args {
		if len(a) == 0 {
			continue
		}
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, a...)
	}
	return b
}
