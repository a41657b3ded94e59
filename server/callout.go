package server

import (
	"errors"
	"net"
	"slices"
)

// The auth callout's side in the server (authorization { auth_callout }):
// which clients are handed to it, and how a client it admitted is kept.
// The exchange with the service — the request JWT, the checks of the
// response — is package authcallout's, behind Callout.Authorizer. Nothing
// here runs on the message path: only at CONNECT and on a reload.

// CalloutSubject is where the server asks the auth callout's service, in
// the service's account.
const CalloutSubject = "$SYS.REQ.USER.AUTH"

// Callout is auth_callout as the server applies it. Which clients it
// handles, as nats-server v2.15.2 decides (recorded): every client, with
// or without credentials, that the authorization options would admit or
// refuse, except
//
//   - a client naming one of AuthUsers: the options alone decide, a wrong
//     password is refused without asking the service;
//   - when AllowedAccounts lists accounts, a client the options admit into
//     an account other than the global one that is not listed.
type Callout struct {
	// Account is the service's account ("": the global account): the
	// server publishes its requests there.
	Account string
	// AuthUsers name (by user name or nkey) the users that log in as the
	// options say, without the callout: the service's own.
	AuthUsers []string
	// AllowedAccounts, when not empty, limits the callout as above.
	AllowedAccounts []string
	// Authorizer asks the service (package authcallout). Unlike operator
	// mode's authenticator it waits for the network: at most the auth
	// timeout, on the reader of the client it decides, so no one else waits.
	Authorizer Authenticator
}

// AccountName is the service's account.
func (co *Callout) AccountName() string {
	if co.Account == "" {
		return GlobalAccountName
	}
	return co.Account
}

// delegates reports whether the client whose CONNECT is o goes to the
// callout, given what the authorization options made of it: u is the user
// it named (found whatever its password), ok whether the options admit it,
// acc the account they would bind it to.
func (co *Callout) delegates(a *AuthOptions, o *connectOpts, u *User, ok bool, acc *Account) bool {
	name := ""
	switch {
	case u != nil:
		name = u.Name()
	case a.Username != "" && o.User == a.Username:
		name = a.Username
	}
	if name != "" && slices.Contains(co.AuthUsers, name) {
		return false
	}
	if ok && acc != nil && acc.Name != GlobalAccountName && len(co.AllowedAccounts) > 0 &&
		!slices.Contains(co.AllowedAccounts, acc.Name) {
		return false
	}
	return true
}

// errCalloutNotReady is a callout asked before the daemon started it.
var errCalloutNotReady = errors.New("auth callout: not started")

// callout hands the client's CONNECT to the auth callout and returns its
// verdict. The client's auth timer stops first: the callout has the auth
// timeout from the CONNECT on, as in nats-server (recorded: a client that
// sends CONNECT late still gets the whole timeout, and is refused with
// Authorization Violation, not Authentication Timeout).
func (c *client) callout(co *Callout, o *connectOpts) (*Identity, error) {
	c.Lock()
	c.StopAuthTimerLocked()
	c.Unlock()
	if co.Authorizer == nil {
		return nil, errCalloutNotReady
	}
	return co.Authorizer.Authenticate(c.credentials(o))
}

// credentials are what an authenticator is shown of a CONNECT.
func (c *client) credentials(o *connectOpts) *Credentials {
	cr := &Credentials{JWT: o.JWT, Sig: o.Sig, Nkey: o.Nkey, User: o.User, Pass: o.Pass, Token: o.Token,
		Nonce: c.nonce, ConnectionType: c.connType(),
		ClientID: c.cid, Host: c.Host(), Name: o.Name, Lang: o.Lang, Version: o.Version, Protocol: o.Protocol,
		Abort: c.srv.quit}
	cr.ClientIP = net.ParseIP(c.Host())
	if c.sock != nil {
		if tc := c.sock.tc.Load(); tc != nil {
			st := tc.ConnectionState()
			cr.TLS = &st
		}
	}
	if c.ws != nil && c.ws.tls != nil { // wss: the TLS is below the WebSocket framing
		st := c.ws.tls.ConnectionState()
		cr.TLS = &st
	}
	return cr
}

// keepCalledOut decides, on a reload that changed authorization or
// accounts, about a client the callout admitted: the service admitted it,
// not the file, so it stays while its account exists. (nats-server v2.15.2
// closes every called-out client on such a reload, recorded; its accounts
// are made anew then, natsd's are not.)
func (s *Server) keepCalledOut(c *client) bool {
	acc := c.account()
	return s.LookupAccount(acc.Name) == acc
}
