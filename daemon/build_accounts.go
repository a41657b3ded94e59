package daemon

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/natsd/natsd/confparse"
	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/subject"
)

// The accounts block, as nats-server reads it:
//
//	accounts {
//	  NAME {
//	    users: [ {user, password, permissions} ]
//	    default_permissions: { publish, subscribe }   # users without their own
//	    exports: [ {stream: "foo.>", accounts: [B]}, {service: "svc.>", response_type: stream} ]
//	    imports: [ {stream: {account: A, subject: "foo.>"}, prefix: p, to: "bar.>"},
//	               {service: {account: A, subject: "svc.>"}, to: "a.svc.>"} ]
//	    mappings: { "src.*": "dst.$1", "w": [{destination: x, weight: 50%}, …] }
//	    limits: { max_connections, max_subscriptions, max_payload, max_leafnodes }
//	    msg_trace: { dest: "trace.subj", sampling: 100% }   # or trace_dest: "trace.subj"
//	  }
//	}
//
// (or `accounts: [A, B]`: accounts with nothing configured). Users go into
// authorization's user list, each naming its account; the top-level
// mappings {} are $G's.

// accountsBlock reads the accounts block into o.
func (b *builder) accountsBlock(e *confparse.Entry, o *Options) {
	so := &o.Server
	switch e.Value.Kind {
	case confparse.Array:
		for i, it := range e.Value.Items {
			if it.Kind != confparse.String {
				b.errorf(it.Pos, fmt.Sprintf("accounts[%d]", i), "expected an account name, found %s", describe(it))
				continue
			}
			b.newAccount(it.Str, it.Pos, o)
		}
	case confparse.Map:
		for _, ae := range e.Value.Entries {
			path := "accounts." + ae.Key
			ac := b.newAccount(ae.Key, ae.KeyPos, o)
			if ac == nil {
				continue
			}
			if ae.Value.Kind != confparse.Map {
				b.wrongType(ae, path, "an account block { users, exports, imports, … }")
				continue
			}
			var users []*server.User
			var usersAt []confparse.Pos
			var defaults *server.Permissions
			for _, ke := range ae.Value.Entries {
				key := strings.ToLower(ke.Key)
				kp := path + "." + key
				switch key {
				case "users":
					if ke.Value.Kind != confparse.Array {
						b.wrongType(ke, kp, "an array of users")
						continue
					}
					for i, it := range ke.Value.Items {
						ip := fmt.Sprintf("%s[%d]", kp, i)
						if it.Kind != confparse.Map {
							b.errorf(it.Pos, ip, "expected a user block { user: …, password: … }, found %s", describe(it))
							continue
						}
						if u, at := b.user(it, ip); u != nil {
							u.Account = ac.Name
							users = append(users, u)
							usersAt = append(usersAt, at)
						}
					}
				case "default_permissions":
					if pn, ok := b.block(ke, kp); ok {
						defaults = b.permissions(pn, kp)
					}
				case "exports":
					ac.Exports = b.exports(ke, kp)
				case "imports":
					ac.Imports = b.imports(ke, kp)
				case "mappings", "maps":
					ac.Mappings = b.mappings(ke, kp)
				case "limits":
					b.accountLimits(ke, kp, &ac.Limits)
				case "msg_trace", "trace_dest":
					// The later of the two wins, as in nats-server
					// (recorded).
					ac.MsgTrace = b.msgTrace(ke, kp)
				case "jetstream":
					b.accountJetStream(ke, kp, ac.Name, o)
				case "nkey":
					b.warnf(ke.KeyPos, kp, "natsd does not serve account %s yet; ignored", key)
				default:
					b.unknown(ke, kp)
				}
			}
			for i, u := range users {
				if u.Permissions == nil && defaults != nil {
					u.Permissions = defaults
				}
				b.accountUser(u, usersAt[i], so)
			}
		}
	default:
		b.wrongType(e, "accounts", "a block of accounts or a list of account names")
	}
}

// newAccount adds an account named name, unless the name is reserved or
// taken.
func (b *builder) newAccount(name string, at confparse.Pos, o *Options) *server.AccountConfig {
	path := "accounts." + name
	switch {
	case name == server.GlobalAccountName:
		b.errorf(at, path, "%q is a reserved account", name)
		return nil
	case name == "" || strings.ContainsAny(name, " \t."):
		b.errorf(at, path, "%q is not a valid account name", name)
		return nil
	}
	for _, a := range o.Server.Accounts {
		if a.Name == name {
			b.errorf(at, path, "account %q is defined twice", name)
			return nil
		}
	}
	ac := &server.AccountConfig{Name: name}
	o.Server.Accounts = append(o.Server.Accounts, ac)
	b.pos[path] = at
	return ac
}

// accountUser adds an account's user to authorization's user list; names
// are unique across all accounts (nats-server: "Duplicate user").
func (b *builder) accountUser(u *server.User, at confparse.Pos, so *server.Options) {
	for _, other := range so.Auth.Users {
		if other.Name() == u.Name() {
			what := map[bool]string{false: "user", true: "nkey"}[u.Nkey != ""]
			b.errorf(at, "accounts."+u.Account+".users", "duplicate %s %q", what, u.Name())
			return
		}
	}
	so.Auth.Users = append(so.Auth.Users, u)
}

// exports: [ {stream|service: subject, accounts: [...], response_type, response_threshold} ]
func (b *builder) exports(e *confparse.Entry, path string) []*server.Export {
	if e.Value.Kind != confparse.Array {
		b.wrongType(e, path, "an array of exports")
		return nil
	}
	var out []*server.Export
	for i, it := range e.Value.Items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		if it.Kind != confparse.Map {
			b.errorf(it.Pos, ip, "expected an export { stream: … } or { service: … }, found %s", describe(it))
			continue
		}
		x := &server.Export{}
		kinds := 0
		var allowTraceAt *confparse.Entry
		for _, ke := range it.Entries {
			key := strings.ToLower(ke.Key)
			kp := ip + "." + key
			switch key {
			case "stream", "service":
				kinds++
				x.Service = key == "service"
				if s, ok := b.str(ke, kp); ok {
					if !subject.ValidSubject(s) {
						b.errorf(ke.Value.Pos, kp, "%q is not a valid subject", s)
						continue
					}
					x.Subject = s
				}
			case "accounts":
				x.Accounts, _ = b.stringList(ke, kp)
			case "response_type", "response":
				s, ok := b.str(ke, kp)
				if !ok {
					continue
				}
				switch strings.ToLower(s) {
				case server.ResponseSingle, server.ResponseStream, server.ResponseChunked:
					x.ResponseType = strings.ToLower(s)
				default:
					b.errorf(ke.Value.Pos, kp, "unknown response type %q (single, stream or chunked)", s)
				}
			case "response_threshold", "threshold":
				x.ResponseThreshold, _ = b.duration(ke, kp)
			case "allow_trace":
				x.AllowTrace, _ = b.boolean(ke, kp)
				allowTraceAt = ke
			case "latency", "account_token_position", "advertise":
				b.warnf(ke.KeyPos, kp, "natsd does not serve export %s yet; ignored", key)
			default:
				b.unknown(ke, kp)
			}
		}
		if kinds != 1 || x.Subject == "" {
			if kinds == 0 {
				b.errorf(it.Pos, ip, "an export needs a stream or a service subject")
			} else if kinds > 1 {
				b.errorf(it.Pos, ip, "an export is a stream or a service, not both")
			}
			continue
		}
		if !x.Service && (x.ResponseType != "" || x.ResponseThreshold != 0) {
			b.errorf(it.Pos, ip, "response_type and response_threshold are for service exports")
			continue
		}
		if !x.Service && allowTraceAt != nil {
			// On a stream the importer allows tracing (nats-server:
			// "Detected allow_trace directive on non-service").
			b.errorf(allowTraceAt.KeyPos, ip+".allow_trace", "allow_trace is for service exports (a stream import allows tracing)")
			continue
		}
		out = append(out, x)
	}
	return out
}

// imports: [ {stream|service: {account, subject}, to, prefix} ]
func (b *builder) imports(e *confparse.Entry, path string) []*server.Import {
	if e.Value.Kind != confparse.Array {
		b.wrongType(e, path, "an array of imports")
		return nil
	}
	var out []*server.Import
	for i, it := range e.Value.Items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		if it.Kind != confparse.Map {
			b.errorf(it.Pos, ip, "expected an import { stream: {…} } or { service: {…} }, found %s", describe(it))
			continue
		}
		im := &server.Import{}
		kinds := 0
		var allowTraceAt *confparse.Entry
		for _, ke := range it.Entries {
			key := strings.ToLower(ke.Key)
			kp := ip + "." + key
			switch key {
			case "stream", "service":
				kinds++
				im.Service = key == "service"
				src, ok := b.block(ke, kp)
				if !ok {
					continue
				}
				for _, se := range src.Entries {
					sk := strings.ToLower(se.Key)
					sp := kp + "." + sk
					switch sk {
					case "account":
						im.Account, _ = b.str(se, sp)
					case "subject":
						if s, ok := b.str(se, sp); ok {
							if !subject.ValidSubject(s) {
								b.errorf(se.Value.Pos, sp, "%q is not a valid subject", s)
								continue
							}
							im.Subject = s
						}
					default:
						b.unknown(se, sp)
					}
				}
			case "to":
				if s, ok := b.str(ke, kp); ok {
					if !subject.ValidSubject(s) {
						b.errorf(ke.Value.Pos, kp, "%q is not a valid subject", s)
						continue
					}
					im.To = s
				}
			case "prefix":
				if s, ok := b.str(ke, kp); ok {
					if !subject.ValidLiteral(s) {
						b.errorf(ke.Value.Pos, kp, "%q is not a valid subject prefix", s)
						continue
					}
					im.Prefix = s
				}
			case "allow_trace":
				im.AllowTrace, _ = b.boolean(ke, kp)
				allowTraceAt = ke
			case "share":
				b.warnf(ke.KeyPos, kp, "natsd does not serve import %s yet; ignored", key)
			default:
				b.unknown(ke, kp)
			}
		}
		switch {
		case kinds != 1:
			b.errorf(it.Pos, ip, "an import is a stream or a service")
			continue
		case im.Account == "" || im.Subject == "":
			b.errorf(it.Pos, ip, "an import needs an account and a subject")
			continue
		case im.Service && im.Prefix != "":
			b.errorf(it.Pos, ip, "prefix is for stream imports (a service import has to)")
			continue
		case im.Service && allowTraceAt != nil:
			// On a service the exporter allows tracing (nats-server:
			// "Detected allow_trace directive on a non-stream").
			b.errorf(allowTraceAt.KeyPos, ip+".allow_trace", "allow_trace is for stream imports (a service export allows tracing)")
			continue
		case im.To != "" && !sameWildcards(im.Subject, im.To):
			b.errorf(it.Pos, ip, "to %q must have the wildcards of %q, in order", im.To, im.Subject)
			continue
		}
		b.pos[ip] = it.Pos
		out = append(out, im)
	}
	return out
}

// sameWildcards reports whether a and b have the same wildcards in the same
// order (an import's to rewrites one into the other).
func sameWildcards(a, b string) bool {
	wild := func(s string) string {
		var w []byte
		for _, t := range strings.Split(s, ".") {
			if t == "*" || t == ">" {
				w = append(w, t[0])
			}
		}
		return string(w)
	}
	return wild(a) == wild(b)
}

// mappings: { "src": "dst" | [ {destination, weight} ] }
func (b *builder) mappings(e *confparse.Entry, path string) []*server.Mapping {
	if e.Value.Kind != confparse.Map {
		b.wrongType(e, path, "a block of mappings { source: destination }")
		return nil
	}
	var out []*server.Mapping
	for _, me := range e.Value.Entries {
		mp := path + "." + me.Key
		m := &server.Mapping{Source: me.Key}
		switch me.Value.Kind {
		case confparse.String:
			m.Dests = []server.MapDest{{Subject: me.Value.Str, Weight: 100}}
		case confparse.Array:
			for i, it := range me.Value.Items {
				ip := fmt.Sprintf("%s[%d]", mp, i)
				if it.Kind != confparse.Map {
					b.errorf(it.Pos, ip, "expected { destination: …, weight: … }, found %s", describe(it))
					continue
				}
				d := server.MapDest{Weight: 100}
				for _, de := range it.Entries {
					dk := strings.ToLower(de.Key)
					switch dk {
					case "destination", "dest":
						d.Subject, _ = b.str(de, ip+"."+dk)
					case "weight":
						d.Weight = b.weight(de, ip+"."+dk)
					case "cluster":
						b.warnf(de.KeyPos, ip+"."+dk, "natsd has no cluster-scoped mappings; applied everywhere")
					default:
						b.unknown(de, ip+"."+dk)
					}
				}
				m.Dests = append(m.Dests, d)
			}
		default:
			b.wrongType(me, mp, "a destination subject or a list of weighted destinations")
			continue
		}
		if err := server.CheckMapping(m); err != nil {
			b.errorf(me.KeyPos, mp, "%v", err)
			continue
		}
		out = append(out, m)
	}
	return out
}

// msgTrace reads msg_trace: { dest, sampling } (or a destination alone),
// and trace_dest: the destination of the account's messages with a sampled
// W3C traceparent header, and the percentage of them traced (1-100,
// default 100). The checks and their order are nats-server's (recorded).
func (b *builder) msgTrace(e *confparse.Entry, path string) *server.MsgTraceConfig {
	mt := &server.MsgTraceConfig{}
	destAt := e.Value.Pos
	var samplingAt *confparse.Entry
	switch e.Value.Kind {
	case confparse.String:
		mt.Dest = e.Value.Str
	case confparse.Map:
		if strings.EqualFold(e.Key, "trace_dest") {
			b.wrongType(e, path, "a subject")
			return nil
		}
		for _, fe := range e.Value.Entries {
			key := strings.ToLower(fe.Key)
			fp := path + "." + key
			switch key {
			case "dest":
				mt.Dest, _ = b.str(fe, fp)
				destAt = fe.Value.Pos
			case "sampling":
				samplingAt = fe
			default:
				b.errorf(fe.KeyPos, fp, "unknown field %q parsing msg_trace (dest, sampling)", fe.Key)
			}
		}
	default:
		b.wrongType(e, path, "a subject or { dest, sampling }")
		return nil
	}
	if samplingAt != nil {
		if mt.Dest == "" {
			b.warnf(samplingAt.KeyPos, path+".sampling", "sampling ignored: msg_trace has no dest")
		} else {
			mt.Sampling = b.sampling(samplingAt, path+".sampling")
		}
	}
	if mt.Dest == "" && samplingAt != nil {
		return nil
	}
	if !subject.ValidLiteral(mt.Dest) {
		b.errorf(destAt, path, "trace destination %q is not a valid subject (no wildcards)", mt.Dest)
		return nil
	}
	return mt
}

// sampling is msg_trace's percentage: 1-100, as 50 or "50%".
func (b *builder) sampling(e *confparse.Entry, path string) int {
	n, ok := b.percentage(e, path, "an integer or a percentage such as 50%")
	if ok && (n < 1 || n > 100) {
		b.errorf(e.Value.Pos, path, "sampling must be 1-100%%, found %d", n)
		return 0
	}
	return int(n)
}

// weight is a percentage: 50, "50%" or 50%.
func (b *builder) weight(e *confparse.Entry, path string) int {
	n, ok := b.percentage(e, path, "a percentage such as 50%")
	if ok && (n < 0 || n > 100) {
		b.errorf(e.Value.Pos, path, "must be 0-100%%, found %d", n)
		return 0
	}
	return int(n)
}

// percentage reads 50 or "50%" (its range is the caller's to check);
// what is the expected kind, for the error when it is neither.
func (b *builder) percentage(e *confparse.Entry, path, what string) (int64, bool) {
	switch e.Value.Kind {
	case confparse.Int:
		return e.Value.Int, true
	case confparse.String:
		v, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(e.Value.Str), "%"), 10, 64)
		if err != nil {
			b.errorf(e.Value.Pos, path, "expected a percentage such as 50%%, found %q", e.Value.Str)
			return 0, false
		}
		return v, true
	default:
		b.wrongType(e, path, what)
		return 0, false
	}
}

// limits: { max_connections, max_subscriptions, max_payload, max_leafnodes }
func (b *builder) accountLimits(e *confparse.Entry, path string, l *server.AccountLimits) {
	n, ok := b.block(e, path)
	if !ok {
		return
	}
	for _, le := range n.Entries {
		key := strings.ToLower(le.Key)
		kp := path + "." + key
		switch key {
		case "max_connections", "max_conn":
			v, _ := b.integer(le, kp, -1, 1<<31-1)
			l.MaxConnections = int(max(v, 0))
		case "max_subscriptions", "max_subs":
			v, _ := b.integer(le, kp, -1, 1<<31-1)
			l.MaxSubscriptions = int(max(v, 0))
		case "max_payload", "max_pay":
			v, _ := b.integer(le, kp, -1, 1<<31-1)
			l.MaxPayload = int(max(v, 0))
		case "max_leafnodes", "max_leafs":
			b.warnf(le.KeyPos, kp, "natsd has no leaf nodes yet; ignored")
		default:
			// nats-server refuses an unknown limit.
			b.errorf(le.KeyPos, kp, "unknown field %q parsing account limits", le.Key)
		}
	}
}

// validateAccounts checks what needs every account: imports name accounts
// that exist and exports that allow them, stream imports form no cycle,
// no_auth_user names a user of some account.
func (b *builder) validateAccounts(o *Options) {
	accs := map[string]*server.AccountConfig{}
	for _, a := range o.Server.Accounts {
		accs[a.Name] = a
	}
	for _, a := range o.Server.Accounts {
		for i, im := range a.Imports {
			kind := map[bool]string{false: "stream", true: "service"}[im.Service]
			at := b.at(fmt.Sprintf("accounts.%s.imports[%d]", a.Name, i))
			path := fmt.Sprintf("accounts.%s.imports[%d]", a.Name, i)
			exp := accs[im.Account]
			if exp == nil {
				b.errorf(at, path, "%q account not defined for %s import", im.Account, kind)
				continue
			}
			if !exportAllows(exp, im, a.Name) {
				b.errorf(at, path, "%s import %q from account %q: not authorized (no export of it to %s)", kind, im.Subject, im.Account, a.Name)
			}
		}
	}
	// nats-server accepts this with -t and then refuses to start ("error
	// resolving system account: account missing"); natsd says so at once.
	// The default, $SYS, is created when not configured.
	if sys := o.Server.SystemAccount; o.Operator == nil && sys != "" && sys != server.DefaultSystemAccount && accs[sys] == nil {
		key := "system_account"
		if _, ok := b.pos[key]; !ok {
			key = "system" // the alias
		}
		b.errorf(b.at(key), key, "account %q is not defined in accounts", sys)
	}
	for _, a := range o.Server.Accounts {
		for i, im := range a.Imports {
			if !im.Service && streamCycle(accs, a.Name, im, len(o.Server.Accounts)) {
				b.errorf(b.at(fmt.Sprintf("accounts.%s.imports[%d]", a.Name, i)), fmt.Sprintf("accounts.%s.imports[%d]", a.Name, i),
					"stream import %q from account %q forms a cycle", im.Subject, im.Account)
			}
		}
	}
}

// exportAllows reports whether exp exports what im imports to account to.
func exportAllows(exp *server.AccountConfig, im *server.Import, to string) bool {
	for _, x := range exp.Exports {
		if x.Service != im.Service || !covers(x.Subject, im.Subject) {
			continue
		}
		if x.Accounts == nil {
			return true
		}
		for _, n := range x.Accounts {
			if n == to {
				return true
			}
		}
	}
	return false
}

// streamCycle reports whether messages of im, imported into account into,
// can come back to the account they started in through stream imports.
func streamCycle(accs map[string]*server.AccountConfig, into string, im *server.Import, limit int) bool {
	start := im.Account
	subj := importedSubject(im)
	var walk func(acc, subj string, depth int) bool
	walk = func(acc, subj string, depth int) bool {
		if depth > limit {
			return false
		}
		for _, a := range accs {
			for _, next := range a.Imports {
				if next.Service || next.Account != acc || !overlap(next.Subject, subj) {
					continue
				}
				if a.Name == start {
					return true
				}
				if walk(a.Name, importedSubject(next), depth+1) {
					return true
				}
			}
		}
		return false
	}
	if into == start {
		return overlap(im.Subject, subj)
	}
	return walk(into, subj, 0)
}

// importedSubject is where a stream import's messages land.
func importedSubject(im *server.Import) string {
	s := im.Subject
	if im.To != "" {
		s = im.To
	}
	if im.Prefix != "" {
		s = im.Prefix + "." + s
	}
	return s
}

// covers reports whether pattern matches every subject sub matches.
func covers(pattern, sub string) bool {
	pt, st := strings.Split(pattern, "."), strings.Split(sub, ".")
	for i, p := range pt {
		if p == ">" {
			return i < len(st)
		}
		if i >= len(st) || (p != "*" && p != st[i]) || (p == "*" && st[i] == ">") {
			return false
		}
	}
	return len(pt) == len(st)
}

// overlap reports whether some subject matches both patterns.
func overlap(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(at) && i < len(bt); i++ {
		if at[i] == ">" || bt[i] == ">" {
			return true
		}
		if at[i] != "*" && bt[i] != "*" && at[i] != bt[i] {
			return false
		}
	}
	return len(at) == len(bt)
}
