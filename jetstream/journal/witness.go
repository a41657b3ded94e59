package journal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"hash/fnv"
	"sort"

	"github.com/natsd/natsd/jetstream/store"
)

// The witness file (doc.go, "The witness") is blocks of 512 bytes: the
// header, then one block per slot. A block is never split across a
// sector boundary, and a slot never shares a sector with another.
//
// The header block holds two 64-byte header copies, at 0 and 64; a slot
// block two 64-byte state copies, at 0 and 64, and the name record at
// 128.
//
// A header copy:
//
//	[0:4]   CRC-32C of [4:64]
//	[4:12]  seq: the witness write it was made by
//	[12:20] acked: every write up to this seq completed (both fsyncs)
//	[20:24] "NWIT"
//
// A state copy:
//
//	[0:4]   CRC-32C of [4:64]
//	[4:12]  seq
//	[12:20] FNV-64a of the group's name: binds the copy to the name record
//	[20]    bit 0: in use (0: freed by Drop); bit 1: written by Open, of
//	        a log already durable (true even if its round was cut)
//	[24:64] term, vote, commit, last index, last term
//
// A name record: [0:4] CRC-32C of [4:5+n], [4] n, [5:5+n] the name.
//
// An all-zero copy or name record is empty, not damaged.
const (
	wBlock   = 512
	wCopy    = 64
	wNameOff = 2 * wCopy
	wMagic   = "NWIT"
	// wGap is the most unchanged bytes a write spans to join two.
	wGap = 4096
)

// witnessFile is the witness's name in the journal's directory.
const witnessFile = "witness"

// wstate is what a slot says of its group: the point its log reaches.
type wstate struct{ term, vote, commit, last, lastTerm uint64 }

// wslot is a slot as the journal knows it.
type wslot struct {
	idx    int
	name   string // "" for a slot never named (or zeroed)
	used   bool
	newest int    // the copy holding the slot's state; -1: neither
	seq    uint64 // that copy's seq
	st     wstate
}

// witness is the journal's witness file and its slots.
type witness struct {
	path  string
	f     store.File
	img   []byte // the file's contents as read and written
	seq   uint64 // the last seq written
	acked uint64 // the last seq whose write completed (both fsyncs)
	// hdrAcked is what the newest header in the file says of acked: one
	// round behind it, until Close (or Open) writes a header of its own.
	hdrAcked uint64
	hdr      int // the header copy written last; -1: neither
	slots    []*wslot
	named    map[string]*wslot // slots in use, by group
	// said is, per group found damaged at Open, what its slot said (the
	// point its log must reach); claims are those still to be reached:
	// the slot keeps saying it (Save writes it) until Repaired.
	said, claims map[string]wstate
}

// wwrite is one write into the witness; wround is a round's writes and
// what the slots become once they are durable.
type wwrite struct {
	off int64
	b   []byte
}

type wround struct {
	seq     uint64
	open    bool // written by Open: its copies say what a durable log holds
	writes  []wwrite
	commits []func()
}

func nameHash(name string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(name))
	return h.Sum64()
}

func slotOff(idx int) int64 { return int64(idx+1) * wBlock }

func allZero(b []byte) bool { return bytes.Count(b, []byte{0}) == len(b) }

func encodeCopy(seq, hash uint64, used, open bool, st wstate) []byte {
	b := make([]byte, wCopy)
	binary.LittleEndian.PutUint64(b[4:], seq)
	binary.LittleEndian.PutUint64(b[12:], hash)
	if used {
		b[20] = 1
	}
	if open {
		b[20] |= 2
	}
	for i, v := range []uint64{st.term, st.vote, st.commit, st.last, st.lastTerm} {
		binary.LittleEndian.PutUint64(b[24+8*i:], v)
	}
	binary.LittleEndian.PutUint32(b, crc32.Checksum(b[4:], castagnoli))
	return b
}

// wcopy is a decoded state copy.
type wcopy struct {
	zero, ok   bool
	seq, hash  uint64
	used, open bool
	st         wstate
	copyNumber int
}

func decodeCopy(b []byte) (c wcopy) {
	if len(b) < wCopy {
		return c
	}
	b = b[:wCopy]
	if allZero(b) {
		c.zero = true
		return c
	}
	if crc32.Checksum(b[4:], castagnoli) != binary.LittleEndian.Uint32(b) || b[20] > 3 || !allZero(b[21:24]) {
		return c
	}
	c.ok = true
	c.seq = binary.LittleEndian.Uint64(b[4:])
	c.hash = binary.LittleEndian.Uint64(b[12:])
	c.used, c.open = b[20]&1 != 0, b[20]&2 != 0
	v := func(i int) uint64 { return binary.LittleEndian.Uint64(b[24+8*i:]) }
	c.st = wstate{v(0), v(1), v(2), v(3), v(4)}
	return c
}

func encodeHeader(seq, acked uint64) []byte {
	b := make([]byte, wCopy)
	binary.LittleEndian.PutUint64(b[4:], seq)
	binary.LittleEndian.PutUint64(b[12:], acked)
	copy(b[20:], wMagic)
	binary.LittleEndian.PutUint32(b, crc32.Checksum(b[4:], castagnoli))
	return b
}

func decodeHeader(b []byte) (seq, acked uint64, ok bool) {
	if len(b) < wCopy {
		return 0, 0, false
	}
	b = b[:wCopy]
	if crc32.Checksum(b[4:], castagnoli) != binary.LittleEndian.Uint32(b) || string(b[20:24]) != wMagic ||
		!allZero(b[24:]) {
		return 0, 0, false
	}
	seq, acked = binary.LittleEndian.Uint64(b[4:]), binary.LittleEndian.Uint64(b[12:])
	return seq, acked, acked <= seq
}

func encodeName(name string) []byte {
	b := make([]byte, wBlock-wNameOff)
	b[4] = byte(len(name))
	copy(b[5:], name)
	binary.LittleEndian.PutUint32(b, crc32.Checksum(b[4:5+len(name)], castagnoli))
	return b
}

// decodeName reads a name record: zero when it is all zeros, ok when it
// checks.
func decodeName(b []byte) (name string, zero, ok bool) {
	if len(b) < wBlock-wNameOff {
		return "", false, false
	}
	b = b[:wBlock-wNameOff]
	if allZero(b) {
		return "", true, false
	}
	n := int(b[4])
	if n == 0 || crc32.Checksum(b[4:5+n], castagnoli) != binary.LittleEndian.Uint32(b) || !allZero(b[5+n:]) {
		return "", false, false
	}
	return string(b[5 : 5+n]), false, true
}

// wslotRead is a slot block as read at Open.
type wslotRead struct {
	name           string
	nameZero       bool
	nameOK         bool
	copies         [2]wcopy
	cur, other     *wcopy // newest copy bound to the name, and the other one if bound
	bothTorn, zero bool
}

// readSlot decodes one slot block.
func readSlot(b []byte) wslotRead {
	var s wslotRead
	if len(b) < wBlock {
		b = append(append([]byte(nil), b...), make([]byte, wBlock-len(b))...)
	}
	b = b[:wBlock]
	s.zero = allZero(b)
	s.name, s.nameZero, s.nameOK = decodeName(b[wNameOff:])
	for i := range s.copies {
		s.copies[i] = decodeCopy(b[i*wCopy:])
		s.copies[i].copyNumber = i
	}
	a, c := &s.copies[0], &s.copies[1]
	s.bothTorn = !a.ok && !a.zero && !c.ok && !c.zero
	if !s.nameOK {
		return s
	}
	h := nameHash(s.name)
	bound := func(x *wcopy) bool { return x.ok && x.hash == h }
	switch {
	case bound(a) && bound(c):
		if a.seq >= c.seq {
			s.cur, s.other = a, c
		} else {
			s.cur, s.other = c, a
		}
	case bound(a):
		s.cur = a
	case bound(c):
		s.cur = c
	}
	return s
}

// reaches says whether a group's log reaches an index with the given
// term. An index compacted away was applied, and is taken as reached.
func reaches(g *group, last, term uint64) bool {
	if last == 0 {
		return true
	}
	if l, _ := g.mem.LastIndex(); l < last {
		return false
	}
	if last < snapIndex(g) {
		return true
	}
	t, err := g.mem.Term(last)
	return err == nil && t == term
}

func wstateOf(g *group) wstate {
	last, _ := g.mem.LastIndex()
	term, _ := g.mem.Term(last)
	hs, _, _ := g.st.InitialState()
	return wstate{hs.GetTerm(), hs.GetVote(), hs.GetCommit(), last, term}
}

// desired is what a group's slot must say: its log's end and hard state,
// or, while a claim from Open is outstanding, the claim's point.
func (w *witness) desired(name string, st wstate) wstate {
	if c, ok := w.claims[name]; ok {
		st.last, st.lastTerm = c.last, c.lastTerm
		st.commit = max(st.commit, c.commit)
	}
	return st
}

// newRound begins a witness write: its header copy says which writes
// before it completed.
func (w *witness) newRound() *wround {
	w.seq++
	r := &wround{seq: w.seq}
	hdr := 0
	if w.hdr == 0 {
		hdr = 1
	}
	r.writes = append(r.writes, wwrite{int64(hdr * wCopy), encodeHeader(w.seq, w.acked)})
	seq, acked := w.seq, w.acked
	r.commits = append(r.commits, func() { w.hdr, w.acked, w.hdrAcked = hdr, seq, acked })
	return r
}

// set adds to r the write of a group's slot (allocating one if it has
// none); used false frees the slot.
func (w *witness) set(r *wround, name string, st wstate, used bool, reserved map[int]bool) {
	s := w.named[name]
	alloc := s == nil
	if alloc {
		if !used {
			return
		}
		s = w.freeSlot(reserved)
	}
	reserved[s.idx] = true
	copyAt := 0
	if s.newest == 0 {
		copyAt = 1
	}
	off := slotOff(s.idx)
	r.writes = append(r.writes, wwrite{off + int64(copyAt*wCopy), encodeCopy(r.seq, nameHash(name), used, r.open, st)})
	if alloc {
		r.writes = append(r.writes, wwrite{off + wNameOff, encodeName(name)})
	}
	seq := r.seq
	r.commits = append(r.commits, func() {
		s.name, s.used, s.newest, s.seq, s.st = name, used, copyAt, seq, st
		if used {
			w.named[name] = s
		} else if w.named[name] == s {
			delete(w.named, name)
		}
	})
}

// slotRound is the witness write of one group's slot outside Save
// (Repaired, Drop): nil when it would change nothing.
func (j *Journal) slotRound(name string, st wstate, used bool) *wround {
	w := j.wit
	s := w.named[name]
	if used {
		st = w.desired(name, st)
		if s != nil && s.newest >= 0 && s.st == st {
			return nil
		}
	} else if s == nil {
		return nil
	}
	r := w.newRound()
	w.set(r, name, st, used, map[int]bool{})
	return r
}

// freeSlot is the lowest slot not in use (nor taken in this round), or a
// new one at the end of the file.
func (w *witness) freeSlot(reserved map[int]bool) *wslot {
	for _, s := range w.slots {
		if !s.used && !reserved[s.idx] {
			return s
		}
	}
	s := &wslot{idx: len(w.slots), newest: -1}
	w.slots = append(w.slots, s)
	return s
}

// write puts a round's writes in the file (not yet durable). Writes
// less than a page apart go as one, with the bytes between as they are
// (img): a Save touching many groups is then one or a few system calls,
// not one per slot. Rewriting unchanged bytes with themselves is safe
// even if the write is torn.
func (w *witness) write(r *wround) error {
	sort.Slice(r.writes, func(a, b int) bool { return r.writes[a].off < r.writes[b].off })
	for _, wr := range r.writes {
		if end := wr.off + int64(len(wr.b)); end > int64(len(w.img)) {
			w.img = append(w.img, make([]byte, end-int64(len(w.img)))...)
		}
		copy(w.img[wr.off:], wr.b)
	}
	for i := 0; i < len(r.writes); {
		from, to := r.writes[i].off, r.writes[i].off+int64(len(r.writes[i].b))
		for i++; i < len(r.writes) && r.writes[i].off <= to+wGap; i++ {
			to = max(to, r.writes[i].off+int64(len(r.writes[i].b)))
		}
		if _, err := w.f.WriteAt(w.img[from:to], from); err != nil {
			return fmt.Errorf("journal: write %s: %w", w.path, err)
		}
	}
	return nil
}

func (w *witness) commit(r *wround) {
	for _, c := range r.commits {
		c()
	}
}

// saveRound is the witness write of a Save: the slots of the groups
// whose last index, last term or hard state the round changes. nil when
// none does.
func (j *Journal) saveRound(updates []Update) *wround {
	w := j.wit
	states := map[string]wstate{}
	snaps := map[string]uint64{}
	var order []string
	for i := range updates {
		u := &updates[i]
		if u.empty() {
			continue
		}
		st, ok := states[u.Group]
		if !ok {
			order = append(order, u.Group)
			if g := j.groups[u.Group]; g != nil {
				st = wstateOf(g)
				snaps[u.Group] = snapIndex(g)
			}
		}
		if u.Snapshot != nil && u.Snapshot.GetMetadata().GetIndex() > 0 {
			md := u.Snapshot.GetMetadata()
			st.last, st.lastTerm = md.GetIndex(), md.GetTerm()
			snaps[u.Group] = md.GetIndex()
		}
		if n := len(u.Entries); n > 0 {
			if e := u.Entries[n-1]; e.GetIndex() > snaps[u.Group] {
				st.last, st.lastTerm = e.GetIndex(), e.GetTerm()
			}
		}
		if hs := u.HardState; hs != nil && (hs.GetTerm() != 0 || hs.GetVote() != 0 || hs.GetCommit() != 0) {
			st.term, st.vote, st.commit = hs.GetTerm(), hs.GetVote(), hs.GetCommit()
		}
		states[u.Group] = st
	}
	var r *wround
	reserved := map[int]bool{}
	for _, name := range order {
		st := w.desired(name, states[name])
		if s := w.named[name]; s != nil && s.newest >= 0 && s.st == st {
			continue
		}
		if r == nil {
			r = w.newRound()
		}
		w.set(r, name, st, true, reserved)
	}
	return r
}

// Witness is what the witness said at Open of a group Open found damaged:
// the point its log must reach (last index and its term, and commit)
// before it may vote again; ok is false for a group not damaged, or
// whose slot could not be read. The driver keeps the group from voting
// until its log reaches that point, then calls Repaired.
func (j *Journal) Witness(group string) (lastIndex, lastTerm, commit uint64, ok bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, damaged := j.damaged[group]; !damaged || j.wit == nil {
		return 0, 0, 0, false
	}
	st, ok := j.wit.said[group]
	return st.last, st.lastTerm, st.commit, ok
}
