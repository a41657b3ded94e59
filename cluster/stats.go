package cluster

import (
	"slices"
	"time"
)

// Stats is the cluster as monitoring shows it (/varz "cluster", /routez).
type Stats struct {
	Name        string
	Host        string
	Port        int // the bound route port
	AuthTimeout time.Duration
	URLs        []string // configured routes, host:port
	Routes      []RouteStats
	// TLS (cluster.tls): whether routes use it (and then always verify),
	// the handshake timeout, and when the current certificate expires.
	TLSRequired     bool
	TLSTimeout      time.Duration
	TLSCertNotAfter time.Time
}

// RouteStats is one registered route.
type RouteStats struct {
	Rid          uint64
	RemoteID     string
	RemoteName   string
	DidSolicit   bool
	IsConfigured bool
	IP           string
	Port         int
	Start        time.Time
	LastActivity time.Time
	RTT          time.Duration
	Pending      int
	InMsgs       int64
	OutMsgs      int64
	InBytes      int64
	OutBytes     int64
	Subs         []string // the peer's interest, sorted
}

// Stats returns the cluster's statistics now.
func (c *Cluster) Stats() Stats {
	o := c.currentOpts()
	c.mu.Lock()
	st := Stats{Name: c.name, Host: o.Host, Port: c.port, AuthTimeout: o.AuthTimeout}
	c.mu.Unlock()
	if o.TLS != nil {
		st.TLSRequired, st.TLSTimeout = true, o.TLS.HandshakeTimeout()
		if rt := c.tls.Load(); rt != nil {
			st.TLSCertNotAfter = rt.store.NotAfter()
		}
	}
	for _, u := range o.Routes {
		st.URLs = append(st.URLs, u.Host)
	}
	for _, r := range c.registered() {
		inMsgs, inBytes := r.In()
		rs := RouteStats{
			Rid: r.rid, DidSolicit: r.solicited, IP: r.Host(), Port: r.Port(), Start: r.Start(),
			LastActivity: time.Unix(0, r.lastRead.Load()), InMsgs: inMsgs, InBytes: inBytes,
		}
		r.Lock()
		rs.RemoteID, rs.RemoteName = r.peer.ID, r.peer.Name
		rs.IsConfigured = r.sol != nil && r.sol.explicit.Load()
		rs.RTT, rs.Pending = r.RTTLocked(), r.PendingLocked()
		rs.OutMsgs, rs.OutBytes = r.OutLocked()
		for k := range r.remote {
			rs.Subs = append(rs.Subs, k.subject)
		}
		r.Unlock()
		slices.Sort(rs.Subs)
		st.Routes = append(st.Routes, rs)
	}
	slices.SortFunc(st.Routes, func(a, b RouteStats) int { return int(a.Rid) - int(b.Rid) })
	return st
}
