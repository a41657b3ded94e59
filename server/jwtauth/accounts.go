package jwtauth

import (
	"slices"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
)

// maxImportChain bounds how far loading an account loads the accounts it
// imports from (which load theirs): a longer chain's far end is loaded
// when a client of it connects.
const maxImportChain = 8

// account returns the server account of the account public key pub,
// making it from its JWT the first time.
func (a *Auth) account(pub string) (*server.Account, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.loaded[pub]; ok {
		if acc := a.srv.LookupAccount(pub); acc != nil {
			return acc, nil
		}
	}
	if err := a.loadLocked(pub, 0); err != nil {
		return nil, err
	}
	a.applyLocked()
	return a.srv.LookupAccount(pub), nil
}

// claims returns the loaded claims of pub, or nil.
func (a *Auth) claims(pub string) *jwt.AccountClaims {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.loaded[pub]
}

// loadLocked fetches and verifies pub's JWT and, first, the accounts it
// imports from. Call with mu held; applyLocked then makes the accounts.
func (a *Auth) loadLocked(pub string, depth int) error {
	if _, ok := a.loaded[pub]; ok {
		return nil
	}
	tok, err := a.res.fetch(pub)
	if err != nil {
		return err
	}
	ac, err := a.verifyAccount(pub, tok)
	if err != nil {
		return err
	}
	a.loaded[pub] = ac
	if depth >= maxImportChain {
		return nil
	}
	for _, im := range ac.Imports {
		if im == nil || im.Account == pub {
			continue
		}
		if err := a.loadLocked(im.Account, depth+1); err != nil {
			a.log.Warn("Import from an account that cannot be loaded", zap.String("account", pub), zap.String("from", im.Account), zap.Error(err))
		}
	}
	return nil
}

// applyLocked gives the server every loaded account's configuration: an
// import's validity depends on its exporter's claims, so any change may
// change another account. Call with mu held.
func (a *Auth) applyLocked() {
	cfgs := make([]*server.AccountConfig, 0, len(a.loaded))
	for _, ac := range a.loaded {
		cfgs = append(cfgs, a.configFor(ac))
	}
	slices.SortFunc(cfgs, func(x, y *server.AccountConfig) int { return strings.Compare(x.Name, y.Name) })
	a.srv.UpdateAccounts(cfgs)
}

// configFor turns an account's claims into a server account configuration.
func (a *Auth) configFor(ac *jwt.AccountClaims) *server.AccountConfig {
	cfg := &server.AccountConfig{Name: ac.Subject, Limits: limitsOf(&ac.Limits)}
	if tr := ac.Trace; tr != nil && tr.Destination != "" {
		// The claims' msg_trace: where messages with a sampled
		// traceparent are traced (jwt validated dest and sampling).
		cfg.MsgTrace = &server.MsgTraceConfig{Dest: string(tr.Destination), Sampling: tr.Sampling}
	}
	for _, e := range ac.Exports {
		if e == nil {
			continue
		}
		x := &server.Export{Service: e.IsService(), Subject: string(e.Subject), ResponseThreshold: e.ResponseThreshold, AllowTrace: e.AllowTrace}
		switch e.ResponseType {
		case jwt.ResponseTypeStream:
			x.ResponseType = server.ResponseStream
		case jwt.ResponseTypeChunked:
			x.ResponseType = server.ResponseChunked
		default:
			x.ResponseType = server.ResponseSingle
		}
		cfg.Exports = append(cfg.Exports, x)
	}
	for _, im := range ac.Imports {
		if im == nil {
			continue
		}
		exp := a.loaded[im.Account]
		if exp == nil {
			continue // logged when it failed to load
		}
		si, why := importOf(ac.Subject, im, exp)
		if si == nil {
			a.log.Warn("Import not authorized; left out", zap.String("account", ac.Subject), zap.String("from", im.Account),
				zap.String("subject", string(im.Subject)), zap.String("why", why))
			continue
		}
		cfg.Imports = append(cfg.Imports, si)
	}
	for src, dests := range ac.Mappings {
		m := &server.Mapping{Source: string(src)}
		for _, d := range dests {
			m.Dests = append(m.Dests, server.MapDest{Subject: string(d.Subject), Weight: int(d.GetWeight())})
		}
		if err := server.CheckMapping(m); err != nil {
			a.log.Warn("Mapping left out", zap.String("account", ac.Subject), zap.String("source", string(src)), zap.Error(err))
			continue
		}
		cfg.Mappings = append(cfg.Mappings, m)
	}
	slices.SortFunc(cfg.Mappings, func(x, y *server.Mapping) int { return strings.Compare(x.Source, y.Source) })
	return cfg
}

// limitsOf maps an account's limits (-1: none) to the server's (0: none).
func limitsOf(l *jwt.OperatorLimits) server.AccountLimits {
	n := func(v int64) int {
		if v <= 0 || v > 1<<31-1 {
			return 0
		}
		return int(v)
	}
	return server.AccountLimits{MaxConnections: n(l.Conn), MaxSubscriptions: n(l.Subs), MaxPayload: n(l.Payload)}
}

// importOf is the server import of im, in account importer, if exp
// exports it to importer; otherwise nil and why not.
func importOf(importer string, im *jwt.Import, exp *jwt.AccountClaims) (*server.Import, string) {
	// An import's subject is the exporter's for a stream, the importer's
	// for a service; to (deprecated) and local_subject say where it lands.
	si := &server.Import{Service: im.IsService(), Account: im.Account, AllowTrace: im.AllowTrace}
	expSubject := string(im.Subject)
	if im.IsService() {
		switch {
		case im.LocalSubject != "":
			si.Subject, si.To = expSubject, string(im.LocalSubject.ToSubject())
		case im.GetTo() != "":
			expSubject = im.GetTo()
			si.Subject, si.To = expSubject, string(im.Subject)
		default:
			si.Subject = expSubject
		}
	} else {
		si.Subject = expSubject
		switch {
		case im.LocalSubject != "":
			si.To = string(im.LocalSubject.ToSubject())
		case im.GetTo() != "":
			si.Prefix = im.GetTo() // a stream import's to is a prefix (JWT v1 compatible)
		}
	}
	for _, e := range exp.Exports {
		if e == nil || e.IsService() != im.IsService() || !jwt.Subject(expSubject).IsContainedIn(e.Subject) {
			continue
		}
		if e.Revocations != nil && e.Revocations.IsRevoked(importer, time.Now()) {
			return nil, "the export revoked the importer"
		}
		if e.TokenReq && !activationValid(importer, expSubject, im, exp) {
			return nil, "the export needs an activation token, and the import's is missing or not valid"
		}
		return si, ""
	}
	return nil, "the account exports no such subject"
}

// activationValid checks a private export's activation token: issued by
// the exporter (or one of its signing keys) to importer, for a subject
// that covers what is imported, and in force.
func activationValid(importer, subject string, im *jwt.Import, exp *jwt.AccountClaims) bool {
	if im.Token == "" {
		return false
	}
	act, err := jwt.DecodeActivationClaims(im.Token)
	if err != nil || act.Subject != importer {
		return false
	}
	if act.Issuer != exp.Subject && !(act.IssuerAccount == exp.Subject && exp.SigningKeys.Contains(act.Issuer)) {
		return false
	}
	vr := jwt.CreateValidationResults()
	act.Validate(vr)
	if vr.IsBlocking(true) {
		return false
	}
	return jwt.Subject(subject).IsContainedIn(act.ImportSubject)
}
