package cluster

import (
	"net/url"
	"time"

	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/tlsconf"
)

// Options configure clustering; the zero value (no Port) means standalone.
type Options struct {
	Name           string // cluster name; "" = dynamic
	Host           string
	Port           int // 0: no cluster listener; -1: random
	Advertise      string
	NoAdvertise    bool
	ConnectRetries int
	ConnectBackoff bool
	Routes         []*url.URL
	Username       string
	Password       string
	AuthTimeout    time.Duration
	PingInterval   time.Duration // the daemon fills in the top-level ping_interval when unset
	PingMax        int           // likewise ping_max
	Limits         Limits        // the top-level limits, filled in by the daemon
	// TLS is cluster.tls (nil: plain TCP routes). Verify is always true:
	// routes verify their peer both ways. The certificates come from the
	// store SetTLS gives.
	TLS *tlsconf.Options
}

// withDefaults fills what was left unset with nats-server's defaults (the
// daemon sets them all; tests and embedders may not).
func (o Options) withDefaults() Options {
	l := &o.Limits
	if l.MaxPayload == 0 {
		l.MaxPayload = server.DefaultMaxPayload
	}
	if l.MaxControlLine == 0 {
		l.MaxControlLine = server.DefaultMaxControlLine
	}
	if l.MaxPending == 0 {
		l.MaxPending = server.DefaultMaxPending
	}
	if l.WriteDeadline == 0 {
		l.WriteDeadline = server.DefaultWriteDeadline
	}
	if o.PingInterval == 0 {
		o.PingInterval = server.DefaultPingInterval
	}
	if o.PingMax == 0 {
		o.PingMax = server.DefaultPingMax
	}
	if o.AuthTimeout == 0 {
		o.AuthTimeout = server.DefaultAuthTimeout
	}
	return o
}

// Enabled reports whether a cluster listener is configured.
func (o *Options) Enabled() bool { return o.Port != 0 }
