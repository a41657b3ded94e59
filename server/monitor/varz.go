package monitor

import (
	"runtime"
	"time"

	"github.com/natsd/natsd/cluster"

	"github.com/natsd/natsd/server"
)

// Varz is /varz: the fields natsd has, with nats-server's names.
type Varz struct {
	ID               string            `json:"server_id"`
	Name             string            `json:"server_name"`
	Version          string            `json:"version"`
	NatsdVersion     string            `json:"natsd_version"`
	Proto            int               `json:"proto"`
	GoVersion        string            `json:"go"`
	Host             string            `json:"host"`
	Port             int               `json:"port"`
	AuthRequired     bool              `json:"auth_required,omitempty"`
	TLSRequired      bool              `json:"tls_required,omitempty"`
	TLSVerify        bool              `json:"tls_verify,omitempty"`
	MaxConn          int               `json:"max_connections"`
	MaxSubs          int               `json:"max_subscriptions,omitempty"`
	PingInterval     time.Duration     `json:"ping_interval"`
	MaxPingsOut      int               `json:"ping_max"`
	HTTPHost         string            `json:"http_host"`
	HTTPPort         int               `json:"http_port"`
	HTTPBasePath     string            `json:"http_base_path"`
	HTTPSPort        int               `json:"https_port"`
	AuthTimeout      float64           `json:"auth_timeout"`
	MaxControlLine   int               `json:"max_control_line"`
	MaxPayload       int               `json:"max_payload"`
	MaxPending       int64             `json:"max_pending"`
	Cluster          ClusterOptsVarz   `json:"cluster"`
	WebSocket        WebSocketOptsVarz `json:"websocket"`
	TLSTimeout       float64           `json:"tls_timeout"`
	WriteDeadline    time.Duration     `json:"write_deadline"`
	Start            time.Time         `json:"start"`
	Now              time.Time         `json:"now"`
	Uptime           string            `json:"uptime"`
	Mem              int64             `json:"mem"`
	Cores            int               `json:"cores"`
	MaxProcs         int               `json:"gomaxprocs"`
	CPU              float64           `json:"cpu"`
	Connections      int               `json:"connections"`
	TotalConnections uint64            `json:"total_connections"`
	Routes           int               `json:"routes"`
	Remotes          int               `json:"remotes"`
	Leafs            int               `json:"leafnodes"`
	InMsgs           int64             `json:"in_msgs"`
	OutMsgs          int64             `json:"out_msgs"`
	InBytes          int64             `json:"in_bytes"`
	OutBytes         int64             `json:"out_bytes"`
	SlowConsumers    int64             `json:"slow_consumers"`
	StaleConnections int64             `json:"stale_connections"`
	Subscriptions    uint32            `json:"subscriptions"`
	HTTPReqStats     map[string]uint64 `json:"http_req_stats"`
	ConfigLoadTime   time.Time         `json:"config_load_time"`
	ConnectURLs      []string          `json:"connect_urls,omitempty"`
	ConfigDigest     string            `json:"config_digest,omitempty"`
	SystemAccount    string            `json:"system_account,omitempty"`
	// JetStream is nats-server's "jetstream": config, stats, limits.
	JetStream any `json:"jetstream,omitempty"`
	// TLSCertNotAfter is when the client certificate expires (nats-server's
	// field); TLSCertError is natsd's: why the certificate files on disk
	// were refused the last time they changed, while the previous pair
	// keeps serving ("" once a reload succeeds).
	TLSCertNotAfter time.Time `json:"tls_cert_not_after,omitzero"`
	TLSCertError    string    `json:"tls_cert_error,omitempty"`
	// natsd's reload status: when the last reload ran and how it ended.
	LastReload      *time.Time `json:"last_reload,omitempty"`
	LastReloadError string     `json:"last_reload_error,omitempty"`
	Goroutines      int        `json:"goroutines"`
}

// ClusterOptsVarz is /varz "cluster".
type ClusterOptsVarz struct {
	Name        string   `json:"name,omitempty"`
	Host        string   `json:"addr,omitempty"`
	Port        int      `json:"cluster_port,omitempty"`
	AuthTimeout float64  `json:"auth_timeout,omitempty"`
	URLs        []string `json:"urls,omitempty"`
	TLSTimeout  float64  `json:"tls_timeout,omitempty"`
	TLSRequired bool     `json:"tls_required,omitempty"`
	TLSVerify   bool     `json:"tls_verify,omitempty"`
	// As the top-level fields, for cluster.tls.
	TLSCertNotAfter time.Time `json:"tls_cert_not_after,omitzero"`
	TLSCertError    string    `json:"tls_cert_error,omitempty"`
}

// WebSocketOptsVarz is /varz "websocket", with nats-server's fields ({}
// without a WebSocket listener).
type WebSocketOptsVarz struct {
	Host             string        `json:"host,omitempty"`
	Port             int           `json:"port,omitempty"`
	Advertise        string        `json:"advertise,omitempty"`
	NoAuthUser       string        `json:"no_auth_user,omitempty"`
	JWTCookie        string        `json:"jwt_cookie,omitempty"`
	HandshakeTimeout time.Duration `json:"handshake_timeout,omitempty"`
	AuthTimeout      float64       `json:"auth_timeout,omitempty"`
	NoTLS            bool          `json:"no_tls,omitempty"`
	TLSMap           bool          `json:"tls_map,omitempty"`
	TLSPinnedCerts   []string      `json:"tls_pinned_certs,omitempty"`
	SameOrigin       bool          `json:"same_origin,omitempty"`
	AllowedOrigins   []string      `json:"allowed_origins,omitempty"`
	Compression      bool          `json:"compression,omitempty"`
	// As the top-level fields, for websocket.tls.
	TLSCertNotAfter time.Time `json:"tls_cert_not_after,omitzero"`
	TLSCertError    string    `json:"tls_cert_error,omitempty"`
}

// DaemonStats is what /varz shows of the daemon: the monitoring address,
// the config and the last reload.
type DaemonStats struct {
	HTTPHost        string
	HTTPPort        int
	BasePath        string
	ConfigDigest    string
	ConfigLoadTime  time.Time
	LastReload      time.Time // zero: none yet
	LastReloadError string
	HTTPSPort       int // the bound HTTPS monitoring port (0: none)
	// Why the certificate files of tls { }, cluster.tls and websocket.tls
	// were refused when they last changed on disk ("": they were not).
	TLSCertError, ClusterTLSCertError, WebSocketTLSCertError string
	// For /metrics only.
	LastReloadChanges int
	ReloadsOK         uint64 // reloads that applied (or found nothing to change)
	ReloadsFailed     uint64 // reloads that failed or were held back
	ConfigFile        string
	Certs             []CertExpiry // the configured certificates
	// JetStream is /varz's "jetstream" (nil when off).
	JetStream any
}

// BuildVarz makes /varz from the server's statistics and options, the
// cluster's (nil: not clustered) and the daemon's.
func BuildVarz(srv *server.Server, cs *cluster.Stats, ds DaemonStats) *Varz {
	o := srv.Options()
	st := srv.Stats()
	now := time.Now()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	v := &Varz{
		ID: st.ID, Name: st.Name, Version: server.ProtocolVersion, NatsdVersion: st.Version, Proto: 1,
		GoVersion: runtime.Version(), Host: st.Host, Port: st.Port, AuthRequired: o.Auth.Required(),
		MaxConn: o.MaxConnections, MaxSubs: o.MaxSubs, PingInterval: o.PingInterval, MaxPingsOut: o.PingMax,
		AuthTimeout: o.Auth.Timeout.Seconds(), MaxControlLine: o.MaxControlLine, MaxPayload: o.MaxPayload,
		MaxPending: o.MaxPending, TLSTimeout: 2, WriteDeadline: o.WriteDeadline,
		HTTPSPort: ds.HTTPSPort,
		Start:     st.Start, Now: now, Uptime: FormatDuration(now.Sub(st.Start)),
		Mem: int64(ms.Sys - ms.HeapReleased), Cores: runtime.NumCPU(), MaxProcs: runtime.GOMAXPROCS(0),
		CPU:         processCPU(now.Sub(st.Start)),
		Connections: st.Connections, TotalConnections: st.TotalConnections,
		InMsgs: st.InMsgs, OutMsgs: st.OutMsgs, InBytes: st.InBytes, OutBytes: st.OutBytes,
		SlowConsumers: st.SlowConsumers, StaleConnections: st.StaleConnections,
		Subscriptions: uint32(st.Subscriptions), ConnectURLs: st.ConnectURLs, Goroutines: runtime.NumGoroutine(),
		HTTPHost: ds.HTTPHost, HTTPPort: ds.HTTPPort, HTTPBasePath: ds.BasePath,
		ConfigDigest: ds.ConfigDigest, ConfigLoadTime: ds.ConfigLoadTime, JetStream: ds.JetStream,
	}
	if o.TLS != nil {
		v.TLSRequired = !o.AllowNonTLS
		v.TLSVerify = o.TLS.Verify
		v.TLSTimeout = o.TLS.HandshakeTimeout().Seconds()
		v.TLSCertNotAfter = st.TLSCertNotAfter
		v.TLSCertError = ds.TLSCertError
	}
	if w := o.WebSocket; w.Enabled() && st.WebSocketPort != 0 {
		v.WebSocket = WebSocketOptsVarz{Host: st.WebSocketHost, Port: st.WebSocketPort, Advertise: w.Advertise,
			NoAuthUser: w.NoAuthUser, JWTCookie: w.JWTCookie, HandshakeTimeout: w.HandshakeTimeout,
			AuthTimeout: w.AuthTimeout.Seconds(), NoTLS: w.NoTLS, SameOrigin: w.SameOrigin,
			AllowedOrigins: w.AllowedOrigins, Compression: w.Compression}
		if t := w.TLS; t != nil && !w.NoTLS {
			v.WebSocket.TLSMap = t.VerifyAndMap
			for _, p := range t.PinnedCerts {
				v.WebSocket.TLSPinnedCerts = append(v.WebSocket.TLSPinnedCerts, string(p))
			}
			v.WebSocket.TLSCertNotAfter = st.WebSocketCertNotAfter
			v.WebSocket.TLSCertError = ds.WebSocketTLSCertError
		}
	}
	if !ds.LastReload.IsZero() {
		t := ds.LastReload
		v.LastReload = &t
		v.LastReloadError = ds.LastReloadError
	}
	if cs != nil {
		v.Cluster = ClusterOptsVarz{Name: cs.Name, Host: cs.Host, Port: cs.Port, AuthTimeout: cs.AuthTimeout.Seconds(), TLSTimeout: 2, URLs: cs.URLs}
		if cs.TLSRequired {
			// Routes always verify their peer.
			v.Cluster.TLSRequired, v.Cluster.TLSVerify = true, true
			v.Cluster.TLSTimeout = cs.TLSTimeout.Seconds()
			v.Cluster.TLSCertNotAfter = cs.TLSCertNotAfter
			v.Cluster.TLSCertError = ds.ClusterTLSCertError
		}
		v.Routes = len(cs.Routes)
		v.Remotes = len(cs.Routes)
	}
	return v
}
