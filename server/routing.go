package server

import (
	"github.com/natsd/natsd/server/wire"
)

// Route is one connection to a cluster peer, as the server sees it. The
// cluster package implements it.
type Route interface {
	// SendMsg queues m for the peer as RMSG (or HMSG), naming queues, the
	// queue groups the peer should serve. It must not block; m and queues
	// are reused after return. A route is never cut for being behind (only
	// a write that outlasts the write deadline cuts it): when its queue is
	// long, SendMsg returns a channel closed once the queue has drained
	// enough (or the route closed), and over reports that the queue passed
	// max_pending. The producer then waits on it (see producer.flush).
	SendMsg(m *wire.Msg, queues []string) (stall <-chan struct{}, over bool)
	// FlushSignal wakes the route's writer; called once per read batch.
	FlushSignal()
}

// Router is the cluster, as the server sees it. The daemon connects the two
// with SetRouter; a standalone server has none.
type Router interface {
	// InterestChanged reports a change of local interest in (subject,
	// queue): for a plain subscription weight is 1 when the first local
	// subscriber came and 0 when the last went; for a queue group it is the
	// number of local members (0: none left). It must not block.
	InterestChanged(subject, queue string, weight int32)
}

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

// localInterestAdded counts a new local subscription and tells the router
// when the aggregate interest changed.
func (s *Server) localInterestAdded(sub *subscription) {
	k := interestKey{sub.subject, sub.queue}
	s.interestMu.Lock()
	n := s.interest[k] + 1
	s.interest[k] = n
	r := s.getRouter()
	if r != nil && (sub.queue != "" || n == 1) {
		r.InterestChanged(sub.subject, sub.queue, weightFor(sub.queue, n))
	}
	s.interestMu.Unlock()
}

// removeLocalSub takes a local subscription out of the trie and the counts.
func (s *Server) removeLocalSub(sub *subscription) {
	if err := s.sl.Remove(sub.subject, sub.queue, sub); err != nil {
		return // already gone (auto-unsubscribe raced a close)
	}
	k := interestKey{sub.subject, sub.queue}
	s.interestMu.Lock()
	n := s.interest[k] - 1
	if n <= 0 {
		delete(s.interest, k)
		n = 0
	} else {
		s.interest[k] = n
	}
	r := s.getRouter()
	if r != nil && (sub.queue != "" || n == 0) {
		r.InterestChanged(sub.subject, sub.queue, weightFor(sub.queue, n))
	}
	s.interestMu.Unlock()
}

func weightFor(queue string, n int32) int32 {
	if queue == "" && n > 0 {
		return 1
	}
	return n
}

// LocalInterest calls each for every (subject, queue) with local interest,
// with its weight, then then(), all under the interest lock, so that no
// change reaches the router in between: a new route sends the enumeration
// as its RS+ burst and, in then, starts taking changes. Neither may block.
func (s *Server) LocalInterest(each func(subject, queue string, weight int32), then func()) {
	s.interestMu.Lock()
	defer s.interestMu.Unlock()
	for k, n := range s.interest {
		each(k.subject, k.queue, weightFor(k.queue, n))
	}
	if then != nil {
		then()
	}
}

// RemoteSub is a route peer's interest in the trie; the cluster keeps the
// handle to remove it.
type RemoteSub = subscription

// AddRemoteSub records a route peer's interest (RS+). For a queue group,
// weight is the number of members on that peer; an RS+ for interest the
// route already has replaces the weight.
func (s *Server) AddRemoteSub(rt Route, subj, queue string, weight int32) (*RemoteSub, error) {
	sub := &subscription{route: rt, subject: subj, queue: queue}
	sub.weight.Store(weight)
	if err := s.sl.Insert(subj, queue, sub); err != nil {
		return nil, err
	}
	return sub, nil
}

// SetRemoteWeight changes a remote queue interest's weight.
func (s *Server) SetRemoteWeight(sub *RemoteSub, weight int32) {
	// Publishers read it without a lock: a stale value only skews one pick.
	sub.weight.Store(weight)
}

// RemoveRemoteSub removes a route peer's interest (RS-, or the route closed).
func (s *Server) RemoveRemoteSub(sub *RemoteSub) {
	_ = s.sl.Remove(sub.subject, sub.queue, sub)
}

// Inbound is the delivery side of one route connection: the cluster's route
// reader hands it each routed message and calls Flush after each read.
type Inbound struct {
	p    producer
	from Route
}

// NewInbound returns the delivery side for route rt.
func (s *Server) NewInbound(rt Route) *Inbound {
	in := &Inbound{from: rt}
	in.p.init(s, false)
	return in
}

// Deliver delivers a routed message to local subscribers only (the one-hop
// rule): every matching plain subscriber, and one local member of each queue
// group the message names. A named group with no local member is passed to
// another route that has it (nats-server's queue exception).
func (in *Inbound) Deliver(m *wire.Msg) {
	p := &in.p
	p.inMsgs++
	p.inBytes += int64(len(m.Data))
	r := p.srv.sl.Match(m.Subject)
	p.routes = p.routes[:0]
	for _, sub := range r.Plain {
		if sub.client != nil {
			p.deliverTo(sub, m)
		}
	}
	for _, q := range m.Queues {
		for i := range r.Queues {
			qg := &r.Queues[i]
			if qg.Name != string(q) {
				continue
			}
			if !p.pickLocal(qg, m) {
				p.pickQueueMember(qg, nil, true, m, in.from)
			}
			break
		}
	}
	for i := range p.routes {
		rt := &p.routes[i]
		if len(rt.queues) > 0 {
			p.sendToRoute(rt.route, m, rt.queues)
		}
		clear(rt.queues)
	}
}

// pickLocal delivers to one local member of a queue group, if it has one.
func (p *producer) pickLocal(qg *subjectQueueGroup, m *wire.Msg) bool {
	n := 0
	for _, s := range qg.Members {
		if s.client != nil {
			n++
		}
	}
	if n == 0 {
		return false
	}
	pick := randN(n)
	for range 2 {
		for _, s := range qg.Members {
			if s.client == nil {
				continue
			}
			if pick > 0 {
				pick--
				continue
			}
			if p.deliverTo(s, m) {
				return true
			}
		}
		pick = 0
	}
	return false
}

// Flush wakes every connection the last read delivered to.
func (in *Inbound) Flush() { in.p.flush() }
