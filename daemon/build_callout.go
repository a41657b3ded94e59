package daemon

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/nats-io/nkeys"

	"github.com/natsd/natsd/confparse"
	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/authcallout"
)

// The auth callout, as nats-server reads it:
//
//	authorization {
//	  users: [ {user: auth, password: pwd} ]
//	  auth_callout {                 # or auth_hook
//	    issuer: A…                   # the account key that signs responses
//	    account: AUTH                # or acc; default $G
//	    auth_users: [ auth ]         # or users; required
//	    xkey: X…                     # or key; optional: encrypted requests
//	    allowed_accounts: [ APP ]    # optional
//	  }
//	}
//
// What nats-server v2.15.2 refuses to start with is an error here too, at
// the value at fault (recorded: an issuer that is not an account key, an
// xkey that is not a curve key, no issuer, no auth users, lists that are
// not arrays, an unknown field, allowed accounts not in accounts, a callout
// in cluster authorization or beside an operator). What it starts with and
// then refuses clients for (an account that does not exist) is a warning.
// A reload cannot change the block (nats-server refuses it the same way).

const calloutPath = "authorization.auth_callout"

// authCallout reads the auth_callout block.
func (b *builder) authCallout(e *confparse.Entry) *authcallout.Options {
	b.pos[calloutPath] = e.KeyPos
	n, ok := b.block(e, calloutPath)
	if !ok {
		return nil
	}
	co := &authcallout.Options{}
	good := true
	usersGiven := false
	for _, ce := range n.Entries {
		key := strings.ToLower(ce.Key)
		path := calloutPath + "." + key
		b.pos[path] = ce.KeyPos
		switch key {
		case "issuer":
			s, ok := b.str(ce, path)
			switch {
			case !ok:
				good = false
			case !nkeys.IsValidPublicAccountKey(s):
				b.errorf(ce.Value.Pos, path, "not a valid public account nkey: %q", s)
				good = false
			default:
				co.Issuer = s
			}
		case "account", "acc":
			co.Account, _ = b.str(ce, path)
		case "auth_users", "users":
			usersGiven = true
			l, ok := b.stringArray(ce, path)
			good = good && ok
			co.AuthUsers = l
			for i, it := range ce.Value.Items {
				b.pos[fmt.Sprintf("%s.auth_users[%d]", calloutPath, i)] = it.Pos // whichever key named the list
			}
			if ok && len(l) == 0 {
				b.errorf(ce.Value.Pos, path, "an auth callout needs its service's users (auth_users)")
				good = false
			}
		case "xkey", "key":
			s, ok := b.str(ce, path)
			switch {
			case !ok:
				good = false
			case !nkeys.IsValidPublicCurveKey(s):
				b.errorf(ce.Value.Pos, path, "not a valid public xkey (curve key): %q", s)
				good = false
			default:
				co.XKey = s
			}
		case "allowed_accounts":
			l, ok := b.stringArray(ce, path)
			good = good && ok
			co.AllowedAccounts = l
		default:
			if !ce.UsedAsVariable {
				// nats-server refuses an unknown field here, not only warns.
				b.errorf(ce.KeyPos, path, "unknown field %q", ce.Key)
				good = false
			}
		}
	}
	if co.Issuer == "" && good {
		b.errorf(e.KeyPos, calloutPath, "an auth callout needs an issuer (the account key that signs responses)")
		good = false
	}
	if !usersGiven {
		b.errorf(e.KeyPos, calloutPath, "an auth callout needs its service's users (auth_users)")
		good = false
	}
	if !good {
		return nil
	}
	return co
}

// stringArray reads an array of strings (one string is not an array, as
// nats-server reads these lists).
func (b *builder) stringArray(e *confparse.Entry, path string) ([]string, bool) {
	if e.Value.Kind != confparse.Array {
		b.wrongType(e, path, "an array of strings")
		return nil, false
	}
	out := make([]string, 0, len(e.Value.Items))
	ok := true
	for i, it := range e.Value.Items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		b.pos[ip] = it.Pos
		if it.Kind != confparse.String {
			b.errorf(it.Pos, ip, "expected a string, found %s", describe(it))
			ok = false
			continue
		}
		out = append(out, it.Str)
	}
	return out, ok
}

// validateCallout checks the callout against the rest of the config.
func (b *builder) validateCallout(o *Options) {
	co := o.Callout
	if co == nil {
		return
	}
	at := b.at(calloutPath)
	if o.Operator != nil {
		// nats-server's words (recorded): in operator mode the account
		// JWT names its callout.
		b.errorf(at, calloutPath, "operators do not allow authorization callouts to be configured directly")
		return
	}
	configured := map[string]bool{}
	for _, a := range o.Server.Accounts {
		configured[a.Name] = true
	}
	for i, name := range co.AllowedAccounts {
		if !configured[name] {
			p := fmt.Sprintf("%s.allowed_accounts[%d]", calloutPath, i)
			b.errorf(b.at(p), p, "account %q is not configured in accounts", name)
		}
	}
	exists := func(name string) bool {
		return configured[name] || name == server.GlobalAccountName || name == o.Server.WithDefaults().SystemAccount
	}
	if acc := co.Account; acc != "" && !exists(acc) {
		b.warnf(b.at(calloutPath+".account"), calloutPath+".account",
			"account %q does not exist: every client the callout handles will be refused", acc)
	}
	a := &o.Server.Auth
	for i, name := range co.AuthUsers {
		known := name == a.Username || slices.ContainsFunc(a.Users, func(u *server.User) bool { return u.Name() == name })
		if !known {
			p := fmt.Sprintf("%s.auth_users[%d]", calloutPath, i)
			b.warnf(b.at(p), p,
				"%q is not a configured user: a client naming it is handed to the callout like any other", name)
		}
	}
}

// calloutSummary is the block as the diff compares it.
func calloutSummary(co *authcallout.Options) string {
	if co == nil {
		return "off"
	}
	return fmt.Sprintf("issuer %s, account %q, auth_users %v, xkey %q, allowed_accounts %v",
		co.Issuer, co.Account, co.AuthUsers, co.XKey, co.AllowedAccounts)
}

// errCalloutReload is a reload that changes the auth callout: nats-server
// refuses it the same way ("config reload not supported for AuthCallout",
// recorded), and so the running one stays.
var errCalloutReload = errors.New("authorization.auth_callout cannot change on a reload; restart natsd")

// carryCallout hands the running callout to the next options, or refuses
// a reload that changes it.
func carryCallout(cur, next *Options) error {
	if calloutSummary(cur.Callout) != calloutSummary(next.Callout) {
		return errCalloutReload
	}
	next.Server.Auth.Callout = cur.Server.Auth.Callout
	return nil
}

// newCallout makes the auth callout for o (nil when none) and hands the
// server its side; the daemon starts it once the server exists.
func newCallout(o *Options, d *logger) *authcallout.Callout {
	if o.Callout == nil {
		return nil
	}
	c := authcallout.New(*o.Callout, d.Logger)
	o.Server.Auth.Callout = c.ServerCallout()
	return c
}
