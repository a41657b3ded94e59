package daemon

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
)

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
	secMonitor
	secLog
	secLogFile
	secFiles
	// TLS (parsed; applied when the listeners serve TLS): the client
	// listener's, the routes', and HTTPS monitoring.
	secClientTLS
	secClusterTLS
	secMonitorTLS
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
	{"cluster.routes", "Cluster.Routes", false, secCluster, func(o *Options) any { return routeList(o.Cluster.Routes) }},
	{"cluster.authorization.user", "Cluster.Username", false, secCluster, func(o *Options) any { return o.Cluster.Username }},
	{"cluster.authorization.password", "Cluster.Password", true, secCluster, func(o *Options) any { return o.Cluster.Password }},
	{"cluster.authorization.timeout", "Cluster.AuthTimeout", false, secCluster, func(o *Options) any { return o.Cluster.AuthTimeout }},
	{"cluster.ping_interval", "Cluster.PingInterval", false, secCluster, func(o *Options) any { return o.Cluster.PingInterval }},
	{"cluster.ping_max", "Cluster.PingMax", false, secCluster, func(o *Options) any { return o.Cluster.PingMax }},
	// Derived from max_payload, max_control_line, max_pending and
	// write_deadline (routeLimits): those lines report the change.
	{"cluster limits", "Cluster.Limits", false, secCluster, func(o *Options) any { return o.Cluster.Limits }},
	// Monitoring.
	{"http.host", "Monitor.Host", false, secMonitor, func(o *Options) any { return o.Monitor.Host }},
	{"http.port", "Monitor.Port", false, secMonitor, func(o *Options) any { return o.Monitor.Port }},
	{"http_base_path", "Monitor.BasePath", false, secMonitor, func(o *Options) any { return o.Monitor.BasePath }},
	{"https_port", "Monitor.HTTPSPort", false, secMonitorTLS, func(o *Options) any { return o.Monitor.HTTPSPort }},
	// Logging.
	{"debug", "Log.Debug", false, secLog, func(o *Options) any { return o.Log.Debug }},
	{"trace", "Log.Trace", false, secLog, func(o *Options) any { return o.Log.Trace }},
	{"trace_verbose", "Log.TraceVerbose", false, secLog, func(o *Options) any { return o.Log.TraceVerbose }},
	{"logtime", "Log.Logtime", false, secLog, func(o *Options) any { return o.Log.Logtime }},
	{"logtime_utc", "Log.LogtimeUTC", false, secLog, func(o *Options) any { return o.Log.LogtimeUTC }},
	{"syslog", "Log.Syslog", false, secLog, func(o *Options) any { return o.Log.Syslog }},
	{"log_file", "Log.File", false, secLogFile, func(o *Options) any { return o.Log.File }},
	// Files natsd writes.
	{"pid_file", "PidFile", false, secFiles, func(o *Options) any { return o.PidFile }},
	{"ports_file_dir", "PortsFileDir", false, secFiles, func(o *Options) any { return o.PortsFileDir }},
}

// notOptions are Options fields that describe where options came from, not
// what natsd does: they have no diff rule.
var notOptions = map[string]bool{"ConfigFile": true, "Files": true, "Digest": true, "LoadTime": true, "pos": true, "values": true}

func routeList(us []*url.URL) string {
	var s []string
	for _, u := range us {
		s = append(s, u.Redacted())
	}
	return "[" + strings.Join(s, ", ") + "]"
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
	for _, c := range changes {
		if c.section == s {
			return true
		}
	}
	return false
}
