package daemon

import (
	"time"

	"github.com/natsd/natsd/cluster"
	"github.com/natsd/natsd/confparse"
	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/authcallout"
	"github.com/natsd/natsd/server/jwtauth"
)

// Options is everything natsd runs with: built from the config file and the
// command-line flags (Build), compared on reload (Diff), applied by the
// component that owns each part.
type Options struct {
	Server  server.Options
	Cluster cluster.Options
	Monitor MonitorOptions
	Log     LogOptions
	// Operator is operator mode (nil: off): operator JWTs, the system
	// account, the resolver. The server gets its authenticator.
	Operator *jwtauth.Options
	// JetStream is the jetstream {} block, -js and -sd.
	JetStream JetStreamOptions
	// Callout is authorization.auth_callout (nil: none). The server gets
	// its side (Server.Auth.Callout) when natsd starts.
	Callout *authcallout.Options

	PidFile      string
	PortsFileDir string

	// ConfigFile is the file the options came from ("" for the embedded
	// default); Files are it and every file it includes.
	ConfigFile string
	Files      []string
	Digest     string
	LoadTime   time.Time

	// Positions of the options as written, for errors that name them
	// (a reload refused for an option that cannot change, say).
	pos map[string]confparse.Pos
	// values counts the values each file sets, for the reload guard.
	values map[string]int
}

// MonitorOptions is the monitoring HTTP listener.
type MonitorOptions struct {
	Host     string
	Port     int // 0: none; -1: random
	BasePath string
	// HTTPSPort is monitoring over HTTPS (https, https_port, -ms) with the
	// top-level tls block (Server.TLS), asking no client certificate: the
	// "https" endpoint. It excludes Port (Build refuses both, as nats-server
	// does); Enabled is the plain HTTP endpoint only.
	HTTPSPort int // 0: none; -1: random
}

// Enabled reports whether monitoring over plain HTTP is configured.
func (m MonitorOptions) Enabled() bool { return m.Port != 0 }

// LogOptions is logging: level, timestamps and destination.
type LogOptions struct {
	Debug        bool
	Trace        bool
	TraceVerbose bool
	Logtime      bool
	LogtimeUTC   bool
	File         string
	Syslog       bool
	RemoteSyslog string // remote_syslog: udp://host:port, tcp://…, unix:///path
	SizeLimit    int64  // log_size_limit: rotate the file past this many bytes; 0: never
	MaxNum       int    // log_max_num: rotated files kept, the live one included; 0: all
}

// Pos returns where option name (dotted path, e.g. "cluster.port") was
// written, or a zero Pos.
func (o *Options) Pos(name string) confparse.Pos { return o.pos[name] }

// durations that nats-server also defaults.
const defaultRouteAuthTimeout = 2 * time.Second
