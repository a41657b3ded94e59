package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/natsd/natsd/jetstream/store"
)

// segLog is the journal's files: segments numbered upwards, the last one
// written to.
type segLog struct {
	fs      store.FS
	dir     string
	segSize int64
	segs    []*segment // oldest first; the last is written to
	f       store.File // the last segment, open for writing
	// failed is sticky: after a failed fsync (or a write that could not
	// be undone) what is on disk is unknown, so nothing more is written.
	failed    error
	unsynced  bool   // rounds written without an fsync (SaveNoSync)
	buf, body []byte // reused by Save
}

// segment is what the journal keeps of one file.
type segment struct {
	num  uint64
	size int64
	// ckpt is the opening checkpoint, complete: each group's snapshot
	// index then. nil when the segment has none (or it is damaged).
	ckpt map[*group]uint64
	// ckptEnd is where the checkpoint ends (a roll never leaves a segment
	// holding only its checkpoint).
	ckptEnd int64
	// needs is, per group, the highest entry index written here.
	needs map[*group]uint64
}

func (s *segment) need(g *group, index uint64) {
	if index > s.needs[g] {
		s.needs[g] = index
	}
}

func segName(num uint64) string { return fmt.Sprintf("%010d.seg", num) }

func (l *segLog) path(num uint64) string { return filepath.Join(l.dir, segName(num)) }

// Open opens (or creates) the journal in dir and reads it back. Damage
// does not fail it: the groups it touches are reported by Damaged.
func Open(dir string, opts Options) (*Journal, error) {
	if opts.FS == nil {
		opts.FS = store.OSFS()
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.SegmentSize <= 0 {
		opts.SegmentSize = DefaultSegmentSize
	}
	j := OpenMemory()
	j.logger = opts.Logger
	l := &segLog{fs: opts.FS, dir: dir, segSize: opts.SegmentSize}
	j.log = l
	if _, err := l.fs.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		// A new directory's name must survive a crash as much as the
		// segments in it.
		if err := l.fs.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
		if err := l.fs.SyncDir(filepath.Dir(filepath.Clean(dir))); err != nil {
			return nil, fmt.Errorf("journal: %w", err)
		}
	}
	des, err := l.fs.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	var nums []uint64
	for _, de := range des {
		n, ok := strings.CutSuffix(de.Name(), ".seg")
		if !ok || de.IsDir() {
			continue
		}
		if num, err := strconv.ParseUint(n, 10, 64); err == nil && num > 0 {
			nums = append(nums, num)
		}
	}
	sort.Slice(nums, func(a, b int) bool { return nums[a] < nums[b] })
	r := &replay{j: j, seen: map[string]bool{}, dropped: map[string]bool{}}
	for i, num := range nums {
		if i > 0 && num != nums[i-1]+1 {
			r.gap = fmt.Sprintf("segments %d to %d are missing", nums[i-1]+1, num-1)
			j.logger.Error("journal: segments missing", zap.String("dir", dir),
				zap.Uint64("from", nums[i-1]+1), zap.Uint64("to", num-1))
		}
		data, err := l.readSegment(num)
		if err != nil {
			return nil, err
		}
		seg := &segment{num: num, needs: map[*group]uint64{}}
		last := i == len(nums)-1
		end := r.segment(seg, l.path(num), data, last)
		seg.size = end
		if last && end < int64(len(data)) {
			// A torn tail: the round being written when the power went,
			// which was never acknowledged (or acknowledged rounds lost:
			// the witness tells, below). Cut so that the file ends where
			// its records do.
			j.logger.Warn("journal: torn tail cut", zap.String("file", l.path(num)),
				zap.Int64("offset", end), zap.Int("bytes", len(data)-int(end)))
		}
		if last {
			// Cut the torn tail; and what was read may be only in the
			// page cache (a process crash mid-round): make it durable
			// before the witness is told the log reaches it.
			if err := l.settle(num, end, end < int64(len(data))); err != nil {
				return nil, err
			}
		}
		l.segs = append(l.segs, seg)
	}
	r.finish()
	// The witness is checked against the logs as read (and brought up to
	// date) before the new segment's checkpoint, whose releases may delete
	// the drop records it frees slots by.
	err = j.openWitness(r)
	if err == nil {
		// Always begin a new segment: whatever the old last one ends
		// with stays as read, and the new one opens with a checkpoint of
		// the state as read (damaged groups cut).
		err = j.rollLocked()
	}
	if err != nil {
		if j.wit != nil && j.wit.f != nil {
			j.wit.f.Close()
		}
		return nil, err
	}
	return j, nil
}

func (l *segLog) readSegment(num uint64) ([]byte, error) {
	f, err := l.fs.OpenFile(l.path(num), os.O_RDONLY, 0)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	data := make([]byte, fi.Size())
	if n, err := f.ReadAt(data, 0); err != nil && !(errors.Is(err, io.EOF) && n == len(data)) {
		return nil, fmt.Errorf("journal: read %s: %w", l.path(num), err)
	}
	return data, nil
}

func (l *segLog) settle(num uint64, size int64, cut bool) error {
	f, err := l.fs.OpenFile(l.path(num), os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if cut {
		err = f.Truncate(size)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("journal: cut torn tail of or fsync %s: %w", l.path(num), err)
	}
	return nil
}

// writeLocked appends records to the last segment (rolling first when it
// is full) and fsyncs: one write, one fsync. The witness's writes of the
// same round, if any, go in after the segment's, and the witness is
// fsynced at the same time as the segment (in sequence, the two fsyncs
// cost +60 % a round; together +10–25 %, docs/clustered-jetstream.md):
// the round is durable when both are.
func (j *Journal) writeLocked(buf []byte, wr *wround) (*segment, error) {
	return j.writeSyncLocked(buf, wr, true)
}

// writeSyncLocked is writeLocked; without sync the records are written
// and not fsynced (nor the witness touched): the next fsync makes them
// durable, a crash before it may lose or tear them (a torn tail, cut).
func (j *Journal) writeSyncLocked(buf []byte, wr *wround, sync bool) (*segment, error) {
	l := j.log
	cur := l.segs[len(l.segs)-1]
	if cur.size > cur.ckptEnd && cur.size+int64(len(buf)) > l.segSize {
		if err := j.rollLocked(); err != nil {
			return nil, err
		}
		cur = l.segs[len(l.segs)-1]
	}
	if _, err := l.f.WriteAt(buf, cur.size); err != nil {
		// Undo a partial write (a full disk), so that the next round does
		// not follow half a record. If even that fails, stop writing.
		if terr := l.f.Truncate(cur.size); terr != nil {
			l.failed = fmt.Errorf("journal: write failed (%v) and could not be undone: %w", err, terr)
		}
		return nil, fmt.Errorf("journal: write %s: %w", l.path(cur.num), err)
	}
	if !sync {
		cur.size += int64(len(buf))
		l.unsynced = true
		return cur, nil
	}
	l.unsynced = false
	if wr == nil {
		if err := l.f.Sync(); err != nil {
			l.failed = fmt.Errorf("journal: fsync %s: %w", l.path(cur.num), err)
			return nil, l.failed
		}
		cur.size += int64(len(buf))
		return cur, nil
	}
	// The witness is written after the segment, so that a process crash
	// (the page cache kept) never leaves a witness ahead of its log. A
	// witness write that fails leaves a slot unknown: stop, as after a
	// failed fsync.
	if err := j.wit.write(wr); err != nil {
		l.failed = err
		return nil, err
	}
	werr := make(chan error, 1)
	go func() { werr <- j.wit.f.Sync() }()
	serr := l.f.Sync()
	if err := <-werr; err != nil {
		l.failed = fmt.Errorf("journal: fsync %s: %w", j.wit.path, err)
	}
	if serr != nil {
		l.failed = fmt.Errorf("journal: fsync %s: %w", l.path(cur.num), serr)
	}
	if l.failed != nil {
		return nil, l.failed
	}
	j.wit.commit(wr)
	cur.size += int64(len(buf))
	return cur, nil
}

// rollLocked begins the next segment with a checkpoint of every group:
// its hard state, membership, snapshot (with data) and last entry. With
// it, the segments before are needed only for the entries in them that
// some group has not compacted (see releaseLocked).
func (j *Journal) rollLocked() error {
	l := j.log
	if l.unsynced && l.f != nil {
		// Rounds written without an fsync (SaveNoSync) must be durable
		// before a later segment is: only the last segment may end torn.
		if err := l.f.Sync(); err != nil {
			l.failed = fmt.Errorf("journal: fsync before roll: %w", err)
			return l.failed
		}
		l.unsynced = false
	}
	num := uint64(1)
	if n := len(l.segs); n > 0 {
		num = l.segs[n-1].num + 1
	}
	names := make([]string, 0, len(j.groups))
	for name := range j.groups {
		names = append(names, name)
	}
	sort.Strings(names)
	var buf []byte
	ckpt := map[*group]uint64{}
	needs := map[*group]uint64{}
	budget := l.segSize / 4
	for _, name := range names {
		g := j.groups[name]
		s := stateOf(g, min(l.segSize/16, budget), j.damaged[name])
		if s == nil {
			continue
		}
		buf = appendRecord(buf, kState, name, appendState(nil, s))
		ckpt[g] = s.snap.GetMetadata().GetIndex()
		if s.withTail {
			ckpt[g] = s.lastIndex
			if len(s.tail) > 0 {
				needs[g] = s.lastIndex
				budget -= tailSize(s.tail)
			}
		}
	}
	buf = appendRecord(buf, kCheckpoint, "*", binary.AppendUvarint(nil, uint64(len(ckpt))))
	name := l.path(num)
	f, err := l.fs.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	_, err = f.WriteAt(buf, 0)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = l.fs.SyncDir(l.dir)
	}
	if err != nil {
		f.Close()
		// A half-made segment after the current one would be read as
		// coming after the rounds still to be written here: remove it, or
		// write nothing more.
		if rerr := l.fs.Remove(name); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			l.failed = fmt.Errorf("journal: new segment %s failed (%v) and could not be removed: %w", name, err, rerr)
		} else if serr := l.fs.SyncDir(l.dir); serr != nil {
			l.failed = fmt.Errorf("journal: new segment %s failed (%v) and its removal is not durable: %w", name, err, serr)
		}
		return fmt.Errorf("journal: new segment %s: %w", name, err)
	}
	if l.f != nil {
		l.f.Close()
	}
	l.f = f
	end := int64(len(buf))
	l.segs = append(l.segs, &segment{num: num, size: end, ckpt: ckpt, ckptEnd: end, needs: needs})
	j.releaseLocked()
	return nil
}

// stateOf is a group's checkpoint state; nil for a group with nothing
// (only ever handed out by Storage). Its entries after the snapshot are
// copied when they take at most maxTail bytes: then the segments before
// hold nothing the group needs, even though it has not compacted them
// yet (a group compacts a little behind what it writes). A group that
// does not compact keeps the segments with its entries.
func stateOf(g *group, maxTail int64, damaged string) *groupState {
	snap, _ := g.mem.Snapshot()
	last, _ := g.mem.LastIndex()
	term, _ := g.mem.Term(last)
	hs, _, _ := g.st.InitialState()
	cs := g.st.explicitConfState()
	idx := snap.GetMetadata().GetIndex()
	if last == 0 && hs == nil && cs == nil && idx == 0 && damaged == "" {
		return nil
	}
	s := &groupState{lastIndex: last, lastTerm: term, hs: hs, cs: cs, snap: snap, damaged: damaged}
	if last == idx {
		s.withTail = true
	} else if tail, err := g.mem.Entries(idx+1, last+1, uint64(maxTail)); err == nil && uint64(len(tail)) == last-idx &&
		tailSize(tail) <= maxTail {
		s.tail, s.withTail = tail, true
	}
	return s
}

func tailSize(ents []*raftpb.Entry) int64 {
	var n int64
	for _, e := range ents {
		n += int64(proto.Size(e))
	}
	return n
}

// releaseLocked deletes the oldest segments once nothing in them is
// needed: segments before k go when k's checkpoint is complete and, for
// every group still alive with entries in them, the checkpoint's
// snapshot index is at or past the highest of those entries. Replay then
// starts at k's checkpoint and misses nothing: every older record was
// either an entry since compacted, or state the checkpoint restates.
func (j *Journal) releaseLocked() {
	l := j.log
	k := len(l.segs) - 1
	for ; k >= 1; k-- {
		if j.covers(k) {
			break
		}
	}
	if k < 1 {
		return
	}
	for len(l.segs) > 1 && k > 0 {
		s := l.segs[0]
		// One at a time, each removal made durable before the next: a
		// crash must never leave a hole in the numbering, which reads as
		// a missing segment.
		if err := l.fs.Remove(l.path(s.num)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			j.logger.Warn("journal: cannot remove segment", zap.String("file", l.path(s.num)), zap.Error(err))
			return
		}
		if err := l.fs.SyncDir(l.dir); err != nil {
			j.logger.Warn("journal: cannot sync directory", zap.String("dir", l.dir), zap.Error(err))
			return
		}
		l.segs = l.segs[1:]
		k--
	}
}

func (j *Journal) covers(k int) bool {
	s := j.log.segs[k]
	if s.ckpt == nil {
		return false
	}
	for _, old := range j.log.segs[:k] {
		for g, max := range old.needs {
			if j.groups[g.name] != g {
				continue // dropped since
			}
			if idx, ok := s.ckpt[g]; !ok || idx < max {
				return false
			}
		}
	}
	return true
}

// segmentFiles lists the segment files (for tests).
func (j *Journal) segmentFiles() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []string
	if j.log != nil {
		for _, s := range j.log.segs {
			out = append(out, j.log.path(s.num))
		}
	}
	return out
}
