package cluster

import (
	"crypto/subtle"
	"encoding/json"
	"net"
	"net/url"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/conn"
	"github.com/natsd/natsd/server/wire"
)

var crlf = []byte("\r\n")

// Route keepalive: the first PING a second after the route is up, then every
// ping_interval capped at 30 s (as nats-server 2.10+ does for routes).
const (
	firstRoutePing = time.Second
	maxRoutePing   = 30 * time.Second
	// Route control lines carry long queue lists: 16 × the client limit,
	// at least 64 KiB, as nats-server 2.14 allows.
	minRouteControlLine = 64 * 1024
)

// routeReads: a route reads in 32 KiB bites, busy or not (there are few).
var routeReads = conn.ReadSizing{Start: 32 * 1024, Min: 32 * 1024, Max: 32 * 1024}

// route is one route connection, dialed (solicited) or accepted: the
// connection core plus the route protocol, the peer's interest and the
// handshake state.
type route struct {
	conn.Conn // socket, queue, writer, timers; its lock guards the fields below too

	cl        *Cluster
	rid       uint64
	solicited bool
	parser    *wire.Parser
	link      *server.RouteLink // the server's side: the peer's interest and messages

	// Guarded by the connection's lock.
	sol        *solicitor // the dialer, for a solicited route (or one taken over)
	gotConnect bool
	registered bool
	ready      bool // interest burst sent; takes RS+/RS- updates
	self       bool // the peer turned out to be this server
	peer       peerInfo
	remoteID   string // from CONNECT "name", before INFO
	user, pass string // the peer's CONNECT credentials (accepted routes)
	remote     map[subKey]*server.RemoteSub

	// Written by the read goroutine only: a routed message takes no lock
	// that publishers to this route contend on.
	lastRead atomic.Int64 // unix nanoseconds

	// admitted: the route may speak the route protocol. A route we dialed
	// is admitted from the start; one we accepted only once its CONNECT
	// passed (name, cluster and credentials). Until then every other op is
	// an Authorization Violation, as in nats-server: nothing reaches the
	// subject index or local subscribers from an unauthenticated socket.
	admitted atomic.Bool
}

type subKey struct{ account, subject, queue string }

// newRoute wraps a connection; sol is the dialer for a solicited route, nil
// for an accepted one. It returns nil when the cluster is shutting down.
func (c *Cluster) newRoute(nc net.Conn, sol *solicitor) *route {
	r := &route{
		cl:        c,
		rid:       c.nextRID.Add(1),
		solicited: sol != nil,
		sol:       sol,
		remote:    map[subKey]*server.RemoteSub{},
	}
	r.Init(nc, r)
	r.lastRead.Store(r.Start().UnixNano())
	r.admitted.Store(sol != nil)
	o := c.currentOpts()
	mcl := max(16*o.Limits.MaxControlLine, minRouteControlLine)
	r.parser = wire.NewRouteParser(r, wire.Limits{MaxControlLine: mcl})
	r.link = c.local.NewRouteLink(r)
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		_ = nc.Close()
		return nil
	}
	c.conns[r] = struct{}{}
	c.mu.Unlock()
	return r
}

// dialer returns the solicitor that dials r's peer (its own, or one it took
// over from a duplicate), or nil.
func (r *route) dialer() *solicitor {
	r.Lock()
	defer r.Unlock()
	return r.sol
}

func (r *route) logger() *zap.Logger {
	return r.cl.logger().With(zap.String("client", r.HostPort()+" - rid:"+strconv.FormatUint(r.rid, 10)))
}

// --- conn.Owner ---

// Limits are the cluster's (the daemon gives routes the top-level ones).
func (r *route) Limits() conn.Limits {
	l := r.cl.currentOpts().Limits
	return conn.Limits{MaxPending: l.MaxPending, WriteDeadline: l.WriteDeadline}
}

// Keepalive: a PING every ping_interval (at most 30 s), whatever the
// traffic, and no -ERR before closing a stale route.
func (r *route) Keepalive() conn.Keepalive {
	o := r.cl.currentOpts()
	return conn.Keepalive{Interval: min(o.PingInterval, maxRoutePing), Max: o.PingMax}
}

// Closed: the route's remote interest goes, its peer's client URLs go when
// it was the last route to that peer, and waiters are told.
func (r *route) Closed(reason conn.Reason) {
	r.Lock()
	remote := r.remote
	r.remote = nil
	registered, id := r.registered, r.peer.ID
	pending := r.PendingLocked()
	r.Unlock()

	c := r.cl
	for _, rs := range remote {
		r.link.RemoveInterest(rs)
	}
	c.mu.Lock()
	delete(c.conns, r)
	last := false
	if registered && c.routes[id] == r {
		delete(c.routes, id)
		last = true
		c.notifyChanged()
	}
	c.mu.Unlock()
	if last {
		c.local.RemovePeerURLs(id)
	}
	switch reason {
	case conn.ServerShutdown:
		r.CloseSocket()
	case conn.SlowConsumerWriteDeadline:
		// Truly stuck: the peer took nothing for a whole write deadline.
		c.local.CountSlowConsumer()
		r.logger().Warn("Slow Consumer Detected: WriteDeadline exceeded on route", zap.Duration("write_deadline", c.currentOpts().Limits.WriteDeadline), zap.Int("pending", pending))
	}
	if registered {
		r.logger().Info("Route connection closed", zap.String("reason", reason.String()))
	} else {
		// Never registered: a duplicate, a self-route, or the extra
		// connection a 2.10+ peer opens for its pinned $SYS account and
		// closes itself. Routine, so not worth an INFO line each time.
		r.logger().Debug("Route connection closed before registering", zap.String("reason", reason.String()))
	}
}

// --- the connection's life ---

// run performs the handshake's first step and serves the connection until
// it closes. It returns when the route is closed.
func (r *route) run() {
	c := r.cl
	r.logger().Info("Route connection created")
	if r.solicited {
		// As the dialing side: CONNECT first (2.14+ refuse anything else),
		// then our INFO (the 2.9 order; 2.10+ peers wait for our INFO).
		r.sendConnect()
	} else {
		r.Lock()
		r.ArmAuthTimerLocked(c.currentOpts().AuthTimeout, errAuth, r.admitted.Load)
		r.Unlock()
	}
	r.sendInfo()
	done := make(chan struct{})
	go func() { r.WriteLoop(); close(done) }()
	r.ReadLoop(routeReads, r.read, r.protocolError)
	<-done
}

// read parses one read's worth of route protocol and delivers it.
func (r *route) read(b []byte) error {
	r.lastRead.Store(time.Now().UnixNano())
	err := r.parser.Parse(b)
	r.link.Flush()
	return err
}

func (r *route) sendConnect() {
	c := r.cl
	o := c.currentOpts()
	c.mu.Lock()
	name, dynamic := c.name, c.dynamic
	c.mu.Unlock()
	cm := connectMsg{Echo: true, Headers: true, Name: c.local.ID(), Cluster: name, ClusterDynamic: dynamic, TLSRequired: o.TLS != nil}
	if r.sol != nil && r.sol.url.User != nil {
		cm.User = r.sol.url.User.Username()
		cm.Pass, _ = r.sol.url.User.Password()
	} else if o.Username != "" {
		cm.User, cm.Pass = o.Username, o.Password
	}
	b, _ := json.Marshal(&cm)
	r.Send(append(append([]byte("CONNECT "), b...), '\r', '\n'))
}

func (r *route) sendInfo() {
	in := r.cl.myInfo()
	b, _ := json.Marshal(&in)
	r.Send(wire.AppendInfo(nil, b))
}

// SendMsg queues a message for the peer (server.Route): RMSG, or HMSG with
// headers, in account acc, naming the queue groups the peer should serve. A
// route is not cut for a long queue: past half of max_pending it hands the
// producer a stall channel to wait on (back-pressure), and only a write that
// outlasts the write deadline ends it.
func (r *route) SendMsg(acc string, m *wire.Msg, queues []string) (<-chan struct{}, bool) {
	maxPending := r.cl.currentOpts().Limits.MaxPending
	r.Lock()
	if r.IsClosedLocked() {
		r.Unlock()
		return nil, false
	}
	// A JetStream delivery goes to the consumer's inbox (RouteSubject): the
	// peer routes on it, and its client sees the inbox as the subject.
	n := len(acc) + len(m.RouteSubject()) + len(m.Reply) + len(m.HdrField) + len(m.SizeField) + 32
	for _, q := range queues {
		n += len(q) + 1
	}
	q := r.Queue()
	q.Commit(wire.AppendRouteMsg(q.Tail(n), acc, m.RouteSubject(), m.Reply, queues, m.HdrField, m.SizeField))
	q.Write(m.Data)
	q.Write(crlf)
	r.CountOutLocked(1, int64(len(m.Data)))
	pending := int64(r.PendingLocked())
	stall := r.StallLocked(maxPending)
	r.Unlock()
	if stall == nil {
		return nil, false
	}
	return stall, pending > maxPending
}

// TracePeer says how message tracing names the route (server.Route): its
// id, the peer's server name, and whether the peer traces messages. A peer
// below route protocol 3 (nats-server before 2.11) does not: it would
// deliver a trace-only message and publish no trace event.
func (r *route) TracePeer() (uint64, string, bool) {
	r.Lock()
	name, proto := r.peer.Name, r.peer.Proto
	r.Unlock()
	return r.rid, name, proto >= traceProto
}

// sendInterest sends RS+ (weight > 0) or RS- for local interest.
func (r *route) sendInterest(acc, subject, queue string, weight int32) {
	r.Lock()
	if r.IsClosedLocked() || !r.ready {
		r.Unlock()
		return
	}
	q := r.Queue()
	if weight > 0 {
		q.Commit(wire.AppendRouteSub(q.Tail(len(acc)+len(subject)+len(queue)+32), acc, subject, queue, weight))
	} else {
		q.Commit(wire.AppendRouteUnsub(q.Tail(len(acc)+len(subject)+len(queue)+32), acc, subject, queue))
	}
	r.Unlock()
	r.Wake()
}

func (r *route) protocolError(err error) {
	if ce, ok := err.(*closeErr); ok {
		if ce.text != "" {
			r.SendErrAndClose(ce.text, ce.reason)
		} else {
			r.Close(ce.reason)
		}
		return
	}
	// Malformed route input: nats-server closes the route without -ERR.
	r.logger().Error("Route parser error", zap.Error(err))
	r.Close(conn.ParseError)
}

// errNotAdmitted answers any op but CONNECT on an accepted route before its
// CONNECT passed (nats-server 2.14+: "Authorization Violation", then close).
var errNotAdmitted = &closeErr{errAuth, conn.AuthViolation}

type closeErr struct {
	text   string
	reason conn.Reason
}

func (e *closeErr) Error() string { return e.reason.String() }

// --- wire.RouteHandler ---

// Connect: the dialing peer's CONNECT (accepting side only).
func (r *route) Connect(arg []byte) error {
	var cm connectMsg
	if err := json.Unmarshal(arg, &cm); err != nil {
		return &closeErr{"", conn.ProtocolViolation}
	}
	if cm.Lang != "" {
		return &closeErr{errClientPort, conn.ProtocolViolation}
	}
	if cm.Gateway != "" {
		return &closeErr{"", conn.ProtocolViolation}
	}
	if r.solicited {
		return nil // a CONNECT on a route we dialed: ignore
	}
	c := r.cl
	o := c.currentOpts()
	if o.Username != "" {
		if cm.User != o.Username || subtle.ConstantTimeCompare([]byte(cm.Pass), []byte(o.Password)) != 1 {
			r.logger().Error("Route authorization error")
			return &closeErr{errAuth, conn.AuthViolation}
		}
	}
	if ok, ours := c.negotiateName(cm.Cluster, cm.ClusterDynamic); !ok {
		r.logger().Error("Rejecting route: cluster name mismatch", zap.String("theirs", cm.Cluster), zap.String("ours", ours))
		return &closeErr{errClusterName(cm.Cluster, ours), conn.ProtocolViolation}
	}
	if cm.Name == c.local.ID() {
		r.Lock()
		r.self = true
		r.Unlock()
		return &closeErr{"", conn.ProtocolViolation}
	}
	r.admitted.Store(true)
	r.Lock()
	r.gotConnect = true
	r.remoteID = cm.Name
	r.user, r.pass = cm.User, cm.Pass
	r.StopAuthTimerLocked()
	r.Unlock()
	return nil
}

// Info: the peer's INFO — the handshake's last step, an async update from
// the peer, or gossip about another server.
func (r *route) Info(arg []byte) error {
	if !r.admitted.Load() {
		return errNotAdmitted
	}
	var pi peerInfo
	if err := json.Unmarshal(arg, &pi); err != nil {
		return &closeErr{"", conn.ProtocolViolation}
	}
	r.Lock()
	registered, peerID := r.registered, r.peer.ID
	r.Unlock()
	c := r.cl
	if !registered {
		return c.handshakeInfo(r, &pi)
	}
	if pi.ID == peerID {
		if pi.LameDuckMode {
			r.logger().Info("Peer entered lame duck mode", zap.String("peer", pi.ID))
			c.local.RemovePeerURLs(pi.ID)
		}
		return nil
	}
	c.gossiped(&pi)
	return nil
}

// RouteSub: RS+ (remote interest). Interest in an account this server does
// not have ($SYS from a nats-server peer, say) is ignored.
func (r *route) RouteSub(account, subject, queue []byte, weight int32) error {
	if !r.admitted.Load() {
		return errNotAdmitted
	}
	k := subKey{string(account), string(subject), string(queue)}
	r.Lock()
	defer r.Unlock()
	if r.IsClosedLocked() {
		return nil
	}
	if rs := r.remote[k]; rs != nil {
		if k.queue != "" {
			r.link.SetWeight(rs, weight)
		}
		return nil
	}
	rs, err := r.link.AddInterest(k.account, k.subject, k.queue, weight)
	if err != nil {
		// As nats-server: the peer is told, and the route stays.
		r.logger().Error("Could not insert remote subscription", zap.String("subject", k.subject), zap.Error(err))
		q := r.Queue()
		q.Commit(wire.AppendErr(q.Tail(len(errInvalidSub)+10), errInvalidSub))
		r.Wake()
		return nil
	}
	if rs != nil {
		r.remote[k] = rs
	}
	return nil
}

// RouteUnsub: RS- (remote interest withdrawn).
func (r *route) RouteUnsub(account, subject, queue []byte) error {
	if !r.admitted.Load() {
		return errNotAdmitted
	}
	k := subKey{string(account), string(subject), string(queue)}
	r.Lock()
	rs := r.remote[k]
	delete(r.remote, k)
	r.Unlock()
	if rs != nil {
		r.link.RemoveInterest(rs)
	}
	return nil
}

// RouteMsg: RMSG/HMSG, delivered to local subscribers only.
func (r *route) RouteMsg(m *wire.Msg) error {
	if !r.admitted.Load() {
		return errNotAdmitted
	}
	r.CountIn(1, int64(len(m.Data)))
	r.link.Deliver(m)
	return nil
}

// Ping: always answered.
func (r *route) Ping() error {
	if !r.admitted.Load() {
		return errNotAdmitted
	}
	r.Send(wire.Pong)
	return nil
}

// Pong: the answer to our keepalive.
func (r *route) Pong() error {
	if !r.admitted.Load() {
		return errNotAdmitted
	}
	r.Conn.Pong()
	return nil
}

// OK is ignored (we never ask for verbose).
func (r *route) OK() error {
	if !r.admitted.Load() {
		return errNotAdmitted
	}
	return nil
}

// Err: a real server that receives -ERR closes the route; so do we. For the
// extra connection a 2.10+ peer opens for its pinned $SYS account this is
// the expected end, and it was never registered.
func (r *route) Err(arg []byte) error {
	r.logger().Debug("Received -ERR on route", zap.ByteString("error", arg))
	return &closeErr{"", conn.ProtocolViolation}
}

// peerRouteURL is where peer can be dialed: its advertised ip, else the
// address it connected from (or we dialed) with the port its INFO gives.
func (r *route) peerRouteURL(pi *peerInfo) *url.URL {
	if pi.IP != "" {
		if u, err := url.Parse(pi.IP); err == nil && u.Host != "" {
			return u
		}
	}
	host := r.Host()
	return &url.URL{Scheme: "nats-route", Host: net.JoinHostPort(host, strconv.Itoa(pi.Port)), Path: "/"}
}
