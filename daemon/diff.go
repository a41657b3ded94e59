package daemon

import (
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"

	"github.com/natsd/natsd/cluster"
	"github.com/natsd/natsd/server"
)

// The diff is the one place that says what a reload changes. Components
// are told (server.Changes, cluster.Changes, the endpoints' sections) and
// apply exactly that; none of them compares old and new options again.

// Change is one option that differs between the running options and the
// new ones, as logged after a reload: "max_payload: 1048576 -> 2048".
type Change struct {
	Option   string // config name, dotted for blocks ("cluster.routes")
	Old, New string // secrets redacted
	section  section
}

func (c Change) String() string {
	return c.Option + ": " + c.Old + " -> " + c.New
}

// section is the component that applies a change.
type section uint8

const (
	secServer section = iota + 1
	secClientListener
	secCluster
	secClusterListener
	secClusterEnable
	secMonitorHost     // http.host: where both monitoring endpoints listen
	secMonitorListener // http.port
	secMonitorPath
	secLog
	secLogFile
	secFiles
	// TLS: the client listener's (and HTTPS monitoring's certificate), the
	// routes', and the HTTPS monitoring endpoint (https_port).
	secClientTLS
	secClusterTLS
	secMonitorTLS
	// WebSocket: the listener (host, port, on/off) and its TLS (tls,
	// no_tls); the block's other keys are secServer (diff_websocket.go).
	secWebSocketListener
	secWebSocketTLS
)

// rule compares one option. field is the Go field path it covers, so that a
// test can check that every field of Options has a rule.
type rule struct {
	option  string
	field   string
	secret  bool
	section section
	get     func(o *Options) any
}

// rules are the diff, by hand, one line per option, grouped by the
// component that applies them. A new option needs a line here: the test
// TestEveryOptionHasADiffRule fails until it has one.
var rules = []rule{
	// Client listener.
	{"host", "Server.Host", false, secClientListener, func(o *Options) any { return o.Server.Host }},
	{"port", "Server.Port", false, secClientListener, func(o *Options) any { return o.Server.Port }},
	// The server: limits, auth, names.
	{"server_name", "Server.ServerName", false, secServer, func(o *Options) any { return o.Server.ServerName }},
	{"client_advertise", "Server.ClientAdvertise", false, secServer, func(o *Options) any { return o.Server.ClientAdvertise }},
	{"max_connections", "Server.MaxConnections", false, secServer, func(o *Options) any { return o.Server.MaxConnections }},
	{"max_payload", "Server.MaxPayload", false, secServer, func(o *Options) any { return o.Server.MaxPayload }},
	{"max_control_line", "Server.MaxControlLine", false, secServer, func(o *Options) any { return o.Server.MaxControlLine }},
	{"max_pending", "Server.MaxPending", false, secServer, func(o *Options) any { return o.Server.MaxPending }},
	{"max_subscriptions", "Server.MaxSubs", false, secServer, func(o *Options) any { return o.Server.MaxSubs }},
	{"ping_interval", "Server.PingInterval", false, secServer, func(o *Options) any { return o.Server.PingInterval }},
	{"ping_max", "Server.PingMax", false, secServer, func(o *Options) any { return o.Server.PingMax }},
	{"write_deadline", "Server.WriteDeadline", false, secServer, func(o *Options) any { return o.Server.WriteDeadline }},
	{"no_header_support", "Server.NoHeaderSupport", false, secServer, func(o *Options) any { return o.Server.NoHeaderSupport }},
	{"lame_duck_duration", "Server.LameDuckDuration", false, secServer, func(o *Options) any { return o.Server.LameDuckDuration }},
	{"lame_duck_grace_period", "Server.LameDuckGracePeriod", false, secServer, func(o *Options) any { return o.Server.LameDuckGracePeriod }},
	{"authorization.user", "Server.Auth.Username", false, secServer, func(o *Options) any { return o.Server.Auth.Username }},
	{"authorization.password", "Server.Auth.Password", true, secServer, func(o *Options) any { return o.Server.Auth.Password }},
	{"authorization.token", "Server.Auth.Token", true, secServer, func(o *Options) any { return o.Server.Auth.Token }},
	{"authorization.users", "Server.Auth.Users", true, secServer, func(o *Options) any { return o.Server.Auth.Users }},
	{"authorization.timeout", "Server.Auth.Timeout", false, secServer, func(o *Options) any { return o.Server.Auth.Timeout }},
	{"no_auth_user", "Server.Auth.NoAuthUser", false, secServer, func(o *Options) any { return o.Server.Auth.NoAuthUser }},
	// The operator-mode authenticator the daemon hands the server; the
	// operator options themselves have their own rule.
	{"operator mode", "Server.Auth.External", false, secServer, func(o *Options) any { return o.Server.Auth.External != nil }},
	// The auth callout cannot change on a reload (carryCallout refuses
	// it); the server's side of it is made from the block.
	{"authorization.auth_callout", "Callout", false, secServer, func(o *Options) any { return calloutSummary(o.Callout) }},
	{"auth callout", "Server.Auth.Callout", false, secServer, func(o *Options) any { return o.Server.Auth.Callout != nil }},
	{"system_account", "Server.SystemAccount", false, secServer, func(o *Options) any { return o.Server.SystemAccount }},
	{"accounts", "Server.Accounts", false, secServer, func(o *Options) any { return accountsSummary(o.Server.Accounts) }},
	// Operator mode cannot change on a reload (carryOperator refuses it).
	{"operator", "Operator", false, secServer, func(o *Options) any { return operatorSummary(o.Operator) }},
	// JetStream: the server-wide settings cannot change on a reload
	// (checkJetStreamReload refuses it); the accounts that have it can.
	{"jetstream", "JetStream.Enabled", false, secServer, func(o *Options) any { return o.JetStream.Enabled }},
	{"jetstream.store_dir", "JetStream.StoreDir", false, secServer, func(o *Options) any { return o.JetStream.StoreDir }},
	{"jetstream.max_memory_store", "JetStream.MaxMemory", false, secServer, func(o *Options) any { return o.JetStream.MaxMemory }},
	{"jetstream.max_file_store", "JetStream.MaxStore", false, secServer, func(o *Options) any { return o.JetStream.MaxStore }},
	{"jetstream.domain", "JetStream.Domain", false, secServer, func(o *Options) any { return o.JetStream.Domain }},
	{"jetstream.sync_interval", "JetStream.SyncInterval", false, secServer, func(o *Options) any { return o.JetStream.SyncInterval }},
	{"jetstream.unique_tag", "JetStream.UniqueTag", false, secServer, func(o *Options) any { return o.JetStream.UniqueTag }},
	{"server_tags", "JetStream.Tags", false, secServer, func(o *Options) any { return o.JetStream.Tags }},
	{"accounts.jetstream", "JetStream.Accounts", false, secServer, func(o *Options) any { return o.JetStream.Accounts }},
	// TLS: allow_non_tls here, the tls blocks' keys in diff_tls.go.
	{"allow_non_tls", "Server.AllowNonTLS", false, secClientTLS, func(o *Options) any { return o.Server.AllowNonTLS }},
	// Clustering.
	{"cluster", "Cluster.Port!enabled", false, secClusterEnable, func(o *Options) any { return o.Cluster.Enabled() }},
	{"cluster.host", "Cluster.Host", false, secClusterListener, func(o *Options) any { return o.Cluster.Host }},
	{"cluster.port", "Cluster.Port", false, secClusterListener, func(o *Options) any { return o.Cluster.Port }},
	{"cluster.name", "Cluster.Name", false, secCluster, func(o *Options) any { return o.Cluster.Name }},
	{"cluster.advertise", "Cluster.Advertise", false, secCluster, func(o *Options) any { return o.Cluster.Advertise }},
	{"cluster.no_advertise", "Cluster.NoAdvertise", false, secCluster, func(o *Options) any { return o.Cluster.NoAdvertise }},
	{"cluster.connect_retries", "Cluster.ConnectRetries", false, secCluster, func(o *Options) any { return o.Cluster.ConnectRetries }},
	{"cluster.connect_backoff", "Cluster.ConnectBackoff", false, secCluster, func(o *Options) any { return o.Cluster.ConnectBackoff }},
	{"cluster.routes", "Cluster.Routes", false, secCluster, func(o *Options) any { return routeSet(o.Cluster.Routes) }},
	{"cluster.authorization.user", "Cluster.Username", false, secCluster, func(o *Options) any { return o.Cluster.Username }},
	{"cluster.authorization.password", "Cluster.Password", true, secCluster, func(o *Options) any { return o.Cluster.Password }},
	{"cluster.authorization.timeout", "Cluster.AuthTimeout", false, secCluster, func(o *Options) any { return o.Cluster.AuthTimeout }},
	{"cluster.ping_interval", "Cluster.PingInterval", false, secCluster, func(o *Options) any { return o.Cluster.PingInterval }},
	{"cluster.ping_max", "Cluster.PingMax", false, secCluster, func(o *Options) any { return o.Cluster.PingMax }},
	// Derived from max_payload, max_control_line, max_pending and
	// write_deadline (routeLimits): those lines report the change.
	{"cluster limits", "Cluster.Limits", false, secCluster, func(o *Options) any { return o.Cluster.Limits }},
	// Monitoring.
	{"http.host", "Monitor.Host", false, secMonitorHost, func(o *Options) any { return o.Monitor.Host }},
	{"http.port", "Monitor.Port", false, secMonitorListener, func(o *Options) any { return o.Monitor.Port }},
	{"http_base_path", "Monitor.BasePath", false, secMonitorPath, func(o *Options) any { return o.Monitor.BasePath }},
	{"https_port", "Monitor.HTTPSPort", false, secMonitorTLS, func(o *Options) any { return o.Monitor.HTTPSPort }},
	// Logging.
	{"debug", "Log.Debug", false, secLog, func(o *Options) any { return o.Log.Debug }},
	{"trace", "Log.Trace", false, secLog, func(o *Options) any { return o.Log.Trace }},
	{"trace_verbose", "Log.TraceVerbose", false, secLog, func(o *Options) any { return o.Log.TraceVerbose }},
	{"logtime", "Log.Logtime", false, secLog, func(o *Options) any { return o.Log.Logtime }},
	{"logtime_utc", "Log.LogtimeUTC", false, secLog, func(o *Options) any { return o.Log.LogtimeUTC }},
	{"syslog", "Log.Syslog", false, secLogFile, func(o *Options) any { return o.Log.Syslog }},
	{"remote_syslog", "Log.RemoteSyslog", false, secLogFile, func(o *Options) any { return o.Log.RemoteSyslog }},
	{"log_size_limit", "Log.SizeLimit", false, secLogFile, func(o *Options) any { return o.Log.SizeLimit }},
	{"log_max_num", "Log.MaxNum", false, secLogFile, func(o *Options) any { return o.Log.MaxNum }},
	{"log_file", "Log.File", false, secLogFile, func(o *Options) any { return o.Log.File }},
	// Files natsd writes.
	{"pid_file", "PidFile", false, secFiles, func(o *Options) any { return o.PidFile }},
	{"ports_file_dir", "PortsFileDir", false, secFiles, func(o *Options) any { return o.PortsFileDir }},
}

// notOptions are Options fields that describe where options came from, not
// what natsd does: they have no diff rule.
var notOptions = map[string]bool{"ConfigFile": true, "Files": true, "Digest": true, "LoadTime": true, "pos": true, "values": true}

// routeSet is the routes as the diff compares and logs them: a set of
// URLs, passwords redacted, so that reordering the list is no change.
func routeSet(us []*url.URL) string {
	s := make([]string, 0, len(us))
	for _, u := range us {
		s = append(s, u.Redacted())
	}
	slices.Sort(s)
	return "[" + strings.Join(slices.Compact(s), ", ") + "]"
}

// routeDelta is a cluster.routes change as what to do: dial added, drop
// removed. Credentials aside: the same host with a new password is the same
// route.
func routeDelta(old, cur []*url.URL) (added, removed []*url.URL) {
	in := func(list []*url.URL, u *url.URL) bool {
		return slices.ContainsFunc(list, func(x *url.URL) bool { return cluster.RouteKey(x) == cluster.RouteKey(u) })
	}
	for _, u := range cur {
		if !in(old, u) && !in(added, u) {
			added = append(added, u)
		}
	}
	for _, u := range old {
		if !in(cur, u) && !in(removed, u) {
			removed = append(removed, u)
		}
	}
	return added, removed
}

// Diff lists what differs between the running options and new ones.
func Diff(old, cur *Options) []Change {
	var out []Change
	for _, r := range rules {
		if r.field == "Cluster.Limits" {
			continue // derived: reported by the top-level options it comes from
		}
		a, b := r.get(old), r.get(cur)
		if reflect.DeepEqual(a, b) {
			continue
		}
		c := Change{Option: r.option, Old: fmt.Sprint(a), New: fmt.Sprint(b), section: r.section}
		if r.secret {
			c.Old, c.New = "[REDACTED]", "[REDACTED]"
		}
		out = append(out, c)
	}
	return out
}

func has(changes []Change, s section) bool {
	return slices.ContainsFunc(changes, func(c Change) bool { return c.section == s })
}

func hasOption(changes []Change, names ...string) bool {
	return slices.ContainsFunc(changes, func(c Change) bool { return slices.Contains(names, c.Option) })
}

// clientAuthOptions are the options whose change makes the server check
// every client's credentials again (the timeout only applies to new ones).
var clientAuthOptions = []string{"authorization.user", "authorization.password", "authorization.token",
	"authorization.users", "no_auth_user"}

// routeAuthOptions are the options whose change makes the cluster check
// every accepted route's credentials again.
var routeAuthOptions = []string{"cluster.authorization.user", "cluster.authorization.password"}

// serverChanges is what the server must act on beyond using the new options.
func serverChanges(changes []Change) server.Changes {
	return server.Changes{
		Auth:           hasOption(changes, clientAuthOptions...),
		MaxConnections: hasOption(changes, "max_connections"),
		Accounts:       hasOption(changes, "accounts", "system_account"),
	}
}

// clusterChanges is what the cluster must act on beyond using the new
// options.
func clusterChanges(cur, next *Options, changes []Change) cluster.Changes {
	ch := cluster.Changes{
		Name: hasOption(changes, "cluster.name"),
		Auth: hasOption(changes, routeAuthOptions...),
	}
	if hasOption(changes, "cluster.routes") {
		ch.AddedRoutes, ch.RemovedRoutes = routeDelta(cur.Cluster.Routes, next.Cluster.Routes)
	}
	return ch
}

// accountsSummary is the accounts block as the diff compares it and the
// reload log shows it: every account's exports, imports, mappings and
// limits, in JSON (users are in authorization.users, redacted).
func accountsSummary(accs []*server.AccountConfig) string {
	b, _ := json.Marshal(accs)
	return string(b)
}
