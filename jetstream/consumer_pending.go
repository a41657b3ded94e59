package jetstream

// The pending set of a consumer (delivered, not yet acknowledged) and its
// oldest entry, which the ack floor sits just below. Every ack moves the
// floor, so finding the oldest must not walk the whole set: with a few
// hundred deliveries in flight that walk was half of the server's CPU in
// `nats bench js consume` and `js fetch` (docs/performance.md). Every
// change to o.pending goes through addPendingLocked and dropPendingLocked,
// which keep the two facts the fast path needs.

// pendingMsg is a delivered, unacknowledged message.
type pendingMsg struct {
	cseq uint64
	ts   int64 // delivery time, Unix nanoseconds
	// unordered: the consumer sequence was not handed out in stream
	// order with the others (a redelivery's new one, or a state restored
	// from the store, whose order is not known).
	unordered bool
}

// addPendingLocked records a delivery of sseq (a redelivery replaces the
// entry).
func (o *consumer) addPendingLocked(sseq uint64, p *pendingMsg) {
	if old, ok := o.pending[sseq]; ok && old.unordered {
		o.unordered--
	}
	if p.unordered {
		o.unordered++
	}
	if len(o.pending) == 0 || sseq < o.oldestHint {
		o.oldestHint = sseq
	}
	o.pending[sseq] = p
}

// dropPendingLocked forgets sseq (acknowledged, expired, removed) and
// says whether it was pending.
func (o *consumer) dropPendingLocked(sseq uint64) bool {
	p, ok := o.pending[sseq]
	if !ok {
		return false
	}
	if p.unordered {
		o.unordered--
	}
	delete(o.pending, sseq)
	return true
}

// updateAckFloorLocked moves the ack floor: below the oldest pending
// message, or to the last delivery when nothing is pending.
func (o *consumer) updateAckFloorLocked() {
	if len(o.pending) == 0 {
		o.adflr, o.asflr = o.dseq, o.deliveredStreamSeq()
		return
	}
	minS := o.oldestPendingLocked()
	minC := o.pending[minS].cseq
	if o.unordered > 0 {
		// Consumer sequences do not rise with stream sequences: the
		// smallest is anywhere.
		for _, p := range o.pending {
			minC = min(minC, p.cseq)
		}
	}
	o.asflr, o.adflr = minS-1, minC-1
}

// oldestPendingLocked is the smallest pending stream sequence (o.pending
// is not empty). No pending sequence is below o.oldestHint, so the first
// one found looking upward from it is the oldest: one or two lookups when
// acks come in order. It looks at as many sequences as are pending, then
// walks the map (pending deliveries sparser than that: a filtered
// consumer on a busy stream), so an ack never costs more than a walk.
func (o *consumer) oldestPendingLocked() uint64 {
	s := o.oldestHint
	for range len(o.pending) {
		if _, ok := o.pending[s]; ok {
			o.oldestHint = s
			return s
		}
		s++
	}
	first := true
	for p := range o.pending {
		if first || p < s {
			s, first = p, false
		}
	}
	o.oldestHint = s
	return s
}
