package server

import (
	"math/rand/v2"
	"strconv"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/conn"
	"github.com/natsd/natsd/server/subject"
	"github.com/natsd/natsd/server/wire"
)

// subscriber is the end of a subscription: a client connection, a route
// peer's interest (RouteLink), or a Go function inside the server
// (internalSub). Delivery asks it what to do, so a new kind of subscriber
// cannot be misrouted by a branch that forgot it: it does not compile
// until it says how it takes a message and whether it is remote.
type subscriber interface {
	// deliver hands m to the subscriber for sub; it reports whether m was
	// taken (a closed client, one past its auto-unsubscribe limit or a
	// slow consumer did not take it). It runs on the publisher's goroutine
	// and must not block.
	deliver(p *producer, sub *subscription, m *wire.Msg) bool
	// remote reports interest of another server: a routed message does
	// not go back out to one (the one-hop rule; the one exception is a
	// queue group with no local member, see RouteLink.Deliver), and its
	// queue weight is its member count there.
	remote() bool
}

// subscription is one entry of an account's subject index.
type subscription struct {
	to      subscriber
	acc     *Account
	subject string
	queue   string
	sid     []byte       // a client's subscription id
	weight  atomic.Int32 // remote queue interest: members on that server (RS+ replaces it)
	noRoute bool         // local interest routes are not told of (a service import's)

	// Guarded by the client's lock.
	delivered int64
	max       int64 // auto-unsubscribe after this many (0: none)
}

// queueWeight is how many members sub stands for in its queue group.
func (sub *subscription) queueWeight() int {
	if sub.to.remote() {
		return int(max(sub.weight.Load(), 1))
	}
	return 1
}

// routeTarget gathers, for one message, what goes to one route: whether it
// has plain interest and which queue groups it was chosen for.
type routeTarget struct {
	route  Route
	queues []string
}

// publish delivers a message published in account a by src (nil for the
// server itself): to every matching local subscriber, to one member of each
// matching queue group (local or remote, weighted), and in one RMSG to each
// route with interest.
func (p *producer) publish(a *Account, src *client, m *wire.Msg) {
	p.setAccount(a)
	r := a.sl.Match(m.RouteSubject())
	var self subscriber
	echo := true
	if src != nil {
		self = src
		echo = src.opts.Echo // read without the lock: only the read goroutine writes opts
	}
	delivered := 0
	p.routes = p.routes[:0]

	for _, sub := range r.Plain {
		if !echo && sub.to == self {
			if p.trace != nil {
				p.trace.egress(traceKindClient, src.cid, src.opts.Name, sub, "", traceErrNoEcho)
			}
			continue
		}
		if sub.to.deliver(p, sub, m) {
			delivered++
		}
	}
	var noEcho subscriber
	if !echo {
		noEcho = self
	}
	for i := range r.Queues {
		if p.pickQueueMember(&r.Queues[i], noEcho, m, nil) {
			delivered++
		}
	}
	for i := range p.routes {
		rt := &p.routes[i]
		if p.trace != nil {
			p.sendTracedToRoute(a, rt, m)
		} else {
			p.sendToRoute(a, rt.route, m, rt.queues)
		}
		clear(rt.queues)
	}
	if delivered == 0 && len(m.Reply) > 0 && src != nil && src.opts.NoResponders {
		p.noResponders(a, src, m)
	}
}

// deliverLocal delivers m in account a to local subscribers only: every
// matching plain subscriber and one local member of each queue group.
func (p *producer) deliverLocal(a *Account, m *wire.Msg) {
	p.setAccount(a)
	r := a.sl.Match(m.RouteSubject())
	for _, sub := range r.Plain {
		if !sub.to.remote() {
			sub.to.deliver(p, sub, m)
		}
	}
	for i := range r.Queues {
		p.pickLocal(&r.Queues[i], m)
	}
}

// pickQueueMember chooses one member of a queue group, uniformly with each
// remote member weighted by its server's member count, and delivers to it.
// noEcho is a publisher whose own members are skipped (nil: none); from is
// the route a routed message came in on (never sent back there), nil for
// local.
func (p *producer) pickQueueMember(qg *subject.QueueGroup[*subscription], noEcho subscriber, m *wire.Msg, from subscriber) bool {
	members := qg.Members
	total := 0
	for _, s := range members {
		if from == nil || s.to != from {
			total += s.queueWeight()
		}
	}
	if total == 0 {
		return false
	}
	start := rand.IntN(total)
	// Walk from the chosen point; on a member that cannot take the message
	// (our own with echo off, one closing) move on to the next.
	for range 2 {
		acc := 0
		for _, s := range members {
			if from != nil && s.to == from {
				continue
			}
			acc += s.queueWeight()
			if acc <= start {
				continue
			}
			if noEcho != nil && s.to == noEcho {
				continue
			}
			if s.to.deliver(p, s, m) {
				return true
			}
		}
		start = 0
	}
	return false
}

// pickLocal delivers to one local member of a queue group, if it has one.
func (p *producer) pickLocal(qg *subjectQueueGroup, m *wire.Msg) bool {
	n := 0
	for _, s := range qg.Members {
		if !s.to.remote() {
			n++
		}
	}
	if n == 0 {
		return false
	}
	pick := rand.IntN(n)
	for range 2 {
		for _, s := range qg.Members {
			if s.to.remote() {
				continue
			}
			if pick > 0 {
				pick--
				continue
			}
			if s.to.deliver(p, s, m) {
				return true
			}
		}
		pick = 0
	}
	return false
}

// addRoute notes that rt gets this message: for its plain interest (queue
// "") or as the chosen member of queue group queue, whose name then goes in
// the RMSG's queue list.
func (p *producer) addRoute(rt Route, queue string) {
	var t *routeTarget
	for i := range p.routes {
		if p.routes[i].route == rt {
			t = &p.routes[i]
			break
		}
	}
	if t == nil {
		// Reuse the slot's queue slice from earlier messages.
		if len(p.routes) < cap(p.routes) {
			p.routes = p.routes[:len(p.routes)+1]
		} else {
			p.routes = append(p.routes, routeTarget{})
		}
		t = &p.routes[len(p.routes)-1]
		t.route = rt
		t.queues = t.queues[:0]
	}
	if queue != "" {
		t.queues = append(t.queues, queue)
	}
}

// deliver queues m for one of the client's subscriptions (subscriber). It
// reports whether the message was queued.
func (tc *client) deliver(p *producer, sub *subscription, m *wire.Msg) bool {
	tc.Lock()
	if tc.IsClosedLocked() || tc.subs == nil {
		tc.Unlock()
		return false
	}
	if sub.max > 0 && sub.delivered >= sub.max {
		tc.Unlock()
		return false
	}
	t := p.trace
	if tc.perms != nil && !tc.perms.deliverable(sub, m.RouteSubject()) {
		if t != nil {
			t.egress(traceKindClient, tc.cid, tc.opts.Name, sub, "", traceErrSubDeny)
		}
		tc.Unlock()
		return false
	}
	if t != nil && t.only {
		// Traced only: reported as delivered, and not sent.
		t.egress(traceKindClient, tc.cid, tc.opts.Name, sub, "", "")
		tc.Unlock()
		return true
	}
	o := tc.srv.getOpts()
	size := len(m.Data)
	headers := m.HdrLen > 0 && tc.headers
	if m.HdrLen > 0 && !headers {
		size -= m.HdrLen
	}
	if int64(tc.PendingLocked()+size+len(m.Subject)+len(m.Reply)+64) > o.MaxPending {
		tc.Unlock()
		p.srv.slowConsumer(tc)
		return false
	}
	sub.delivered++
	q := tc.Queue()
	line := q.Tail(len(m.Subject) + len(sub.sid) + len(m.Reply) + 48)
	switch {
	case headers:
		q.Commit(wire.AppendHMsg(line, m.Subject, sub.sid, m.Reply, m.HdrField, m.SizeField))
		q.Write(m.Data)
	case m.HdrLen > 0:
		// A client without headers gets the payload alone (recorded).
		q.Commit(appendMsgLine(line, m.Subject, sub.sid, m.Reply, size))
		q.Write(m.Data[m.HdrLen:])
	default:
		q.Commit(wire.AppendMsg(line, m.Subject, sub.sid, m.Reply, m.SizeField))
		q.Write(m.Data)
	}
	q.Write(crlf)
	if t != nil {
		t.egress(traceKindClient, tc.cid, tc.opts.Name, sub, "", "")
	}
	tc.CountOutLocked(1, int64(size))
	if len(m.Reply) > 0 && tc.perms != nil && tc.perms.resp != nil {
		tc.grantReply(m.Reply)
	}
	unsub := sub.max > 0 && sub.delivered >= sub.max
	if unsub {
		delete(tc.subs, string(sub.sid))
	}
	stall := tc.StallLocked(o.MaxPending)
	tc.Unlock()
	if stall != nil {
		p.addStall(stall, false)
	}
	p.outMsgs++
	p.outBytes += int64(size)
	p.accStats.outMsgs++
	p.accStats.outBytes += int64(size)
	if p.srv.tracing.Load() {
		tc.trace("->>", "MSG", joinArgs(m.Subject, sub.sid, m.Reply, m.SizeField))
	}
	if unsub {
		sub.acc.removeLocalSub(sub)
	}
	p.mark(tc)
	return true
}

// remote: a client is local (subscriber).
func (tc *client) remote() bool { return false }

// appendMsgLine is AppendMsg with a computed size.
func appendMsgLine(b, subject, sid, reply []byte, size int) []byte {
	var num [20]byte
	return wire.AppendMsg(b, subject, sid, reply, strconv.AppendInt(num[:0], int64(size), 10))
}

// noResponders sends the 503 status to the publisher's own subscription on
// the reply subject, in 2.12+'s form (with a Nats-Subject header).
func (p *producer) noResponders(a *Account, src *client, m *wire.Msg) {
	r := a.sl.Match(m.Reply)
	for _, sub := range r.Plain {
		if sub.to != subscriber(src) {
			continue
		}
		hdr := make([]byte, 0, 48+len(m.Subject))
		hdr = append(hdr, "NATS/1.0 503\r\nNats-Subject: "...)
		hdr = append(hdr, m.Subject...)
		hdr = append(hdr, "\r\n\r\n"...)
		n := strconv.AppendInt(nil, int64(len(hdr)), 10)
		src.Lock()
		if !src.IsClosedLocked() {
			q := src.Queue()
			q.Commit(wire.AppendHMsg(q.Tail(len(m.Reply)+len(sub.sid)+48), m.Reply, sub.sid, nil, n, n))
			q.Write(hdr)
			q.Write(crlf)
		}
		src.Unlock()
		p.mark(src)
		return
	}
}

// slowConsumer cuts off a client whose outbound queue outgrew max_pending.
// nats-server closes such a client; its publishers never wait for it.
func (s *Server) slowConsumer(c *client) {
	s.CountSlowConsumer()
	c.acc.Load().stats.slowConsumers.Add(1)
	c.log().Info("Slow Consumer Detected: MaxPending exceeded", zap.Int64("max_pending", s.getOpts().MaxPending))
	c.Close(conn.SlowConsumerPendingBytes)
}

// CountSlowConsumer counts one slow consumer in /varz (a route's writer
// reports its own).
func (s *Server) CountSlowConsumer() { s.stats.slowConsumers.Add(1) }

type subjectQueueGroup = subject.QueueGroup[*subscription]

var crlf = []byte("\r\n")
