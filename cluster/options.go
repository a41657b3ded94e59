package cluster

import (
	"net/url"
	"time"
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
	PingInterval   time.Duration
	PingMax        int
}

// Enabled reports whether a cluster listener is configured.
func (o *Options) Enabled() bool { return o.Port != 0 }
