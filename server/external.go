package server

import (
	"crypto/tls"
	"net"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/conn"
	"github.com/natsd/natsd/server/wire"
)

// The seam for authentication that lives outside the server: operator
// mode's user JWTs (package jwtauth). The server hands an Authenticator a
// client's CONNECT credentials and its nonce, and gets back the account and
// the user to bind the client to; the authenticator adds and updates the
// accounts it knows through UpdateAccounts, and ends the connections of
// users it revokes through Account.RevokeClients. Nothing here runs on the
// message path.

// Authenticator authenticates clients the authorization options do not
// know: operator mode's (AuthOptions.External, which alone decides every
// CONNECT) and the auth callout's (AuthOptions.Callout).
type Authenticator interface {
	// Authenticate checks one CONNECT. It runs on the client's reader, so
	// only that client waits for it: operator mode's may read a file (a
	// resolver) and does not wait on the network; the auth callout's waits
	// for its service, at most the auth timeout, and gives up when
	// Credentials.Abort closes. An error refuses the client with
	// -ERR 'Authorization Violation' (what nats-server sends for every such
	// refusal, recorded); its text is logged.
	Authenticate(cr *Credentials) (*Identity, error)
}

// Credentials are what a client sent in CONNECT and what the server knows
// of the connection.
type Credentials struct {
	JWT, Sig, Nkey    string
	User, Pass, Token string
	// Nonce is what the client's INFO asked it to sign.
	Nonce []byte
	// ClientIP is the peer's address (nil if unknown).
	ClientIP net.IP
	// ConnectionType is how the client connected: ConnTypeStandard (plain
	// or TLS NATS protocol) or ConnTypeWebSocket.
	ConnectionType string

	// What else the auth callout's request tells its service: the
	// client's id and address, and the rest of its CONNECT.
	ClientID            uint64
	Host                string
	Name, Lang, Version string
	Protocol            int
	// TLS is the connection's TLS state (nil: not TLS).
	TLS *tls.ConnectionState
	// Abort closes when the server shuts down: an authenticator that
	// waits stops waiting.
	Abort <-chan struct{}
}

// Connection types, as user JWTs name them (allowed_connection_types).
const (
	ConnTypeStandard  = "STANDARD"
	ConnTypeWebSocket = "WEBSOCKET"
)

// Identity is who an Authenticator says a client is.
type Identity struct {
	Account *Account
	// User is the client's user: its name (for a JWT, the user's public
	// key) and permissions (nil: none).
	User *User
	// Expires, when not zero, is when the credentials expire: the server
	// closes the connection then with -ERR 'User Authentication Expired'.
	Expires time.Time
	// Tag is the authenticator's own; RevokeClients shows it again.
	Tag any
}

// errUserExpired is nats-server's text when a user JWT expires on a live
// connection (recorded).
const errUserExpired = "User Authentication Expired"

// errAuthRevoked is nats-server's text for a connection whose user was
// revoked (recorded: nats.go matches "user authentication revoked" and
// reports "nats: authentication revoked").
const errAuthRevoked = "User Authentication Revoked"

// armExpiry closes the client when its credentials expire. Call with the
// lock held.
func (c *client) armExpiry(at time.Time) {
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
	if at.IsZero() {
		return
	}
	c.expiry = time.AfterFunc(time.Until(at), func() {
		c.log().Info("User JWT expired; closing")
		c.SendErrAndClose(errUserExpired, conn.AuthExpired)
	})
}

// clientsOf lists the open clients bound to a, oldest first.
func (s *Server) clientsOf(a *Account) []*client {
	var out []*client
	for _, c := range s.snapshotClients() {
		if c.account() == a {
			out = append(out, c)
		}
	}
	return out
}

// RevokeClients closes, with -ERR 'User Authentication Revoked', the clients of
// the account whose Identity.Tag match reports revoked.
func (a *Account) RevokeClients(match func(tag any) bool) {
	for _, c := range a.srv.clientsOf(a) {
		c.Lock()
		tag := c.extTag
		c.Unlock()
		if tag != nil && match(tag) {
			c.log().Info("User revoked; closing")
			c.SendErrAndClose(errAuthRevoked, conn.AuthRevoked)
		}
	}
}

// enforceMaxConnections closes the newest clients of the account beyond a
// lowered max_connections, as nats-server does when an account JWT update
// lowers it (recorded).
func (a *Account) enforceMaxConnections() {
	max := a.limits().MaxConnections
	if max <= 0 || a.NumClients() <= max {
		return
	}
	cs := a.srv.clientsOf(a)
	for i := max; i < len(cs); i++ {
		cs[i].log().Info("Maximum account connections exceeded after an update; closing", zap.String("account", a.Name))
		cs[i].SendErrAndClose(wire.ErrMaxAccountConnections, conn.MaxAccountConnectionsExceeded)
	}
}
