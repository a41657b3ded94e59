package cluster

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/outbuf"
	"github.com/natsd/natsd/server/wire"
)

// Route keepalive: the first PING a second after the route is up, then every
// ping_interval capped at 30 s (as nats-server 2.10+ does for routes).
var crlf = []byte("\r\n")

const (
	firstRoutePing  = time.Second
	maxRoutePing    = 30 * time.Second
	routeReadBuffer = 32 * 1024
	// Route control lines carry long queue lists: 16 × the client limit,
	// at least 64 KiB, as nats-server 2.14 allows.
	minRouteControlLine = 64 * 1024
)

// route is one route connection, dialed (solicited) or accepted.
type route struct {
	cl        *Cluster
	rid       uint64
	nc        net.Conn
	ip        string
	port      int
	solicited bool
	sol       *solicitor // the dialer, for a solicited route
	start     time.Time
	parser    *wire.Parser
	in        *server.Inbound

	mu         sync.Mutex
	out        outbuf.Queue
	scratch    net.Buffers // the writer's, for writev
	signal     chan struct{}
	stall      chan struct{} // made when the queue passes max_pending/2; closed when it drains or the route closes
	closed     bool
	reason     server.ClosedState
	gotConnect bool
	registered bool
	ready      bool // interest burst sent; takes RS+/RS- updates
	self       bool // the peer turned out to be this server
	peer       peerInfo
	remoteID   string // from CONNECT "name", before INFO
	user, pass string // the peer's CONNECT credentials (accepted routes)
	remote     map[subKey]*server.RemoteSub
	pingsOut   int
	pingSent   time.Time
	rtt        time.Duration
	pingT      *time.Timer
	authT      *time.Timer

	outMsgs, outBytes int64 // under mu, with the queue they count

	// Read-side counts and activity: written by the read goroutine only, so
	// a routed message takes no lock that publishers to this route contend on.
	inMsgs, inBytes atomic.Int64
	lastRead        atomic.Int64 // unix nanoseconds

	// admitted: the route may speak the route protocol. A route we dialed
	// is admitted from the start; one we accepted only once its CONNECT
	// passed (name, cluster and credentials). Until then every other op is
	// an Authorization Violation, as in nats-server: nothing reaches the
	// subject trie or local subscribers from an unauthenticated socket.
	admitted atomic.Bool
}

type subKey struct{ subject, queue string }

// newRoute wraps a connection; sol is the dialer for a solicited route, nil
// for an accepted one. It returns nil when the cluster is shutting down.
func (c *Cluster) newRoute(conn net.Conn, sol *solicitor) *route {
	r := &route{
		cl:        c,
		rid:       c.nextRID.Add(1),
		nc:        conn,
		solicited: sol != nil,
		sol:       sol,
		start:     time.Now(),
		signal:    make(chan struct{}, 1),
		remote:    map[subKey]*server.RemoteSub{},
	}
	r.lastRead.Store(r.start.UnixNano())
	r.admitted.Store(sol != nil)
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		r.ip, r.port = a.IP.String(), a.Port
	}
	mcl := max(16*c.srv.Options().MaxControlLine, minRouteControlLine)
	r.parser = wire.NewRouteParser(r, wire.Limits{MaxControlLine: mcl})
	r.in = c.srv.NewInbound(r)
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		_ = conn.Close()
		return nil
	}
	c.conns[r] = struct{}{}
	c.mu.Unlock()
	return r
}

// dialer returns the solicitor that dials r's peer (its own, or one it took
// over from a duplicate), or nil.
func (r *route) dialer() *solicitor {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sol
}

func (r *route) logger() *zap.Logger {
	return r.cl.logger().With(zap.String("client", net.JoinHostPort(r.ip, strconv.Itoa(r.port))+" - rid:"+strconv.FormatUint(r.rid, 10)))
}

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
		o := c.currentOpts()
		r.mu.Lock()
		r.authT = time.AfterFunc(o.AuthTimeout, func() {
			r.mu.Lock()
			ok := r.gotConnect
			r.mu.Unlock()
			if !ok {
				r.logger().Debug("Route authentication timeout")
				r.sendErrAndClose(errAuth, server.ClosedAuthTimeout)
			}
		})
		r.mu.Unlock()
	}
	r.sendInfo()
	done := make(chan struct{})
	go func() { r.writeLoop(); close(done) }()
	r.readLoop()
	<-done
}

func (r *route) sendConnect() {
	c := r.cl
	o := c.currentOpts()
	c.mu.Lock()
	name, dynamic := c.name, c.dynamic
	c.mu.Unlock()
	cm := connectMsg{Echo: true, Headers: true, Name: c.srv.ID(), Cluster: name, ClusterDynamic: dynamic}
	if r.sol != nil && r.sol.url.User != nil {
		cm.User = r.sol.url.User.Username()
		cm.Pass, _ = r.sol.url.User.Password()
	} else if o.Username != "" {
		cm.User, cm.Pass = o.Username, o.Password
	}
	b, _ := json.Marshal(&cm)
	r.enqueue(append(append([]byte("CONNECT "), b...), '\r', '\n'))
}

func (r *route) sendInfo() {
	in := r.cl.myInfo()
	b, _ := json.Marshal(&in)
	r.enqueue(wire.AppendInfo(nil, b))
}

// enqueue queues raw protocol bytes and wakes the writer.
func (r *route) enqueue(b []byte) {
	r.mu.Lock()
	if !r.closed {
		r.out.Write(b)
	}
	r.mu.Unlock()
	r.FlushSignal()
}

// FlushSignal wakes the writer (server.Route).
func (r *route) FlushSignal() {
	select {
	case r.signal <- struct{}{}:
	default:
	}
}

// SendMsg queues a message for the peer (server.Route): RMSG, or HMSG with
// headers, in account $G, naming the queue groups the peer should serve. A
// route is not cut for a long queue: past half of max_pending it hands the
// producer a stall channel to wait on (back-pressure), and only a write that
// outlasts the write deadline ends it.
func (r *route) SendMsg(m *wire.Msg, queues []string) (<-chan struct{}, bool) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, false
	}
	n := len(m.Subject) + len(m.Reply) + len(m.HdrField) + len(m.SizeField) + 32
	for _, q := range queues {
		n += len(q) + 1
	}
	r.out.Commit(wire.AppendRouteMsg(r.out.Tail(n), server.GlobalAccount, m.Subject, m.Reply, queues, m.HdrField, m.SizeField))
	r.out.Write(m.Data)
	r.out.Write(crlf)
	r.outMsgs++
	r.outBytes += int64(len(m.Data))
	maxPending := r.cl.srv.Options().MaxPending
	pending := int64(r.out.Pending())
	var stall chan struct{}
	if pending > maxPending/2 {
		if r.stall == nil {
			r.stall = make(chan struct{})
		}
		stall = r.stall
	}
	r.mu.Unlock()
	if stall == nil {
		return nil, false
	}
	return stall, pending > maxPending
}

// releaseStall wakes producers waiting for the queue to drain. Call with
// r.mu held.
func (r *route) releaseStall() {
	if r.stall != nil {
		close(r.stall)
		r.stall = nil
	}
}

// sendInterest sends RS+ (weight > 0) or RS- for local interest.
func (r *route) sendInterest(subject, queue string, weight int32) {
	r.mu.Lock()
	if r.closed || !r.ready {
		r.mu.Unlock()
		return
	}
	if weight > 0 {
		r.out.Commit(wire.AppendRouteSub(r.out.Tail(len(subject)+len(queue)+32), server.GlobalAccount, subject, queue, weight))
	} else {
		r.out.Commit(wire.AppendRouteUnsub(r.out.Tail(len(subject)+len(queue)+32), server.GlobalAccount, subject, queue))
	}
	r.mu.Unlock()
	r.FlushSignal()
}

func (r *route) readLoop() {
	buf := make([]byte, routeReadBuffer)
	for {
		n, err := r.nc.Read(buf)
		if n > 0 {
			r.lastRead.Store(time.Now().UnixNano())
			perr := r.parser.Parse(buf[:n])
			r.in.Flush()
			if perr != nil {
				r.protocolError(perr)
				return
			}
		}
		if err != nil {
			r.close(server.ClosedClientClosed)
			return
		}
		r.mu.Lock()
		closed := r.closed
		r.mu.Unlock()
		if closed {
			return
		}
	}
}

func (r *route) protocolError(err error) {
	if ce, ok := err.(*closeErr); ok {
		if ce.text != "" {
			r.sendErrAndClose(ce.text, ce.reason)
		} else {
			r.close(ce.reason)
		}
		return
	}
	// Malformed route input: nats-server closes the route without -ERR.
	r.logger().Error("Route parser error", zap.Error(err))
	r.close(server.ClosedParseError)
}

// errNotAdmitted answers any op but CONNECT on an accepted route before its
// CONNECT passed (nats-server 2.14+: "Authorization Violation", then close).
var errNotAdmitted = &closeErr{errAuth, server.ClosedAuthViolation}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

type closeErr struct {
	text   string
	reason server.ClosedState
}

func (e *closeErr) Error() string { return e.reason.String() }

func (r *route) writeLoop() {
	defer func() {
		_ = r.nc.Close()
		r.mu.Lock()
		r.out.Reset()
		r.mu.Unlock()
	}()
	for range r.signal {
		for {
			r.mu.Lock()
			if r.out.Queued() == 0 {
				closed := r.closed
				r.mu.Unlock()
				if closed {
					return
				}
				break
			}
			bufs := r.out.Take()
			closed := r.closed
			r.mu.Unlock()
			so := r.cl.srv.Options()
			_ = r.nc.SetWriteDeadline(time.Now().Add(so.WriteDeadline))
			_, err := outbuf.WriteTo(r.nc, bufs, &r.scratch)
			r.mu.Lock()
			r.out.Done(bufs)
			if r.stall != nil && int64(r.out.Pending()) < so.MaxPending/2 {
				r.releaseStall()
			}
			r.mu.Unlock()
			if err != nil {
				if !closed {
					if isTimeout(err) {
						// Truly stuck: the peer took nothing for a whole
						// write deadline.
						r.logger().Warn("Slow Consumer Detected: WriteDeadline exceeded on route", zap.Duration("write_deadline", so.WriteDeadline))
						r.cl.srv.CountSlowConsumer()
						r.close(server.ClosedSlowConsumerWriteDeadline)
					} else {
						r.close(server.ClosedWriteError)
					}
				}
				return
			}
		}
	}
}

func (r *route) sendErrAndClose(text string, reason server.ClosedState) {
	r.enqueue(wire.AppendErr(nil, text))
	r.close(reason)
}

// close ends the route: its remote interest goes, its peer's client URLs go
// when it was the last route to that peer, and waiters are told.
func (r *route) close(reason server.ClosedState) {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed, r.reason = true, reason
	r.releaseStall()
	if r.pingT != nil {
		r.pingT.Stop()
	}
	if r.authT != nil {
		r.authT.Stop()
	}
	remote := r.remote
	r.remote = nil
	registered, id := r.registered, r.peer.ID
	r.mu.Unlock()

	c := r.cl
	for _, rs := range remote {
		c.srv.RemoveRemoteSub(rs)
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
		c.srv.RemovePeerURLs(id)
	}
	r.FlushSignal() // the writer writes what is queued (an -ERR) and closes
	if reason == server.ClosedSlowConsumerWriteDeadline || reason == server.ClosedServerShutdown {
		_ = r.nc.Close()
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

// --- wire.RouteHandler ---

// Connect: the dialing peer's CONNECT (accepting side only).
func (r *route) Connect(arg []byte) error {
	var cm connectMsg
	if err := json.Unmarshal(arg, &cm); err != nil {
		return &closeErr{"", server.ClosedProtocolViolation}
	}
	if cm.Lang != "" {
		return &closeErr{errClientPort, server.ClosedProtocolViolation}
	}
	if cm.Gateway != "" {
		return &closeErr{"", server.ClosedProtocolViolation}
	}
	if r.solicited {
		return nil // a CONNECT on a route we dialed: ignore
	}
	c := r.cl
	o := c.currentOpts()
	if o.Username != "" {
		if cm.User != o.Username || subtle.ConstantTimeCompare([]byte(cm.Pass), []byte(o.Password)) != 1 {
			r.logger().Error("Route authorization error")
			return &closeErr{errAuth, server.ClosedAuthViolation}
		}
	}
	if ok, ours := c.negotiateName(cm.Cluster, cm.ClusterDynamic); !ok {
		r.logger().Error("Rejecting route: cluster name mismatch", zap.String("theirs", cm.Cluster), zap.String("ours", ours))
		return &closeErr{errClusterName(cm.Cluster, ours), server.ClosedProtocolViolation}
	}
	if cm.Name == c.srv.ID() {
		r.mu.Lock()
		r.self = true
		r.mu.Unlock()
		return &closeErr{"", server.ClosedProtocolViolation}
	}
	r.admitted.Store(true)
	r.mu.Lock()
	r.gotConnect = true
	r.remoteID = cm.Name
	r.user, r.pass = cm.User, cm.Pass
	if r.authT != nil {
		r.authT.Stop()
	}
	r.mu.Unlock()
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
		return &closeErr{"", server.ClosedProtocolViolation}
	}
	r.mu.Lock()
	registered, peerID := r.registered, r.peer.ID
	r.mu.Unlock()
	c := r.cl
	if !registered {
		return c.handshakeInfo(r, &pi)
	}
	if pi.ID == peerID {
		if pi.LameDuckMode {
			r.logger().Info("Peer entered lame duck mode", zap.String("peer", pi.ID))
			c.srv.RemovePeerURLs(pi.ID)
		}
		return nil
	}
	c.gossiped(&pi)
	return nil
}

// RouteSub: RS+ (remote interest).
func (r *route) RouteSub(account, subject, queue []byte, weight int32) error {
	if !r.admitted.Load() {
		return errNotAdmitted
	}
	if string(account) != server.GlobalAccount {
		return nil // natsd serves $G only; $SYS and others are dropped quietly
	}
	k := subKey{string(subject), string(queue)}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	if rs := r.remote[k]; rs != nil {
		if k.queue != "" {
			r.cl.srv.SetRemoteWeight(rs, weight)
		}
		return nil
	}
	rs, err := r.cl.srv.AddRemoteSub(r, k.subject, k.queue, weight)
	if err != nil {
		// As nats-server: the peer is told, and the route stays.
		r.logger().Error("Could not insert remote subscription", zap.String("subject", k.subject), zap.Error(err))
		r.out.Commit(wire.AppendErr(r.out.Tail(len(errInvalidSub)+10), errInvalidSub))
		r.FlushSignal()
		return nil
	}
	r.remote[k] = rs
	return nil
}

// RouteUnsub: RS- (remote interest withdrawn).
func (r *route) RouteUnsub(account, subject, queue []byte) error {
	if !r.admitted.Load() {
		return errNotAdmitted
	}
	if string(account) != server.GlobalAccount {
		return nil
	}
	k := subKey{string(subject), string(queue)}
	r.mu.Lock()
	rs := r.remote[k]
	delete(r.remote, k)
	r.mu.Unlock()
	if rs != nil {
		r.cl.srv.RemoveRemoteSub(rs)
	}
	return nil
}

// RouteMsg: RMSG/HMSG, delivered to local subscribers only.
func (r *route) RouteMsg(m *wire.Msg) error {
	if !r.admitted.Load() {
		return errNotAdmitted
	}
	r.inMsgs.Add(1)
	r.inBytes.Add(int64(len(m.Data)))
	if string(m.Account) != server.GlobalAccount {
		return nil
	}
	r.in.Deliver(m)
	return nil
}

// Ping: always answered.
func (r *route) Ping() error {
	if !r.admitted.Load() {
		return errNotAdmitted
	}
	r.enqueue(wire.Pong)
	return nil
}

// Pong: the answer to our keepalive.
func (r *route) Pong() error {
	if !r.admitted.Load() {
		return errNotAdmitted
	}
	r.mu.Lock()
	r.pingsOut = 0
	if !r.pingSent.IsZero() {
		r.rtt = time.Since(r.pingSent)
	}
	r.mu.Unlock()
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
	return &closeErr{"", server.ClosedProtocolViolation}
}

// pingTimer sends keepalive PINGs and closes a stale route.
func (r *route) armPing() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.pingT = time.AfterFunc(firstRoutePing, r.pingFired)
}

func (r *route) pingFired() {
	o := r.cl.currentOpts()
	so := r.cl.srv.Options()
	interval := o.PingInterval
	if interval == 0 {
		interval = so.PingInterval
	}
	interval = min(interval, maxRoutePing)
	pingMax := o.PingMax
	if pingMax == 0 {
		pingMax = so.PingMax
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	if r.pingsOut+1 > pingMax {
		r.mu.Unlock()
		r.logger().Info("Stale route connection - closing")
		r.close(server.ClosedStaleConnection)
		return
	}
	r.pingsOut++
	r.pingSent = time.Now()
	r.out.Write(wire.Ping)
	r.pingT.Reset(interval)
	r.mu.Unlock()
	r.FlushSignal()
}

// peerRouteURL is where peer can be dialed: its advertised ip, else the
// address it connected from (or we dialed) with the port its INFO gives.
func (r *route) peerRouteURL(pi *peerInfo) *url.URL {
	if pi.IP != "" {
		if u, err := url.Parse(pi.IP); err == nil && u.Host != "" {
			return u
		}
	}
	host := r.ip
	return &url.URL{Scheme: "nats-route", Host: net.JoinHostPort(host, strconv.Itoa(pi.Port)), Path: "/"}
}
