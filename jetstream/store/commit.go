package store

import (
	"fmt"
	"slices"
)

// The commit pipeline. Every change is a record appended to the pending
// batch under mu; the change reaches the index only once its record is
// written (and, with SyncAlways, fsynced), so that what a reader sees is
// on disk, and a failed write (a full disk) leaves the index as it was.
//
// Group commit: a caller whose batch is not done either becomes the
// writer, if none is writing, or waits. The writer takes the whole
// pending batch, lets go of mu, writes it with one WriteAt and one
// fsync, takes mu again and applies it. Whoever appended while it wrote
// is in the next batch, which the next writer takes whole: with 16
// publishers, one fsync acknowledges many messages.

// op is one change in a batch.
type op struct {
	kind byte
	// lazy: the change is already in the index (a removal by a limit);
	// the record only tells the log. Nobody waits for it.
	lazy        bool
	countedSubj bool // counted in pendSubj
	pos, n      int  // the record's place in the batch
	seq         uint64
	subj        string
	ts, exp     int64
	ttl         int64 // message TTL; purge: keep
	size        uint64
	hlen        uint32
	res         *opResult
}

type opResult struct {
	n  uint64
	ok bool
}

type batch struct {
	buf     []byte
	ops     []op
	sync    bool // someone waits for it to be on stable storage
	assigns bool // holds an op that moved nextSeq
	done    bool
	err     error
	refs    int // callers yet to read done and err
}

func (fs *fileStore) newBatch() *batch {
	if n := len(fs.free); n > 0 {
		b := fs.free[n-1]
		fs.free = fs.free[:n-1]
		return b
	}
	return &batch{}
}

// release recycles a batch nobody reads any more.
func (fs *fileStore) release(b *batch) {
	clear(b.ops) // the subjects and results it points to
	*b = batch{buf: b.buf[:0], ops: b.ops[:0]}
	if cap(b.buf) > 4<<20 {
		b.buf = nil // one large message should not pin its buffer
	}
	if len(fs.free) < 4 {
		fs.free = append(fs.free, b)
	}
}

// appendOp encodes o's record into the pending batch.
func (fs *fileStore) appendOp(o op, a, bb int64, subj string, hdr, data []byte) *batch {
	b := fs.pend
	o.pos = len(b.buf)
	b.buf = appendRecord(b.buf, o.kind, o.seq, a, bb, subj, hdr, data)
	o.n = len(b.buf) - o.pos
	b.ops = append(b.ops, o)
	return b
}

// recordDrop is the index's onDrop: a limit or an expiry removed message
// seq. The log is told lazily (see lazyFlush): a removal from the front
// by one marker for all of them, one from the middle by its own record.
func (fs *fileStore) recordDrop(seq uint64, _ rec, front bool) {
	if front {
		fs.floorDirty = true
		return
	}
	fs.appendOp(op{kind: kindDel, seq: seq, lazy: true}, 0, 0, "", nil, nil)
}

func (fs *fileStore) needsFlush() bool {
	return len(fs.pend.ops) > 0 || fs.floorDirty || len(fs.unsynced) > 0 || fs.dirDirty
}

// commitLocked returns once batch b is written (and synced, if sync or
// SyncAlways), with its error. mu is held on entry and on return.
func (fs *fileStore) commitLocked(b *batch, sync bool) error {
	if sync {
		b.sync = true
	}
	b.refs++
	for !b.done {
		if fs.writing {
			fs.cond.Wait()
			continue
		}
		fs.lead() // b is the pending batch: taken batches finish before writing is cleared
	}
	err := b.err
	if b.refs--; b.refs == 0 {
		fs.release(b)
	}
	return err
}

// lead writes the pending batch. Called with mu held and nobody writing;
// mu is let go of during the write and fsync.
func (fs *fileStore) lead() {
	if fs.floorDirty {
		fs.floorDirty = false
		fs.appendOp(op{kind: kindCompact, seq: fs.ix.first, lazy: true}, 0, 0, "", nil, nil)
	}
	b := fs.pend
	fs.pend = fs.newBatch()
	fs.writing = true
	sync := b.sync || fs.cfg.SyncAlways
	tail := fs.segs[len(fs.segs)-1]
	var state []byte
	if len(b.buf) > 0 && tail.size > 0 && tail.size+int64(len(b.buf)) > fs.segMax {
		state = fs.stateRecord()
	}
	var toSync []*segment
	if sync {
		toSync = slices.Clone(fs.unsynced) // EraseMsg may add to it meanwhile
	}
	dirSync := fs.dirDirty
	fs.mu.Unlock()

	var err error
	var rolled *segment
	if state != nil {
		if rolled, err = createSegment(fs.fsys, fs.dir, tail.id+1, state); err == nil {
			tail, dirSync = rolled, true
		}
	}
	off := tail.size
	if err == nil && len(b.buf) > 0 {
		_, err = tail.f.WriteAt(b.buf, off)
		if err == nil && tail.garbage {
			err = tail.f.Truncate(off + int64(len(b.buf)))
		}
	}
	wrote := rolled != nil || len(b.buf) > 0
	if err == nil && sync {
		if wrote && !slices.Contains(toSync, tail) {
			toSync = append(toSync, tail)
		}
		for _, s := range toSync {
			if err = s.f.Sync(); err != nil {
				break
			}
		}
		if err == nil && dirSync {
			err = fs.fsys.SyncDir(fs.dir)
		}
	}

	fs.mu.Lock()
	if rolled != nil {
		fs.segs = append(fs.segs, rolled)
		fs.dirDirty = true
	}
	if err != nil {
		err = fs.failed(b, tail, off, err)
	} else {
		tail.size = off + int64(len(b.buf))
		tail.garbage = false
		if sync {
			fs.unsynced, fs.dirDirty = fs.unsynced[:0], false
		} else if wrote && !slices.Contains(fs.unsynced, tail) {
			fs.unsynced = append(fs.unsynced, tail)
		}
		for i := range b.ops {
			fs.apply(&b.ops[i], tail, off)
		}
		fs.reclaim()
	}
	b.done, b.err = true, err
	fs.writing = false
	fs.cond.Broadcast()
}

// failed undoes a batch whose write or fsync failed: the tail is cut back
// to where the batch began (what a failed fsync left in the page cache
// must not come back at the next open as acknowledged data), its
// messages give up their sequences, and its lazy records go into the
// next batch.
func (fs *fileStore) failed(b *batch, tail *segment, off int64, err error) error {
	if terr := tail.f.Truncate(off); terr != nil {
		tail.garbage = true
	}
	for i := range b.ops {
		o := &b.ops[i]
		switch {
		case o.kind == kindMsg:
			fs.unpend(o)
		case o.lazy:
			p := len(fs.pend.buf)
			fs.pend.buf = append(fs.pend.buf, b.buf[o.pos:o.pos+o.n]...)
			lo := *o
			lo.pos = p
			fs.pend.ops = append(fs.pend.ops, lo)
		}
	}
	if !fs.pend.assigns {
		fs.nextSeq = fs.ix.last
	}
	if isNoSpace(err) {
		return fmt.Errorf("%w: %v", ErrStoreFull, err)
	}
	return fmt.Errorf("store: writing %s: %w", tail.name(), err)
}

// unpend takes a message out of the pending counts.
func (fs *fileStore) unpend(o *op) {
	fs.pendMsgs--
	fs.pendBytes -= o.size
	if o.countedSubj {
		if n := fs.pendSubj[o.subj] - 1; n > 0 {
			fs.pendSubj[o.subj] = n
		} else {
			delete(fs.pendSubj, o.subj)
		}
	}
}

// apply makes a written op's change in the index.
func (fs *fileStore) apply(o *op, seg *segment, base int64) {
	ix := &fs.ix
	if o.lazy {
		return
	}
	switch o.kind {
	case kindMsg:
		fs.unpend(o)
		if o.seq <= ix.last {
			ix.truncateTo(o.seq-1, nil) // cannot happen: sequences only go up
		}
		e := ix.subject(o.subj)
		r := rec{subj: e, ts: o.ts, exp: o.exp, ttl: o.ttl, size: o.size, hlen: o.hlen,
			seg: seg, off: base + int64(o.pos), rlen: uint32(o.n)}
		ix.add(o.seq, r)
		seg.maxSeq = max(seg.maxSeq, o.seq)
		fs.added(o.seq, e, &r)
	case kindDel:
		_, o.res.ok = ix.remove(o.seq)
	case kindCompact:
		o.res.n = ix.compactTo(o.seq, nil)
	case kindTruncate:
		ix.truncateTo(o.seq, nil)
	case kindPurge:
		o.res.n = ix.purge(o.subj, o.seq, uint64(o.ttl))
	case kindSkip:
		if o.seq > ix.last {
			ix.skip(o.seq - ix.last)
		}
	}
}

// reclaimTail is how big a tail that holds no live message must be for a
// commit to start a new segment at once, so that the old one's space comes
// back (after a purge) rather than when it fills.
const reclaimTail = 64 << 10

// reclaim removes the segments at the front of the log that hold nothing
// the stream still has. Only a prefix goes: a segment's records may
// remove messages of the segments before it, never of those after.
func (fs *fileStore) reclaim() {
	tail := fs.segs[len(fs.segs)-1]
	if tail.maxSeq < fs.ix.first && tail.size > reclaimTail {
		if seg, err := createSegment(fs.fsys, fs.dir, tail.id+1, fs.stateRecord()); err == nil {
			if err = seg.f.Sync(); err == nil {
				err = fs.fsys.SyncDir(fs.dir)
			}
			fs.segs = append(fs.segs, seg)
			if err != nil {
				fs.unsynced, fs.dirDirty = append(fs.unsynced, seg), true
			}
		}
	}
	n := 0
	for n < len(fs.segs)-1 && fs.segs[n].maxSeq < fs.ix.first {
		n++
	}
	if n == 0 {
		return
	}
	for _, s := range fs.segs[:n] {
		s.f.Close()
		s.closed = true
		fs.fsys.Remove(s.path) // a failure leaves a file the next open replays harmlessly
		fs.unsynced = slices.DeleteFunc(fs.unsynced, func(u *segment) bool { return u == s })
	}
	fs.segs = append(fs.segs[:0:0], fs.segs[n:]...)
}
