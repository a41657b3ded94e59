package jetstream

import "time"

// dedupe remembers the Nats-Msg-Id of recent publishes for the stream's
// duplicate window: a publish with an id seen within the window is
// acknowledged with the first one's sequence and not stored again.
type dedupe struct {
	ids   map[string]dedupeEntry
	order []dedupeEntry // by time, oldest first: what expires next
}

type dedupeEntry struct {
	id  string
	seq uint64
	ts  int64 // Unix nanoseconds
}

// lookup reports the sequence of id if it is within window.
func (d *dedupe) lookup(id string, window time.Duration) (uint64, bool) {
	d.expire(window)
	e, ok := d.ids[id]
	return e.seq, ok
}

func (d *dedupe) add(id string, seq uint64, ts int64, window time.Duration) {
	if window <= 0 {
		return
	}
	if d.ids == nil {
		d.ids = map[string]dedupeEntry{}
	}
	e := dedupeEntry{id, seq, ts}
	d.ids[id] = e
	d.order = append(d.order, e)
	d.expire(window)
}

// expire forgets the ids older than window.
func (d *dedupe) expire(window time.Duration) {
	cutoff := time.Now().Add(-window).UnixNano()
	i := 0
	for ; i < len(d.order) && d.order[i].ts < cutoff; i++ {
		if cur, ok := d.ids[d.order[i].id]; ok && cur.seq == d.order[i].seq {
			delete(d.ids, d.order[i].id)
		}
	}
	if i > 0 {
		d.order = append(d.order[:0], d.order[i:]...)
	}
}

// rebuildDedupeLocked refills the window from the stored messages' ids
// (after a restart), as nats-server does.
func (mset *stream) rebuildDedupeLocked() {
	window := mset.cfg.Duplicates
	if window <= 0 {
		return
	}
	start := mset.store.SeqForTime(time.Now().Add(-window))
	if start == 0 {
		return
	}
	var sm = new(storeMsg)
	for seq := start; ; seq++ {
		m, err := mset.store.LoadNextMsg(nil, seq, sm)
		if err != nil {
			return
		}
		seq = m.Seq
		if id, ok := getHeader(m.Header, hdrMsgID); ok && id != "" {
			mset.dedupe.add(id, m.Seq, m.Time, window)
			mset.lastMsgID = id
		} else {
			mset.lastMsgID = ""
		}
	}
}
