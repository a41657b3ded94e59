package daemon

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/nats-io/nkeys"

	"github.com/natsd/natsd/confparse"
	"github.com/natsd/natsd/server"
)

// authorization { user password token timeout users [...] auth_callout {…} }
func (b *builder) authorization(n *confparse.Node, a *server.AuthOptions, o *Options) {
	for _, e := range n.Entries {
		key := strings.ToLower(e.Key)
		path := "authorization." + key
		b.pos[path] = e.KeyPos
		switch key {
		case "user", "username":
			a.Username, _ = b.str(e, path)
		case "password", "pass":
			a.Password, _ = b.str(e, path)
		case "token":
			a.Token, _ = b.str(e, path)
		case "timeout":
			if d, ok := b.authTimeout(e, path); ok {
				a.Timeout = d
			}
		case "users":
			if e.Value.Kind != confparse.Array {
				b.wrongType(e, path, "an array of users")
				continue
			}
			// A name given twice is refused, as nats-server refuses it;
			// otherwise the first entry would silently win.
			first := map[string]confparse.Pos{}
			for i, it := range e.Value.Items {
				ipath := fmt.Sprintf("%s[%d]", path, i)
				if it.Kind != confparse.Map {
					b.errorf(it.Pos, ipath, "expected a user block { user: …, password: … }, found %s", describe(it))
					continue
				}
				u, at := b.user(it, ipath)
				if u == nil {
					continue
				}
				if p, dup := first[u.Name()]; dup {
					what := map[bool]string{false: "user", true: "nkey"}[u.Nkey != ""]
					b.errorf(at, ipath+"."+what, "duplicate %s %q (first at line %d)", what, u.Name(), p.Line)
					continue
				}
				first[u.Name()] = at
				a.Users = append(a.Users, u)
			}
		case "auth_callout", "auth_hook":
			o.Callout = b.authCallout(e)
		case "nkeys":
			// nats-server v2.15.2 refuses it too (recorded): nkey users
			// are entries of users.
			b.errorf(e.KeyPos, path, "unknown field %q: nkey users are entries of users, {nkey: U…}", e.Key)
		default:
			b.unknown(e, path)
		}
	}
}

// authTimeout is seconds as a number (fractions allowed) or a duration
// string, as nats-server reads it.
func (b *builder) authTimeout(e *confparse.Entry, path string) (time.Duration, bool) {
	var d time.Duration
	switch e.Value.Kind {
	case confparse.Int:
		d = time.Duration(e.Value.Int) * time.Second
	case confparse.Float:
		d = time.Duration(e.Value.Float * float64(time.Second))
	case confparse.String:
		var err error
		if d, err = time.ParseDuration(e.Value.Str); err != nil {
			b.errorf(e.Value.Pos, path, "expected seconds or a duration such as \"2s\", found %q", e.Value.Str)
			return 0, false
		}
	default:
		b.wrongType(e, path, "seconds or a duration")
		return 0, false
	}
	if d <= 0 {
		b.errorf(e.Value.Pos, path, "must be positive, found %s", e.Value.Raw)
		return 0, false
	}
	if d > time.Minute {
		b.warnf(e.Value.Pos, path, "%v is a long time to wait for CONNECT", d)
	}
	return d, true
}

// user reads one user block; at is where its name was written.
func (b *builder) user(n *confparse.Node, path string) (u *server.User, at confparse.Pos) {
	u = &server.User{}
	nkeyGiven := false
	for _, e := range n.Entries {
		key := strings.ToLower(e.Key)
		p := path + "." + key
		switch key {
		case "user", "username":
			u.Username, _ = b.str(e, p)
			at = e.KeyPos
		case "password", "pass":
			u.Password, _ = b.str(e, p)
		case "permissions", "permission":
			if pn, ok := b.block(e, p); ok {
				u.Permissions = b.permissions(pn, p)
			}
		case "nkey":
			nkeyGiven = true
			if k, ok := b.str(e, p); ok {
				if !nkeys.IsValidPublicUserKey(k) {
					b.errorf(e.Value.Pos, p, "not a valid public nkey for a user: %q", k)
					continue
				}
				u.Nkey = k
				if at == (confparse.Pos{}) {
					at = e.KeyPos
				}
			}
		case "account", "allowed_connection_types", "connection_types":
			b.warnf(e.KeyPos, p, "natsd does not serve per-user %s yet; ignored", key)
		default:
			b.unknown(e, p)
		}
	}
	switch {
	case u.Nkey != "" && (u.Username != "" || u.Password != ""):
		b.errorf(n.Pos, path, "nkey users do not take usernames or passwords")
		return nil, at
	case u.Nkey != "":
		return u, at
	case u.Username == "" && nkeyGiven:
		return nil, at // the nkey was refused
	case u.Username == "":
		b.errorf(n.Pos, path, "a user needs a user name or an nkey")
		return nil, at
	}
	return u, at
}

// permissions { publish subscribe allow_responses }: each list is a string,
// an array (an allow list), or { allow deny }.
func (b *builder) permissions(n *confparse.Node, path string) *server.Permissions {
	p := &server.Permissions{}
	for _, e := range n.Entries {
		key := strings.ToLower(e.Key)
		kp := path + "." + key
		switch key {
		case "publish", "pub":
			p.Publish = b.subjectPermission(e, kp, false)
		case "subscribe", "sub":
			p.Subscribe = b.subjectPermission(e, kp, true)
		case "allow_responses", "allow_response":
			p.Response = b.responsePermission(e, kp)
		default:
			b.unknown(e, kp)
		}
	}
	return p
}

func (b *builder) subjectPermission(e *confparse.Entry, path string, queues bool) *server.SubjectPermission {
	sp := &server.SubjectPermission{}
	check := func(list []string, v *confparse.Node, p string) []string {
		nodes := stringNodes(v)
		for i, s := range list {
			if !server.ValidPermission(s) || (!queues && strings.ContainsAny(strings.TrimSpace(s), " \t")) {
				b.errorf(nodes[i].Pos, p, "%q is not a valid subject", s)
			}
		}
		return list
	}
	switch e.Value.Kind {
	case confparse.String, confparse.Array:
		list, _ := b.stringList(e, path)
		sp.Allow = check(list, e.Value, path)
	case confparse.Map:
		for _, ee := range e.Value.Entries {
			key := strings.ToLower(ee.Key)
			kp := path + "." + key
			switch key {
			case "allow":
				list, _ := b.stringList(ee, kp)
				sp.Allow = check(list, ee.Value, kp)
			case "deny":
				list, _ := b.stringList(ee, kp)
				sp.Deny = check(list, ee.Value, kp)
			default:
				b.unknown(ee, kp)
			}
		}
	default:
		b.wrongType(e, path, "a subject, a list of subjects or { allow, deny }")
	}
	return sp
}

func (b *builder) responsePermission(e *confparse.Entry, path string) *server.ResponsePermission {
	switch e.Value.Kind {
	case confparse.Bool:
		if !e.Value.Bool {
			return nil
		}
		return &server.ResponsePermission{MaxMsgs: server.DefaultResponseMaxMsgs, Expires: server.DefaultResponseExpires}
	case confparse.Map:
		rp := &server.ResponsePermission{MaxMsgs: server.DefaultResponseMaxMsgs, Expires: server.DefaultResponseExpires}
		for _, ee := range e.Value.Entries {
			key := strings.ToLower(ee.Key)
			kp := path + "." + key
			switch key {
			case "max", "max_msgs", "max_messages", "max_responses":
				// nats-server v2.15.2 starts with any value: a negative one
				// lifts the limit, 0 is the default.
				v, ok := b.integer(ee, kp, math.MinInt32, math.MaxInt32)
				switch {
				case !ok:
				case v < 0:
					rp.MaxMsgs = server.UnlimitedResponses
				case v == 0:
					b.warnf(ee.Value.Pos, kp, "0 is read as the default, %d", server.DefaultResponseMaxMsgs)
				default:
					rp.MaxMsgs = int(v)
				}
			case "expires", "expiration", "ttl":
				rp.Expires, _ = b.duration(ee, kp)
			default:
				b.unknown(ee, kp)
			}
		}
		return rp
	}
	b.wrongType(e, path, "true/false or { max, expires }")
	return nil
}

// cluster { name listen host port routes advertise no_advertise
// connect_retries authorization ping_interval ping_max tls }
func (b *builder) cluster(n *confparse.Node, o *Options) {
	co := &o.Cluster
	for _, e := range n.Entries {
		key := strings.ToLower(e.Key)
		path := "cluster." + key
		b.pos[path] = e.KeyPos
		switch key {
		case "name":
			co.Name, _ = b.str(e, path)
		case "listen":
			b.listen(e, path, &co.Host, &co.Port)
		case "host", "net":
			co.Host, _ = b.str(e, path)
		case "port":
			co.Port, _ = b.port(e, path)
		case "routes":
			// A non-string item is an error; the other routes are still
			// checked, so that one run reports every problem.
			list, _ := b.stringList(e, path)
			nodes := stringNodes(e.Value)
			seen := map[string]bool{}
			for i, r := range list {
				pos := nodes[i].Pos
				u, err := parseRouteURL(r)
				if err != nil {
					b.errorf(pos, path, "%v", err)
					continue
				}
				if seen[u.String()] {
					b.warnf(pos, path, "duplicate route %q", r)
					continue
				}
				seen[u.String()] = true
				co.Routes = append(co.Routes, u)
			}
		case "advertise", "cluster_advertise":
			co.Advertise, _ = b.str(e, path)
		case "no_advertise":
			co.NoAdvertise, _ = b.boolean(e, path)
		case "connect_retries":
			v, _ := b.integer(e, path, 0, 1<<31-1)
			co.ConnectRetries = int(v)
		case "connect_backoff":
			co.ConnectBackoff, _ = b.boolean(e, path)
		case "authorization":
			an, ok := b.block(e, path)
			if !ok {
				continue
			}
			for _, ae := range an.Entries {
				ak := strings.ToLower(ae.Key)
				ap := path + "." + ak
				b.pos[ap] = ae.KeyPos
				switch ak {
				case "user", "username":
					co.Username, _ = b.str(ae, ap)
				case "password", "pass":
					co.Password, _ = b.str(ae, ap)
				case "timeout":
					co.AuthTimeout, _ = b.authTimeout(ae, ap)
				case "token", "users":
					b.errorf(ae.KeyPos, ap, "cluster authorization takes a user and password only")
				case "auth_callout", "auth_hook":
					// nats-server's words (recorded).
					b.errorf(ae.KeyPos, ap, "cluster authorization does not support callouts")
				default:
					b.unknown(ae, ap)
				}
			}
		case "ping_interval":
			co.PingInterval, _ = b.duration(e, path)
		case "ping_max":
			v, _ := b.integer(e, path, 1, 1<<31-1)
			co.PingMax = int(v)
		case "tls":
			co.TLS = b.tlsBlock(e, path, true)
		default:
			if !b.notServedYet(e, path) {
				b.unknown(e, path)
			}
		}
	}
}
