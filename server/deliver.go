package server

import (
	"math/rand/v2"
	"slices"
	"strconv"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/subject"
	"github.com/natsd/natsd/server/wire"
)

// subscription is one entry of the subject trie: a local client's SUB, or a
// route peer's interest (RS+).
type subscription struct {
	client  *client // local subscriber; nil for remote interest
	route   Route   // remote interest; nil for a local subscriber
	subject string
	queue   string
	sid     []byte
	weight  atomic.Int32 // remote queue interest: members on that server (RS+ replaces it)

	// Guarded by client.mu.
	delivered int64
	max       int64 // auto-unsubscribe after this many (0: none)
}

// routeTarget gathers, for one message, what goes to one route: whether it
// has plain interest and which queue groups it was chosen for.
type routeTarget struct {
	route  Route
	queues []string
}

// publish delivers a message from local client src: to every matching local
// subscriber, to one member of each matching queue group (local or remote,
// weighted), and in one RMSG to each route with interest.
func (p *producer) publish(src *client, m *wire.Msg) {
	r := p.srv.sl.Match(m.Subject)
	echo := src.opts.Echo // read without the lock: only the read goroutine writes opts
	delivered := 0
	p.routes = p.routes[:0]

	for _, sub := range r.Plain {
		if sub.client == nil {
			p.addRoute(sub.route, "")
			continue
		}
		if sub.client == src && !echo {
			continue
		}
		if p.deliverTo(sub, m) {
			delivered++
		}
	}
	for i := range r.Queues {
		qg := &r.Queues[i]
		if p.pickQueueMember(qg, src, echo, m, nil) {
			delivered++
		}
	}
	for i := range p.routes {
		rt := &p.routes[i]
		p.sendToRoute(rt.route, m, rt.queues)
		clear(rt.queues)
		delivered++
	}
	if delivered == 0 && len(m.Reply) > 0 && src.opts.NoResponders {
		p.noResponders(src, m)
	}
}

// pickQueueMember chooses one member of a queue group, uniformly with each
// remote member weighted by its server's member count, and delivers to it
// (locally, or by naming the group in that route's RMSG). from is the route a
// routed message came in on (never sent back there), nil for local.
func (p *producer) pickQueueMember(qg *subject.QueueGroup[*subscription], src *client, echo bool, m *wire.Msg, from Route) bool {
	members := qg.Members
	total := 0
	for _, s := range members {
		if s.client != nil {
			total++
		} else if s.route != from {
			total += int(max(s.weight.Load(), 1))
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
			w := 1
			if s.client == nil {
				if s.route == from {
					continue
				}
				w = int(max(s.weight.Load(), 1))
			}
			acc += w
			if acc <= start {
				continue
			}
			if s.client == nil {
				p.addRoute(s.route, qg.Name)
				return true
			}
			if s.client == src && !echo {
				continue
			}
			if p.deliverTo(s, m) {
				return true
			}
		}
		start = 0
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

// deliverTo queues m for a local subscriber. It reports whether the message
// was queued.
func (p *producer) deliverTo(sub *subscription, m *wire.Msg) bool {
	tc := sub.client
	tc.mu.Lock()
	if tc.flags.has(closed) || tc.subs == nil {
		tc.mu.Unlock()
		return false
	}
	if sub.max > 0 && sub.delivered >= sub.max {
		tc.mu.Unlock()
		return false
	}
	if tc.perms != nil && !tc.perms.deliverable(sub, m.Subject) {
		tc.mu.Unlock()
		return false
	}
	o := tc.srv.getOpts()
	size := len(m.Data)
	headers := m.HdrLen > 0 && tc.headers
	if m.HdrLen > 0 && !headers {
		size -= m.HdrLen
	}
	if int64(tc.out.pending()+size+len(m.Subject)+len(m.Reply)+64) > o.MaxPending {
		tc.mu.Unlock()
		p.srv.slowConsumer(tc)
		return false
	}
	sub.delivered++
	q := &tc.out.q
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
	tc.outMsgs++
	tc.outBytes += int64(size)
	if len(m.Reply) > 0 && tc.perms != nil && tc.perms.resp != nil {
		tc.grantReply(m.Reply)
	}
	unsub := sub.max > 0 && sub.delivered >= sub.max
	if unsub {
		delete(tc.subs, string(sub.sid))
	}
	behind := int64(tc.out.pending()) > o.MaxPending/2
	if behind && tc.out.stall == nil {
		tc.out.stall = make(chan struct{})
	}
	tc.mu.Unlock()
	if behind && !slices.Contains(p.stalled, tc) {
		p.stalled = append(p.stalled, tc)
	}
	p.outMsgs++
	p.outBytes += int64(size)
	if p.srv.tracing.Load() {
		tc.trace("->>", "MSG", joinArgs(m.Subject, sub.sid, m.Reply, m.SizeField))
	}
	if unsub {
		tc.srv.removeLocalSub(sub)
	}
	p.mark(tc)
	return true
}

// appendMsgLine is AppendMsg with a computed size.
func appendMsgLine(b, subject, sid, reply []byte, size int) []byte {
	var num [20]byte
	return wire.AppendMsg(b, subject, sid, reply, strconv.AppendInt(num[:0], int64(size), 10))
}

// noResponders sends the 503 status to the publisher's own subscription on
// the reply subject, in 2.12+'s form (with a Nats-Subject header).
func (p *producer) noResponders(src *client, m *wire.Msg) {
	r := p.srv.sl.Match(m.Reply)
	for _, sub := range r.Plain {
		if sub.client != src {
			continue
		}
		hdr := make([]byte, 0, 48+len(m.Subject))
		hdr = append(hdr, "NATS/1.0 503\r\nNats-Subject: "...)
		hdr = append(hdr, m.Subject...)
		hdr = append(hdr, "\r\n\r\n"...)
		n := strconv.AppendInt(nil, int64(len(hdr)), 10)
		src.mu.Lock()
		if !src.flags.has(closed) {
			q := &src.out.q
			q.Commit(wire.AppendHMsg(q.Tail(len(m.Reply)+len(sub.sid)+48), m.Reply, sub.sid, nil, n, n))
			q.Write(hdr)
			q.Write(crlf)
		}
		src.mu.Unlock()
		p.mark(src)
		return
	}
}

// slowConsumer cuts off a client whose outbound queue outgrew max_pending.
// nats-server closes such a client; its publishers never wait for it.
func (s *Server) slowConsumer(c *client) {
	s.CountSlowConsumer()
	c.log().Info("Slow Consumer Detected: MaxPending exceeded", zap.Int64("max_pending", s.getOpts().MaxPending))
	c.closeConnection(ClosedSlowConsumerPendingBytes)
}

type subjectQueueGroup = subject.QueueGroup[*subscription]

var crlf = []byte("\r\n")

func randN(n int) int { return rand.IntN(n) }

// CountSlowConsumer counts one slow consumer in /varz (a route's writer
// reports its own).
func (s *Server) CountSlowConsumer() { s.stats.slowConsumers.Add(1) }
