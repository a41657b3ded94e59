package journal

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream/store"
)

// openWitness reads the witness, reports the groups whose log does not
// reach what it says (after replay, before the new segment is begun),
// and brings it up to date with the logs as read: every group's slot
// says its log's end (or the outstanding claim of a damaged group), the
// slots of groups dropped are freed, and the writes of a round a crash
// interrupted are gone. Then every write so far is marked acknowledged.
func (j *Journal) openWitness(r *replay) error {
	l := j.log
	w := &witness{path: filepath.Join(l.dir, witnessFile), hdr: -1, named: map[string]*wslot{},
		said: map[string]wstate{}, claims: map[string]wstate{}}
	j.wit = w
	var data []byte
	f, err := l.fs.OpenFile(w.path, os.O_RDWR, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if len(l.segs) > 0 {
			j.logger.Warn("journal: no witness file: the log's end cannot be checked this time", zap.String("file", w.path))
		}
		if f, err = l.fs.OpenFile(w.path, os.O_RDWR|os.O_CREATE, 0o640); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		w.f = f
		if _, err := f.WriteAt(encodeHeader(0, 0), 0); err != nil {
			return fmt.Errorf("journal: write %s: %w", w.path, err)
		}
		if err := f.Sync(); err != nil {
			return fmt.Errorf("journal: fsync %s: %w", w.path, err)
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			return fmt.Errorf("journal: %w", err)
		}
		w.hdr, w.img = 0, encodeHeader(0, 0)
	case err != nil:
		return fmt.Errorf("journal: %w", err)
	default:
		w.f = f
		if data, err = readAll(f); err != nil {
			return fmt.Errorf("journal: read %s: %w", w.path, err)
		}
		w.img = data
	}
	for i := 0; i < 2 && len(data) >= (i+1)*wCopy; i++ {
		if seq, acked, ok := decodeHeader(data[i*wCopy:]); ok && (w.hdr < 0 || seq > w.seq) {
			w.hdr, w.seq, w.acked, w.hdrAcked = i, seq, acked, acked
		}
	}
	type bad struct {
		name   string
		reason string
		said   *wstate
	}
	var bads []bad
	var rewrite []*wslot // slots to bring up to date, zero or free
	seen := map[string]*wslot{}
	for idx := 0; len(data) >= int(slotOff(idx))+wBlock; idx++ {
		b := data[slotOff(idx) : slotOff(idx)+wBlock]
		sr := readSlot(b)
		s := &wslot{idx: idx, newest: -1}
		w.slots = append(w.slots, s)
		for _, c := range sr.copies {
			if c.ok {
				w.seq = max(w.seq, c.seq)
			}
		}
		where := fmt.Sprintf("the witness %s slot %d", w.path, idx)
		if !sr.nameOK {
			// Never named, or its naming write (the round that first
			// wrote it) was cut by a crash; or outside damage. A copy
			// that was acknowledged says which: a group whose name hashes
			// to it lost its slot.
			var newest *wcopy
			for i := range sr.copies {
				c := &sr.copies[i]
				if c.ok && c.used && (c.seq <= w.acked || c.open) && !sr.nameZero && (newest == nil || c.seq > newest.seq) {
					newest = c
				}
			}
			if newest != nil {
				for name := range j.groups {
					if nameHash(name) == newest.hash {
						st := newest.st
						bads = append(bads, bad{name, where + ": its name is unreadable", &st})
					}
				}
			}
			if !sr.zero {
				rewrite = append(rewrite, s)
			}
			continue
		}
		s.name = sr.name
		if sr.bothTorn {
			bads = append(bads, bad{sr.name, where + ": both copies are unreadable", nil})
			s.used = true
			w.named[s.name] = s
			continue
		}
		if sr.cur == nil {
			// The round naming it for a new group was cut by a crash: its
			// copies may be an older group's. Zeroed below.
			rewrite = append(rewrite, s)
			continue
		}
		if !sr.cur.used {
			s.newest, s.seq = sr.cur.copyNumber, sr.cur.seq // freed by a Drop
			continue
		}
		cur, other := sr.cur, sr.other
		if prev := seen[s.name]; prev != nil {
			// Two slots for one group cannot be written; keep the newer.
			if prev.seq >= cur.seq {
				rewrite = append(rewrite, s)
				continue
			}
			prev.used = false
			rewrite = append(rewrite, prev)
		}
		seen[s.name] = s
		s.used, s.newest, s.seq, s.st = true, cur.copyNumber, cur.seq, cur.st
		w.named[s.name] = s
		// Acknowledged, or written by an Open of what its log held then
		// (which that Open had made durable): the log must reach it.
		acked := cur.seq <= w.acked || cur.open
		var prevSt *wstate // the state the slot had before an unacknowledged write
		if other != nil && other.used {
			prevSt = &other.st
		}
		g := j.groups[s.name]
		if g == nil {
			switch {
			case r.dropped[s.name]:
				s.used = false // the drop's witness write was cut: freed below
				delete(w.named, s.name)
				rewrite = append(rewrite, s)
			case acked:
				st := cur.st
				bads = append(bads, bad{s.name, fmt.Sprintf("behind: no records, %s says %d (term %d)", where, st.last, st.lastTerm), &st})
			case prevSt != nil:
				bads = append(bads, bad{s.name, fmt.Sprintf("behind: no records, %s says %d (term %d)", where, prevSt.last, prevSt.lastTerm), prevSt})
			default:
				// The group's first round, never acknowledged.
				s.used = false
				delete(w.named, s.name)
				rewrite = append(rewrite, s)
			}
			continue
		}
		// An acknowledged write's state must be reached. One that was not
		// (the crash cut the round) may or may not be: the state before it
		// must.
		want := &cur.st
		if !acked {
			want = prevSt
			if reaches(g, cur.st.last, cur.st.lastTerm) && (want == nil || wstateOf(g).commit >= want.commit) {
				want = nil
			}
		}
		if want == nil {
			continue
		}
		have := wstateOf(g)
		switch {
		case !reaches(g, want.last, want.lastTerm):
			st := *want
			bads = append(bads, bad{s.name, fmt.Sprintf("behind: log ends at %d (term %d), %s says %d (term %d)",
				have.last, have.lastTerm, where, want.last, want.lastTerm), &st})
		case have.commit < want.commit:
			st := *want
			bads = append(bads, bad{s.name, fmt.Sprintf("behind: commit %d, %s says %d", have.commit, where, want.commit), &st})
		}
	}
	for _, b := range bads {
		if b.said != nil {
			w.said[b.name] = *b.said
			w.claims[b.name] = *b.said
		}
		if _, ok := j.damaged[b.name]; ok {
			continue
		}
		j.damaged[b.name] = b.reason
		j.logger.Error("journal: group damaged: its log does not reach what the witness says",
			zap.String("group", b.name), zap.String("reason", b.reason))
	}
	// A group damaged by replay: what its slot says is where it must get.
	for name := range j.damaged {
		if s := w.named[name]; s != nil && s.newest >= 0 {
			if _, ok := w.said[name]; !ok {
				w.said[name] = s.st
				if g := j.groups[name]; g == nil || !reaches(g, s.st.last, s.st.lastTerm) {
					w.claims[name] = s.st
				}
			}
		}
	}
	return j.reconcileWitness(rewrite)
}

// reconcileWitness writes what openWitness found out of date, fsyncs it,
// then marks every write so far acknowledged (a second write and fsync:
// in one, a torn round could leave the mark without the slots).
func (j *Journal) reconcileWitness(rewrite []*wslot) error {
	w := j.wit
	r := w.newRound()
	r.open = true
	n := len(r.writes)
	reserved := map[int]bool{}
	for _, s := range rewrite {
		if s.used {
			continue
		}
		reserved[s.idx] = true
		if s.name != "" && s.newest >= 0 {
			// Its group is gone: a free copy over the older one.
			at := 1 - s.newest
			r.writes = append(r.writes, wwrite{slotOff(s.idx) + int64(at*wCopy), encodeCopy(r.seq, nameHash(s.name), false, true, wstate{})})
			s.newest, s.seq, s.st = at, r.seq, wstate{}
		} else {
			r.writes = append(r.writes, wwrite{slotOff(s.idx), make([]byte, wBlock)})
			s.name, s.newest = "", -1
		}
	}
	names := make([]string, 0, len(j.groups))
	for name := range j.groups {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		st := w.desired(name, wstateOf(j.groups[name]))
		s := w.named[name]
		if s != nil && s.newest >= 0 && s.st == st {
			continue
		}
		if s == nil && st == (wstate{}) {
			continue
		}
		w.set(r, name, st, true, reserved)
	}
	if len(r.writes) > n || w.acked < w.seq-1 {
		if err := w.write(r); err != nil {
			return err
		}
		if err := w.f.Sync(); err != nil {
			return fmt.Errorf("journal: fsync %s: %w", w.path, err)
		}
		w.commit(r)
		return j.markAcked()
	}
	w.seq-- // nothing to write: the round was not used
	return nil
}

// markAcked writes a header saying every write so far completed.
func (j *Journal) markAcked() error {
	w := j.wit
	r := w.newRound()
	r.writes[0].b = encodeHeader(r.seq, r.seq)
	if err := w.write(r); err != nil {
		return err
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("journal: fsync %s: %w", w.path, err)
	}
	w.commit(r)
	w.hdrAcked = r.seq
	return nil
}

func readAll(f store.File) ([]byte, error) {
	var out []byte
	buf := make([]byte, 64<<10)
	for off := int64(0); ; {
		n, err := f.ReadAt(buf, off)
		out = append(out, buf[:n]...)
		off += int64(n)
		if errors.Is(err, io.EOF) || (err == nil && n == 0) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
