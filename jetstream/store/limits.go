package store

import (
	"container/heap"
	"fmt"
	"sync"
	"time"
)

// core is the part of a store both kinds share: the index, the stream's
// limits applied to it, message expiry (MaxAge and per-message TTL) on one
// timer, and the OnRemove callbacks. Its methods expect mu held; the
// callbacks for what they removed are queued in dropped and called by
// the store once it has let go of mu.
type core struct {
	mu  sync.RWMutex
	cfg Config
	ix  index

	cbs     []func(seq uint64, subject string)
	dropped []removal

	// expiry: one timer for the earliest of the oldest message's MaxAge
	// and the earliest per-message TTL.
	timer   *time.Timer
	timerAt int64
	ttls    ttlHeap
	expire  func() // the store's timer callback
	closed  bool

	// onDrop, if set, is told of every message removed by a limit or by
	// expiry, before it is queued for the callbacks (the file store
	// records the removal on disk).
	onDrop func(seq uint64, r rec, front bool)

	now func() int64

	// load fills sm from the index's record of message seq.
	load func(seq uint64, r rec, sm *StoreMsg) (*StoreMsg, error)
	// isLost (file store) says whether seq was found corrupt.
	isLost func(seq uint64) bool
	// afterRead (file store) runs after every read let go of mu.
	afterRead func()
}

type removal struct {
	seq  uint64
	subj string
}

func checkConfig(cfg Config) error {
	if cfg.MaxMsgSize < -1 {
		return fmt.Errorf("store: invalid max message size %d", cfg.MaxMsgSize)
	}
	return nil
}

func unixTime(ns int64) time.Time { return time.Unix(0, ns).UTC() }

func limitOn(v int64) bool { return v > 0 }

// checkTTL validates a per-message TTL and gives its expiry.
func (l *core) checkTTL(ttl, ts int64) (int64, error) {
	switch {
	case ttl == 0:
		return 0, nil
	case !l.cfg.AllowMsgTTL || ttl < -1:
		return 0, ErrBadTTL
	case ttl == -1:
		return -1, nil
	}
	return ts + ttl*int64(time.Second), nil
}

// checkNew refuses what the limits do not let in, before a message is
// given a sequence. pendMsgs, pendBytes and pendSubj count what the file
// store has accepted but not yet committed.
func (l *core) checkNew(subj string, hlen, mlen int, size uint64, pendMsgs, pendBytes uint64, pendSubj int) error {
	c := &l.cfg
	if c.MaxMsgSize > 0 && hlen+mlen > int(c.MaxMsgSize) {
		return ErrMaxMsgSize
	}
	if c.Discard == DiscardNew {
		if limitOn(c.MaxMsgs) && l.ix.count()+pendMsgs+1 > uint64(c.MaxMsgs) {
			return ErrMaxMsgs
		}
		if limitOn(c.MaxBytes) && l.ix.bytes+pendBytes+size > uint64(c.MaxBytes) {
			return ErrMaxBytes
		}
		if c.DiscardNewPerSubject && limitOn(c.MaxMsgsPerSubject) {
			n := pendSubj
			if e := l.ix.subj[subj]; e != nil {
				n += len(e.seqs)
			}
			if int64(n)+1 > c.MaxMsgsPerSubject {
				return ErrMaxMsgsPerSubject
			}
		}
	}
	return nil
}

// added applies the limits after message seq of subject e was added.
func (l *core) added(seq uint64, e *subjEntry, r *rec) {
	if r.exp > 0 {
		heap.Push(&l.ttls, ttlEntry{exp: r.exp, seq: seq})
	}
	l.enforce(e)
	l.arm()
}

// enforce removes what the limits no longer allow: the oldest messages of
// subject e (if given) beyond MaxMsgsPerSubject, then the oldest of the
// stream beyond MaxMsgs and MaxBytes.
func (l *core) enforce(e *subjEntry) {
	c := &l.cfg
	if limitOn(c.MaxMsgsPerSubject) {
		if e != nil {
			l.trimSubject(e)
		} else {
			for _, e := range l.ix.subj {
				l.trimSubject(e)
			}
		}
	}
	if limitOn(c.MaxMsgs) {
		for l.ix.count() > uint64(c.MaxMsgs) {
			l.drop(l.ix.first)
		}
	}
	if limitOn(c.MaxBytes) {
		for l.ix.bytes > uint64(c.MaxBytes) && l.ix.count() > 0 {
			l.drop(l.ix.first)
		}
	}
}

func (l *core) trimSubject(e *subjEntry) {
	for int64(len(e.seqs)) > l.cfg.MaxMsgsPerSubject {
		l.drop(e.seqs[0])
	}
}

// drop removes message seq because a limit or its age says so.
func (l *core) drop(seq uint64) {
	front := seq == l.ix.first
	r, ok := l.ix.remove(seq)
	if !ok {
		return
	}
	if l.onDrop != nil {
		l.onDrop(seq, r, front)
	}
	if len(l.cbs) > 0 {
		l.dropped = append(l.dropped, removal{seq, r.subj.name})
	}
}

// takeDropped hands over the queued callbacks (mu held); call runs them.
func (l *core) takeDropped() ([]removal, []func(uint64, string)) {
	if len(l.dropped) == 0 {
		return nil, nil
	}
	d := l.dropped
	l.dropped = nil
	return d, l.cbs
}

func runCallbacks(d []removal, cbs []func(uint64, string)) {
	for _, r := range d {
		for _, cb := range cbs {
			cb(r.seq, r.subj)
		}
	}
}

// expireNow removes every message whose age or TTL has run out.
func (l *core) expireNow() {
	now := l.now()
	if limitOn(int64(l.cfg.MaxAge)) {
		cutoff := now - int64(l.cfg.MaxAge)
		for s, ok := l.ix.nextLive(l.ix.first); ok; s, ok = l.ix.nextLive(s + 1) {
			r := l.ix.msgs[s]
			if r.ts > cutoff {
				break
			}
			if r.exp != -1 {
				l.drop(s)
			}
		}
	}
	for len(l.ttls) > 0 && l.ttls[0].exp <= now {
		t := heap.Pop(&l.ttls).(ttlEntry)
		if r, ok := l.ix.msgs[t.seq]; ok && r.exp == t.exp {
			l.drop(t.seq)
		}
	}
}

// nextExpiry is when the next message expires (0: none will).
func (l *core) nextExpiry() int64 {
	var at int64
	if limitOn(int64(l.cfg.MaxAge)) {
		for s, ok := l.ix.nextLive(l.ix.first); ok; s, ok = l.ix.nextLive(s + 1) {
			if r := l.ix.msgs[s]; r.exp != -1 {
				at = r.ts + int64(l.cfg.MaxAge)
				break
			}
		}
	}
	for len(l.ttls) > 0 {
		t := l.ttls[0]
		if r, ok := l.ix.msgs[t.seq]; !ok || r.exp != t.exp {
			heap.Pop(&l.ttls) // removed since: forget it
			continue
		}
		if at == 0 || t.exp < at {
			at = t.exp
		}
		break
	}
	return at
}

// arm sets the timer for the next expiry if it is earlier than the one
// set (or none is).
func (l *core) arm() {
	if l.closed {
		return
	}
	at := l.nextExpiry()
	if at == 0 || (l.timer != nil && l.timerAt != 0 && l.timerAt <= at) {
		return
	}
	d := time.Duration(at - l.now())
	if d < 0 {
		d = 0
	}
	l.timerAt = at
	if l.timer == nil {
		l.timer = time.AfterFunc(d, l.expire)
	} else {
		l.timer.Reset(d)
	}
}

// fired is called by the store's timer callback with mu held: expire,
// then set the timer for what comes next.
func (l *core) fired() {
	l.timerAt = 0
	if l.closed {
		return
	}
	l.expireNow()
	l.arm()
}

func (l *core) stopTimer() {
	l.closed = true
	if l.timer != nil {
		l.timer.Stop()
	}
}

// newConfig applies new limits: what they no longer allow is removed.
func (l *core) newConfig(cfg Config) {
	l.cfg = cfg
	l.enforce(nil)
	l.timerAt = 0
	if l.timer != nil {
		l.timer.Stop()
	}
	l.expireNow()
	l.arm()
}

type ttlEntry struct {
	exp int64
	seq uint64
}

// ttlHeap orders the messages that have a TTL by expiry.
type ttlHeap []ttlEntry

func (h ttlHeap) Len() int           { return len(h) }
func (h ttlHeap) Less(i, j int) bool { return h[i].exp < h[j].exp }
func (h ttlHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *ttlHeap) Push(x any)        { *h = append(*h, x.(ttlEntry)) }
func (h *ttlHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
