package daemon

import (
	"net"
	"net/http"
	"sync/atomic"

	"github.com/natsd/natsd/cluster"
	"github.com/natsd/natsd/server/monitor"
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
	src := monitor.Sources{Server: d.srv, Cluster: d.clusterStats, Daemon: d.daemonStats, Healthz: d.health}
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
		TLSCertError: ts.clientErr, ClusterTLSCertError: ts.clusterErr}
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
