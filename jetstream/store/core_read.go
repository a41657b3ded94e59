package store

import "time"

// The read side both stores share: find the sequence in the index, then
// load it the store's way (copy from memory, or read and verify a record).

// loadLocked loads message seq; mu is held (read or write).
func (c *core) loadLocked(seq uint64, sm *StoreMsg) (*StoreMsg, error) {
	r, ok := c.ix.msgs[seq]
	if !ok {
		if c.isLost != nil && c.isLost(seq) {
			return nil, ErrCorrupt
		}
		return nil, ErrMsgNotFound
	}
	return c.load(seq, r, sm)
}

// readDone runs after a read let go of mu: the file store marks lost
// what the read found corrupt, which needs the write lock.
func (c *core) readDone() {
	if c.afterRead != nil {
		c.afterRead()
	}
}

func (c *core) LoadMsg(seq uint64, sm *StoreMsg) (*StoreMsg, error) {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return nil, ErrStoreClosed
	}
	m, err := c.loadLocked(seq, sm)
	c.mu.RUnlock()
	c.readDone()
	return m, err
}

// loadFound loads the sequences next gives until one is not corrupt: a
// corrupt message is never data, and the reader moves past it (it is
// reported in State().Lost).
func (c *core) loadFound(sm *StoreMsg, next func(after uint64, first bool) (uint64, bool)) (*StoreMsg, error) {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return nil, ErrStoreClosed
	}
	var m *StoreMsg
	err := ErrMsgNotFound
	for seq, ok := next(0, true); ok; seq, ok = next(seq, false) {
		if m, err = c.loadLocked(seq, sm); err != ErrCorrupt {
			break
		}
		err = ErrMsgNotFound
	}
	c.mu.RUnlock()
	c.readDone()
	if err != nil {
		return nil, err
	}
	return m, nil
}

func (c *core) LoadNextMsg(filters []string, start uint64, sm *StoreMsg) (*StoreMsg, error) {
	set := newFilterSet(filters)
	return c.loadFound(sm, func(after uint64, first bool) (uint64, bool) {
		if !first {
			start = after + 1
		}
		return c.ix.nextMatch(&set, start)
	})
}

func (c *core) LoadLastMsg(f string, sm *StoreMsg) (*StoreMsg, error) {
	flt := newFilter(f)
	return c.loadFound(sm, func(after uint64, first bool) (uint64, bool) {
		if first {
			return c.ix.lastMatch(flt)
		}
		// A corrupt last one: walk back (rare, so a plain walk).
		for s := after; s > 1; {
			p, ok := c.ix.prevLive(s - 1)
			if !ok {
				break
			}
			if flt.match(c.ix.msgs[p].subj.name) {
				return p, true
			}
			s = p
		}
		return 0, false
	})
}

func (c *core) LoadPrevMsg(start uint64, sm *StoreMsg) (*StoreMsg, error) {
	return c.loadFound(sm, func(after uint64, first bool) (uint64, bool) {
		if !first {
			if after <= 1 {
				return 0, false
			}
			start = after - 1
		}
		return c.ix.prevLive(start)
	})
}

func (c *core) SeqForTime(t time.Time) uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ix.seqForTime(t.UnixNano())
}

func (c *core) FilteredState(seq uint64, f string) SimpleState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ix.filtered(seq, newFilter(f))
}

func (c *core) SubjectsState(f string) map[string]SimpleState {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ix.subjectsState(newFilter(f))
}

func (c *core) NumPending(seq uint64, filters []string, lastPerSubject bool) uint64 {
	set := newFilterSet(filters)
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.ix.numPending(seq, &set, lastPerSubject)
}

func (c *core) OnRemove(fn func(seq uint64, subject string)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	// A new slice: callbacks already handed out keep the old one.
	c.cbs = append(c.cbs[:len(c.cbs):len(c.cbs)], fn)
}
