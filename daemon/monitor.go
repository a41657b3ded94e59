package daemon

import (
	"net"

	"github.com/natsd/natsd/cluster"
	"github.com/natsd/natsd/server/monitor"
)

// What monitoring reads from the daemon and, through it, from the cluster:
// each component keeps its own typed statistics, and server/monitor, which
// owns the responses, builds them from those.

// clusterStats is the cluster's statistics; nil when not clustered.
func (d *Daemon) clusterStats() *cluster.Stats {
	d.mu.Lock()
	cl := d.cl
	d.mu.Unlock()
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
	hl := d.httpLn
	lr := d.lastReload
	d.mu.Unlock()
	ds := monitor.DaemonStats{BasePath: o.Monitor.BasePath, ConfigDigest: o.Digest, ConfigLoadTime: o.LoadTime, LastReload: lr.Time}
	if hl != nil {
		if a, ok := hl.Addr().(*net.TCPAddr); ok {
			ds.HTTPHost, ds.HTTPPort = o.Monitor.Host, a.Port
		}
	}
	if lr.Err != nil {
		ds.LastReloadError = oneLine(lr.Err)
	}
	return ds
}
