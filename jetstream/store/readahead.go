package store

// Read-ahead for loads in log order. A consumer delivering a backlog
// loads message after message, and each load was one pread of one record:
// a fifth of the server's CPU in `nats bench js consume`
// (docs/performance.md). When a load into a StoreMsg starts where the
// previous one into it ended, the file store reads more than the record,
// and the next loads are served from those bytes; the read grows from
// 4 KiB to 64 KiB while the loads stay in order, so that a caller that
// loads two messages does not pay for 64.
//
// What makes it safe: the log is append-only. The bytes of a segment below
// its size are never rewritten while the index points at them — a
// removal, a purge or a truncation is a new record further on, and an
// erased message's record is overwritten only after it left the index —
// and the size only grows. A live record's (segment, offset) therefore
// always names the same bytes, which read-ahead never takes past the
// size. Every record served is still decoded and its checksum verified,
// as a direct read is.

const (
	readAheadMin = 4 << 10
	readAheadMax = 64 << 10
)

// readAhead is what the last loads into one StoreMsg read.
type readAhead struct {
	seg  *segment
	off  int64  // where buf begins in seg
	buf  []byte // bytes of seg from off
	next int64  // where the last record loaded ended
}

// readRecord returns r's bytes: from what sm read ahead, by reading ahead
// when r follows the record sm loaded last, or by reading r alone. The
// store's read lock is held (seg.size does not move).
func readRecord(r rec, sm *StoreMsg) ([]byte, error) {
	ra := &sm.ra
	end := r.off + int64(r.rlen)
	if ra.seg == r.seg && r.off >= ra.off && end <= ra.off+int64(len(ra.buf)) {
		ra.next = end
		return ra.buf[r.off-ra.off : end-ra.off], nil
	}
	if ra.seg == r.seg && r.off == ra.next {
		size := min(max(int64(r.rlen), 2*int64(len(ra.buf)), readAheadMin), readAheadMax)
		size = max(min(size, r.seg.size-r.off), int64(r.rlen))
		ra.buf = grow(ra.buf[:0], int(size))
		if _, err := r.seg.f.ReadAt(ra.buf, r.off); err == nil {
			ra.off, ra.next = r.off, end
			return ra.buf[:r.rlen], nil
		}
		// The direct read below says what is wrong, if anything.
	}
	ra.seg, ra.buf, ra.next = r.seg, ra.buf[:0], end
	sm.buf = grow(sm.buf[:0], int(r.rlen))
	if _, err := r.seg.f.ReadAt(sm.buf, r.off); err != nil {
		ra.seg = nil
		return nil, err
	}
	return sm.buf, nil
}
