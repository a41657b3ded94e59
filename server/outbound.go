package server

import (
	"errors"
	"net"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/outbuf"
	"github.com/natsd/natsd/server/wire"
)

// outbound is a client's queue of bytes to write. Producers append under
// the client's lock; the writer goroutine takes the queued chunks and writes
// them (one writev) without holding the lock, so a publisher never waits on
// a subscriber's socket.
type outbound struct {
	q      outbuf.Queue
	signal chan struct{}
	// stall is made when the queue passes half of max_pending and closed
	// by the writer once it is below again: producers wait on it briefly.
	stall chan struct{}
	// scratch is the writer's slice headers for writev.
	scratch net.Buffers
}

func (o *outbound) init() { o.signal = make(chan struct{}, 1) }

// pending is what the slow-consumer limit counts.
func (o *outbound) pending() int { return o.q.Pending() }

// write queues raw bytes.
func (o *outbound) write(b []byte) { o.q.Write(b) }

// appendErr queues "-ERR 'text'".
func (o *outbound) appendErr(text string) {
	o.q.Commit(wire.AppendErr(o.q.Tail(len(text)+10), text))
}

// wake tells the writer there is something to write. It never blocks.
func (o *outbound) wake() {
	select {
	case o.signal <- struct{}{}:
	default:
	}
}

// writeLoop drains the outbound queue until the connection is closed, then
// writes what is left (a final -ERR) and closes the socket.
func (c *client) writeLoop() {
	defer c.srv.wg.Done()
	defer func() {
		_ = c.nc.Close()
		c.mu.Lock()
		c.out.q.Reset() // whatever could not be written goes back to the pool
		c.mu.Unlock()
	}()
	for range c.out.signal {
		for {
			c.mu.Lock()
			if c.out.q.Queued() == 0 {
				done := c.flags.has(closed)
				c.mu.Unlock()
				if done {
					return
				}
				break
			}
			bufs := c.out.q.Take()
			done := c.flags.has(closed)
			c.mu.Unlock()

			wd := c.srv.getOpts().WriteDeadline
			_ = c.nc.SetWriteDeadline(time.Now().Add(wd))
			n, err := outbuf.WriteTo(c.nc, bufs, &c.out.scratch)
			c.mu.Lock()
			inflight := c.out.q.Pending() - c.out.q.Queued()
			c.out.q.Done(bufs)
			if c.out.stall != nil && int64(c.out.pending()) < c.srv.getOpts().MaxPending/2 {
				close(c.out.stall)
				c.out.stall = nil
			}
			c.mu.Unlock()
			if err != nil {
				if done {
					return
				}
				if isTimeout(err) {
					c.srv.stats.slowConsumers.Add(1)
					c.log().Info("Slow Consumer Detected: WriteDeadline exceeded", zap.Duration("write_deadline", wd), zap.Int64("pending", int64(inflight)-n))
					c.closeConnection(ClosedSlowConsumerWriteDeadline)
				} else {
					c.closeConnection(ClosedWriteError)
				}
				return
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// flusher is a connection whose writer a producer wakes after a read.
type flusher interface{ FlushSignal() }

// FlushSignal wakes the client's writer.
func (c *client) FlushSignal() { c.out.wake() }

// producer is the read side of one connection (client or route): it
// remembers which connections it queued bytes for during one read, so that
// each writer is woken once per read rather than once per message.
type producer struct {
	srv     *Server
	targets []flusher
	set     map[flusher]struct{} // used once targets outgrows a linear scan

	// Subscribers more than half full during this read: the producer waits
	// a little for them after the read (backpressure that spares fast but
	// momentarily behind subscribers from being cut off).
	stalled []*client

	// Routes that are behind, with the channel each closes once it has
	// drained. A client's reader waits for a route over max_pending until it
	// drains (back-pressure: the publisher slows to the route's pace and
	// nothing is lost); a route's reader only waits briefly, because
	// readers of routes that wait on each other across servers could
	// deadlock.
	routeStalls []routeStall
	// patient: this producer may wait for a route as long as it takes (a
	// client's reader); false for a route's reader.
	patient bool

	// Per-message scratch, reused.
	routes []routeTarget

	// Counts for the server totals, added once per read.
	inMsgs, inBytes, outMsgs, outBytes int64

	// active: the connection published during this read (its last-activity
	// time, which spares it keepalive PINGs, is set once per read).
	active bool
}

const linearTargets = 16

func (p *producer) init(s *Server, patient bool) { p.srv, p.patient = s, patient }

// mark records that f has new bytes.
func (p *producer) mark(f flusher) {
	if p.set != nil {
		if _, ok := p.set[f]; ok {
			return
		}
		p.set[f] = struct{}{}
		p.targets = append(p.targets, f)
		return
	}
	for _, t := range p.targets {
		if t == f {
			return
		}
	}
	p.targets = append(p.targets, f)
	if len(p.targets) > linearTargets {
		p.set = make(map[flusher]struct{}, 2*len(p.targets))
		for _, t := range p.targets {
			p.set[t] = struct{}{}
		}
	}
}

// Bounds of the producer's wait for subscribers that are behind, per
// subscriber and per read: a publisher slows down, it never blocks.
const (
	stallPerClient = 5 * time.Millisecond
	stallPerRead   = 10 * time.Millisecond
)

// routeStall is a route that was behind when a message was queued for it.
type routeStall struct {
	ch   <-chan struct{}
	over bool // its queue passed max_pending
}

// sendToRoute queues m for rt and notes whether the producer must wait for
// it after this read.
func (p *producer) sendToRoute(rt Route, m *wire.Msg, queues []string) {
	stall, over := rt.SendMsg(m, queues)
	p.mark(rt)
	if stall == nil {
		return
	}
	for i := range p.routeStalls {
		if p.routeStalls[i].ch == stall {
			p.routeStalls[i].over = p.routeStalls[i].over || over
			return
		}
	}
	p.routeStalls = append(p.routeStalls, routeStall{stall, over})
}

// flush wakes every marked writer, then gives subscribers that are behind a
// moment to catch up, and waits for routes past max_pending to drain.
func (p *producer) flush() {
	for i, t := range p.targets {
		t.FlushSignal()
		p.targets[i] = nil
	}
	p.targets = p.targets[:0]
	if len(p.routeStalls) > 0 {
		p.waitRoutes()
	}
	if len(p.stalled) > 0 {
		deadline := time.Now().Add(stallPerRead)
		for i, c := range p.stalled {
			c.mu.Lock()
			ch := c.out.stall
			c.mu.Unlock()
			if left := time.Until(deadline); ch != nil && left > 0 {
				t := time.NewTimer(min(left, stallPerClient))
				select {
				case <-ch:
				case <-t.C:
				}
				t.Stop()
			}
			p.stalled[i] = nil
		}
		p.stalled = p.stalled[:0]
	}
	if p.set != nil {
		// A large fan-out is likely to repeat: keep the map, emptied.
		clear(p.set)
	}
	st := &p.srv.stats
	if p.inMsgs != 0 {
		st.inMsgs.Add(p.inMsgs)
		st.inBytes.Add(p.inBytes)
		p.inMsgs, p.inBytes = 0, 0
	}
	if p.outMsgs != 0 {
		st.outMsgs.Add(p.outMsgs)
		st.outBytes.Add(p.outBytes)
		p.outMsgs, p.outBytes = 0, 0
	}
}

// waitRoutes waits for the routes that were behind during this read. Below
// max_pending it is the clients' short stall; past it, a client's reader
// waits until the route has drained (its writer closes the channel, or the
// route closes when a write outlasts the write deadline), bounded by twice
// the write deadline in case the route is wedged in a way no write reports.
func (p *producer) waitRoutes() {
	var bound *time.Timer
	spent := false
	deadline := time.Now().Add(stallPerRead)
	for i, rs := range p.routeStalls {
		p.routeStalls[i] = routeStall{}
		if rs.over && p.patient && !spent {
			if bound == nil {
				bound = time.NewTimer(2 * p.srv.getOpts().WriteDeadline)
			}
			select {
			case <-rs.ch:
			case <-bound.C:
				spent = true
			}
			continue
		}
		if left := time.Until(deadline); left > 0 {
			t := time.NewTimer(min(left, stallPerClient))
			select {
			case <-rs.ch:
			case <-t.C:
			}
			t.Stop()
		}
	}
	if bound != nil {
		bound.Stop()
	}
	p.routeStalls = p.routeStalls[:0]
}
