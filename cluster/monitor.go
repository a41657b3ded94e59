package cluster

import (
	"cmp"
	"slices"
	"time"

	"github.com/natsd/natsd/server"
)

// Routez is /routez, with nats-server's field names.
type Routez struct {
	ID        string       `json:"server_id"`
	Name      string       `json:"server_name"`
	Now       time.Time    `json:"now"`
	NumRoutes int          `json:"num_routes"`
	Routes    []*RouteInfo `json:"routes"`
}

// RouteInfo is one route connection in /routez.
type RouteInfo struct {
	Rid          uint64    `json:"rid"`
	RemoteID     string    `json:"remote_id"`
	RemoteName   string    `json:"remote_name"`
	DidSolicit   bool      `json:"did_solicit"`
	IsConfigured bool      `json:"is_configured"`
	IP           string    `json:"ip"`
	Port         int       `json:"port"`
	Start        time.Time `json:"start"`
	LastActivity time.Time `json:"last_activity"`
	RTT          string    `json:"rtt,omitempty"`
	Uptime       string    `json:"uptime"`
	Idle         string    `json:"idle"`
	Pending      int       `json:"pending_size"`
	InMsgs       int64     `json:"in_msgs"`
	OutMsgs      int64     `json:"out_msgs"`
	InBytes      int64     `json:"in_bytes"`
	OutBytes     int64     `json:"out_bytes"`
	NumSubs      uint32    `json:"subscriptions"`
	Subs         []string  `json:"subscriptions_list,omitempty"`
	Compression  string    `json:"compression,omitempty"`
}

// Routez lists the registered routes.
func (c *Cluster) Routez(subs bool) *Routez {
	rs := c.registered()
	now := time.Now()
	rz := &Routez{ID: c.local.ID(), Name: c.local.Name(), Now: now.UTC(), Routes: []*RouteInfo{}}
	for _, r := range rs {
		last := time.Unix(0, r.lastRead.Load())
		start := r.Start()
		inMsgs, inBytes := r.In()
		r.Lock()
		outMsgs, outBytes := r.OutLocked()
		ri := &RouteInfo{
			Rid: r.rid, RemoteID: r.peer.ID, RemoteName: r.peer.Name, DidSolicit: r.solicited,
			IsConfigured: r.sol != nil && r.sol.explicit.Load(), IP: r.Host(), Port: r.Port(), Start: start,
			LastActivity: last, Uptime: server.FormatDuration(now.Sub(start)), Idle: server.FormatDuration(now.Sub(last)),
			Pending: r.PendingLocked(), InMsgs: inMsgs, OutMsgs: outMsgs, InBytes: inBytes, OutBytes: outBytes,
			NumSubs: uint32(len(r.remote)), Compression: "not supported",
		}
		if rtt := r.RTTLocked(); rtt > 0 {
			ri.RTT = rtt.String()
		}
		if subs {
			for k := range r.remote {
				ri.Subs = append(ri.Subs, k.subject)
			}
			slices.Sort(ri.Subs)
		}
		r.Unlock()
		rz.Routes = append(rz.Routes, ri)
	}
	slices.SortFunc(rz.Routes, func(a, b *RouteInfo) int { return cmp.Compare(a.Rid, b.Rid) })
	rz.NumRoutes = len(rz.Routes)
	return rz
}

// VarzCluster fills /varz "cluster", "routes" and "remotes".
func (c *Cluster) VarzCluster(v *server.Varz) {
	o := c.currentOpts()
	c.mu.Lock()
	v.Cluster = server.ClusterOptsVarz{
		Name: c.name, Host: o.Host, Port: c.port, AuthTimeout: o.AuthTimeout.Seconds(), TLSTimeout: 2,
	}
	for _, u := range o.Routes {
		v.Cluster.URLs = append(v.Cluster.URLs, u.Host)
	}
	v.Routes = len(c.routes)
	v.Remotes = len(c.routes)
	c.mu.Unlock()
}
