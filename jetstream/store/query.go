package store

import "strings"

// filter is one subject filter, classified once so that a literal is a
// map lookup and only a wildcard walks the subjects.
type filter struct {
	all bool // "", ">": every message
	lit bool // no wildcard token
	s   string
}

func newFilter(s string) filter {
	switch {
	case s == "" || s == ">":
		return filter{all: true}
	case !hasWildcard(s):
		return filter{lit: true, s: s}
	}
	return filter{s: s}
}

// hasWildcard says whether a token of s is '*' or '>'.
func hasWildcard(s string) bool {
	for tok := range strings.SplitSeq(s, ".") {
		if tok == "*" || tok == ">" {
			return true
		}
	}
	return false
}

func (f filter) match(subj string) bool {
	switch {
	case f.all:
		return true
	case f.lit:
		return f.s == subj
	}
	return matchWild(f.s, subj)
}

// matchWild matches a subject against a pattern with wildcards, token by
// token, as a subscription does ("a.*" matches "a.b", "a.>" matches
// "a.b.c"). It is the store's own (not server/subject's) because it runs
// once per subject or message in a walk and the pattern, checked once,
// need not be validated again each time.
func matchWild(pattern, subj string) bool {
	for {
		pt, prest, pmore := strings.Cut(pattern, ".")
		st, srest, smore := strings.Cut(subj, ".")
		switch {
		case pt == ">":
			return true // subj has at least the token st left
		case pt != "*" && pt != st:
			return false
		case pmore != smore:
			return false
		case !pmore:
			return true
		}
		pattern, subj = prest, srest
	}
}

// filterSet is a consumer's filters; all is true when one of them (or
// none at all) matches every message.
// The first filter is held apart from the others so that the usual
// case, one filter, does not allocate.
type filterSet struct {
	first filter
	more  []filter
	n     int
	all   bool
	lit   bool // every filter is a literal
}

func newFilterSet(ss []string) filterSet {
	set := filterSet{all: len(ss) == 0, lit: true, n: len(ss)}
	for i, s := range ss {
		f := newFilter(s)
		set.all = set.all || f.all
		set.lit = set.lit && f.lit
		if i == 0 {
			set.first = f
		} else {
			set.more = append(set.more, f)
		}
	}
	return set
}

func oneFilter(f filter) filterSet { return filterSet{first: f, n: 1, all: f.all, lit: f.lit} }

func (set *filterSet) at(i int) filter {
	if i == 0 {
		return set.first
	}
	return set.more[i-1]
}

func (set *filterSet) match(subj string) bool {
	if set.all {
		return true
	}
	for i := range set.n {
		if set.at(i).match(subj) {
			return true
		}
	}
	return false
}

// eachSubject calls fn for every subject entry matching the set, once
// each: literals by lookup, wildcards by walking the subjects (which are
// far fewer than the messages).
func (ix *index) eachSubject(set *filterSet, fn func(*subjEntry)) {
	if set.lit && !set.all {
		for i := range set.n {
			f := set.at(i)
			if set.dup(i, f.s) {
				continue
			}
			if e := ix.subj[f.s]; e != nil {
				fn(e)
			}
		}
		return
	}
	for _, e := range ix.subj {
		if set.match(e.name) {
			fn(e)
		}
	}
}

// dup says whether a filter before the i'th is s.
func (set *filterSet) dup(i int, s string) bool {
	for j := range i {
		if set.at(j).s == s {
			return true
		}
	}
	return false
}

// filtered is FilteredState.
func (ix *index) filtered(seq uint64, f filter) SimpleState {
	seq = max(seq, ix.first)
	if f.all {
		first, ok := ix.nextLive(seq)
		if !ok {
			return SimpleState{}
		}
		last, _ := ix.prevLive(ix.last)
		return SimpleState{Msgs: ix.liveFrom(seq), First: first, Last: last}
	}
	if f.lit {
		if e := ix.subj[f.s]; e != nil {
			return e.state(seq)
		}
		return SimpleState{}
	}
	var ss SimpleState
	set := oneFilter(f)
	ix.eachSubject(&set, func(e *subjEntry) { merge(&ss, e.state(seq)) })
	return ss
}

func merge(ss *SimpleState, o SimpleState) {
	if o.Msgs == 0 {
		return
	}
	if ss.Msgs == 0 || o.First < ss.First {
		ss.First = o.First
	}
	ss.Last = max(ss.Last, o.Last)
	ss.Msgs += o.Msgs
}

// numPending is NumPending.
func (ix *index) numPending(seq uint64, set *filterSet, lastPerSubject bool) uint64 {
	seq = max(seq, ix.first)
	if !lastPerSubject && set.all {
		return ix.liveFrom(seq)
	}
	var n uint64
	ix.eachSubject(set, func(e *subjEntry) {
		if lastPerSubject {
			if k := len(e.seqs); k > 0 && e.seqs[k-1] >= seq {
				n++
			}
			return
		}
		n += uint64(len(e.seqs) - e.from(seq))
	})
	return n
}

// scanAhead is how many live messages LoadNextMsg with a wildcard filter
// looks at one by one before it asks every subject instead: as many as
// there are subjects (so that either way costs about the same), at least
// a few (a consumer tailing a stream usually finds its next message at
// once) and at most 64 Ki.
func (ix *index) scanAhead() int {
	return min(max(len(ix.subj), 32), 1<<16)
}

// nextMatch is the first live sequence at or after start whose subject
// matches set.
func (ix *index) nextMatch(set *filterSet, start uint64) (uint64, bool) {
	if set.all {
		return ix.nextLive(start)
	}
	if !set.lit {
		s := start
		for range ix.scanAhead() {
			var ok bool
			if s, ok = ix.nextLive(s); !ok {
				return 0, false
			}
			if set.match(ix.msgs[s].subj.name) {
				return s, true
			}
			s++
		}
		start = s
	}
	best, found := uint64(0), false
	ix.eachSubject(set, func(e *subjEntry) {
		if i := e.from(start); i < len(e.seqs) && (!found || e.seqs[i] < best) {
			best, found = e.seqs[i], true
		}
	})
	return best, found
}

// lastMatch is the last live sequence whose subject matches f.
func (ix *index) lastMatch(f filter) (uint64, bool) {
	if f.all {
		return ix.prevLive(ix.last)
	}
	best, found := uint64(0), false
	set := oneFilter(f)
	ix.eachSubject(&set, func(e *subjEntry) {
		if k := len(e.seqs); k > 0 && e.seqs[k-1] > best {
			best, found = e.seqs[k-1], true
		}
	})
	return best, found
}

// subjectsState is SubjectsState.
func (ix *index) subjectsState(f filter) map[string]SimpleState {
	m := make(map[string]SimpleState)
	set := oneFilter(f)
	ix.eachSubject(&set, func(e *subjEntry) {
		if k := len(e.seqs); k > 0 {
			m[e.name] = SimpleState{Msgs: uint64(k), First: e.seqs[0], Last: e.seqs[k-1]}
		}
	})
	return m
}

// seqForTime is the first live sequence stored at or after ts (Unix ns):
// a binary search on sequences, which times follow (StoreMsg never lets
// the time go back).
func (ix *index) seqForTime(ts int64) uint64 {
	if len(ix.msgs) == 0 {
		return ix.last + 1
	}
	lo, hi := ix.first, ix.last+1 // the answer's position is in lo..hi
	for lo < hi {
		mid := lo + (hi-lo)/2
		s, ok := ix.nextLive(mid)
		if !ok || ix.msgs[s].ts >= ts {
			hi = mid
		} else {
			lo = s + 1
		}
	}
	if s, ok := ix.nextLive(lo); ok {
		return s
	}
	return ix.last + 1
}

// state is State without Lost and Consumers.
func (ix *index) state(deleted bool) StreamState {
	st := StreamState{
		Msgs:        ix.count(),
		Bytes:       ix.bytes,
		FirstSeq:    ix.first,
		LastSeq:     ix.last,
		NumSubjects: len(ix.subj),
	}
	if ix.lastTs != 0 {
		st.LastTime = unixTime(ix.lastTs)
	}
	if st.Msgs > 0 {
		st.FirstTime = unixTime(ix.firstTs())
		st.NumDeleted = int(ix.dels.n)
		if deleted {
			st.Deleted = ix.dels.appendTo(nil)
		}
	}
	return st
}
