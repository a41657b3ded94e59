package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/natsd/natsd/confparse"
	"github.com/natsd/natsd/server/jwtauth"
)

// Operator mode (package jwtauth), as nats-server reads it:
//
//	operator: /path/op.jwt            # or the JWT inline, or a list of them
//	system_account: ADMIN_ACCOUNT_KEY  # else the operator's
//	resolver: MEMORY
//	resolver_preload: { ACCOUNT_KEY: "eyJ…" }
//	# or
//	resolver: { type: full, dir: "./jwt", allow_delete: false, interval: "2m", limit: 1000 }
//	resolver: { type: cache, dir: "./jwt", ttl: "1h", limit: 1000 }
//
// Build checks everything it can (the JWTs decode, keys are the right
// kind, the resolver directory can be made and written), so that natsd -t
// says what natsd would refuse at start. The operator options cannot change
// on a reload: natsd says so and applies nothing.

// operatorKey reads one of the operator-mode keys.
func (b *builder) operatorKey(key string, e *confparse.Entry, o *Options) {
	if o.Operator == nil {
		o.Operator = &jwtauth.Options{}
	}
	op := o.Operator
	switch key {
	case "operator", "operators", "root", "roots", "root_operators", "root_operator":
		b.pos["operator"] = e.KeyPos
		for _, n := range stringNodes(e.Value) {
			if tok, err := readOperator(n.Str); err != nil {
				b.errorf(n.Pos, "operator", "%v", err)
			} else if _, err := jwtauth.DecodeOperator(tok); err != nil {
				b.errorf(n.Pos, "operator", "not a valid operator JWT: %v", err)
			} else {
				op.Operators = append(op.Operators, tok)
			}
		}
		if e.Value.Kind != confparse.String && e.Value.Kind != confparse.Array {
			b.wrongType(e, "operator", "an operator JWT file or JWT, or a list of them")
		}
	case "system_account", "system":
		// Both modes: an account name with accounts {}, an account public
		// key with an operator (validateOperator says which it is).
		if s, ok := b.str(e, "system_account"); ok {
			op.SystemAccount = s
			o.Server.SystemAccount = s
		}
	case "resolver", "account_resolver", "accounts_resolver":
		b.pos["resolver"] = e.KeyPos
		b.resolver(e, &op.Resolver)
	case "resolver_preload":
		n, ok := b.block(e, key)
		if !ok {
			return
		}
		op.Preload = map[string]string{}
		for _, pe := range n.Entries {
			p := key + "." + pe.Key
			tok, ok := b.str(pe, p)
			if !ok {
				continue
			}
			b.pos[p] = pe.Value.Pos
			if !nkeys.IsValidPublicAccountKey(pe.Key) {
				b.errorf(pe.KeyPos, p, "%q is not an account public key", pe.Key)
				continue
			}
			ac, err := jwt.DecodeAccountClaims(tok)
			switch {
			case err != nil:
				b.errorf(pe.Value.Pos, p, "invalid account JWT: %v", err)
				continue
			case ac.Subject != pe.Key:
				b.errorf(pe.Value.Pos, p, "the JWT is account %s's", ac.Subject)
				continue
			}
			op.Preload[pe.Key] = tok
		}
	}
}

// readOperator returns an operator JWT given inline or in a file (nsc
// writes it bare or between ----- lines; both are read).
func readOperator(s string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2 {
		return s, nil
	}
	b, err := os.ReadFile(s)
	if err != nil {
		return "", fmt.Errorf("cannot read the operator JWT: %v", err)
	}
	tok, err := jwt.ParseDecoratedJWT(b)
	if err != nil {
		return "", fmt.Errorf("no operator JWT in %s: %v", s, err)
	}
	return tok, nil
}

// resolver: MEMORY | URL(…) | { type, dir, allow_delete, interval, limit, ttl, timeout }
func (b *builder) resolver(e *confparse.Entry, r *jwtauth.ResolverOptions) {
	switch e.Value.Kind {
	case confparse.String:
		switch v := strings.TrimSpace(e.Value.Str); {
		case strings.EqualFold(v, "MEMORY") || strings.EqualFold(v, "MEM"):
			r.Type = jwtauth.ResolverMemory
		case strings.HasPrefix(strings.ToUpper(v), "URL("):
			b.errorf(e.Value.Pos, "resolver", "natsd does not serve URL resolvers; use resolver { type: full, dir: … }")
		default:
			b.errorf(e.Value.Pos, "resolver", "unknown resolver %q: MEMORY, or { type: full|cache, dir: … }", v)
		}
		return
	case confparse.Map:
	default:
		b.wrongType(e, "resolver", "MEMORY or a block { type, dir, … }")
		return
	}
	var dirAt confparse.Pos
	allowDeleteAt := confparse.Pos{}
	for _, re := range e.Value.Entries {
		key := strings.ToLower(re.Key)
		p := "resolver." + key
		switch key {
		case "type":
			if s, ok := b.str(re, p); ok {
				switch strings.ToLower(s) {
				case "full":
					r.Type = jwtauth.ResolverFull
				case "cache":
					r.Type = jwtauth.ResolverCache
				default:
					b.errorf(re.Value.Pos, p, "unknown resolver type %q: full or cache", s)
				}
			}
		case "dir":
			r.Dir, _ = b.str(re, p)
			dirAt = re.Value.Pos
		case "allow_delete":
			r.AllowDelete, _ = b.boolean(re, p)
			allowDeleteAt = re.KeyPos
		case "interval":
			r.Interval, _ = b.duration(re, p)
		case "ttl":
			r.TTL, _ = b.duration(re, p)
		case "timeout":
			r.Timeout, _ = b.duration(re, p)
		case "limit":
			v, _ := b.integer(re, p, 1, 1<<31-1)
			r.Limit = int(v)
		default:
			b.unknown(re, p)
		}
	}
	switch {
	case r.Type == "":
		b.errorf(e.Value.Pos, "resolver", "a resolver block needs a type: full or cache")
	case r.Dir == "":
		b.errorf(e.Value.Pos, "resolver", "a %s resolver needs a dir", r.Type)
	case r.Type == jwtauth.ResolverCache && r.AllowDelete:
		// nats-server refuses it the same way (recorded).
		b.errorf(allowDeleteAt, "resolver.allow_delete", "a cache resolver does not accept allow_delete")
	default:
		// As nats-server, the directory is made when the config is read
		// (natsd -t too); then it must take files.
		if err := writableDir(r.Dir); err != nil {
			b.errorf(dirAt, "resolver.dir", "%v", err)
		}
	}
}

// writableDir makes dir if needed and checks that files can be made in it.
func writableDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("cannot make the resolver directory: %v", err)
	}
	f, err := os.CreateTemp(dir, ".natsd-probe-*")
	if err != nil {
		return fmt.Errorf("the resolver directory %s is not writable: %v", filepath.Clean(dir), errors.Unwrap(err))
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// validateOperator checks operator mode as a whole: an operator with a
// resolver, no users or accounts of the config's own (nats-server refuses
// to start with them, recorded), and what jwtauth checks (the system
// account, the preloaded accounts signed by the operator).
func (b *builder) validateOperator(o *Options) {
	op := o.Operator
	if op == nil {
		return
	}
	at := b.at("operator")
	if len(op.Operators) == 0 {
		if _, written := b.pos["operator"]; !written {
			// resolver or system_account without an operator: a
			// system_account names an account of the accounts block.
			if op.Resolver.Type != "" || len(op.Preload) > 0 {
				b.warnf(b.at("resolver"), "resolver", "ignored without an operator")
			}
			o.Operator = nil
		}
		return // the operator's own error was reported
	}
	a := &o.Server.Auth
	if a.Username != "" || a.Token != "" || len(a.Users) > 0 {
		b.errorf(at, "operator", "operators do not allow users to be configured directly")
	}
	for _, acc := range o.Server.Accounts {
		if acc.Name != "$G" {
			b.errorf(at, "operator", "operators do not allow accounts to be configured directly")
			break
		}
	}
	if op.Resolver.Type == "" {
		if _, written := b.pos["resolver"]; !written {
			b.errorf(at, "operator", "operator mode needs a resolver: resolver: MEMORY, or resolver { type: full|cache, dir: … }")
		}
		return
	}
	if op.SystemAccount != "" && !nkeys.IsValidPublicAccountKey(op.SystemAccount) {
		b.errorf(b.at("system_account"), "system_account", "%q is not an account public key", op.SystemAccount)
		return
	}
	ja, err := jwtauth.New(*op, nil)
	if err == nil && ja.SystemAccount() != "" {
		// The operator JWT may name the system account when the config
		// does not.
		o.Server.SystemAccount = ja.SystemAccount()
	}
	if err != nil {
		where, path := at, "operator"
		for pub := range op.Preload {
			if strings.Contains(err.Error(), pub) {
				where, path = b.at("resolver_preload."+pub), "resolver_preload."+pub
			}
		}
		if strings.Contains(err.Error(), "system_account") {
			where, path = b.at("system_account"), "system_account"
		}
		b.errorf(where, path, "%v", err)
	}
}

// operatorSummary is operator mode as the diff compares it.
func operatorSummary(op *jwtauth.Options) string {
	if op == nil {
		return "off"
	}
	return fmt.Sprintf("operators %d, system account %s, resolver %+v, preloaded %d", len(op.Operators), op.SystemAccount, op.Resolver, len(op.Preload))
}

// errOperatorReload is a reload that changes operator mode: natsd serves
// the operator it started with, as nats-server does.
var errOperatorReload = errors.New("operator, system_account, resolver and resolver_preload cannot change on a reload; restart natsd")

// carryOperator hands the running authenticator to the next options, or
// refuses a reload that changes operator mode.
func carryOperator(cur, next *Options) error {
	if operatorSummary(cur.Operator) != operatorSummary(next.Operator) || !sameOperator(cur.Operator, next.Operator) {
		return errOperatorReload
	}
	next.Server.Auth.External = cur.Server.Auth.External
	return nil
}

func sameOperator(a, b *jwtauth.Options) bool {
	if a == nil || b == nil {
		return a == b
	}
	if strings.Join(a.Operators, ",") != strings.Join(b.Operators, ",") {
		return false
	}
	for k, v := range a.Preload {
		if b.Preload[k] != v {
			return false
		}
	}
	return true
}

// newOperatorAuth makes operator mode for o (nil when off) and hands it to
// the server's options; startOperator starts it once the server exists.
func newOperatorAuth(o *Options, d *logger) (*jwtauth.Auth, error) {
	if o.Operator == nil {
		return nil, nil
	}
	ja, err := jwtauth.New(*o.Operator, d.Logger)
	if err != nil {
		return nil, err
	}
	o.Server.Auth.External = ja
	return ja, nil
}
