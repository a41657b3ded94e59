package server

import (
	"time"

	"github.com/natsd/natsd/server/wire"
)

// waker is a connection whose writer a producer wakes after a read.
type waker interface{ Wake() }

// producer is the delivering side of one source of messages — a client's
// read loop, a route's read loop, or the server's own publishing: it
// remembers which connections it queued bytes for during one read, so that
// each writer is woken once per read rather than once per message, and it
// slows its source down for subscribers and routes that are behind.
type producer struct {
	srv     *Server
	targets []waker
	set     map[waker]struct{} // used once targets outgrows a linear scan

	// Connections that were behind when this read queued for them, with
	// the channel each closes once it has drained.
	stalls []stallWait
	// patient: this producer may wait for a route past max_pending as long
	// as it takes (a client's reader); false for a route's reader and the
	// server's own publishing.
	patient bool
	// routed: this producer delivers what a route brought (one hop: local
	// subscribers only, and imports handled at the origin are skipped).
	routed bool
	// depth: how many imports the message being delivered has crossed.
	depth int
	// trace: the message being delivered is traced (msgtrace.go); nil
	// for almost every message, which is all the delivery path checks.
	trace *msgTrace

	// Per-message scratch, reused.
	routes []routeTarget

	// Counts for the server totals, added once per read.
	inMsgs, inBytes, outMsgs, outBytes int64
	// The same counts for the account they belong to (acc), added when
	// the account changes and once per read.
	acc      *Account
	accStats accountCounts

	// active: the connection published during this read (its last-activity
	// time, which spares it keepalive PINGs, is set once per read).
	active bool
}

// stallWait is a connection that was behind when a message was queued for
// it: over means a route past max_pending (a client that far behind is cut
// off instead).
type stallWait struct {
	ch   <-chan struct{}
	over bool
}

const linearTargets = 16

func (p *producer) init(s *Server, patient bool) { p.srv, p.patient = s, patient }

// mark records that w has new bytes.
func (p *producer) mark(w waker) {
	if p.set != nil {
		if _, ok := p.set[w]; ok {
			return
		}
		p.set[w] = struct{}{}
		p.targets = append(p.targets, w)
		return
	}
	for _, t := range p.targets {
		if t == w {
			return
		}
	}
	p.targets = append(p.targets, w)
	if len(p.targets) > linearTargets {
		p.set = make(map[waker]struct{}, 2*len(p.targets))
		for _, t := range p.targets {
			p.set[t] = struct{}{}
		}
	}
}

// addStall notes a connection to wait for after this read.
func (p *producer) addStall(ch <-chan struct{}, over bool) {
	for i := range p.stalls {
		if p.stalls[i].ch == ch {
			p.stalls[i].over = p.stalls[i].over || over
			return
		}
	}
	p.stalls = append(p.stalls, stallWait{ch, over})
}

// sendToRoute queues m for rt in account a and notes whether the producer
// must wait for it after this read.
func (p *producer) sendToRoute(a *Account, rt Route, m *wire.Msg, queues []string) {
	stall, over := rt.SendMsg(a.Name, m, queues)
	p.mark(rt)
	if stall != nil {
		p.addStall(stall, over)
	}
}

// Bounds of the producer's wait for subscribers that are behind, per
// subscriber and per read: a publisher slows down, it never blocks on a
// client.
const (
	stallPerClient = 5 * time.Millisecond
	stallPerRead   = 10 * time.Millisecond
)

// flush wakes every marked writer, waits for the connections that are
// behind, and adds this read's counts to the server's.
func (p *producer) flush() {
	for i, t := range p.targets {
		t.Wake()
		p.targets[i] = nil
	}
	p.targets = p.targets[:0]
	if len(p.stalls) > 0 {
		p.waitStalls()
	}
	if p.set != nil {
		// A large fan-out is likely to repeat: keep the map, emptied.
		clear(p.set)
	}
	p.flushAccount()
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

// waitStalls waits for the connections that were behind during this read.
// A subscriber or route under max_pending gets a moment (stallPerClient,
// at most stallPerRead in all), which spares fast but momentarily behind
// subscribers from being cut off. For a route past max_pending a patient
// producer (a client's reader) waits until it has drained — the publisher
// slows to the route's pace and nothing is lost — bounded by twice the
// write deadline in case the route is wedged in a way no write reports. A
// route's reader only waits the moment: readers of routes that waited on
// each other across servers could deadlock.
func (p *producer) waitStalls() {
	var bound *time.Timer
	spent := false
	deadline := time.Now().Add(stallPerRead)
	for i, sw := range p.stalls {
		p.stalls[i] = stallWait{}
		if sw.over && p.patient && !spent {
			if bound == nil {
				bound = time.NewTimer(2 * p.srv.getOpts().WriteDeadline)
			}
			select {
			case <-sw.ch:
			case <-bound.C:
				spent = true
			}
			continue
		}
		if left := time.Until(deadline); left > 0 {
			t := time.NewTimer(min(left, stallPerClient))
			select {
			case <-sw.ch:
			case <-t.C:
			}
			t.Stop()
		}
	}
	if bound != nil {
		bound.Stop()
	}
	p.stalls = p.stalls[:0]
}

// accountCounts are one account's message counts of a read.
type accountCounts struct{ inMsgs, inBytes, outMsgs, outBytes int64 }

// setAccount makes a the account the next counts belong to.
func (p *producer) setAccount(a *Account) {
	if a != p.acc {
		p.flushAccount()
		p.acc = a
	}
}

// flushAccount adds the counts so far to their account.
func (p *producer) flushAccount() {
	c := &p.accStats
	if p.acc == nil || *c == (accountCounts{}) {
		return
	}
	st := &p.acc.stats
	if c.inMsgs != 0 {
		st.inMsgs.Add(c.inMsgs)
		st.inBytes.Add(c.inBytes)
	}
	if c.outMsgs != 0 {
		st.outMsgs.Add(c.outMsgs)
		st.outBytes.Add(c.outBytes)
	}
	*c = accountCounts{}
}
