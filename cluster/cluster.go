package cluster

import (
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/natsd/natsd/server/conn"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/wire"
)

// Cluster is this server's side of the cluster: it accepts and dials routes,
// keeps one route per peer, gossips members so that the cluster becomes a
// full mesh, propagates local interest and forwards messages one hop (save
// nats-server's queue exception, see server.RouteLink.Deliver). It
// implements server.Router.
type Cluster struct {
	local Local
	log   atomic.Pointer[zap.Logger]
	opts  atomic.Pointer[Options] // what the cluster runs with; replaced whole by Apply

	mu           sync.Mutex
	name         string
	dynamic      bool
	listeners    map[net.Listener]struct{}
	port         int                   // the bound cluster port (for INFO)
	routes       map[string]*route     // registered, by remote server id
	conns        map[*route]struct{}   // every route connection, registered or not
	solicits     map[string]*solicitor // dialers by route URL (without credentials)
	removed      map[string]bool       // route URLs a reload removed: never redialed, gossip ignored
	removedPeers map[string]string     // server ids behind removed routes (to the route URL key): refused, gossip about them ignored
	changed      chan struct{}         // closed and replaced whenever routes change
	handshaking  map[net.Conn]struct{} // accepted sockets in their TLS handshake (Shutdown closes them)
	closing      bool

	tls atomic.Pointer[routeTLS] // cluster.tls's certificates (tls.go)

	nextRID atomic.Uint64
	wg      sync.WaitGroup
}

// New returns a cluster for the local server. Nothing runs until Serve and
// Start.
func New(o Options, local Local, log *zap.Logger) *Cluster {
	o = o.withDefaults()
	if log == nil {
		log = zap.NewNop()
	}
	c := &Cluster{
		local:        local,
		name:         o.Name,
		listeners:    map[net.Listener]struct{}{},
		routes:       map[string]*route{},
		conns:        map[*route]struct{}{},
		solicits:     map[string]*solicitor{},
		removed:      map[string]bool{},
		removedPeers: map[string]string{},
		changed:      make(chan struct{}),
		handshaking:  map[net.Conn]struct{}{},
	}
	c.log.Store(log)
	c.opts.Store(&o)
	if c.name == "" {
		c.name, c.dynamic = dynamicName(), true
		log.Warn("Cluster name was dynamically generated, consider setting one")
	}
	local.SetClusterName(c.name)
	return c
}

func (c *Cluster) logger() *zap.Logger { return c.log.Load() }

// SetLogger replaces the logger (reload).
func (c *Cluster) SetLogger(l *zap.Logger) { c.log.Store(l) }

// dynamicName is 22 random characters, as nats-server generates.
func dynamicName() string { return server.RandomID(22) }

// Name is the cluster name now (it may have been adopted from a peer).
func (c *Cluster) Name() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.name
}

// Listen makes ln the route listener the cluster announces (its port goes
// in every route INFO and in gossip about this server). Call it before
// Start, and before serving ln in a goroutine of its own: a route dialed
// before the port is known would tell peers to dial port 0.
func (c *Cluster) Listen(ln net.Listener) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closing {
		_ = ln.Close()
		return errClosed
	}
	c.listeners[ln] = struct{}{}
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		c.port = a.Port
	}
	return nil
}

// Serve accepts routes on ln until it is closed (it calls Listen first if
// the caller did not).
func (c *Cluster) Serve(ln net.Listener) error {
	c.mu.Lock()
	_, known := c.listeners[ln]
	c.mu.Unlock()
	if !known {
		if err := c.Listen(ln); err != nil {
			return err
		}
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return errClosed
	}
	c.wg.Add(1)
	c.mu.Unlock()
	defer c.wg.Done()
	conn.AcceptLoop(ln, c.accept, func(err error) {
		c.logger().Error("Error accepting route connection", zap.Error(err))
	})
	return nil
}

// accept runs an accepted route connection on a goroutine of its own:
// with cluster.tls the handshake first (tls.go), never on the accept loop.
func (c *Cluster) accept(nc net.Conn) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		_ = nc.Close()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		if o := c.currentOpts(); o.TLS != nil {
			if nc = c.acceptTLS(nc, o); nc == nil {
				return
			}
		}
		if r := c.newRoute(nc, nil); r != nil {
			r.run()
		}
	}()
}

var errClosed = errors.New("cluster: closed")

// StopListener stops accepting routes on ln; routes stay connected.
func (c *Cluster) StopListener(ln net.Listener) {
	c.mu.Lock()
	delete(c.listeners, ln)
	c.mu.Unlock()
	_ = ln.Close()
}

// Start dials every configured route.
func (c *Cluster) Start() {
	routes := c.currentOpts().Routes
	for _, u := range routes {
		c.solicit(u, true)
	}
	c.startTestHooks()
}

// Shutdown closes the listeners and every route, and stops dialing.
func (c *Cluster) Shutdown() {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		c.wg.Wait()
		return
	}
	c.closing = true
	for ln := range c.listeners {
		_ = ln.Close()
	}
	c.listeners = map[net.Listener]struct{}{}
	for _, s := range c.solicits {
		s.cancel()
	}
	for nc := range c.handshaking {
		_ = nc.Close()
	}
	conns := make([]*route, 0, len(c.conns))
	for r := range c.conns {
		conns = append(conns, r)
	}
	c.mu.Unlock()
	for _, r := range conns {
		r.Close(conn.ServerShutdown)
	}
	c.wg.Wait()
}

// notifyChanged wakes whoever waits for the set of routes to change.
// Call with c.mu held.
func (c *Cluster) notifyChanged() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// myInfo is the route INFO this server sends.
func (c *Cluster) myInfo() info {
	o := c.currentOpts()
	c.mu.Lock()
	name, dynamic, port := c.name, c.dynamic, c.port
	c.mu.Unlock()
	host := o.Host
	var ip string
	if o.Advertise != "" {
		if h, p, err := net.SplitHostPort(o.Advertise); err == nil {
			host = h
			port, _ = strconv.Atoi(p)
		} else {
			host = o.Advertise
		}
		ip = "nats-route://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
	}
	in := info{
		ID: c.local.ID(), Name: c.local.Name(), Version: server.ProtocolVersion, Proto: routeProto,
		GoVersion: runtime.Version(), Host: host, Port: port, Headers: true,
		AuthRequired: o.Username != "", TLSRequired: o.TLS != nil, TLSVerify: o.TLS != nil,
		MaxPayload: o.Limits.MaxPayload, IP: ip,
		Cluster: name, ClusterDynamic: dynamic,
	}
	if !o.NoAdvertise {
		in.ConnectURLs = c.local.OwnClientURLs()
		in.WSConnectURLs = c.local.OwnWebSocketURLs()
	}
	return in
}

// routeKey names the server a route URL dials — the key of solicitors and
// of removed routes — as nats-route://host:port: without credentials, path
// or scheme, and with the host in lower case. Servers gossip a peer's URL
// as nats-route://host:port/ (with a trailing slash) while a config may
// write nats-route://host:port or nats://host:port; all of them are one
// route, or gossip about a configured peer would start a second dialer
// for it.
func routeKey(u *url.URL) string {
	return (&url.URL{Scheme: "nats-route", Host: strings.ToLower(u.Host)}).String()
}

// NumRoutes is the number of registered route connections (/varz "routes").
func (c *Cluster) NumRoutes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.routes)
}

// InterestChanged sends RS+ or RS- to every route (server.Router). It runs
// under the account's interest lock, so it only queues.
func (c *Cluster) InterestChanged(acc, subject, queue string, weight int32) {
	// Iterating under c.mu is safe (nothing takes c.mu while holding a
	// route's lock) and spares a slice per SUB.
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.routes {
		r.sendInterest(acc, subject, queue, weight)
	}
}

// registered is a snapshot of the registered routes.
func (c *Cluster) registered() []*route {
	c.mu.Lock()
	defer c.mu.Unlock()
	rs := make([]*route, 0, len(c.routes))
	for _, r := range c.routes {
		rs = append(rs, r)
	}
	return rs
}

// EnterLameDuck tells every peer that this server is going away (route INFO
// with "ldm": true): they drop its client URLs and tell their clients.
func (c *Cluster) EnterLameDuck() {
	in := c.myInfo()
	in.LameDuckMode = true
	b, _ := json.Marshal(&in)
	line := wire.AppendInfo(nil, b)
	for _, r := range c.registered() {
		r.Send(line)
	}
}

// JetStreamPeers are the names of the route peers whose INFO says they run
// JetStream (nats-servers: natsd does not set the flag), sorted.
func (c *Cluster) JetStreamPeers() []string {
	var out []string
	for _, r := range c.registered() {
		r.Lock()
		if r.peer.JetStream {
			name := r.peer.Name
			if name == "" {
				name = r.peer.ID
			}
			out = append(out, name)
		}
		r.Unlock()
	}
	sort.Strings(out)
	return out
}
