package server

import (
	"slices"
	"strings"

	"github.com/natsd/natsd/server/conn"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/wire"
)

// Changes is what a reload changed that the server acts on beyond using
// the new options. The caller's diff says so (daemon/diff.go); Apply does
// not compare options itself.
type Changes struct {
	// Auth: authorization or no_auth_user changed, and every client is
	// checked again.
	Auth bool
	// MaxConnections changed: the newest clients over it are closed.
	MaxConnections bool
	// Accounts: the accounts block changed: accounts are added, dropped
	// and reconfigured (limits, mappings, exports, imports), and every
	// client is checked again (its user may have moved).
	Accounts bool
}

// Apply switches the server to new options (a config reload). Limits take
// effect at once for every connection (max_payload and max_control_line at
// the next read, pings at the next tick, write_deadline and max_pending at
// the next write). With ch.Auth, clients that no longer pass authorization
// are closed with Authorization Violation, with their permissions otherwise
// updated; with ch.MaxConnections, the newest clients over the limit are
// closed with "maximum connections exceeded". Listener addresses are the
// caller's business (Serve a new listener, StopListener the old one).
func (s *Server) Apply(o Options, ch Changes) {
	o = o.WithDefaults()
	if o.ServerName == "" {
		o.ServerName = s.id
	}
	s.opts.Store(&o)
	s.setMapper(&o)
	s.setWebSocketPolicy(&o)
	if ch.Accounts {
		s.configureAccounts(o.Accounts)
	}
	if ch.Auth || ch.Accounts {
		s.reauthorize(&o)
	}
	if ch.MaxConnections {
		s.enforceMaxConnections(o.MaxConnections)
	}
}

func (s *Server) snapshotClients() []*client {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := make([]*client, 0, len(s.clients))
	for _, c := range s.clients {
		cs = append(cs, c)
	}
	slices.SortFunc(cs, func(a, b *client) int { return int(a.cid - b.cid) })
	return cs
}

// reauthorize checks every client's CONNECT credentials against the new
// authorization (a WebSocket client's: the websocket block's, see authOpts).
func (s *Server) reauthorize(o *Options) {
	for _, c := range s.snapshotClients() {
		a := c.authOpts(o)
		c.Lock()
		co := c.opts
		connected := c.flags.has(connectReceived)
		calledOut := c.flags.has(calloutAdmitted)
		c.Unlock()
		if !connected {
			// No CONNECT yet: the new rules decide what it may do until its
			// CONNECT, and with authorization now configured it gets the
			// auth timeout a new client gets.
			c.Lock()
			c.admitBeforeConnect(a)
			if a.Configured() {
				c.ArmAuthTimerLocked(a.Timeout, wire.ErrAuthTimeout, c.connected)
			}
			c.Unlock()
			if want := s.userAccount(a.noAuthUser()); want != c.account() {
				c.log().Info("The account of no_auth_user changed after reload; closing")
				c.SendErrAndClose(wire.ErrAuthorization, conn.AuthRevoked)
			}
			continue
		}
		if a.External != nil {
			// Operator mode: the authenticator admitted the client and
			// revokes it itself; the config file has no say.
			continue
		}
		if calledOut {
			if !s.keepCalledOut(c) {
				c.log().Info("The account the auth callout placed the client in is gone after reload; closing")
				c.SendErrAndClose(wire.ErrAuthorization, conn.AuthRevoked)
			}
			continue
		}
		var u *User
		if a.Configured() {
			var ok bool
			if u, ok = c.authenticate(a, &co); !ok {
				c.log().Info("Authorization no longer valid after reload; closing")
				c.SendErrAndClose(wire.ErrAuthorization, conn.AuthRevoked)
				continue
			}
		}
		if s.userAccount(u) != c.account() {
			// The user's account changed or was removed: a client does not
			// move between accounts (its subscriptions are in the old one).
			c.log().Info("The client's account changed after reload; closing")
			c.SendErrAndClose(wire.ErrAuthorization, conn.AuthRevoked)
			continue
		}
		c.Lock()
		c.setUser(u)
		c.Unlock()
		c.dropDeniedSubs()
	}
}

// dropDeniedSubs removes the subscriptions the client's permissions no
// longer allow (a reload tightened them) and tells the client of each, as
// nats-server does: -ERR 'Permissions Violation for Subscription to
// "<subject>" (sid "<sid>")'.
func (c *client) dropDeniedSubs() {
	c.Lock()
	var denied []*subscription
	for sid, sub := range c.subs {
		if !c.canSubscribe([]byte(sub.subject), []byte(sub.queue)) {
			denied = append(denied, sub)
			delete(c.subs, sid)
		}
	}
	c.Unlock()
	if len(denied) == 0 {
		return
	}
	slices.SortFunc(denied, func(a, b *subscription) int { return strings.Compare(string(a.sid), string(b.sid)) })
	for _, sub := range denied {
		sub.acc.removeLocalSub(sub)
		text := subPermViolation([]byte(sub.subject), []byte(sub.queue)) + ` (sid "` + string(sub.sid) + `")`
		c.log().Info("Subscription no longer permitted after reload; removed", zap.String("subject", sub.subject))
		c.trace("->>", "-ERR", []byte(text))
		c.SendErr(text)
	}
}

// enforceMaxConnections closes the newest clients beyond max.
func (s *Server) enforceMaxConnections(max int) {
	cs := s.snapshotClients()
	if max < 0 {
		max = 0
	}
	if len(cs) <= max {
		return
	}
	for _, c := range cs[max:] {
		c.log().Info("Maximum connections exceeded after reload; closing", zap.Int("max_connections", max))
		c.SendErrAndClose(wire.ErrMaxConnections, conn.MaxConnectionsExceeded)
	}
}
