package journal

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// replay reads the segments back into the journal's memory, oldest
// first, and finds damage.
type replay struct {
	j *Journal
	// gap names segments missing before the one being read ("" if none):
	// part of the reason given for a group found short after it.
	gap string
	// seen are the groups with records in the segment being read.
	seen map[string]bool
	// dropped are the groups a drop record was read for (the witness
	// frees their slots if the drop's write to it was cut).
	dropped map[string]bool
}

// segment replays one file's records and returns where the good ones
// end: the file's size, or, in the last segment, the start of a torn
// tail to cut.
func (r *replay) segment(seg *segment, file string, b []byte, last bool) int64 {
	clear(r.seen)
	ckpt := map[*group]uint64{}
	opening := true // only state records so far
	unowned := ""   // an unreadable stretch earlier in this file
	off := 0
	for off < len(b) {
		rec, err := decodeRecord(b[off:])
		where := pos{file, off}
		if err == nil {
			if rec.kind != kCheckpoint {
				r.seen[rec.group] = true
				if unowned != "" {
					r.damage(rec.group, "unreadable record at "+unowned)
				}
			}
			switch {
			case rec.kind == kState && opening:
				if g, idx, ok := r.state(seg, rec, where); ok {
					ckpt[g] = idx
				}
			case rec.kind == kCheckpoint:
				n, w := binary.Uvarint(rec.body)
				if opening && w > 0 && n == uint64(len(ckpt)) && unowned == "" {
					seg.ckpt, seg.ckptEnd = ckpt, int64(off+rec.size)
				}
				opening = false
			default:
				opening = false
				r.apply(seg, rec, where)
			}
			off += rec.size
			continue
		}
		opening = false
		if rec.size > 0 && !errors.Is(err, errShort) {
			// The header holds: the damage is this group's alone, and
			// reading goes on after it.
			r.seen[rec.group] = true
			r.damage(rec.group, fmt.Sprintf("%s record at %s: %v", rec.kind, where, err))
			off += rec.size
			continue
		}
		next := scan(b, off+1)
		if next < 0 && last {
			return int64(off) // torn tail
		}
		if rec.size > 0 {
			r.seen[rec.group] = true
			r.damage(rec.group, fmt.Sprintf("truncated %s record at %s", rec.kind, where))
			if next < 0 {
				return int64(len(b))
			}
		}
		if next < 0 {
			// Nothing readable follows: whoever wrote the lost stretch
			// wrote here before it.
			for name := range r.seen {
				r.damage(name, "unreadable end of segment at "+where.String())
			}
			return int64(len(b))
		}
		if unowned == "" {
			unowned = where.String()
		}
		off = next
	}
	return int64(off)
}

// pos is where a record is, for reasons given.
type pos struct {
	file string
	off  int
}

func (p pos) String() string { return fmt.Sprintf("%s offset %d", p.file, p.off) }

// scan finds the next offset from which a whole record reads, or -1.
func scan(b []byte, from int) int {
	for p := from; p+headerSize <= len(b); p++ {
		if _, err := decodeRecord(b[p:]); err == nil {
			return p
		}
	}
	return -1
}

func (r *replay) damage(name, reason string) {
	j := r.j
	if _, ok := j.damaged[name]; ok {
		return
	}
	if r.gap != "" {
		reason += " (" + r.gap + ")"
	}
	j.damaged[name] = reason
	j.logger.Error("journal: group damaged, its log is cut before the damage",
		zap.String("group", name), zap.String("reason", reason))
}

// apply replays one record. A group's entries that do not join its log
// (something before them was lost) are left out: its log stays cut at
// the damage, and later rounds that rewrote from there on join again.
func (r *replay) apply(seg *segment, rec record, where pos) {
	j := r.j
	switch rec.kind {
	case kDrop:
		if r.dropped != nil {
			r.dropped[rec.group] = true
		}
		delete(j.groups, rec.group)
		delete(j.damaged, rec.group)
		return
	case kRepaired:
		delete(j.damaged, rec.group)
		return
	}
	g := j.groupLocked(rec.group)
	bad := func(err error) {
		r.damage(rec.group, fmt.Sprintf("%s record at %s: %v", rec.kind, where, err))
	}
	switch rec.kind {
	case kEntries:
		ents, err := decodeEntries(rec.body)
		if err != nil {
			bad(err)
			return
		}
		first, lastEnt := ents[0].GetIndex(), ents[len(ents)-1].GetIndex()
		last, _ := g.mem.LastIndex()
		if first > last+1 {
			r.damage(rec.group, fmt.Sprintf("entries %d to %d missing before %s", last+1, first-1, where))
			return
		}
		_ = g.mem.Append(ents)
		seg.need(g, lastEnt)
	case kHardState:
		hs := &raftpb.HardState{}
		if err := unmarshal(rec.body, hs); err != nil {
			bad(err)
			return
		}
		_ = g.mem.SetHardState(hs)
	case kSnapshot:
		snap := &raftpb.Snapshot{}
		if err := unmarshal(rec.body, snap); err != nil {
			bad(err)
			return
		}
		if err := g.mem.ApplySnapshot(snap); err == nil {
			g.st.setConfState(snap.GetMetadata().GetConfState())
		}
	case kConfState:
		cs, err := decodeConfState(rec.body)
		if err != nil {
			bad(err)
			return
		}
		g.st.setConfState(cs)
	case kCompact:
		snap := &raftpb.Snapshot{}
		if err := unmarshal(rec.body, snap); err != nil {
			bad(err)
			return
		}
		compactTo(g, snap)
	case kState:
		r.state(seg, rec, where) // outside an opening checkpoint: still true
	default:
		bad(errKind)
	}
}

// compactTo brings a group's log to a snapshot made by Compact: entries
// up to its index go. If the log does not reach it (damage cut it
// short), the snapshot replaces the log, as a snapshot from a leader
// would.
func compactTo(g *group, snap *raftpb.Snapshot) {
	md := snap.GetMetadata()
	cur, _ := g.mem.Snapshot()
	if md.GetIndex() <= cur.GetMetadata().GetIndex() {
		return
	}
	if last, _ := g.mem.LastIndex(); md.GetIndex() <= last {
		if t, err := g.mem.Term(md.GetIndex()); err == nil && t == md.GetTerm() {
			if _, err := g.mem.CreateSnapshot(md.GetIndex(), md.GetConfState(), snap.GetData()); err == nil {
				_ = g.mem.Compact(md.GetIndex())
			}
			return
		}
	}
	_ = g.mem.ApplySnapshot(snap)
}

// state replays a group's checkpoint state, and checks the log read so
// far reaches the last entry the group had then.
func (r *replay) state(seg *segment, rec record, where pos) (*group, uint64, bool) {
	g := r.j.groupLocked(rec.group)
	s, err := decodeState(rec.body)
	if err != nil {
		r.damage(rec.group, fmt.Sprintf("state record at %s: %v", where, err))
		return nil, 0, false
	}
	if _, ok := r.j.damaged[rec.group]; !ok && s.damaged != "" {
		r.j.damaged[rec.group] = s.damaged
		r.j.logger.Error("journal: group damaged (found by an earlier Open, not yet repaired)",
			zap.String("group", rec.group), zap.String("reason", s.damaged))
	}
	compactTo(g, s.snap)
	if len(s.tail) > 0 {
		_ = g.mem.Append(s.tail) // joins: compactTo left the log at or past the snapshot
	}
	if s.hs != nil {
		_ = g.mem.SetHardState(s.hs)
	}
	if s.cs != nil {
		g.st.setConfState(s.cs)
	}
	last, _ := g.mem.LastIndex()
	var t uint64
	if s.lastIndex <= last {
		// MemoryStorage.Term panics on an index far past the log.
		t, _ = g.mem.Term(s.lastIndex)
	}
	if last < s.lastIndex || t != s.lastTerm {
		r.damage(rec.group, fmt.Sprintf("log ends at %d, the checkpoint at %s says %d (term %d)",
			last, where, s.lastIndex, s.lastTerm))
	}
	if s.withTail {
		if len(s.tail) > 0 {
			seg.need(g, s.lastIndex)
		}
		return g, s.lastIndex, true
	}
	return g, s.snap.GetMetadata().GetIndex(), true
}

// finish checks what replay left: a commit index past a group's last
// entry means entries were lost (Raft would panic on it), so the commit
// is brought back to the last entry and the group reported.
func (r *replay) finish() {
	for name, g := range r.j.groups {
		hs, _, _ := g.st.InitialState()
		last, _ := g.mem.LastIndex()
		if hs != nil && hs.GetCommit() > last {
			r.damage(name, fmt.Sprintf("commit %d past the last entry %d", hs.GetCommit(), last))
			c := proto.Clone(hs).(*raftpb.HardState)
			c.Commit = proto.Uint64(last)
			_ = g.mem.SetHardState(c)
		}
	}
}
