package store

import "sort"

// seqRange is the sequences lo..hi, both included.
type seqRange struct{ lo, hi uint64 }

// rangeSet is a set of sequences kept as sorted, disjoint, non-adjacent
// ranges. It holds a stream's interior deletes: they come in runs (a work
// queue acks in order, a mirror skips a gap of a billion), so ranges stay
// few where a set of single sequences would not.
type rangeSet struct {
	r []seqRange
	n uint64 // how many sequences the set holds
}

// search is the index of the first range ending at or after seq.
func (s *rangeSet) search(seq uint64) int {
	return sort.Search(len(s.r), func(i int) bool { return s.r[i].hi >= seq })
}

func (s *rangeSet) contains(seq uint64) bool {
	i := s.search(seq)
	return i < len(s.r) && s.r[i].lo <= seq
}

// add puts lo..hi in the set, merging the ranges it touches.
func (s *rangeSet) add(lo, hi uint64) {
	if lo > hi {
		return
	}
	// Fast path: a removal just after the last range (in-order acks).
	if k := len(s.r); k > 0 && s.r[k-1].hi < lo {
		if s.r[k-1].hi+1 == lo {
			s.r[k-1].hi = hi
		} else {
			s.r = append(s.r, seqRange{lo, hi})
		}
		s.n += hi - lo + 1
		return
	}
	// i: first range that overlaps or touches lo..hi from the left.
	i := sort.Search(len(s.r), func(i int) bool { return s.r[i].hi+1 >= lo })
	j := i
	for j < len(s.r) && s.r[j].lo <= hi+1 { // sequences never reach 2⁶⁴-1
		j++
	}
	nlo, nhi := lo, hi
	for k := i; k < j; k++ {
		s.n -= s.r[k].hi - s.r[k].lo + 1
		nlo, nhi = min(nlo, s.r[k].lo), max(nhi, s.r[k].hi)
	}
	s.n += nhi - nlo + 1
	if i == j {
		s.r = append(s.r, seqRange{})
		copy(s.r[i+1:], s.r[i:])
		s.r[i] = seqRange{nlo, nhi}
		return
	}
	s.r[i] = seqRange{nlo, nhi}
	s.r = append(s.r[:i+1], s.r[j:]...)
}

// trimBelow removes every sequence below seq.
func (s *rangeSet) trimBelow(seq uint64) {
	i := s.search(seq)
	for k := 0; k < i; k++ {
		s.n -= s.r[k].hi - s.r[k].lo + 1
	}
	s.r = s.r[i:]
	if len(s.r) > 0 && s.r[0].lo < seq {
		s.n -= seq - s.r[0].lo
		s.r[0].lo = seq
	}
	if len(s.r) == 0 {
		s.r = nil // let the old array go
	}
}

// trimAbove removes every sequence above seq.
func (s *rangeSet) trimAbove(seq uint64) {
	for len(s.r) > 0 {
		last := &s.r[len(s.r)-1]
		if last.lo > seq {
			s.n -= last.hi - last.lo + 1
			s.r = s.r[:len(s.r)-1]
			continue
		}
		if last.hi > seq {
			s.n -= last.hi - seq
			last.hi = seq
		}
		return
	}
}

func (s *rangeSet) clear() { s.r, s.n = nil, 0 }

// countFrom is how many sequences at or above seq the set holds. It walks
// from the end: callers ask about the recent past.
func (s *rangeSet) countFrom(seq uint64) uint64 {
	var n uint64
	for k := len(s.r) - 1; k >= 0; k-- {
		r := s.r[k]
		if r.hi < seq {
			break
		}
		n += r.hi - max(r.lo, seq) + 1
	}
	return n
}

// nextOut is the smallest sequence at or above seq not in the set.
func (s *rangeSet) nextOut(seq uint64) uint64 {
	i := s.search(seq)
	if i < len(s.r) && s.r[i].lo <= seq {
		return s.r[i].hi + 1
	}
	return seq
}

// prevOut is the largest sequence at or below seq not in the set; ok is
// false when there is none (seq..0 all in the set).
func (s *rangeSet) prevOut(seq uint64) (uint64, bool) {
	i := s.search(seq)
	if i < len(s.r) && s.r[i].lo <= seq {
		if s.r[i].lo == 0 {
			return 0, false
		}
		return s.r[i].lo - 1, true
	}
	return seq, true
}

// appendTo appends every sequence of the set to dst.
func (s *rangeSet) appendTo(dst []uint64) []uint64 {
	for _, r := range s.r {
		for q := r.lo; ; q++ {
			dst = append(dst, q)
			if q == r.hi {
				break
			}
		}
	}
	return dst
}

// remove takes one sequence out of the set.
func (s *rangeSet) remove(seq uint64) {
	i := s.search(seq)
	if i >= len(s.r) || s.r[i].lo > seq {
		return
	}
	s.n--
	r := s.r[i]
	switch {
	case r.lo == r.hi:
		s.r = append(s.r[:i], s.r[i+1:]...)
	case r.lo == seq:
		s.r[i].lo++
	case r.hi == seq:
		s.r[i].hi--
	default:
		s.r = append(s.r, seqRange{})
		copy(s.r[i+2:], s.r[i+1:])
		s.r[i] = seqRange{r.lo, seq - 1}
		s.r[i+1] = seqRange{seq + 1, r.hi}
	}
}
