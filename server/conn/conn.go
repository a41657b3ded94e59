package conn

import (
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natsd/natsd/server/outbuf"
	"github.com/natsd/natsd/server/wire"
)

// Limits bound a connection's outbound side. An Owner returns them on every
// check, so a reload takes effect at the next write.
type Limits struct {
	// MaxPending is the outbound queue's size limit. Past half of it
	// producers are offered a stall channel; what happens past all of it
	// is the kind's choice (a client is cut off, a route is not).
	MaxPending int64
	// WriteDeadline bounds one write; a write that outlasts it closes the
	// connection as a slow consumer.
	WriteDeadline time.Duration
}

// Owner is the connection kind that embeds a Conn, as the Conn sees it.
type Owner interface {
	// Limits are the outbound limits now.
	Limits() Limits
	// Keepalive is the PING policy now.
	Keepalive() Keepalive
	// Closed runs once when the connection closes, on the goroutine that
	// closed it, after the Conn is marked closed and without its lock:
	// the owner removes its subscriptions, unregisters, logs and counts.
	Closed(reason Reason)
}

// Conn is one connection's core. Embed it by value and call Init before
// using it.
type Conn struct {
	mu    sync.Mutex
	nc    net.Conn
	owner Owner
	host  string
	port  int
	start time.Time

	// Guarded by mu.
	out      outbuf.Queue
	stall    chan struct{} // made past max_pending/2; closed once below again, or on close
	closed   bool
	reason   Reason
	stop     time.Time
	last     time.Time // last activity that spares keepalive PINGs
	pingT    *time.Timer
	authT    *time.Timer
	pingsOut int
	rttStart time.Time
	rtt      time.Duration
	outMsgs  int64
	outBytes int64

	signal  chan struct{} // wakes the writer
	scratch net.Buffers   // the writer's slice headers for writev

	// Written by the read goroutine only; atomics so that monitoring reads
	// them without the lock publishers contend on.
	inMsgs, inBytes atomic.Int64
}

// Init sets up c around nc for owner.
func (c *Conn) Init(nc net.Conn, owner Owner) {
	c.nc, c.owner = nc, owner
	c.start = time.Now()
	c.signal = make(chan struct{}, 1)
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		c.host, c.port = a.IP.String(), a.Port
	}
}

// Lock takes the connection's lock, which the embedding kind shares.
func (c *Conn) Lock() { c.mu.Lock() }

// Unlock releases the connection's lock.
func (c *Conn) Unlock() { c.mu.Unlock() }

// NetConn is the socket.
func (c *Conn) NetConn() net.Conn { return c.nc }

// Host and Port are the remote address.
func (c *Conn) Host() string { return c.host }

// Port is the remote port.
func (c *Conn) Port() int { return c.port }

// HostPort is "host:port" of the remote end.
func (c *Conn) HostPort() string { return net.JoinHostPort(c.host, strconv.Itoa(c.port)) }

// Start is when the connection was accepted or dialed.
func (c *Conn) Start() time.Time { return c.start }

// --- With the lock held ---

// IsClosedLocked reports whether the connection was closed.
func (c *Conn) IsClosedLocked() bool { return c.closed }

// Queue is the outbound queue, to append to with the lock held; call Wake
// (or let the producer do it) after unlocking.
func (c *Conn) Queue() *outbuf.Queue { return &c.out }

// PendingLocked is what is queued or being written.
func (c *Conn) PendingLocked() int { return c.out.Pending() }

// CountOutLocked counts messages queued for the peer.
func (c *Conn) CountOutLocked(msgs, bytes int64) {
	c.outMsgs += msgs
	c.outBytes += bytes
}

// StallLocked returns a channel that closes once the queue has drained
// below half of maxPending (or the connection closed), when it is past that
// now; nil when it is not.
func (c *Conn) StallLocked(maxPending int64) chan struct{} {
	if int64(c.out.Pending()) <= maxPending/2 {
		return nil
	}
	if c.stall == nil {
		c.stall = make(chan struct{})
	}
	return c.stall
}

// TouchLocked records activity that spares keepalive PINGs.
func (c *Conn) TouchLocked(t time.Time) { c.last = t }

// LastActivityLocked is the last activity recorded (the start when none).
func (c *Conn) LastActivityLocked() time.Time {
	if c.last.IsZero() {
		return c.start
	}
	return c.last
}

// ClosedAtLocked is why and when the connection closed (zero while open).
func (c *Conn) ClosedAtLocked() (Reason, time.Time) { return c.reason, c.stop }

// RTTLocked is the last measured round-trip time (0: none yet).
func (c *Conn) RTTLocked() time.Duration { return c.rtt }

// OutLocked are the messages and bytes queued for the peer so far.
func (c *Conn) OutLocked() (msgs, bytes int64) { return c.outMsgs, c.outBytes }

// --- From any goroutine ---

// IsClosed reports whether the connection was closed.
func (c *Conn) IsClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// In are the messages and bytes received.
func (c *Conn) In() (msgs, bytes int64) { return c.inMsgs.Load(), c.inBytes.Load() }

// CountIn counts messages received (read goroutine).
func (c *Conn) CountIn(msgs, bytes int64) {
	c.inMsgs.Add(msgs)
	c.inBytes.Add(bytes)
}

// Wake tells the writer there is something to write. It never blocks.
func (c *Conn) Wake() {
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// Enqueue appends raw protocol bytes unless the connection is closed. It
// does not wake the writer: the caller (or its producer) does.
func (c *Conn) Enqueue(b []byte) {
	c.mu.Lock()
	if !c.closed {
		c.out.Write(b)
	}
	c.mu.Unlock()
}

// Send appends raw protocol bytes and wakes the writer.
func (c *Conn) Send(b []byte) {
	c.Enqueue(b)
	c.Wake()
}

// SendErr queues "-ERR 'text'" and wakes the writer.
func (c *Conn) SendErr(text string) {
	c.mu.Lock()
	if !c.closed {
		c.out.Commit(wire.AppendErr(c.out.Tail(len(text)+10), text))
	}
	c.mu.Unlock()
	c.Wake()
}

// SendErrAndClose queues "-ERR 'text'" and closes once it is written.
func (c *Conn) SendErrAndClose(text string, reason Reason) {
	c.SendErr(text)
	c.Close(reason)
}

// Close ends the connection for reason: timers stop, producers waiting on
// it are released, the owner's Closed runs, and the writer writes what is
// queued (an -ERR, say) and closes the socket — at once, for a slow
// consumer, whose queue is what is wrong. It is idempotent and safe from
// any goroutine; it reports whether this call closed the connection.
func (c *Conn) Close(reason Reason) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.closed = true
	c.reason = reason
	c.stop = time.Now()
	if c.pingT != nil {
		c.pingT.Stop()
	}
	if c.authT != nil {
		c.authT.Stop()
	}
	c.releaseStallLocked()
	c.mu.Unlock()

	c.owner.Closed(reason)
	if reason.hardClose() {
		_ = c.nc.Close()
	}
	c.Wake()
	return true
}

// CloseSocket closes the socket now, whatever is queued (shutdown).
func (c *Conn) CloseSocket() { _ = c.nc.Close() }

func (c *Conn) releaseStallLocked() {
	if c.stall != nil {
		close(c.stall)
		c.stall = nil
	}
}
