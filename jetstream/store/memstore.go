package store

import (
	"time"
)

// memStore keeps a stream in memory: each message is one buffer (header
// then data) referenced from the shared index.
type memStore struct {
	core
	consumers map[string]*memConsumer
}

// NewMemStore makes a memory store.
func NewMemStore(cfg Config) (Store, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	ms := &memStore{consumers: make(map[string]*memConsumer)}
	ms.cfg = cfg
	ms.ix = newIndex()
	ms.now = func() int64 { return time.Now().UnixNano() }
	ms.expire = ms.onTimer
	ms.load = fillMem
	return ms, nil
}

// memMsgSize is what a message counts against MaxBytes in memory, as
// nats-server counts it (subject, header, data and 16 bytes of sequence
// and time).
func memMsgSize(subj string, hdr, msg []byte) uint64 {
	return uint64(len(subj) + len(hdr) + len(msg) + 16)
}

func (ms *memStore) StoreMsg(subj string, hdr, msg []byte, ttl int64) (uint64, int64, error) {
	return ms.storeMsg(subj, hdr, msg, ttl, 0)
}

// storeMsg is StoreMsg; at, when positive, is the message's time (a
// restore) instead of now.
func (ms *memStore) storeMsg(subj string, hdr, msg []byte, ttl, at int64) (uint64, int64, error) {
	ms.mu.Lock()
	if ms.closed {
		ms.mu.Unlock()
		return 0, 0, ErrStoreClosed
	}
	size := memMsgSize(subj, hdr, msg)
	if err := ms.checkNew(subj, len(hdr), len(msg), size, 0, 0, 0); err != nil {
		ms.mu.Unlock()
		return 0, 0, err
	}
	ts := ms.now()
	if at > 0 {
		ts = at
	}
	ts = max(ts, ms.ix.lastTs)
	exp, err := ms.checkTTL(ttl, ts)
	if err != nil {
		ms.mu.Unlock()
		return 0, 0, err
	}
	// One allocation: the copy of header and data the store must keep.
	buf := make([]byte, len(hdr)+len(msg))
	copy(buf, hdr)
	copy(buf[len(hdr):], msg)
	seq := ms.ix.last + 1
	e := ms.ix.subject(subj)
	r := rec{subj: e, ts: ts, exp: exp, ttl: ttl, size: size, hlen: uint32(len(hdr)), buf: buf}
	ms.ix.add(seq, r)
	ms.added(seq, e, &r)
	ms.unlockAndNotify()
	return seq, ts, nil
}

// unlockAndNotify lets go of the lock, then tells the OnRemove callbacks
// what the limits removed: a callback may call back into the store.
func (ms *memStore) unlockAndNotify() {
	d, cbs := ms.takeDropped()
	ms.mu.Unlock()
	runCallbacks(d, cbs)
}

func (ms *memStore) onTimer() {
	ms.mu.Lock()
	ms.fired()
	ms.unlockAndNotify()
}

func (ms *memStore) SkipMsgs(n uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.closed {
		return ErrStoreClosed
	}
	if n > maxSeq-ms.ix.last {
		return errSeqOverflow
	}
	ms.ix.skip(n)
	return nil
}

// fill copies message seq into sm (or a new StoreMsg), reusing its buffer.
func fillMem(seq uint64, r rec, sm *StoreMsg) (*StoreMsg, error) {
	if sm == nil {
		sm = new(StoreMsg)
	}
	sm.buf = append(sm.buf[:0], r.buf...)
	sm.Header = sm.buf[:r.hlen:r.hlen]
	sm.Data = sm.buf[r.hlen:]
	if r.hlen == 0 {
		sm.Header = nil
	}
	sm.Subject, sm.Seq, sm.Time, sm.TTL = r.subj.name, seq, r.ts, r.ttl
	return sm, nil
}

func (ms *memStore) RemoveMsg(seq uint64) (bool, error) { return ms.removeMsg(seq, false) }
func (ms *memStore) EraseMsg(seq uint64) (bool, error)  { return ms.removeMsg(seq, true) }

func (ms *memStore) removeMsg(seq uint64, erase bool) (bool, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.closed {
		return false, ErrStoreClosed
	}
	r, ok := ms.ix.remove(seq)
	if ok && erase {
		clear(r.buf) // nothing else holds it: loads copy
	}
	return ok, nil
}

func (ms *memStore) Purge(subj string, upTo, keep uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.closed {
		return 0, ErrStoreClosed
	}
	return ms.ix.purge(subj, upTo, keep), nil
}

func (ms *memStore) Compact(seq uint64) (uint64, error) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.closed {
		return 0, ErrStoreClosed
	}
	if seq > maxSeq {
		return 0, errSeqOverflow
	}
	return ms.ix.compactTo(seq, nil), nil
}

func (ms *memStore) Truncate(seq uint64) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.closed {
		return ErrStoreClosed
	}
	ms.ix.truncateTo(seq, nil)
	return nil
}

func (ms *memStore) State(deleted bool) StreamState {
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	st := ms.ix.state(deleted)
	st.Consumers = len(ms.consumers)
	return st
}

func (ms *memStore) UpdateConfig(cfg Config) error {
	if err := checkConfig(cfg); err != nil {
		return err
	}
	ms.mu.Lock()
	if ms.closed {
		ms.mu.Unlock()
		return ErrStoreClosed
	}
	ms.newConfig(cfg)
	ms.unlockAndNotify()
	return nil
}

func (ms *memStore) Flush() error { return nil }

func (ms *memStore) Stop() error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.closed {
		return nil
	}
	ms.stopTimer()
	return nil
}

func (ms *memStore) Delete() error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.stopTimer()
	ms.ix = newIndex()
	ms.consumers = map[string]*memConsumer{}
	return nil
}
