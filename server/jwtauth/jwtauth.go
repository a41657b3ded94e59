package jwtauth

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
)

// Options is operator mode as the config file sets it.
type Options struct {
	// Operators are the operator JWTs (the config's operator: files read,
	// or inline).
	Operators []string
	// SystemAccount is the system account's public key ("": the
	// operator's).
	SystemAccount string
	Resolver      ResolverOptions
	// Preload maps account public keys to account JWTs (resolver_preload).
	Preload map[string]string
}

// Resolver types.
const (
	ResolverMemory = "MEMORY"
	ResolverFull   = "full"
	ResolverCache  = "cache"
)

// ResolverOptions is the resolver: MEMORY, or a directory of account JWTs.
type ResolverOptions struct {
	Type string // ResolverMemory, ResolverFull or ResolverCache
	Dir  string
	// AllowDelete (full) is accepted as nats-server reads it; natsd does
	// not serve $SYS.REQ.CLAIMS.DELETE yet.
	AllowDelete bool
	// Interval (full) is how often nats-server syncs its directory with
	// the cluster's; natsd does not sync yet.
	Interval time.Duration
	// Limit is the most account JWTs the directory holds (0: 1000 for
	// full, 1000 for cache, nats-server's defaults).
	Limit int
	// TTL (cache) is how long nats-server keeps a fetched JWT.
	TTL time.Duration
	// Timeout is how long nats-server waits for a lookup elsewhere.
	Timeout time.Duration
}

// DefaultResolverLimit is the directory resolvers' default limit.
const DefaultResolverLimit = 1000

// Server is what operator mode needs of the server: *server.Server.
type Server interface {
	UpdateAccounts(cfgs []*server.AccountConfig)
	LookupAccount(name string) *server.Account
	ID() string
	Name() string
	Options() *server.Options
}

// Auth is operator mode: the trusted keys, the resolver, the accounts it
// made. It implements server.Authenticator.
type Auth struct {
	opts      Options
	log       *zap.Logger
	operators []*jwt.OperatorClaims
	trusted   map[string]bool // operator keys and their signing keys
	sysAcc    string
	res       resolver

	srv Server

	// mu serializes loading and updating accounts, so that updates apply
	// in the order they came. It is taken before any lock of the server.
	mu     sync.Mutex
	loaded map[string]*jwt.AccountClaims // accounts made in the server

	sys *sysService // the claims-update service, once started
}

// DecodeOperator decodes and checks an operator JWT (the daemon checks the
// config with it).
func DecodeOperator(token string) (*jwt.OperatorClaims, error) {
	oc, err := jwt.DecodeOperatorClaims(token)
	if err != nil {
		return nil, err
	}
	vr := jwt.CreateValidationResults()
	oc.Validate(vr)
	if vr.IsBlocking(true) {
		return nil, fmt.Errorf("operator JWT not valid: %v", errors.Join(vr.Errors()...))
	}
	return oc, nil
}

// New checks o and makes operator mode; Start makes it serve.
func New(o Options, log *zap.Logger) (*Auth, error) {
	if log == nil {
		log = zap.NewNop()
	}
	a := &Auth{opts: o, log: log, trusted: map[string]bool{}, loaded: map[string]*jwt.AccountClaims{}}
	if len(o.Operators) == 0 {
		return nil, errors.New("operator mode needs an operator JWT")
	}
	for _, tok := range o.Operators {
		oc, err := DecodeOperator(tok)
		if err != nil {
			return nil, err
		}
		a.operators = append(a.operators, oc)
		a.trusted[oc.Subject] = true
		for _, k := range oc.SigningKeys {
			a.trusted[k] = true
		}
		if oc.SystemAccount != "" {
			switch {
			case a.sysAcc == "":
				a.sysAcc = oc.SystemAccount
			case a.sysAcc != oc.SystemAccount:
				return nil, errors.New("the operators name different system accounts")
			}
		}
	}
	if o.SystemAccount != "" {
		if a.sysAcc != "" && a.sysAcc != o.SystemAccount {
			// nats-server refuses to start the same way (recorded).
			return nil, errors.New("system_account in config and operator JWT must be identical")
		}
		a.sysAcc = o.SystemAccount
	}
	if a.sysAcc != "" && !nkeys.IsValidPublicAccountKey(a.sysAcc) {
		return nil, fmt.Errorf("system account %q is not an account public key", a.sysAcc)
	}
	res, err := newResolver(o.Resolver)
	if err != nil {
		return nil, err
	}
	a.res = res
	for pub, tok := range o.Preload {
		if _, err := a.verifyAccount(pub, tok); err != nil {
			return nil, fmt.Errorf("resolver_preload %s: %v", pub, err)
		}
	}
	return a, nil
}

// SystemAccount is the system account's public key ("" when none).
func (a *Auth) SystemAccount() string { return a.sysAcc }

// Start opens the resolver, stores the preloaded accounts in it, makes the
// system account and serves account updates there. Call it once, before
// clients are served.
func (a *Auth) Start(srv Server) error {
	a.srv = srv
	if err := a.res.open(); err != nil {
		return err
	}
	for pub, tok := range a.opts.Preload {
		if err := a.res.preload(pub, tok); err != nil {
			return fmt.Errorf("resolver_preload %s: %v", pub, err)
		}
	}
	if a.sysAcc == "" {
		return nil
	}
	acc, err := a.account(a.sysAcc)
	if err != nil {
		// nats-server runs with a bare system account then: so does natsd,
		// until the account's JWT is pushed.
		a.log.Warn("The system account's JWT was not found; using an account with no claims", zap.String("account", a.sysAcc), zap.Error(err))
		a.mu.Lock()
		srv.UpdateAccounts([]*server.AccountConfig{{Name: a.sysAcc}})
		a.mu.Unlock()
		acc = srv.LookupAccount(a.sysAcc)
	}
	svc, err := startSysService(a, acc)
	if err != nil {
		return err
	}
	a.sys = svc
	return nil
}

// Stop ends the system account service and waits for it.
func (a *Auth) Stop() {
	if a.sys != nil {
		a.sys.stop()
	}
}

// verifyAccount decodes an account JWT and checks that it is pub's, signed
// by a trusted operator key, and in force.
func (a *Auth) verifyAccount(pub, token string) (*jwt.AccountClaims, error) {
	ac, err := jwt.DecodeAccountClaims(token)
	if err != nil {
		return nil, err
	}
	if pub != "" && ac.Subject != pub {
		return nil, errSubjectMismatch
	}
	if !a.trusted[ac.Issuer] {
		return nil, fmt.Errorf("account %s is signed by %s, which the operator does not trust", ac.Subject, ac.Issuer)
	}
	vr := jwt.CreateValidationResults()
	ac.Validate(vr)
	if vr.IsBlocking(true) {
		return nil, errAccountValidation
	}
	return ac, nil
}

var (
	errSubjectMismatch   = errors.New("subject does not match jwt content")
	errAccountValidation = errors.New("account validation failed")
	errAccountMissing    = errors.New("account missing")
)
