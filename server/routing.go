package server

import (
	"bytes"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/wire"
)

// Route is one connection to a cluster peer, as the server sees it. The
// cluster package implements it.
type Route interface {
	// SendMsg queues m for the peer as RMSG (or HMSG) in account acc,
	// naming queues, the queue groups the peer should serve. It must not
	// block; m and queues are reused after return. A route is never cut
	// for being behind (only a write that outlasts the write deadline cuts
	// it): when its queue is long, SendMsg returns a channel closed once
	// the queue has drained enough (or the route closed), and over reports
	// that the queue passed max_pending. The producer then waits on it
	// (see producer.waitStalls).
	SendMsg(acc string, m *wire.Msg, queues []string) (stall <-chan struct{}, over bool)
	// Wake wakes the route's writer; called once per read batch.
	Wake()
	// TracePeer is how message tracing names the route: its connection
	// id, the peer's server name, and whether the peer traces messages
	// (route protocol 3, nats-server 2.11+).
	TracePeer() (id uint64, name string, traces bool)
}

// Router is the cluster, as the server sees it. The daemon connects the two
// with SetRouter; a standalone server has none.
type Router interface {
	// InterestChanged reports a change of local interest in (subject,
	// queue) in account acc: for a plain subscription weight is 1 when the
	// first local subscriber came and 0 when the last went; for a queue
	// group it is the number of local members (0: none left). It must not
	// block.
	InterestChanged(acc, subject, queue string, weight int32)
}

type routerHolder struct{ r Router }

// SetRouter connects the cluster. Pass nil to disconnect it.
func (s *Server) SetRouter(r Router) {
	if r == nil {
		s.router.Store(nil)
		return
	}
	s.router.Store(&routerHolder{r})
}

func (s *Server) getRouter() Router {
	if h := s.router.Load(); h != nil {
		return h.r
	}
	return nil
}

// RouteLink is the server's side of one route: it takes the peer's
// interest into the accounts' subject indexes (the link is the subscriber
// of that interest, so messages for it go out on the route) and delivers
// the peer's messages to local subscribers. The cluster makes one per
// route connection, and uses it from that route's read goroutine only,
// except Close.
type RouteLink struct {
	srv *Server
	rt  Route
	p   producer

	// The account of the last message, by name: a route carries mostly
	// one account, and this spares a lookup per message.
	lastName []byte
	lastAcc  *Account
}

// NewRouteLink returns the server's side of route rt.
func (s *Server) NewRouteLink(rt Route) *RouteLink {
	l := &RouteLink{srv: s, rt: rt}
	l.p.init(s, false)
	l.p.routed = true
	return l
}

// account resolves an account name from the wire (nil: not ours).
func (l *RouteLink) account(name []byte) *Account {
	if l.lastAcc != nil && bytes.Equal(name, l.lastName) {
		return l.lastAcc
	}
	a := l.srv.LookupAccount(string(name))
	if a != nil {
		l.lastName = append(l.lastName[:0], name...)
		l.lastAcc = a
	}
	return a
}

// RemoteSub is a route peer's interest in one account's index; the
// cluster keeps the handle to change or remove it.
type RemoteSub = subscription

// AddInterest records the peer's interest (RS+) in account acc. For a
// queue group, weight is the number of members on that peer. It returns nil
// and no error for an account this server does not have (nats-server peers
// send $SYS interest, which natsd does not serve).
func (l *RouteLink) AddInterest(acc, subj, queue string, weight int32) (*RemoteSub, error) {
	a := l.account([]byte(acc))
	if a == nil {
		return nil, nil
	}
	sub := &subscription{to: l, acc: a, subject: subj, queue: queue}
	sub.weight.Store(weight)
	if err := a.sl.Insert(subj, queue, sub); err != nil {
		return nil, err
	}
	return sub, nil
}

// SetWeight changes a remote queue interest's weight (a later RS+).
func (l *RouteLink) SetWeight(sub *RemoteSub, weight int32) {
	// Publishers read it without a lock: a stale value only skews one pick.
	sub.weight.Store(weight)
}

// RemoveInterest removes the peer's interest (RS-, or the route closed).
func (l *RouteLink) RemoveInterest(sub *RemoteSub) {
	_ = sub.acc.sl.Remove(sub.subject, sub.queue, sub)
}

// Deliver delivers a routed message to local subscribers only (the one-hop
// rule): every matching plain subscriber, and one local member of each
// queue group the message names. The exception, as nats-server v2.15.2
// makes it: a named group with no local member (the sender's view was
// stale, or the member just left) is passed to a route that has one,
// another than the sender's if there is one, else back to the sender
// (nats-server picks among all, the sender included; it does not drop
// the message). That second hop cannot ping-pong: the RS- that made the
// view stale precedes the returned message on the same connection. See
// TestRoutedQueueMessageWithoutLocalMember in cmd/natsd. A message for an
// account this server does not have is dropped.
func (l *RouteLink) Deliver(m *wire.Msg) {
	a := l.account(m.Account)
	if a == nil {
		return
	}
	p := &l.p
	p.setAccount(a)
	p.inMsgs++
	p.inBytes += int64(len(m.Data))
	p.accStats.inMsgs++
	p.accStats.inBytes += int64(len(m.Data))
	if m.HdrLen > 0 {
		if t := l.srv.startTrace(a, m, l, true); t != nil {
			p.trace = t
			l.deliver1(a, m)
			p.trace = nil
			t.finish()
			return
		}
	}
	l.deliver1(a, m)
}

// deliver1 is Deliver once the message's account is known.
func (l *RouteLink) deliver1(a *Account, m *wire.Msg) {
	p := &l.p
	r := a.sl.Match(m.Subject)
	p.routes = p.routes[:0]
	for _, sub := range r.Plain {
		if !sub.to.remote() {
			sub.to.deliver(p, sub, m)
		}
	}
	for _, q := range m.Queues {
		for i := range r.Queues {
			qg := &r.Queues[i]
			if qg.Name != string(q) {
				continue
			}
			if !p.pickLocal(qg, m) && !p.pickQueueMember(qg, nil, m, l) {
				p.pickQueueMember(qg, nil, m, nil)
			}
			break
		}
	}
	for i := range p.routes {
		rt := &p.routes[i]
		if len(rt.queues) > 0 {
			if p.trace != nil {
				p.sendTracedToRoute(a, rt, m)
			} else {
				p.sendToRoute(a, rt.route, m, rt.queues)
			}
		}
		clear(rt.queues)
	}
}

// traceIngress: a routed message comes from the peer server, named by its
// server name, on the route's connection.
func (l *RouteLink) traceIngress() (int, uint64, string) {
	id, name, _ := l.rt.TracePeer()
	return traceKindRouter, id, name
}

func (l *RouteLink) traceLog() *zap.Logger {
	id, name, _ := l.rt.TracePeer()
	return l.srv.log.With(zap.Uint64("rid", id), zap.String("peer", name))
}

// Flush wakes every connection the last read delivered to.
func (l *RouteLink) Flush() { l.p.flush() }

// --- subscriber: the peer's interest ---

// deliver adds the route to the message's route targets: it gets one RMSG
// per message, naming the queue groups it was picked for.
func (l *RouteLink) deliver(p *producer, sub *subscription, _ *wire.Msg) bool {
	p.addRoute(l.rt, sub.queue)
	return true
}

func (l *RouteLink) remote() bool { return true }
