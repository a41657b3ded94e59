package store

import (
	"strings"
	"sync"
)

// ackState is a consumer's state and the rules that change it, shared by
// the memory and file consumer stores (which add persistence).
type ackState struct {
	policy AckPolicy
	st     ConsumerState
	// oldestHint is a lower bound of the pending stream sequences: none is
	// below it. The oldest is then found by looking upward from it (one
	// or two map lookups when acks come in order) rather than by walking
	// every pending delivery on every ack.
	oldestHint uint64
}

// set replaces the state (a restore, a reset, what was read from disk).
func (a *ackState) set(st ConsumerState) {
	a.st = st
	a.oldestHint = 0 // a bound that holds for any state
}

func newAckState(cfg ConsumerConfig) ackState {
	return ackState{policy: cfg.AckPolicy}
}

func (a *ackState) delivered(dseq, sseq, dc uint64, ts int64) error {
	if dc != 1 && a.policy == AckNone {
		return ErrNoAckPolicy
	}
	// A replay of what is already acknowledged changes nothing.
	if dseq <= a.st.AckFloor.Consumer {
		return nil
	}
	if a.policy == AckNone {
		// Nothing is pending: what is delivered is done with.
		a.st.Delivered.Consumer = max(a.st.Delivered.Consumer, dseq)
		a.st.Delivered.Stream = max(a.st.Delivered.Stream, sseq)
		a.st.AckFloor = a.st.Delivered
		return nil
	}
	if a.st.Pending == nil {
		a.st.Pending = make(map[uint64]*Pending)
	}
	if p := a.st.Pending[sseq]; p != nil {
		p.Timestamp = ts // a redelivery keeps its first consumer sequence
	} else {
		if len(a.st.Pending) == 0 || sseq < a.oldestHint {
			a.oldestHint = sseq
		}
		a.st.Pending[sseq] = &Pending{Sequence: dseq, Timestamp: ts}
	}
	a.st.Delivered.Consumer = max(a.st.Delivered.Consumer, dseq)
	a.st.Delivered.Stream = max(a.st.Delivered.Stream, sseq)
	if dc > 1 {
		if a.st.Redelivered == nil {
			a.st.Redelivered = make(map[uint64]uint64)
		}
		a.st.Redelivered[sseq] = dc - 1
	}
	return nil
}

func (a *ackState) acked(dseq, sseq uint64) error {
	if a.policy == AckNone {
		return ErrNoAckPolicy
	}
	if dseq <= a.st.AckFloor.Consumer {
		return nil // already below the floor (a replay)
	}
	p := a.st.Pending[sseq]
	if p == nil {
		delete(a.st.Redelivered, sseq)
		return ErrMsgNotFound
	}
	if a.policy == AckAll {
		// Everything delivered up to sseq is acknowledged with it.
		for s := range a.st.Pending {
			if s <= sseq {
				delete(a.st.Pending, s)
				delete(a.st.Redelivered, s)
			}
		}
		a.st.AckFloor = SequencePair{Consumer: max(dseq, p.Sequence), Stream: sseq}
		a.floorFromPending()
		return nil
	}
	delete(a.st.Pending, sseq)
	delete(a.st.Redelivered, sseq)
	a.floorFromPending()
	return nil
}

// floorFromPending moves the ack floor up to just below the oldest
// pending delivery, or to what was delivered when nothing is pending.
func (a *ackState) floorFromPending() {
	if len(a.st.Pending) == 0 {
		a.st.AckFloor = a.st.Delivered
		return
	}
	oldest := a.oldestPending()
	op := a.st.Pending[oldest]
	if op.Sequence > 0 && op.Sequence-1 > a.st.AckFloor.Consumer {
		a.st.AckFloor = SequencePair{Consumer: op.Sequence - 1, Stream: oldest - 1}
	}
}

// oldestPending is the smallest pending stream sequence (Pending is not
// empty). It looks upward from oldestHint for as many sequences as are
// pending — the oldest is the first one found — and walks the map only
// when the pending deliveries are sparser than that (a filtered consumer
// on a busy stream), so that an ack costs no more than it did with a walk
// every time.
func (a *ackState) oldestPending() uint64 {
	s := a.oldestHint
	for range len(a.st.Pending) {
		if _, ok := a.st.Pending[s]; ok {
			a.oldestHint = s
			return s
		}
		s++
	}
	first := true
	for p := range a.st.Pending {
		if first || p < s {
			s, first = p, false
		}
	}
	a.oldestHint = s
	return s
}

// copyState is a deep copy, so that callers never share the maps.
func copyState(st *ConsumerState) *ConsumerState {
	c := &ConsumerState{Delivered: st.Delivered, AckFloor: st.AckFloor}
	if len(st.Pending) > 0 {
		c.Pending = make(map[uint64]*Pending, len(st.Pending))
		for s, p := range st.Pending {
			pp := *p
			c.Pending[s] = &pp
		}
	}
	if len(st.Redelivered) > 0 {
		c.Redelivered = make(map[uint64]uint64, len(st.Redelivered))
		for s, n := range st.Redelivered {
			c.Redelivered[s] = n
		}
	}
	return c
}

// checkConsumerName refuses names that are not one path element: the file
// store makes a directory of it.
func checkConsumerName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 255 ||
		strings.ContainsAny(name, "/\\\x00") {
		return ErrBadConsumerName
	}
	return nil
}

// memConsumer is a consumer's state in memory.
type memConsumer struct {
	mu     sync.Mutex
	ms     *memStore
	name   string
	a      ackState
	closed bool
}

func (ms *memStore) ConsumerStore(name string, cfg ConsumerConfig) (ConsumerStore, error) {
	if err := checkConsumerName(name); err != nil {
		return nil, err
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.closed {
		return nil, ErrStoreClosed
	}
	if c := ms.consumers[name]; c != nil {
		c.mu.Lock()
		c.a.policy = cfg.AckPolicy
		c.mu.Unlock()
		return c, nil
	}
	c := &memConsumer{ms: ms, name: name, a: newAckState(cfg)}
	ms.consumers[name] = c
	return c, nil
}

func (c *memConsumer) UpdateDelivered(dseq, sseq, dc uint64, ts int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrStoreClosed
	}
	return c.a.delivered(dseq, sseq, dc, ts)
}

func (c *memConsumer) UpdateAcks(dseq, sseq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrStoreClosed
	}
	return c.a.acked(dseq, sseq)
}

func (c *memConsumer) SetState(st *ConsumerState) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrStoreClosed
	}
	c.a.set(*copyState(st))
	return nil
}

func (c *memConsumer) State() (*ConsumerState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrStoreClosed
	}
	return copyState(&c.a.st), nil
}

// Stop closes the consumer store. Memory keeps nothing past it, as
// nothing in memory outlives the process.
func (c *memConsumer) Stop() error { return c.Delete() }

func (c *memConsumer) Delete() error {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.ms.mu.Lock()
	if c.ms.consumers[c.name] == c {
		delete(c.ms.consumers, c.name)
	}
	c.ms.mu.Unlock()
	return nil
}
