package cluster

import (
	"crypto/subtle"
	"github.com/natsd/natsd/server/conn"
	"net/url"

	"go.uber.org/zap"
)

// Apply switches the cluster to new options (a config reload): the name,
// route authorization (accepted routes whose credentials no longer pass are
// closed), advertise settings, keepalive, and the routes as a set — added
// URLs are dialed at once; removed ones are closed, never redialed, and
// gossip about their peers is ignored while they stay removed. The listener
// address is the caller's business (Serve a new one, StopListener the old).
func (c *Cluster) Apply(o Options) {
	o = o.withDefaults()
	old := *c.opts.Swap(&o)
	c.mu.Lock()
	if o.Name != "" && o.Name != c.name {
		c.name, c.dynamic = o.Name, false
		c.logger().Info("Cluster name updated to " + o.Name)
		c.local.SetClusterName(o.Name)
	}
	c.mu.Unlock()

	if o.Username != old.Username || o.Password != old.Password {
		c.reauthorize(&o)
	}
	added, removed := diffRoutes(old.Routes, o.Routes)
	for _, u := range removed {
		c.removeRoute(u)
	}
	for _, u := range added {
		c.logger().Info("Adding route " + routeKey(u))
		c.solicit(u, true)
	}
}

// diffRoutes compares route URLs as sets (credentials aside).
func diffRoutes(old, cur []*url.URL) (added, removed []*url.URL) {
	in := func(list []*url.URL, u *url.URL) bool {
		for _, x := range list {
			if routeKey(x) == routeKey(u) {
				return true
			}
		}
		return false
	}
	for _, u := range cur {
		if !in(old, u) {
			added = append(added, u)
		}
	}
	for _, u := range old {
		if !in(cur, u) {
			removed = append(removed, u)
		}
	}
	return added, removed
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
