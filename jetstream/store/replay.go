package store

import (
	"container/heap"
	"fmt"
)

// replayer rebuilds the index from the log at open, checking every
// record's checksum on the way. Damage is of two kinds:
//
//   - A torn tail: bytes at the end of the last segment that are not a
//     whole record with a good checksum, followed by no good record (a
//     write cut short by a crash). It is cut off. With SyncAlways it was
//     never acknowledged; it is reported all the same.
//   - Anything else that fails its checksum: a damaged region between
//     good records. Its messages are lost: the sequences between the last
//     one before the region and the first one after it, less those the
//     log later removes. They are reported, and a load of one gives
//     ErrCorrupt.
type replayer struct {
	fs *fileStore
	// open is a damaged region whose extent in sequences is not known
	// yet: it closes at the next record that gives a sequence.
	open *damage
	cand rangeSet // sequences lost in damaged regions
}

type damage struct {
	seg    *segment
	off    int64
	n      int
	after  uint64 // the highest sequence before the region
	reason string
}

// segment replays one segment's bytes.
func (r *replayer) segment(seg *segment, data []byte, tail bool) error {
	off := 0
	for off < len(data) {
		h, err := decodeRecord(data[off:])
		if err == nil {
			r.apply(seg, int64(off), h, data[off:off+int(h.length)])
			off += int(h.length)
			continue
		}
		next := resync(data, off+1)
		if tail && next == len(data) {
			cut := len(data) - off
			what := ""
			if h, err := peekHeader(data[off:]); err == nil && h.kind == kindMsg && h.seq == r.fs.ix.last+1 {
				what = fmt.Sprintf(" (message %d, never acknowledged if the stream syncs always)", h.seq)
			}
			r.fs.lostBytes += uint64(cut)
			r.fs.addReason(fmt.Sprintf("torn tail of %s: %d bytes cut at offset %d%s", seg.name(), cut, off, what))
			if err := seg.f.Truncate(int64(off)); err != nil {
				return fmt.Errorf("store: cutting the torn tail of %s: %w", seg.name(), err)
			}
			if err := seg.f.Sync(); err != nil {
				return err
			}
			break
		}
		r.closeDamage(r.fs.ix.last + 1) // two regions in a row: one
		r.open = &damage{seg: seg, off: int64(off), n: next - off, after: r.fs.ix.last,
			reason: fmt.Sprintf("checksum mismatch in %s at offset %d (%d bytes)", seg.name(), off, next-off)}
		r.fs.lostBytes += uint64(next - off)
		off = next
	}
	seg.size = int64(off)
	return nil
}

// resync finds the next offset from which a whole record with a good
// checksum starts, or len(data).
func resync(data []byte, from int) int {
	for p := from; p+recHdrLen <= len(data); p++ {
		if _, err := decodeRecord(data[p:]); err == nil {
			return p
		}
	}
	return len(data)
}

// closeDamage ends the open damaged region at sequence upTo: the
// sequences after the region's start and below upTo were in it.
func (r *replayer) closeDamage(upTo uint64) {
	d := r.open
	if d == nil {
		return
	}
	r.open = nil
	lo, hi := d.after+1, upTo-1
	if lo > hi {
		// Only markers or removals were lost, no message: report the
		// bytes (a lost removal may bring a removed message back).
		r.fs.addReason(d.reason + ": no message sequence in it")
		return
	}
	r.cand.add(lo, hi)
	d.seg.maxSeq = max(d.seg.maxSeq, hi)
	r.fs.reasons = append(r.fs.reasons, fmt.Sprintf("%s: messages %d to %d", d.reason, lo, hi))
}

// apply replays one good record.
func (r *replayer) apply(seg *segment, off int64, h recHeader, b []byte) {
	ix := &r.fs.ix
	switch h.kind {
	case kindMsg:
		if h.seq == 0 {
			return // never written: sequences start at 1
		}
		if h.seq <= ix.last {
			// A write that came again after a failed one: the later wins.
			ix.truncateTo(h.seq-1, nil)
		}
		r.closeDamage(h.seq)
		subj, hdr, data := h.parts(b)
		e := ix.subjectBytes(subj)
		exp, _ := expiry(h.a, h.b)
		m := rec{subj: e, ts: h.a, ttl: h.b, exp: exp, size: fileMsgSize(e.name, hdr, data),
			hlen: uint32(len(hdr)), seg: seg, off: off, rlen: h.length}
		ix.add(h.seq, m)
		seg.maxSeq = max(seg.maxSeq, h.seq)
		r.cand.remove(h.seq)
		if exp > 0 {
			heap.Push(&r.fs.ttls, ttlEntry{exp: exp, seq: h.seq})
		}
	case kindDel:
		ix.remove(h.seq)
		r.cand.remove(h.seq)
	case kindSkip:
		if h.seq > ix.last {
			r.closeDamage(h.seq + 1)
			ix.skip(h.seq - ix.last)
		}
	case kindCompact:
		ix.compactTo(h.seq, nil)
		r.cand.trimBelow(h.seq)
	case kindTruncate:
		ix.truncateTo(h.seq, nil)
		r.cand.trimAbove(h.seq)
	case kindPurge:
		subj, _, _ := h.parts(b)
		ix.purge(string(subj), h.seq, uint64(h.a))
	case kindState:
		if h.seq > ix.last {
			r.closeDamage(h.seq + 1)
			ix.skip(h.seq - ix.last)
		}
		ix.compactTo(uint64(h.a), nil)
		r.cand.trimBelow(uint64(h.a))
		ix.lastTs = max(ix.lastTs, h.b)
	}
}

// finish closes what is open and keeps, of the lost sequences, those the
// stream still spans.
func (r *replayer) finish() {
	ix := &r.fs.ix
	r.closeDamage(ix.last + 1)
	r.cand.trimBelow(ix.first)
	r.cand.trimAbove(ix.last)
	for _, c := range r.cand.r {
		r.fs.lost.add(c.lo, c.hi)
	}
}

// expiry is a message's expiry from its time and TTL (see rec.exp).
func expiry(ts, ttl int64) (int64, bool) {
	switch {
	case ttl == 0:
		return 0, true
	case ttl == -1:
		return -1, true
	case ttl < 0:
		return 0, false
	}
	return ts + ttl*1e9, true
}
