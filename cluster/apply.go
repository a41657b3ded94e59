package cluster

import (
	"crypto/subtle"
	"net/url"

	"github.com/natsd/natsd/server/conn"

	"go.uber.org/zap"
)

// Changes is what a reload changed that the cluster acts on beyond using
// the new options (advertise settings, keepalive, limits and dial
// credentials are read where they are used). The caller's diff says so
// (daemon/diff.go); Apply does not compare options itself.
type Changes struct {
	Name bool // cluster.name: adopted (existing routes are not re-checked)
	Auth bool // route authorization: accepted routes are checked again
	// AddedRoutes are dialed at once; RemovedRoutes are closed, never
	// redialed, and gossip about their peers is ignored while they stay
	// removed. Routes are told apart by RouteKey.
	AddedRoutes, RemovedRoutes []*url.URL
}

// RouteKey is how routes are told apart: the URL without its credentials.
func RouteKey(u *url.URL) string { return routeKey(u) }

// Apply switches the cluster to new options (a config reload) and acts on
// ch. The listener address is the caller's business (Serve a new one,
// StopListener the old).
func (c *Cluster) Apply(o Options, ch Changes) {
	o = o.withDefaults()
	c.opts.Store(&o)
	if ch.Name && o.Name != "" {
		c.mu.Lock()
		if o.Name != c.name {
			c.name, c.dynamic = o.Name, false
			c.logger().Info("Cluster name updated to " + o.Name)
			c.local.SetClusterName(o.Name)
		}
		c.mu.Unlock()
	}
	if ch.Auth {
		c.reauthorize(&o)
	}
	for _, u := range ch.RemovedRoutes {
		c.removeRoute(u)
	}
	for _, u := range ch.AddedRoutes {
		c.logger().Info("Adding route " + routeKey(u))
		c.solicit(u, true)
	}
}

// removeRoute stops dialing u and closes the routes it dialed (or that took
// over for it after a duplicate was resolved). Their peers stay unwanted:
// gossip about them is ignored until a reload configures them again.
func (c *Cluster) removeRoute(u *url.URL) {
	key := routeKey(u)
	c.mu.Lock()
	c.removed[key] = true
	s := c.solicits[key]
	conns := make([]*route, 0, len(c.conns))
	for r := range c.conns {
		conns = append(conns, r)
	}
	c.mu.Unlock()
	var victims []*route
	for _, r := range conns {
		r.Lock()
		mine := r.sol != nil && r.sol.key == key
		r.Unlock()
		if mine {
			victims = append(victims, r)
		}
	}
	if s != nil {
		s.cancel()
	}
	for _, r := range victims {
		r.Lock()
		id := r.peer.ID
		r.Unlock()
		if id != "" {
			c.mu.Lock()
			c.removedPeers[id] = key
			c.mu.Unlock()
		}
		c.logger().Info("Removed route " + key)
		r.Close(conn.RouteRemoved)
	}
}

// reauthorize closes accepted routes whose CONNECT credentials the new
// cluster authorization refuses.
func (c *Cluster) reauthorize(o *Options) {
	c.mu.Lock()
	var victims []*route
	for r := range c.conns {
		if r.solicited {
			continue
		}
		r.Lock()
		user, pass := r.user, r.pass
		r.Unlock()
		if o.Username != "" && (user != o.Username || subtle.ConstantTimeCompare([]byte(pass), []byte(o.Password)) != 1) {
			victims = append(victims, r)
		}
	}
	c.mu.Unlock()
	for _, r := range victims {
		r.logger().Info("Route authorization no longer valid after reload; closing", zap.String("user", r.user))
		r.SendErrAndClose(errAuth, conn.AuthRevoked)
	}
}
