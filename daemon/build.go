package daemon

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/natsd/natsd/cluster"

	"github.com/natsd/natsd/confparse"
	"github.com/natsd/natsd/server"
)

// Diagnostics are the problems found while building options: errors stop
// natsd (or a reload), warnings are logged and natsd runs.
type Diagnostics struct {
	Errors   confparse.ErrorList
	Warnings confparse.ErrorList
}

// Err returns the errors as one error, or nil.
func (d *Diagnostics) Err() error {
	d.Errors.Sort()
	return d.Errors.Err()
}

// Build turns a parsed config and the flags into Options. One run reports
// every problem, each at the position of the value (or key) at fault.
func Build(doc *confparse.Document, flags *Flags) (*Options, *Diagnostics) {
	b := &builder{pos: map[string]confparse.Pos{}}
	o := &Options{Log: LogOptions{Logtime: true}, LoadTime: time.Now()}
	if doc != nil {
		o.Files = doc.Files
		o.Digest = doc.Digest()
		o.values = map[string]int{}
		if doc.Root != nil {
			countValues(doc.Root, o.values)
		}
		if len(doc.Files) > 0 {
			o.ConfigFile = doc.Files[0]
			b.file = doc.Files[0]
		}
		b.top(doc.Root, o)
	}
	if err := flags.apply(o); err != nil {
		b.diag.Errors = append(b.diag.Errors, &confparse.Error{Pos: confparse.Pos{File: "natsd"}, Msg: err.Error()})
	}
	if flags.tlsGiven() && o.Server.TLS != nil {
		b.tlsFlagFiles(o.Server.TLS)
	}
	b.validate(o)
	o.finishJetStream()
	b.jetstreamInCluster(o)
	b.monitorTLS(o)
	b.tlsWithout(o)
	tlsAuthTimeouts(o)
	o.Server = o.Server.WithDefaults()
	if (o.Monitor.Enabled() || o.Monitor.HTTPSPort != 0) && o.Monitor.Host == "" {
		o.Monitor.Host = o.Server.Host
	}
	if o.Cluster.Enabled() && o.Cluster.Host == "" {
		o.Cluster.Host = server.DefaultHost
	}
	if o.Cluster.AuthTimeout == 0 {
		o.Cluster.AuthTimeout = defaultRouteAuthTimeout
	}
	if o.Cluster.Enabled() {
		routeLimits(o)
	}
	o.pos = b.pos
	b.diag.Errors.Sort()
	b.diag.Warnings.Sort()
	return o, &b.diag
}

type builder struct {
	diag Diagnostics
	pos  map[string]confparse.Pos
	file string
}

// at is where option key was written, or the config file itself when the
// key was not written (a default or a flag is at fault).
func (b *builder) at(key string) confparse.Pos {
	if p, ok := b.pos[key]; ok {
		return p
	}
	if b.file == "" {
		return confparse.Pos{File: "natsd"}
	}
	return confparse.Pos{File: b.file}
}

func (b *builder) errorf(pos confparse.Pos, path, format string, a ...any) {
	b.diag.Errors.Add(pos, path+": "+fmt.Sprintf(format, a...))
}

func (b *builder) warnf(pos confparse.Pos, path, format string, a ...any) {
	b.diag.Warnings.Add(pos, path+": "+fmt.Sprintf(format, a...))
}

// describe says what a value is, for "expected X, found Y" messages.
func describe(n *confparse.Node) string {
	switch n.Kind {
	case confparse.String:
		return fmt.Sprintf("string %q", n.Str)
	case confparse.Map:
		return "a map"
	case confparse.Array:
		return "an array"
	}
	return fmt.Sprintf("%s %s", n.Kind, n.Raw)
}

func (b *builder) wrongType(e *confparse.Entry, path, want string) {
	b.errorf(e.Value.Pos, path, "expected %s, found %s", want, describe(e.Value))
}

func (b *builder) str(e *confparse.Entry, path string) (string, bool) {
	if e.Value.Kind != confparse.String {
		b.wrongType(e, path, "a string")
		return "", false
	}
	return e.Value.Str, true
}

func (b *builder) boolean(e *confparse.Entry, path string) (bool, bool) {
	if e.Value.Kind != confparse.Bool {
		b.wrongType(e, path, "a boolean (true/false)")
		return false, false
	}
	return e.Value.Bool, true
}

// integer reads an int within [lo, hi].
func (b *builder) integer(e *confparse.Entry, path string, lo, hi int64) (int64, bool) {
	if e.Value.Kind != confparse.Int {
		b.wrongType(e, path, "an integer")
		return 0, false
	}
	v := e.Value.Int
	if v < lo || v > hi {
		b.errorf(e.Value.Pos, path, "must be %d-%d, found %d", lo, hi, v)
		return 0, false
	}
	return v, true
}

func (b *builder) port(e *confparse.Entry, path string) (int, bool) {
	if e.Value.Kind != confparse.Int {
		b.wrongType(e, path, "a port number")
		return 0, false
	}
	v := e.Value.Int
	if v < -1 || v > 65535 {
		b.errorf(e.Value.Pos, path, "must be 1-65535 (or -1 for a random port), found %d", v)
		return 0, false
	}
	return int(v), true
}

// duration reads a Go duration string ("2m", "30s"); a bare number means
// seconds, as in nats-server, with a warning because of the unit trap
// (unquoted 2m is the integer 2,000,000).
func (b *builder) duration(e *confparse.Entry, path string) (time.Duration, bool) {
	switch e.Value.Kind {
	case confparse.String:
		d, err := time.ParseDuration(e.Value.Str)
		if err != nil {
			b.errorf(e.Value.Pos, path, "expected a duration such as \"2m\" or \"30s\", found %q", e.Value.Str)
			return 0, false
		}
		if d < 0 {
			b.errorf(e.Value.Pos, path, "must not be negative, found %q", e.Value.Str)
			return 0, false
		}
		return d, true
	case confparse.Int:
		if e.Value.Int < 0 || e.Value.Int > int64(365*24*time.Hour/time.Second) {
			b.errorf(e.Value.Pos, path, "must be a duration such as \"2m\", found %s", e.Value.Raw)
			return 0, false
		}
		secs := strconv.FormatInt(e.Value.Int, 10)
		hint := secs + "s"
		if _, err := time.ParseDuration(e.Value.Raw); err == nil && e.Value.Raw != secs {
			hint = e.Value.Raw // the trap: unquoted 2m meant "2m", not "2000000s"
		}
		b.warnf(e.Value.Pos, path, "%s is read as %s seconds; write a duration string such as %q", e.Value.Raw, secs, hint)
		return time.Duration(e.Value.Int) * time.Second, true
	case confparse.Float:
		if e.Value.Float < 0 {
			b.errorf(e.Value.Pos, path, "must not be negative, found %s", e.Value.Raw)
			return 0, false
		}
		return time.Duration(e.Value.Float * float64(time.Second)), true
	}
	b.wrongType(e, path, "a duration")
	return 0, false
}

// hostPort reads "host:port" or a bare port number (listen, http, cluster.listen).
func (b *builder) hostPort(e *confparse.Entry, path string) (string, int, bool) {
	switch e.Value.Kind {
	case confparse.Int:
		p, ok := b.port(e, path)
		return "", p, ok
	case confparse.String:
		host, ps, err := net.SplitHostPort(e.Value.Str)
		if err != nil {
			b.errorf(e.Value.Pos, path, "expected host:port or a port, found %q", e.Value.Str)
			return "", 0, false
		}
		p, err := strconv.Atoi(ps)
		if err != nil || p < -1 || p > 65535 {
			b.errorf(e.Value.Pos, path, "port must be 1-65535 (or -1 for a random port), found %q", ps)
			return "", 0, false
		}
		return host, p, true
	}
	b.wrongType(e, path, "host:port or a port")
	return "", 0, false
}

// listen reads a listen address into host and port; a bare port (or
// ":port") leaves host as it is.
func (b *builder) listen(e *confparse.Entry, path string, host *string, port *int) {
	if h, p, ok := b.hostPort(e, path); ok {
		if h != "" {
			*host = h
		}
		*port = p
	}
}

// stringList reads one string or an array of strings.
func (b *builder) stringList(e *confparse.Entry, path string) ([]string, bool) {
	switch e.Value.Kind {
	case confparse.String:
		return []string{e.Value.Str}, true
	case confparse.Array:
		out := make([]string, 0, len(e.Value.Items))
		ok := true
		for i, it := range e.Value.Items {
			if it.Kind != confparse.String {
				b.errorf(it.Pos, fmt.Sprintf("%s[%d]", path, i), "expected a string, found %s", describe(it))
				ok = false
				continue
			}
			out = append(out, it.Str)
		}
		return out, ok
	}
	b.wrongType(e, path, "a string or an array of strings")
	return nil, false
}

// stringNodes returns the nodes stringList reads its strings from, index for
// index: n itself for a string, the string items of an array. Errors about
// one string point at its own node.
func stringNodes(n *confparse.Node) []*confparse.Node {
	if n.Kind == confparse.String {
		return []*confparse.Node{n}
	}
	var out []*confparse.Node
	for _, it := range n.Items {
		if it.Kind == confparse.String {
			out = append(out, it)
		}
	}
	return out
}

func (b *builder) block(e *confparse.Entry, path string) (*confparse.Node, bool) {
	if e.Value.Kind != confparse.Map {
		b.wrongType(e, path, "a block { … }")
		return nil, false
	}
	return e.Value, true
}

// unknown warns about a key natsd does not know, unless it only defines a
// variable used elsewhere.
func (b *builder) unknown(e *confparse.Entry, path string) {
	if e.UsedAsVariable {
		return
	}
	b.warnf(e.KeyPos, path, "unknown field, ignored")
}

// notServed are nats-server blocks and options natsd accepts but does not
// serve yet: a warning, not a failure, so existing configs load.
var notServed = map[string]string{
	"leafnodes": "leaf nodes", "leaf": "leaf nodes",
	"gateway": "gateways", "mqtt": "MQTT", "ocsp": "OCSP stapling", "ocsp_cache": "OCSP stapling",
	"max_traced_msg_len": "trace truncation",
	"server_metadata":    "server metadata",
	"cluster.pool_size":  "route pooling", "cluster.compression": "route compression",
	"cluster.accounts": "pinned-account routes", "cluster.permissions": "route permissions",
	"disable_sublist_cache": "disabling the subject cache", "no_sys_acc": "the system account",
	"max_closed_clients": "a closed-connections limit", "connect_error_reports": "error reports",
	"reconnect_error_reports": "error reports", "prof_port": "profiling",
}

func (b *builder) notServedYet(e *confparse.Entry, path string) bool {
	what, ok := notServed[path]
	if !ok {
		return false
	}
	b.warnf(e.KeyPos, path, "natsd does not serve %s yet; ignored", what)
	return true
}

func (b *builder) top(root *confparse.Node, o *Options) {
	so := &o.Server
	for _, e := range root.Entries {
		key := strings.ToLower(e.Key)
		b.pos[key] = e.KeyPos
		switch key {
		case "listen":
			b.listen(e, key, &so.Host, &so.Port)
		case "host", "net":
			so.Host, _ = b.str(e, key)
		case "port":
			so.Port, _ = b.port(e, key)
		case "server_tags":
			if tags, ok := b.stringList(e, key); ok {
				for _, t := range tags {
					o.JetStream.Tags = append(o.JetStream.Tags, strings.ToLower(strings.TrimSpace(t)))
				}
			}
		case "server_name":
			if v, ok := b.str(e, key); ok {
				if strings.ContainsAny(v, " \t") {
					b.errorf(e.Value.Pos, key, "server name cannot contain spaces")
				}
				so.ServerName = v
			}
		case "client_advertise":
			so.ClientAdvertise, _ = b.str(e, key)
		case "http", "monitor":
			if h, p, ok := b.hostPort(e, key); ok {
				o.Monitor.Host, o.Monitor.Port = h, p
			}
		case "http_port", "monitor_port":
			o.Monitor.Port, _ = b.port(e, key)
		case "http_base_path":
			o.Monitor.BasePath, _ = b.str(e, key)
		case "authorization":
			if n, ok := b.block(e, key); ok {
				b.authorization(n, &so.Auth, o)
			}
		case "no_auth_user":
			so.Auth.NoAuthUser, _ = b.str(e, key)
		case "accounts":
			b.accountsBlock(e, o)
		case "jetstream":
			b.jetstreamBlock(e, o)
		case "operator", "operators", "root", "roots", "root_operators", "root_operator",
			"system_account", "system", "resolver", "account_resolver", "accounts_resolver", "resolver_preload":
			b.operatorKey(key, e, o)
		case "mappings", "maps":
			// The global account's.
			if ms := b.mappings(e, key); len(ms) > 0 {
				so.Accounts = append(so.Accounts, &server.AccountConfig{Name: server.GlobalAccountName, Mappings: ms})
			}
		case "max_payload":
			v, _ := b.integer(e, key, 1, 1<<31-1)
			so.MaxPayload = int(v)
		case "max_connections", "max_conn":
			v, ok := b.integer(e, key, 0, 1<<31-1)
			if ok && v == 0 {
				v = -1 // nats-server: 0 in a config file rejects every client
			}
			so.MaxConnections = int(v)
		case "max_control_line":
			v, _ := b.integer(e, key, 1, 1<<31-1)
			so.MaxControlLine = int(v)
		case "max_pending":
			v, _ := b.integer(e, key, 1, 1<<62)
			so.MaxPending = v
		case "max_subscriptions", "max_subs":
			v, _ := b.integer(e, key, 0, 1<<31-1)
			so.MaxSubs = int(v)
		case "ping_interval":
			so.PingInterval, _ = b.duration(e, key)
			if so.PingInterval == 0 {
				so.PingInterval = 0 // the default applies
			}
		case "ping_max":
			v, _ := b.integer(e, key, 1, 1<<31-1)
			so.PingMax = int(v)
		case "write_deadline":
			so.WriteDeadline, _ = b.duration(e, key)
		case "no_header_support":
			so.NoHeaderSupport, _ = b.boolean(e, key)
		case "lame_duck_duration", "lame_duck_grace_period":
			if e.Value.Kind != confparse.String {
				b.wrongType(e, key, "a duration string such as \"2m\"")
				continue
			}
			d, ok := b.duration(e, key)
			if !ok {
				continue
			}
			if key == "lame_duck_duration" {
				if d < 30*time.Second {
					b.errorf(e.Value.Pos, key, "invalid lame_duck_duration of %v, minimum is 30 seconds", d)
					continue // not kept: validate would also fault the default grace period
				}
				so.LameDuckDuration = d
			} else {
				so.LameDuckGracePeriod = d
			}
		case "debug":
			o.Log.Debug, _ = b.boolean(e, key)
		case "trace":
			o.Log.Trace, _ = b.boolean(e, key)
		case "trace_verbose":
			o.Log.TraceVerbose, _ = b.boolean(e, key)
			o.Log.Trace = o.Log.Trace || o.Log.TraceVerbose
		case "logtime":
			o.Log.Logtime, _ = b.boolean(e, key)
		case "logtime_utc":
			o.Log.LogtimeUTC, _ = b.boolean(e, key)
		case "log_file", "logfile":
			o.Log.File, _ = b.str(e, key)
		case "syslog":
			o.Log.Syslog, _ = b.boolean(e, key)
		case "remote_syslog":
			if v, ok := b.str(e, key); ok {
				if _, _, err := syslogAddr(v); err != nil {
					b.errorf(e.Value.Pos, key, "%v", err)
				}
				o.Log.RemoteSyslog = v
			}
		case "log_size_limit", "logfile_size_limit":
			o.Log.SizeLimit, _ = b.integer(e, key, 0, math.MaxInt64)
		case "log_max_num", "logfile_max_num":
			if v, ok := b.integer(e, key, 0, math.MaxInt32); ok {
				o.Log.MaxNum = int(v)
			}
		case "pid_file", "pidfile":
			o.PidFile, _ = b.str(e, key)
		case "ports_file_dir":
			o.PortsFileDir, _ = b.str(e, key)
		case "cluster":
			if n, ok := b.block(e, key); ok {
				b.cluster(n, o)
			}
		case "websocket", "ws":
			b.websocket(e, o)
		case "tls":
			so.TLS = b.tlsBlock(e, key, false)
		case "allow_non_tls":
			so.AllowNonTLS, _ = b.boolean(e, key)
		case "https", "https_port":
			// Monitoring over TLS, with the top-level tls block.
			b.pos["https_port"] = e.KeyPos
			if key == "https" {
				if h, p, ok := b.hostPort(e, key); ok {
					if h != "" {
						o.Monitor.Host = h
					}
					o.Monitor.HTTPSPort = p
				}
			} else {
				o.Monitor.HTTPSPort, _ = b.port(e, key)
			}
		default:
			if !b.notServedYet(e, key) {
				b.unknown(e, key)
			}
		}
	}
}

// validate checks what no single key can: combinations and flag overlays.
func (b *builder) validate(o *Options) {
	so := o.Server.WithDefaults()
	if so.MaxPayload > int(so.MaxPending) {
		at := b.at("max_payload")
		if _, written := b.pos["max_payload"]; !written {
			at = b.at("max_pending") // the default max_payload is over the max_pending written
		}
		b.errorf(at, "max_payload", "%d must not exceed max_pending (%d)", so.MaxPayload, so.MaxPending)
	} else if so.MaxPayload > 8<<20 {
		b.warnf(b.at("max_payload"), "max_payload", "%d is over the recommended 8MB", so.MaxPayload)
	}
	if so.LameDuckGracePeriod >= so.LameDuckDuration {
		b.errorf(b.at("lame_duck_grace_period"), "lame_duck_grace_period", "must be shorter than lame_duck_duration (%v)", so.LameDuckDuration)
	}
	if so.Port < -1 || so.Port > 65535 {
		b.errorf(b.at("port"), "port", "must be 1-65535 (or -1 for a random port), found %d", so.Port)
	}
	a := &o.Server.Auth
	switch {
	case a.Token != "" && a.Username != "":
		b.errorf(b.at("authorization"), "authorization", "token and user/password cannot both be set")
	case a.Token != "" && len(a.Users) > 0:
		b.errorf(b.at("authorization"), "authorization", "token and users cannot both be set")
	case a.Username != "" && len(a.Users) > 0:
		b.errorf(b.at("authorization"), "authorization", "user/password and users cannot both be set")
	}
	if a.NoAuthUser != "" {
		found := false
		for _, u := range a.Users {
			found = found || u.Name() == a.NoAuthUser
		}
		if !found {
			b.errorf(b.at("no_auth_user"), "no_auth_user", "%q is not one of the configured users", a.NoAuthUser)
		}
	}
	b.validateOperator(o) // first: it says whether operator mode is on
	b.validateAccounts(o)
	b.validateCallout(o)
	b.validateWebSocket(o)
	co := &o.Cluster
	if len(co.Routes) > 0 && !co.Enabled() {
		b.errorf(b.at("cluster.routes"), "cluster.routes", "solicited routes require cluster capabilities, e.g. --cluster")
	}
	if strings.ContainsAny(co.Name, " \t") {
		b.errorf(b.at("cluster.name"), "cluster.name", "cluster name cannot contain spaces")
	}
	if co.Port < -1 || co.Port > 65535 {
		b.errorf(b.at("cluster.port"), "cluster.port", "must be 1-65535 (or -1 for a random port), found %d", co.Port)
	}
}

// routeLimits gives routes the top-level limits and, where the cluster block
// sets none, the top-level keepalive, as nats-server does: the cluster
// package never reads the server's options.
func routeLimits(o *Options) {
	so := &o.Server
	o.Cluster.Limits = cluster.Limits{MaxPayload: so.MaxPayload, MaxControlLine: so.MaxControlLine, MaxPending: so.MaxPending, WriteDeadline: so.WriteDeadline}
	if o.Cluster.PingInterval == 0 {
		o.Cluster.PingInterval = so.PingInterval
	}
	if o.Cluster.PingMax == 0 {
		o.Cluster.PingMax = so.PingMax
	}
}
