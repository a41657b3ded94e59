package daemon

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/natsd/natsd/cluster"
	"github.com/natsd/natsd/server/monitor"
	"github.com/natsd/natsd/tlsconf"
)

// What monitoring reads from the daemon and, through it, from the cluster:
// each component keeps its own typed statistics, and server/monitor, which
// owns the responses, builds them from those.

// monitorHandler is what the monitor endpoint serves: the monitoring
// handler for the http_base_path in force. A reload that changes only the
// base path swaps the handler and leaves the listener where it is.
type monitorHandler struct{ h atomic.Pointer[http.Handler] }

func (m *monitorHandler) set(h http.Handler) { m.h.Store(&h) }

func (m *monitorHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	(*m.h.Load()).ServeHTTP(w, r)
}

func (d *Daemon) newMonitorHandler(o *Options) http.Handler {
	src := monitor.Sources{Server: d.srv, Cluster: d.clusterStats, Daemon: d.daemonStats, Healthz: d.health, JetStream: d.js}
	return monitor.Handler(src, o.Monitor.BasePath)
}

// clusterStats is the cluster's statistics; nil when not clustered.
func (d *Daemon) clusterStats() *cluster.Stats {
	cl := d.cluster()
	if cl == nil {
		return nil
	}
	st := cl.Stats()
	return &st
}

// daemonStats is what /varz shows of the daemon.
func (d *Daemon) daemonStats() monitor.DaemonStats {
	d.mu.Lock()
	o := d.opts
	var hl, sl net.Listener
	if e := d.live[endpointIndex("monitor")]; e != nil {
		hl = e.ln
	}
	if e := d.live[endpointIndex("https")]; e != nil {
		sl = e.ln
	}
	lr := d.lastReload
	ts := d.tls
	d.mu.Unlock()
	ds := monitor.DaemonStats{BasePath: o.Monitor.BasePath, ConfigDigest: o.Digest, ConfigLoadTime: o.LoadTime, LastReload: lr.Time,
		TLSCertError: ts.clientErr, ClusterTLSCertError: ts.clusterErr, WebSocketTLSCertError: ts.websocketErr,
		LastReloadChanges: lr.Changes, ReloadsOK: lr.OK, ReloadsFailed: lr.Failed, ConfigFile: o.ConfigFile, Certs: d.certs.of(o)}
	if d.js != nil {
		ds.JetStream = d.js.Varz()
	}
	if hl != nil {
		if a, ok := hl.Addr().(*net.TCPAddr); ok {
			ds.HTTPHost, ds.HTTPPort = o.Monitor.Host, a.Port
		}
	}
	if sl != nil {
		if a, ok := sl.Addr().(*net.TCPAddr); ok {
			ds.HTTPHost, ds.HTTPSPort = o.Monitor.Host, a.Port
		}
	}
	if lr.Err != nil {
		ds.LastReloadError = oneLine(lr.Err)
	}
	return ds
}

// certCache holds the configured certificates' expiry for one Options (a
// reload makes new Options), so that a scrape does not read the files.
//
// TODO(tls): these are the certificates the config names, read by
// tlsconf as a reload checks them. Once the TLS wiring serves from a
// tlsconf.Store that rotates its files, read that store's Leaves instead,
// so that a certificate rotated on disk shows at once.
type certCache struct {
	mu    sync.Mutex
	opts  *Options
	certs []monitor.CertExpiry
}

func (c *certCache) of(o *Options) []monitor.CertExpiry {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.opts == o {
		return c.certs
	}
	c.opts, c.certs = o, nil
	for _, b := range []struct {
		block string
		t     *tlsconf.Options
	}{{"tls", o.Server.TLS}, {"cluster.tls", o.Cluster.TLS}, {"websocket.tls", wsTLS(o)}} {
		if b.t == nil {
			continue
		}
		st, err := tlsconf.NewStore(b.t)
		if err != nil {
			continue // the reload that loaded o checked them; a file gone since is not a metric
		}
		for _, l := range st.Leaves() {
			c.certs = append(c.certs, monitor.CertExpiry{Block: b.block, Subject: l.Subject.CommonName, NotAfter: l.NotAfter})
		}
	}
	return c.certs
}
