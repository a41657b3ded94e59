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

// lookup reports the sequence of id if it is within window of now (Unix
// ns: the wall clock on one server, a replicated entry's time on each
// replica, so that every replica decides alike).
func (d *dedupe) lookup(id string, window time.Duration, now int64) (uint64, bool) {
	d.expire(window, now)
	e, ok := d.ids[id]
	return e.seq, ok
}

func (d *dedupe) add(id string, seq uint64, ts int64, window time.Duration, now int64) {
	if window <= 0 {
		return
	}
	if d.ids == nil {
		d.ids = map[string]dedupeEntry{}
	}
	e := dedupeEntry{id, seq, ts}
	d.ids[id] = e
	d.order = append(d.order, e)
	d.expire(window, now)
}

// expire forgets the ids older than window before now.
func (d *dedupe) expire(window time.Duration, now int64) {
	cutoff := now - int64(window)
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
	// A replica counts the window back from its last message's time,
	// not the clock: replicas that restarted and replicas that did not
	// must keep the same ids.
	now := time.Now()
	if mset.repl != nil {
		if st := mset.store.State(false); !st.LastTime.IsZero() {
			now = st.LastTime
		}
	}
	start := mset.store.SeqForTime(now.Add(-window))
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
			mset.dedupe.add(id, m.Seq, m.Time, window, now.UnixNano())
			mset.lastMsgID = id
		} else {
			mset.lastMsgID = ""
		}
	}
}
