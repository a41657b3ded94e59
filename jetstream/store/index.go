package store

import (
	"slices"
	"sort"
)

// rec is what the index knows of one stored message. The memory store
// keeps the message itself in buf; the file store keeps where its record
// is (seg, off, rlen) and reads it back on a load. The index holds recs by
// value in a map, so that a store adds a message without allocating for
// the index.
type rec struct {
	subj *subjEntry
	ts   int64
	// exp is when the message's own TTL runs out (Unix ns); 0 for no TTL
	// and -1 for "never", which also exempts it from MaxAge.
	exp  int64
	ttl  int64
	size uint64 // the size limits count, as nats-server counts it

	hlen uint32
	buf  []byte // memory store: header then data

	seg  *segment // file store
	off  int64
	rlen uint32
}

// subjEntry is one subject's live messages, in sequence order. Messages
// mostly leave from the front (limits, age, acks in order), which is a
// reslice; an interior removal is a binary search and a copy within one
// subject's messages only.
type subjEntry struct {
	name string
	seqs []uint64
}

// from is the position of the first of the subject's messages at or
// after seq.
func (e *subjEntry) from(seq uint64) int {
	if len(e.seqs) == 0 || e.seqs[0] >= seq {
		return 0
	}
	return sort.Search(len(e.seqs), func(i int) bool { return e.seqs[i] >= seq })
}

func (e *subjEntry) remove(seq uint64) {
	n := len(e.seqs)
	switch {
	case n == 0:
	case e.seqs[0] == seq:
		e.seqs = e.seqs[1:]
	case e.seqs[n-1] == seq:
		e.seqs = e.seqs[:n-1]
	default:
		if i := e.from(seq); i < n && e.seqs[i] == seq {
			e.seqs = append(e.seqs[:i], e.seqs[i+1:]...)
		}
	}
}

// state is the subject's messages from seq on.
func (e *subjEntry) state(seq uint64) SimpleState {
	i := e.from(seq)
	if i >= len(e.seqs) {
		return SimpleState{}
	}
	return SimpleState{Msgs: uint64(len(e.seqs) - i), First: e.seqs[i], Last: e.seqs[len(e.seqs)-1]}
}

// index is a stream's messages by sequence and by subject, shared by both
// stores. Invariants: with messages, first is the lowest live sequence and
// dels holds exactly the sequences in first..last that are not live (last
// itself may be deleted: the last sequence is never given back); without
// messages first is last+1 and dels is empty.
type index struct {
	msgs   map[uint64]rec
	subj   map[string]*subjEntry
	dels   rangeSet
	first  uint64
	last   uint64
	lastTs int64 // time of the last message stored, even if since removed
	bytes  uint64
}

func newIndex() index {
	return index{msgs: make(map[uint64]rec), subj: make(map[string]*subjEntry), first: 1}
}

func (ix *index) count() uint64 { return uint64(len(ix.msgs)) }

// subject finds or makes the entry of a subject.
func (ix *index) subject(s string) *subjEntry {
	if e := ix.subj[s]; e != nil {
		return e
	}
	e := &subjEntry{name: s}
	ix.subj[s] = e
	return e
}

// add puts message seq (above last) in the index; r.subj must come from
// ix.subject.
func (ix *index) add(seq uint64, r rec) {
	if len(ix.msgs) == 0 {
		ix.first = seq
		ix.dels.clear()
	} else if seq > ix.last+1 {
		ix.dels.add(ix.last+1, seq-1)
	}
	ix.last = seq
	ix.lastTs = r.ts
	ix.msgs[seq] = r
	ix.bytes += r.size
	r.subj.seqs = append(r.subj.seqs, seq)
}

// remove takes message seq out of the index and returns it.
func (ix *index) remove(seq uint64) (rec, bool) {
	r, ok := ix.msgs[seq]
	if !ok {
		return r, false
	}
	delete(ix.msgs, seq)
	ix.bytes -= r.size
	r.subj.remove(seq)
	if len(r.subj.seqs) == 0 {
		delete(ix.subj, r.subj.name)
	}
	switch {
	case len(ix.msgs) == 0:
		ix.first = ix.last + 1
		ix.dels.clear()
	case seq == ix.first:
		ix.first = ix.dels.nextOut(seq + 1)
		ix.dels.trimBelow(ix.first)
	default:
		ix.dels.add(seq, seq)
	}
	return r, true
}

// skip moves last on by n sequences that hold nothing.
func (ix *index) skip(n uint64) {
	if n == 0 || n > maxSeq-ix.last {
		return
	}
	if len(ix.msgs) == 0 {
		ix.last += n
		ix.first = ix.last + 1
		return
	}
	ix.dels.add(ix.last+1, ix.last+n)
	ix.last += n
}

// nextLive is the first live sequence at or after seq.
func (ix *index) nextLive(seq uint64) (uint64, bool) {
	if len(ix.msgs) == 0 || seq > ix.last {
		return 0, false
	}
	seq = ix.dels.nextOut(max(seq, ix.first))
	return seq, seq <= ix.last
}

// prevLive is the last live sequence at or before seq.
func (ix *index) prevLive(seq uint64) (uint64, bool) {
	if len(ix.msgs) == 0 || seq < ix.first {
		return 0, false
	}
	seq, ok := ix.dels.prevOut(min(seq, ix.last))
	return seq, ok && seq >= ix.first
}

// liveFrom counts the live messages at or after seq.
func (ix *index) liveFrom(seq uint64) uint64 {
	if len(ix.msgs) == 0 || seq > ix.last {
		return 0
	}
	if seq <= ix.first {
		return uint64(len(ix.msgs))
	}
	return ix.last - seq + 1 - ix.dels.countFrom(seq)
}

// compactTo removes every message below seq, calling drop for each; with
// seq past the end the store is emptied and its next sequence is seq.
func (ix *index) compactTo(seq uint64, drop func(uint64, rec)) uint64 {
	var n uint64
	for len(ix.msgs) > 0 && ix.first < seq {
		s := ix.first
		r, _ := ix.remove(s)
		n++
		if drop != nil {
			drop(s, r)
		}
	}
	if len(ix.msgs) == 0 && seq > ix.last+1 {
		ix.last = seq - 1
		ix.first = seq
	}
	return n
}

// truncateTo removes every message above seq and makes seq the last
// sequence (a seq at or past the last changes nothing).
func (ix *index) truncateTo(seq uint64, drop func(uint64, rec)) {
	if seq >= ix.last {
		return // nothing above it
	}
	for len(ix.msgs) > 0 {
		s, ok := ix.prevLive(ix.last)
		if !ok || s <= seq {
			break
		}
		r, _ := ix.remove(s)
		if drop != nil {
			drop(s, r)
		}
	}
	ix.last = seq
	if len(ix.msgs) == 0 {
		ix.first = seq + 1
		ix.dels.clear()
	} else {
		ix.dels.trimAbove(seq)
	}
	if r, ok := ix.msgs[seq]; ok {
		ix.lastTs = r.ts
	} else if s, ok := ix.prevLive(seq); ok {
		ix.lastTs = ix.msgs[s].ts
	}
}

// firstTs is the time of the first live message (0 when empty).
func (ix *index) firstTs() int64 {
	if r, ok := ix.msgs[ix.first]; ok {
		return r.ts
	}
	return 0
}

// purge is Purge, with nats-server's meaning: without a filter, upTo > 1
// compacts to upTo and keep keeps the newest keep messages; with a
// filter, the oldest matching messages below upTo are removed, leaving
// the newest keep of all that match.
func (ix *index) purge(subj string, upTo, keep uint64) uint64 {
	f := newFilter(subj)
	if f.all {
		switch {
		case upTo > 1:
			return ix.compactTo(upTo, nil)
		case keep > 0:
			if keep >= ix.count() {
				return 0
			}
			// The keep'th live message from the end is the new first.
			s := ix.last
			for i := uint64(0); i < keep; i++ {
				s, _ = ix.prevLive(s)
				if i+1 < keep {
					s--
				}
			}
			return ix.compactTo(s, nil)
		case upTo == 0:
			n := ix.count()
			ix.msgs, ix.subj = make(map[uint64]rec), make(map[string]*subjEntry)
			ix.bytes, ix.first = 0, ix.last+1
			ix.dels.clear()
			return n
		}
		return 0
	}
	ss := ix.filtered(1, f)
	if ss.Msgs == 0 || keep >= ss.Msgs {
		return 0
	}
	n := ss.Msgs - keep
	last := ss.Last
	if upTo > 1 {
		last = upTo - 1
	}
	var seqs []uint64
	set := oneFilter(f)
	ix.eachSubject(&set, func(e *subjEntry) {
		for _, s := range e.seqs {
			if s > last {
				break
			}
			seqs = append(seqs, s)
		}
	})
	if keep > 0 {
		slices.Sort(seqs) // the oldest go first
	}
	var purged uint64
	for _, s := range seqs {
		if purged == n {
			break
		}
		if _, ok := ix.remove(s); ok {
			purged++
		}
	}
	return purged
}

// subjectBytes is subject for a subject read from disk: the lookup does
// not allocate, only a new subject does.
func (ix *index) subjectBytes(b []byte) *subjEntry {
	if e := ix.subj[string(b)]; e != nil {
		return e
	}
	return ix.subject(string(b))
}
