package store

import (
	"errors"
	"math"
)

var (
	errSubject     = errors.New("store: subject empty or longer than 65535 bytes")
	errSeqOverflow = errors.New("store: sequence past 2^62")
)

func (fs *fileStore) StoreMsg(subj string, hdr, msg []byte, ttl int64) (uint64, int64, error) {
	return fs.storeMsg(subj, hdr, msg, ttl, 0)
}

// storeMsg is StoreMsg; at, when positive, is the message's time (a
// restore) instead of now.
func (fs *fileStore) storeMsg(subj string, hdr, msg []byte, ttl, at int64) (uint64, int64, error) {
	if len(subj) == 0 || len(subj) > math.MaxUint16 {
		return 0, 0, errSubject
	}
	if len(hdr)+len(msg) > maxRecord-recHdrLen-math.MaxUint16 {
		return 0, 0, ErrMaxMsgSize
	}
	fs.mu.Lock()
	if fs.closed {
		fs.mu.Unlock()
		return 0, 0, ErrStoreClosed
	}
	size := fileMsgSize(subj, hdr, msg)
	c := &fs.cfg
	perSubj := c.Discard == DiscardNew && c.DiscardNewPerSubject && limitOn(c.MaxMsgsPerSubject)
	var ps int
	if perSubj {
		ps = fs.pendSubj[subj]
	}
	if err := fs.checkNew(subj, len(hdr), len(msg), size, fs.pendMsgs, fs.pendBytes, ps); err != nil {
		fs.mu.Unlock()
		return 0, 0, err
	}
	ts := fs.now()
	if at > 0 {
		ts = at
	}
	ts = max(ts, fs.nextTs)
	exp, err := fs.checkTTL(ttl, ts)
	if err != nil {
		fs.mu.Unlock()
		return 0, 0, err
	}
	seq := fs.nextSeq + 1
	fs.nextSeq, fs.nextTs = seq, ts
	o := op{kind: kindMsg, seq: seq, subj: subj, ts: ts, exp: exp, ttl: ttl, size: size,
		hlen: uint32(len(hdr)), countedSubj: perSubj}
	b := fs.appendOp(o, ts, ttl, subj, hdr, msg)
	b.assigns = true
	fs.pendMsgs++
	fs.pendBytes += size
	if perSubj {
		fs.pendSubj[subj]++
	}
	err = fs.commitLocked(b, fs.cfg.SyncAlways)
	fs.unlockAndNotify()
	if err != nil {
		return 0, 0, err
	}
	return seq, ts, nil
}

// change appends a change that is not a message and waits for it as a
// message would be waited for.
func (fs *fileStore) change(o op, subj string) (*opResult, error) {
	fs.mu.Lock()
	if fs.closed {
		fs.mu.Unlock()
		return nil, ErrStoreClosed
	}
	o.res = &opResult{}
	switch o.kind {
	case kindSkip:
		if o.seq > maxSeq-fs.nextSeq {
			fs.mu.Unlock()
			return nil, errSeqOverflow
		}
		fs.nextSeq += o.seq // n, until here
		o.seq = fs.nextSeq
	case kindCompact:
		if o.seq > maxSeq {
			fs.mu.Unlock()
			return nil, errSeqOverflow
		}
		if o.seq > 0 {
			fs.nextSeq = max(fs.nextSeq, o.seq-1)
		}
	case kindTruncate:
		if o.seq >= fs.nextSeq {
			fs.mu.Unlock()
			return o.res, nil // nothing above it
		}
		fs.nextSeq = o.seq
	}
	b := fs.appendOp(o, o.ttl, 0, subj, nil, nil)
	b.assigns = b.assigns || o.kind != kindPurge
	err := fs.commitLocked(b, fs.cfg.SyncAlways)
	fs.unlockAndNotify()
	return o.res, err
}

func (fs *fileStore) SkipMsgs(n uint64) error {
	if n == 0 {
		return nil
	}
	_, err := fs.change(op{kind: kindSkip, seq: n}, "")
	return err
}

func (fs *fileStore) Purge(subj string, upTo, keep uint64) (uint64, error) {
	res, err := fs.change(op{kind: kindPurge, seq: upTo, ttl: int64(keep), subj: subj}, subj)
	if err != nil {
		return 0, err
	}
	return res.n, nil
}

func (fs *fileStore) Compact(seq uint64) (uint64, error) {
	res, err := fs.change(op{kind: kindCompact, seq: seq}, "")
	if err != nil {
		return 0, err
	}
	return res.n, nil
}

func (fs *fileStore) Truncate(seq uint64) error {
	_, err := fs.change(op{kind: kindTruncate, seq: seq}, "")
	return err
}

func (fs *fileStore) RemoveMsg(seq uint64) (bool, error) { return fs.removeMsg(seq, false) }
func (fs *fileStore) EraseMsg(seq uint64) (bool, error)  { return fs.removeMsg(seq, true) }

func (fs *fileStore) removeMsg(seq uint64, erase bool) (bool, error) {
	fs.mu.Lock()
	if fs.closed {
		fs.mu.Unlock()
		return false, ErrStoreClosed
	}
	r, ok := fs.ix.msgs[seq]
	if !ok {
		fs.mu.Unlock()
		return false, nil
	}
	res := &opResult{}
	b := fs.appendOp(op{kind: kindDel, seq: seq, res: res}, 0, 0, "", nil, nil)
	err := fs.commitLocked(b, fs.cfg.SyncAlways)
	if err == nil && erase && res.ok {
		err = fs.overwrite(seq, &r)
	}
	fs.unlockAndNotify()
	return res.ok, err
}

// overwrite replaces a removed message's record with a kindErased one of
// the same length and a good checksum: the bytes are gone, and the log
// still reads as whole records. The removal was committed first, so a
// crash halfway leaves a damaged record whose sequence the log removes.
func (fs *fileStore) overwrite(seq uint64, r *rec) error {
	if r.seg.closed {
		return nil // its segment is gone already
	}
	zero := make([]byte, int(r.rlen)-recHdrLen)
	rec := appendRecord(nil, kindErased, seq, 0, 0, "", nil, zero)
	if _, err := r.seg.f.WriteAt(rec, r.off); err != nil {
		return err
	}
	if fs.cfg.SyncAlways {
		return r.seg.f.Sync()
	}
	if !containsSeg(fs.unsynced, r.seg) {
		fs.unsynced = append(fs.unsynced, r.seg)
	}
	return nil
}

func containsSeg(ss []*segment, s *segment) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// UpdateConfig applies new limits. What the limits removed so far is
// made durable first: a restart redoes removals by limits, but only
// under limits at least as strict.
func (fs *fileStore) UpdateConfig(cfg Config) error {
	if err := checkConfig(cfg); err != nil {
		return err
	}
	fs.mu.Lock()
	if fs.closed {
		fs.mu.Unlock()
		return ErrStoreClosed
	}
	err := fs.commitLocked(fs.pend, true)
	if err == nil {
		fs.newConfig(cfg)
		err = fs.commitLocked(fs.pend, true)
	}
	fs.unlockAndNotify()
	return err
}
