package monitor

import (
	"cmp"
	"slices"
	"time"

	"github.com/natsd/natsd/cluster"
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

// BuildRoutez makes /routez from the cluster's statistics (cs nil: not
// clustered, an empty list).
func BuildRoutez(id, name string, cs *cluster.Stats, subs bool) *Routez {
	now := time.Now()
	rz := &Routez{ID: id, Name: name, Now: now.UTC(), Routes: []*RouteInfo{}}
	if cs == nil {
		return rz
	}
	for _, r := range cs.Routes {
		ri := &RouteInfo{
			Rid: r.Rid, RemoteID: r.RemoteID, RemoteName: r.RemoteName, DidSolicit: r.DidSolicit,
			IsConfigured: r.IsConfigured, IP: r.IP, Port: r.Port, Start: r.Start,
			LastActivity: r.LastActivity, Uptime: FormatDuration(now.Sub(r.Start)), Idle: FormatDuration(now.Sub(r.LastActivity)),
			Pending: r.Pending, InMsgs: r.InMsgs, OutMsgs: r.OutMsgs, InBytes: r.InBytes, OutBytes: r.OutBytes,
			NumSubs: uint32(len(r.Subs)), Compression: "not supported",
		}
		if r.RTT > 0 {
			ri.RTT = r.RTT.String()
		}
		if subs {
			ri.Subs = r.Subs
		}
		rz.Routes = append(rz.Routes, ri)
	}
	slices.SortFunc(rz.Routes, func(a, b *RouteInfo) int { return cmp.Compare(a.Rid, b.Rid) })
	rz.NumRoutes = len(rz.Routes)
	return rz
}
