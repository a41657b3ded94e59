package subject

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// Errors returned by Insert and Remove; they are wrapped with the subject,
// so test for them with errors.Is.
var (
	ErrInvalidSubject = errors.New("subject: invalid subject")
	ErrInvalidQueue   = errors.New("subject: invalid queue name")
	ErrNotFound       = errors.New("subject: subscription not found")
)

// Result is what a published subject matches. Results returned by Match are
// shared between callers and with the cache: never modify one.
type Result[S comparable] struct {
	// Plain holds every plain subscription that matches; each gets a copy.
	Plain []S
	// Queues has one entry per queue name with a matching member. Members
	// of one name are gathered from every matching pattern ("foo.*" and
	// "foo.>" members of group q form one group); one member of each group
	// gets a copy.
	Queues []QueueGroup[S]
}

// QueueGroup is the matching members of one queue group.
type QueueGroup[S comparable] struct {
	Name    string
	Members []S
}

// Sublist routes published subjects to subscriptions: a trie keyed by
// subject token with a match cache in front. S is the subscriber handle.
//
// It is safe for concurrent use and tuned for many concurrent Match calls
// with rarer Insert/Remove. The trie is guarded by an RWMutex; a cache hit
// takes no lock at all (see cache.go).
//
// A handle is a set member per (subject, queue): inserting the same
// (subject, queue, s) twice is a no-op and one Remove undoes it. A handle
// inserted under two different subjects that both match a message (say
// "foo.*" and "foo.>") appears once per subject in the Result; callers that
// insert one handle under several subjects must de-duplicate themselves.
type Sublist[S comparable] struct {
	mu   sync.RWMutex // guards root
	root level[S]

	count   atomic.Int64
	inserts atomic.Uint64
	removes atomic.Uint64
	matches atomic.Uint64 // only without a cache; the shards count otherwise

	cache *matchCache[S] // nil when caching is off
	empty *Result[S]     // the shared result for "no interest"
}

// NewSublist returns an empty Sublist. With cache set, Match results are
// cached per subject (at most 1024 subjects).
func NewSublist[S comparable](cache bool) *Sublist[S] {
	l := &Sublist[S]{empty: &Result[S]{}}
	if cache {
		l.cache = newMatchCache[S]()
	}
	return l
}

// Insert adds s as a subscriber to subject, in queue group queue ("" for a
// plain subscription). It fails if subject or queue is invalid (see
// ValidSubject and ValidQueue). Inserting an existing (subject, queue, s)
// again changes nothing and returns nil.
func (l *Sublist[S]) Insert(subject, queue string, s S) error {
	if !ValidSubject(subject) {
		return fmt.Errorf("%w %q", ErrInvalidSubject, subject)
	}
	if queue != "" && !ValidQueue(queue) {
		return fmt.Errorf("%w %q", ErrInvalidQueue, queue)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	lv := &l.root
	rest := subject
	for {
		tok, r, more := nextToken(rest)
		n := lv.child(tok, true)
		if !more {
			if !n.add(queue, s) {
				return nil
			}
			break
		}
		if n.next == nil {
			n.next = new(level[S])
		}
		lv, rest = n.next, r
	}
	l.count.Add(1)
	l.inserts.Add(1)
	if l.cache != nil {
		l.cache.invalidate(subject)
	}
	return nil
}

// pathStep remembers how Remove reached a node, for pruning on the way up.
type pathStep[S comparable] struct {
	lv  *level[S]
	n   *node[S]
	tok string
}

// Remove deletes the subscription (subject, queue, s) and prunes the nodes
// it leaves empty, so memory follows the live subscriptions rather than
// their history. It returns an error wrapping ErrNotFound if there was no
// such subscription.
func (l *Sublist[S]) Remove(subject, queue string, s S) error {
	if !ValidSubject(subject) {
		return fmt.Errorf("%w %q", ErrInvalidSubject, subject)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var buf [16]pathStep[S]
	path := buf[:0]
	var target *node[S]
	lv := &l.root
	rest := subject
	for lv != nil {
		tok, r, more := nextToken(rest)
		n := lv.child(tok, false)
		if n == nil {
			break
		}
		path = append(path, pathStep[S]{lv, n, tok})
		if !more {
			target = n
			break
		}
		lv, rest = n.next, r
	}
	if target == nil || !target.remove(queue, s) {
		return fmt.Errorf("%w: %q queue %q", ErrNotFound, subject, queue)
	}
	for i := len(path) - 1; i >= 0; i-- {
		st := path[i]
		if !st.n.prunable() {
			break
		}
		st.lv.drop(st.tok)
		if i > 0 && st.lv.empty() {
			path[i-1].n.next = nil
		}
	}
	l.count.Add(-1)
	l.removes.Add(1)
	if l.cache != nil {
		l.cache.invalidate(subject)
	}
	return nil
}

// Match returns the subscriptions that a message published on subject must
// reach. The Result is shared: do not modify it. With the cache on, a hit
// is lock-free and allocates nothing. A subject with an empty
// token matches nothing; other bytes are not checked (publish subjects are
// validated only in pedantic mode, by the caller).
func (l *Sublist[S]) Match(subject []byte) *Result[S] {
	c := l.cache
	if c == nil {
		l.matches.Add(1)
		if !wellFormedBytes(subject) {
			return l.empty
		}
		l.mu.RLock()
		r := l.collect(subject, nil)
		l.mu.RUnlock()
		return r
	}
	h := maphash.Bytes(c.seed, subject)
	sh := c.shard(h)
	if r, ok := sh.get(h, subject); ok {
		sh.hits.Add(1)
		return r
	}
	sh.misses.Add(1)
	if !wellFormedBytes(subject) {
		return l.empty // not cached: invalidation assumes well-formed keys
	}
	// The result is stored while the trie is still read-locked: Insert and
	// Remove invalidate under the write lock, so a result computed from
	// the old trie can never be stored after they have run.
	e := new(cacheEntry[S])
	l.mu.RLock()
	e.r = l.collect(subject, &e.res)
	sh.put(h, subject, e)
	l.mu.RUnlock()
	return e.r
}

// collect walks the trie and builds a fresh Result in r, or in a new one if
// r is nil. Without interest it returns the shared empty Result instead.
// Called with l.mu held.
// A miss is dominated by allocation and the GC work of copying handles, so
// the plain subscribers and all queue members share one backing array:
// three allocations per Result however many groups match.
func (l *Sublist[S]) collect(subject []byte, r *Result[S]) *Result[S] {
	var buf [16]*node[S]
	nodes := matchLevel(&l.root, subject, buf[:0])
	np, nq, nm := 0, 0, 0
	for _, n := range nodes {
		np += len(n.plain.items)
		nq += len(n.queues)
		for _, q := range n.queues {
			nm += len(q.members.items)
		}
	}
	if np == 0 && nq == 0 {
		return l.empty
	}
	if r == nil {
		r = new(Result[S])
	}
	all := make([]S, 0, np+nm)
	for _, n := range nodes {
		all = append(all, n.plain.items...)
	}
	if np > 0 {
		r.Plain = all[:np:np]
	}
	if nq == 0 {
		return r
	}
	// Group by name across nodes: first size each group (in Members' len,
	// before any member is copied), then carve its slice out of all.
	r.Queues = make([]QueueGroup[S], 0, nq)
	for _, n := range nodes {
		for _, q := range n.queues {
			if j := queueIndex(r.Queues, q.name); j >= 0 {
				r.Queues[j].Members = r.Queues[j].Members[:len(r.Queues[j].Members)+len(q.members.items)]
			} else {
				r.Queues = append(r.Queues, QueueGroup[S]{Name: q.name, Members: all[:len(q.members.items)]})
			}
		}
	}
	off := np
	for j := range r.Queues {
		size := len(r.Queues[j].Members)
		r.Queues[j].Members = all[off : off : off+size]
		off += size
	}
	for _, n := range nodes {
		for _, q := range n.queues {
			j := queueIndex(r.Queues, q.name)
			r.Queues[j].Members = append(r.Queues[j].Members, q.members.items...)
		}
	}
	return r
}

// queueIndex finds a group by name. Linear: a subject rarely matches more
// than a handful of queue names.
func queueIndex[S comparable](qs []QueueGroup[S], name string) int {
	for j := range qs {
		if qs[j].Name == name {
			return j
		}
	}
	return -1
}

// matchLevel appends to nodes every node holding subscriptions whose
// subject matches subj (well formed), starting at lv. Literal children are
// followed iteratively, '*' children recursively.
func matchLevel[S comparable](lv *level[S], subj []byte, nodes []*node[S]) []*node[S] {
	for lv != nil {
		tok, rest, more := nextTokenBytes(subj)
		if n := lv.fwc; n != nil && n.hasSubs() {
			nodes = append(nodes, n) // '>' takes tok and everything after it
		}
		if n := lv.pwc; n != nil {
			if !more {
				if n.hasSubs() {
					nodes = append(nodes, n)
				}
			} else {
				nodes = matchLevel(n.next, rest, nodes)
			}
		}
		n := lv.nodes[string(tok)]
		if n == nil {
			break
		}
		if !more {
			if n.hasSubs() {
				nodes = append(nodes, n)
			}
			break
		}
		lv, subj = n.next, rest
	}
	return nodes
}

// HasInterest reports whether any subscription, plain or queue, matches
// subject, without building a Result. It consults the cache but does not
// fill it.
func (l *Sublist[S]) HasInterest(subject []byte) bool {
	if c := l.cache; c != nil {
		h := maphash.Bytes(c.seed, subject)
		if r, ok := c.shard(h).get(h, subject); ok {
			return len(r.Plain) > 0 || len(r.Queues) > 0
		}
	}
	if !wellFormedBytes(subject) {
		return false
	}
	l.mu.RLock()
	ok := hasInterest(&l.root, subject)
	l.mu.RUnlock()
	return ok
}

func hasInterest[S comparable](lv *level[S], subj []byte) bool {
	for lv != nil {
		tok, rest, more := nextTokenBytes(subj)
		if n := lv.fwc; n != nil && n.hasSubs() {
			return true
		}
		if n := lv.pwc; n != nil {
			if !more && n.hasSubs() || more && hasInterest(n.next, rest) {
				return true
			}
		}
		n := lv.nodes[string(tok)]
		if n == nil {
			return false
		}
		if !more {
			return n.hasSubs()
		}
		lv, subj = n.next, rest
	}
	return false
}

// Count returns the number of subscriptions.
func (l *Sublist[S]) Count() int { return int(l.count.Load()) }

// Stats returns the counters for monitoring (/subsz).
func (l *Sublist[S]) Stats() Stats {
	st := Stats{
		NumSubs:    uint64(l.count.Load()),
		NumInserts: l.inserts.Load(),
		NumRemoves: l.removes.Load(),
		NumMatches: l.matches.Load(),
	}
	if l.cache != nil {
		l.cache.stats(&st)
	}
	return st
}

// All calls fn for every subscription, in no particular order, until fn
// returns false. It works on a snapshot taken under the read lock and calls
// fn without any lock held, so fn may be slow (writing to a new route) and
// may call back into the Sublist; changes made meanwhile are not seen.
func (l *Sublist[S]) All(fn func(subject, queue string, s S) bool) {
	type entry struct {
		subject, queue string
		s              S
	}
	l.mu.RLock()
	all := make([]entry, 0, l.count.Load())
	var walk func(lv *level[S], prefix []byte)
	visit := func(n *node[S], prefix []byte) {
		if n.hasSubs() {
			subj := string(prefix) // one string per node, shared by its subs
			for _, s := range n.plain.items {
				all = append(all, entry{subj, "", s})
			}
			for _, q := range n.queues {
				for _, s := range q.members.items {
					all = append(all, entry{subj, q.name, s})
				}
			}
		}
		if n.next != nil {
			walk(n.next, append(prefix, sep))
		}
	}
	walk = func(lv *level[S], prefix []byte) {
		for tok, n := range lv.nodes {
			visit(n, append(prefix, tok...))
		}
		if lv.pwc != nil {
			visit(lv.pwc, append(prefix, pwc))
		}
		if lv.fwc != nil {
			visit(lv.fwc, append(prefix, fwc))
		}
	}
	walk(&l.root, make([]byte, 0, 64))
	l.mu.RUnlock()
	for _, e := range all {
		if !fn(e.subject, e.queue, e.s) {
			return
		}
	}
}
