package cluster

import (
	"encoding/json"
	"net/url"

	"github.com/natsd/natsd/server/conn"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/wire"
)

// currentOpts is what the cluster runs with now (lock-free: every write
// and keepalive tick reads it).
func (c *Cluster) currentOpts() *Options { return c.opts.Load() }

// negotiateName applies nats-server's cluster name rule to a peer's name:
// a dynamic local name gives way to a static one, or to a larger dynamic
// one. It reports whether the names agree now, and our name.
func (c *Cluster) negotiateName(theirs string, theirsDynamic bool) (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if theirs == c.name {
		return true, c.name
	}
	if theirs == "" || !c.dynamic || (theirsDynamic && c.name >= theirs) {
		return false, c.name
	}
	c.name, c.dynamic = theirs, theirsDynamic
	c.logger().Info("Cluster name updated to " + theirs)
	c.local.SetClusterName(theirs)
	return true, c.name
}

// handshakeInfo handles the peer's first INFO: checks, then registration.
func (c *Cluster) handshakeInfo(r *route, pi *peerInfo) error {
	if pi.ID == "" {
		return &closeErr{"", conn.ProtocolViolation}
	}
	if pi.ID == c.local.ID() {
		// We dialed ourselves (our own address is in the route list).
		r.Lock()
		r.self = true
		r.Unlock()
		r.logger().Debug("Detected route to self, ignoring")
		return &closeErr{"", conn.ProtocolViolation}
	}
	if r.solicited {
		if ok, ours := c.negotiateName(pi.Cluster, pi.ClusterDynamic); !ok {
			r.logger().Error("Route cluster name mismatch", zap.String("theirs", pi.Cluster), zap.String("ours", ours))
			return &closeErr{"", conn.ProtocolViolation}
		}
	}
	c.mu.Lock()
	_, removed := c.removedPeers[pi.ID]
	c.mu.Unlock()
	if removed && !r.solicited {
		// A reload removed our route to this peer: it stays closed, also
		// when the peer dials us because gossip told it about us.
		r.logger().Info("Refusing route from a peer whose route was removed by a reload", zap.String("peer", pi.ID))
		return &closeErr{"", conn.RouteRemoved}
	}
	if c.blockedPeer(pi.Name) {
		// The route-drop test hook (testhooks.go) cuts this peer off.
		r.logger().Warn("Test hook: refusing a route to a blocked peer", zap.String("peer", pi.Name))
		return &closeErr{"", conn.RouteRemoved}
	}
	if pi.Name != "" && pi.Name == c.local.Name() {
		r.logger().Error("Remote server has a duplicate name: " + pi.Name)
		return &closeErr{"", conn.ProtocolViolation}
	}
	r.Lock()
	r.peer = *pi
	r.Unlock()
	if !c.register(r) {
		return &closeErr{"", conn.DuplicateRoute}
	}
	if pi.JetStream {
		// nats-server answers $JS.API in each account through its own
		// node's import from the system account: that interest never
		// crosses a route, so this server's clients cannot reach it.
		r.logger().Warn("Route peer runs JetStream, which natsd does not take part in: clients of this server get no responders from its JetStream; connect JetStream clients to that server",
			zap.String("peer", pi.Name))
	}
	return nil
}

// dialer is the server id that dialed r.
func (c *Cluster) dialer(r *route) string {
	if r.solicited {
		return c.local.ID()
	}
	return r.peer.ID
}

// register makes r the route to its peer, unless another connection to the
// same peer should stay. Between two connections to one peer both servers
// keep the one dialed by the server with the smaller id, so they agree
// without talking. It reports whether r was registered.
func (c *Cluster) register(r *route) bool {
	id := r.peer.ID
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	var loser *route
	if old := c.routes[id]; old != nil {
		if c.dialer(old) == c.dialer(r) || c.dialer(old) < c.dialer(r) {
			c.mu.Unlock()
			c.inherit(old, r)
			r.logger().Debug("Duplicate route to " + id + ", keeping the existing one")
			return false
		}
		loser = old
		delete(c.routes, id)
	}
	c.routes[id] = r
	c.notifyChanged()
	noAdvertise := c.currentOpts().NoAdvertise
	c.mu.Unlock()
	if loser != nil {
		c.inherit(r, loser)
		loser.Close(conn.DuplicateRoute)
	}
	if r.dialer() == nil {
		c.adoptDialer(r, id)
	}
	r.Lock()
	r.registered = true
	r.Unlock()
	r.logger().Info("Registering remote route \"" + id + "\"")
	if sol := r.dialer(); sol != nil {
		sol.setPeer(id)
	}

	if !noAdvertise {
		c.local.SetPeerURLs(id, r.peer.ConnectURLs)
		c.local.SetPeerWebSocketURLs(id, r.peer.WSConnectURLs)
	}
	// Our interest, as one burst of RS+; then the route takes updates.
	var burst []byte
	c.local.LocalInterest(func(acc, subject, queue string, weight int32) {
		burst = wire.AppendRouteSub(burst, acc, subject, queue, weight)
	}, func() {
		r.Lock()
		if !r.IsClosedLocked() {
			r.Queue().Write(burst)
			r.ready = true
		}
		r.Unlock()
	})
	r.Wake()
	r.logger().Debug("Sent local subscriptions to route")
	r.ArmKeepalive(firstRoutePing)
	c.forwardGossip(r)
	return true
}

// inherit lets the surviving connection to a peer take over the dialer of
// the one closed as a duplicate, so that a configured route is redialed if
// the survivor drops.
func (c *Cluster) inherit(survivor, dup *route) {
	sol := dup.dialer()
	if sol == nil {
		return
	}
	survivor.Lock()
	if survivor.sol == nil {
		survivor.sol = sol
	}
	id := survivor.peer.ID
	survivor.Unlock()
	sol.setPeer(id)
}

// adoptDialer gives r the dialer already bound to its peer, if there is
// one: the route that dialer made dropped (closed by the peer as a
// duplicate, say) before r, which the peer dialed, was registered, so
// nothing was inherited. r is then the configured route to that peer, which
// /routez shows and a reload that removes the route closes.
func (c *Cluster) adoptDialer(r *route, id string) {
	c.mu.Lock()
	var sol *solicitor
	for _, s := range c.solicits {
		if s.peerID() == id {
			sol = s
			break
		}
	}
	c.mu.Unlock()
	if sol == nil {
		return
	}
	r.Lock()
	if r.sol == nil {
		r.sol = sol
	}
	r.Unlock()
}

// forwardGossip tells every other peer about r's peer, with the address to
// dial it at; they connect to it, and the full mesh forms from one seed
// address (nats-server's v2.9 gossip, which every version understands).
func (c *Cluster) forwardGossip(r *route) {
	newInfo := r.gossipInfo()
	for _, o := range c.registered() {
		if o != r {
			o.Send(newInfo)
		}
	}
}

// gossipInfo is the peer's INFO as forwarded to others: with "ip" set and no
// trailing space (as nats-server forwards it).
func (r *route) gossipInfo() []byte {
	r.Lock()
	pi := r.peer
	r.Unlock()
	in := info{
		ID: pi.ID, Name: pi.Name, Version: pi.Version, Proto: routeProto, GoVersion: pi.GoVersion,
		Host: pi.Host, Port: pi.Port, Headers: pi.Headers, AuthRequired: pi.AuthRequired,
		MaxPayload: pi.MaxPayload, IP: r.peerRouteURL(&pi).String(), Cluster: pi.Cluster,
		ClusterDynamic: pi.ClusterDynamic, ConnectURLs: pi.ConnectURLs, WSConnectURLs: pi.WSConnectURLs,
	}
	b, _ := json.Marshal(&in)
	return append(append([]byte("INFO "), b...), '\r', '\n')
}

// gossiped handles an INFO about another server: dial it unless it is us,
// already connected, already being dialed, or removed by a reload.
func (c *Cluster) gossiped(pi *peerInfo) {
	if pi.ID == "" || pi.ID == c.local.ID() || pi.IP == "" && pi.Port == 0 {
		return
	}
	u, err := url.Parse(pi.IP)
	if err != nil || u.Host == "" {
		return
	}
	o := c.currentOpts()
	c.mu.Lock()
	if c.closing || c.routes[pi.ID] != nil || c.removed[routeKey(u)] || c.removedPeers[pi.ID] != "" {
		c.mu.Unlock()
		return
	}
	for _, s := range c.solicits {
		if s.key == routeKey(u) || s.peerID() == pi.ID {
			c.mu.Unlock()
			return
		}
	}
	c.mu.Unlock()
	if pi.AuthRequired && o.Username != "" {
		u.User = url.UserPassword(o.Username, o.Password)
	}
	c.logger().Debug("Gossip: new server in the cluster", zap.String("id", pi.ID), zap.String("url", routeKey(u)))
	c.solicit(u, false)
}
