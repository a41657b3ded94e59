package daemon

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/natsd/natsd/cluster"
	"github.com/natsd/natsd/tlsconf"
)

// Flags are nats-server's command-line options, as cmd/natsd parsed them.
// Set holds the canonical name of every flag given: only those override the
// config file, at startup and again on every reload.
type Flags struct {
	ConfigFile string

	Host         string
	Port         int
	ServerName   string
	HTTPPort     int
	PidFile      string
	PortsFileDir string
	LogFile      string
	Syslog       bool
	RemoteSyslog string
	LogSizeLimit int64

	Debug        bool
	Trace        bool
	TraceVerbose bool
	Logtime      bool
	LogtimeUTC   bool

	User  string
	Pass  string
	Token string

	ClientAdvertise  string
	Cluster          string // listen URL, nats://[user:pass@]host:port
	ClusterName      string
	ClusterAdvertise string
	Routes           string // comma separated
	NoAdvertise      bool
	ConnectRetries   int

	// TLS for clients: --tls, --tlsverify, --tlscert, --tlskey, --tlscacert;
	// -ms/--https_port for HTTPS monitoring.
	TLS       bool
	TLSVerify bool
	TLSCert   string
	TLSKey    string
	TLSCACert string
	HTTPSPort int

	// NoConfigWatch turns off reloading on file changes (natsd only):
	// reloads then come from SIGHUP, --signal reload and systemctl reload.
	NoConfigWatch bool

	// JetStream: -js, -sd.
	JetStream bool
	StoreDir  string

	Set map[string]bool
}

func (f *Flags) isSet(name string) bool { return f != nil && f.Set[name] }

// tlsGiven reports whether a client TLS flag was given: then the flags,
// not the file, say whether clients use TLS and with which files.
func (f *Flags) tlsGiven() bool {
	return f.isSet("tls") || f.isSet("tlsverify") || f.isSet("tlscert") || f.isSet("tlskey") || f.isSet("tlscacert")
}

// apply overlays the flags that were given onto o, as nats-server does after
// reading the file. Errors are the flags' own (a bad --routes URL).
func (f *Flags) apply(o *Options) error {
	if f == nil {
		return nil
	}
	so := &o.Server
	if f.isSet("addr") {
		so.Host = f.Host
	}
	if f.isSet("port") {
		so.Port = f.Port
	}
	if f.isSet("name") {
		so.ServerName = f.ServerName
	}
	if f.isSet("client_advertise") {
		so.ClientAdvertise = f.ClientAdvertise
	}
	if f.isSet("http_port") {
		o.Monitor.Port = f.HTTPPort
		if o.Monitor.Host == "" {
			o.Monitor.Host = so.Host
		}
	}
	if f.isSet("https_port") {
		o.Monitor.HTTPSPort = f.HTTPSPort
		if o.Monitor.Host == "" {
			o.Monitor.Host = so.Host
		}
	}
	if f.tlsGiven() {
		// As nats-server v2.15.2 (recorded): a TLS flag takes the client
		// certificate, key, CA and verify from the flags alone; any TLS
		// flag turns TLS on, unless --tls is given false; the file's tls
		// block keeps its other settings (timeout, handshake_first,
		// pinned_certs, verify_and_map). nats-server also drops the
		// file's min_version, cipher_suites and curve_preferences then;
		// natsd keeps them rather than weaken what the file asks.
		if f.isSet("tls") && !f.TLS {
			so.TLS = nil
		} else {
			t := tlsconf.Options{}
			if so.TLS != nil {
				t = *so.TLS
			}
			t.CertFile, t.KeyFile, t.CAFile, t.Certs = f.TLSCert, f.TLSKey, f.TLSCACert, nil
			t.Verify = f.TLSVerify
			so.TLS = &t
		}
	}
	if f.isSet("jetstream") {
		o.JetStream.Enabled = f.JetStream
	}
	if f.isSet("store_dir") {
		o.JetStream.StoreDir = f.StoreDir
	}
	if f.isSet("pid") {
		o.PidFile = f.PidFile
	}
	if f.isSet("ports_file_dir") {
		o.PortsFileDir = f.PortsFileDir
	}
	if f.isSet("log") {
		o.Log.File = f.LogFile
	}
	if f.isSet("syslog") {
		o.Log.Syslog = f.Syslog
	}
	if f.isSet("remote_syslog") {
		o.Log.RemoteSyslog = f.RemoteSyslog
	}
	if f.isSet("log_size_limit") {
		o.Log.SizeLimit = f.LogSizeLimit
	}
	if f.isSet("debug") {
		o.Log.Debug = f.Debug
	}
	if f.isSet("trace") {
		o.Log.Trace = f.Trace
	}
	if f.isSet("trace_verbose") {
		o.Log.Trace = o.Log.Trace || f.TraceVerbose
		o.Log.TraceVerbose = f.TraceVerbose
	}
	if f.isSet("logtime") {
		o.Log.Logtime = f.Logtime
	}
	if f.isSet("logtime_utc") {
		o.Log.LogtimeUTC = f.LogtimeUTC
	}
	if f.isSet("user") || f.isSet("pass") || f.isSet("auth") {
		// The flags replace the file's authorization, keeping its timeout:
		// its users and no_auth_user go, and its token when --user or --pass
		// is given, its user and password when --auth is. (--pass alone
		// still changes the password of the file's user, as in nats-server.)
		a := &so.Auth
		a.Users, a.NoAuthUser = nil, ""
		if f.isSet("user") || f.isSet("pass") {
			a.Token = ""
		}
		if f.isSet("auth") {
			a.Username, a.Password = "", ""
		}
		if f.isSet("user") {
			a.Username = f.User
		}
		if f.isSet("pass") {
			a.Password = f.Pass
		}
		if f.isSet("auth") {
			a.Token = f.Token
		}
	}
	co := &o.Cluster
	if f.isSet("cluster") {
		// The flag replaces the listen address and credentials from the file;
		// an empty value disables clustering.
		var l cluster.Options
		if f.Cluster != "" {
			if err := applyClusterURL(&l, f.Cluster); err != nil {
				return err
			}
		}
		co.Host, co.Port, co.Username, co.Password = l.Host, l.Port, l.Username, l.Password
	}
	if f.isSet("cluster_name") {
		co.Name = f.ClusterName
	}
	if f.isSet("cluster_advertise") {
		co.Advertise = f.ClusterAdvertise
	}
	if f.isSet("no_advertise") {
		co.NoAdvertise = f.NoAdvertise
	}
	if f.isSet("connect_retries") {
		co.ConnectRetries = f.ConnectRetries
	}
	if f.isSet("routes") {
		co.Routes = nil
		for _, r := range strings.Split(f.Routes, ",") {
			r = strings.TrimSpace(r)
			if r == "" {
				continue
			}
			u, err := parseRouteURL(r)
			if err != nil {
				return fmt.Errorf("--routes: %w", err)
			}
			co.Routes = append(co.Routes, u)
		}
	}
	return nil
}

// applyClusterURL reads --cluster nats://[user:pass@]host:port.
func applyClusterURL(co *cluster.Options, raw string) error {
	// Go's URL parser refuses port -1, which means "random" here: parse it
	// as port 0 and put the -1 back. Only a trailing ":-1" is the port; one
	// after the user name starts a password.
	trimmed := strings.TrimSuffix(raw, "/")
	random := strings.HasSuffix(trimmed, ":-1")
	if random {
		trimmed = strings.TrimSuffix(trimmed, ":-1") + ":0"
	}
	u, err := url.Parse(trimmed)
	if err == nil && random {
		u.Host = strings.TrimSuffix(u.Host, ":0") + ":-1"
	}
	if err != nil || u.Host == "" {
		return fmt.Errorf("--cluster: %q is not a URL like nats://host:port", raw)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil {
		return fmt.Errorf("--cluster: %q: %v", raw, err)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < -1 || p > 65535 {
		return fmt.Errorf("--cluster: port %q must be -1 or 0-65535", port)
	}
	co.Host, co.Port = host, p
	if u.User != nil {
		pass, ok := u.User.Password()
		if !ok {
			return fmt.Errorf("--cluster: a user without a password is not allowed in %q", raw)
		}
		co.Username, co.Password = u.User.Username(), pass
	}
	return nil
}

// parseRouteURL reads one route URL (any scheme; nats-route:// by convention).
func parseRouteURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("route %q: %v", raw, err)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("route %q: expected a URL like nats-route://host:port", raw)
	}
	if _, _, err := net.SplitHostPort(u.Host); err != nil {
		return nil, fmt.Errorf("route %q: %v", raw, err)
	}
	return u, nil
}
