package authcallout

import (
	"crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nkeys"
	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
)

// Options is the auth_callout block as the config file sets it.
type Options struct {
	// Issuer is the account public key that signs the service's
	// responses and the user JWTs in them.
	Issuer string
	// Account is the service's account ("": the global account).
	Account string
	// AuthUsers log in without the callout (the service's own users).
	AuthUsers []string
	// XKey, when set, is the service's curve public key: requests are
	// sealed for it.
	XKey string
	// AllowedAccounts limits the callout (see server.Callout).
	AllowedAccounts []string
}

// Server is what the callout needs of the server: *server.Server.
type Server interface {
	LookupAccount(name string) *server.Account
	ID() string
	Name() string
	ClusterName() string
	Options() *server.Options
	// NKey signs the requests; XKey seals them.
	NKey() nkeys.KeyPair
	XKey() nkeys.KeyPair
}

// Callout is a running auth callout. It implements server.Authenticator.
type Callout struct {
	opts Options
	log  *zap.Logger
	// inbox is the prefix of the reply subjects, "$SYS._INBOX.<random>.",
	// random so that two servers' (or two callouts') never meet.
	inbox string

	srv Server

	// mu guards the fields below; it is a leaf: taken by a waiting
	// client's reader and by the response handler, nothing under it.
	mu      sync.Mutex
	acc     *server.Account // the account the inbox is subscribed in
	sub     *server.Subscription
	pending map[string]chan []byte // by reply subject
	stopped bool
}

// New makes the callout; Start makes it serve.
func New(o Options, log *zap.Logger) *Callout {
	if log == nil {
		log = zap.NewNop()
	}
	return &Callout{opts: o, log: log, inbox: "$SYS._INBOX." + randomToken() + ".", pending: map[string]chan []byte{}}
}

// ServerCallout is what the server is given (AuthOptions.Callout).
func (c *Callout) ServerCallout() *server.Callout {
	return &server.Callout{Account: c.opts.Account, AuthUsers: c.opts.AuthUsers, AllowedAccounts: c.opts.AllowedAccounts, Authorizer: c}
}

// Start makes the callout serve in srv: it subscribes its reply inbox in
// the service's account. An account that does not exist is not fatal
// (nats-server starts, recorded): every client the callout handles is
// refused until a reload makes it.
func (c *Callout) Start(srv Server) {
	c.mu.Lock()
	c.srv = srv
	c.mu.Unlock()
	if _, err := c.account(); err != nil {
		c.log.Error("Authorization callout account not valid; its clients are refused", zap.String("account", c.accountName()), zap.Error(err))
	}
}

// Stop unsubscribes the inbox; clients still waiting time out.
func (c *Callout) Stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stopped = true
	if c.sub != nil {
		c.sub.Unsubscribe()
		c.sub, c.acc = nil, nil
	}
}

func (c *Callout) accountName() string {
	if c.opts.Account == "" {
		return server.GlobalAccountName
	}
	return c.opts.Account
}

var errStopped = errors.New("auth callout stopped")

// account returns the service's account with the reply inbox subscribed
// in it. A reload may have made the account since (or dropped and made it
// anew): the inbox follows the account the server has now.
func (c *Callout) account() (*server.Account, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped || c.srv == nil {
		return nil, errStopped
	}
	acc := c.srv.LookupAccount(c.accountName())
	if acc == nil {
		return nil, fmt.Errorf("no valid account %q for auth callout request: account missing", c.accountName())
	}
	if acc == c.acc {
		return acc, nil
	}
	if c.sub != nil {
		c.sub.Unsubscribe()
	}
	sub, err := acc.Subscribe(c.inbox+"*", "", c.response)
	if err != nil {
		return nil, fmt.Errorf("cannot subscribe the auth callout's inbox: %v", err)
	}
	c.acc, c.sub = acc, sub
	return acc, nil
}

// response hands a reply to the client waiting for it. It runs on the
// publisher's goroutine (the service's reader): it copies and never waits.
// A reply nobody waits for (late, or a second one) is dropped.
func (c *Callout) response(m server.Msg) {
	c.mu.Lock()
	ch := c.pending[string(m.Subject)]
	delete(c.pending, string(m.Subject))
	c.mu.Unlock()
	if ch != nil {
		ch <- append([]byte(nil), m.Data...) // buffered, one reply per request
	}
}

// Authenticate asks the service about one client and waits for its
// answer: at most the auth timeout, or until the server shuts down.
func (c *Callout) Authenticate(cr *server.Credentials) (*server.Identity, error) {
	acc, err := c.account()
	if err != nil {
		return nil, err
	}
	timeout := c.srv.Options().Auth.Timeout
	ukp, err := nkeys.CreateUser()
	if err != nil {
		return nil, err
	}
	userPub, _ := ukp.PublicKey()
	hdr, req, err := c.request(cr, userPub, timeout)
	if err != nil {
		return nil, err
	}
	reply := c.inbox + randomToken()
	ch := make(chan []byte, 1)
	c.mu.Lock()
	c.pending[reply] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, reply)
		c.mu.Unlock()
	}()
	if err := acc.Publish(server.CalloutSubject, reply, hdr, req); err != nil {
		return nil, fmt.Errorf("error sending authorization request: %v", err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case msg := <-ch:
		return c.admit(msg, userPub, cr)
	case <-t.C:
		return nil, fmt.Errorf("authorization callout response not received in time on account %q", acc.Name)
	case <-cr.Abort:
		return nil, errors.New("server shutting down")
	}
}

// randomToken is 20 random base32 characters, for inboxes.
func randomToken() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}
