package journal

import (
	"errors"
	"fmt"
	"sort"
	"sync"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/natsd/natsd/jetstream/store"
)

// Update is what one group adds to the journal in a round: the Ready of
// its RawNode that must be durable before its messages go out.
type Update struct {
	Group string
	// HardState is the group's term, vote and commit; empty
	// (raft.IsEmptyHardState) when unchanged.
	HardState *raftpb.HardState
	// Entries are appended; the first one's index may be at or below the
	// group's last index, and then it replaces the log from there on
	// (Raft's conflict truncation).
	Entries []*raftpb.Entry
	// Snapshot, when not empty (raft.IsEmptySnap), replaces the group's
	// log up to its index.
	Snapshot *raftpb.Snapshot
}

func (u *Update) empty() bool {
	return len(u.Entries) == 0 && (u.HardState == nil || raft.IsEmptyHardState(u.HardState)) &&
		(u.Snapshot == nil || raft.IsEmptySnap(u.Snapshot))
}

// ErrClosed is returned after Close.
var ErrClosed = errors.New("journal: closed")

// Options are the file journal's settings.
type Options struct {
	// FS is the file system (nil: the real one); tests put faultfs here.
	FS store.FS
	// Logger gets damage found at Open (error level) and segment
	// housekeeping; nil: nothing is logged.
	Logger *zap.Logger
	// SegmentSize is the size at which a segment file is closed and the
	// next begun (0: 8 MiB). A round is never split: a segment may exceed
	// it by one round.
	SegmentSize int64
}

// DefaultSegmentSize is the segment size when Options leave it 0.
const DefaultSegmentSize = 8 << 20

// maxGroupName is the longest group name a record can carry.
const maxGroupName = 255

// Journal is the server's Raft journal. Its methods are safe for
// concurrent use.
type Journal struct {
	mu      sync.Mutex
	groups  map[string]*group
	closed  bool
	log     *segLog // nil: kept in memory only (OpenMemory)
	damaged map[string]string
	logger  *zap.Logger
	wit     *witness // nil with log
}

type group struct {
	name string
	mem  *raft.MemoryStorage
	st   *groupStorage
}

// groupStorage is a group's raft.Storage: the entries in memory, and the
// membership last recorded (SetConfState) for InitialState.
type groupStorage struct {
	*raft.MemoryStorage
	mu sync.Mutex
	cs *raftpb.ConfState
}

func (s *groupStorage) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	// MemoryStorage.InitialState reads without its lock (etcd/raft calls
	// it before anything else runs); here a round may be saved meanwhile.
	s.MemoryStorage.Lock()
	hs, cs, err := s.MemoryStorage.InitialState()
	s.MemoryStorage.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cs != nil {
		cs = s.cs
	}
	return hs, cs, err
}

func (s *groupStorage) confState() *raftpb.ConfState {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cs == nil {
		return &raftpb.ConfState{}
	}
	return s.cs
}

func (s *groupStorage) explicitConfState() *raftpb.ConfState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cs
}

func (s *groupStorage) setConfState(cs *raftpb.ConfState) {
	s.mu.Lock()
	s.cs = cs
	s.mu.Unlock()
}

// OpenMemory is a journal that keeps nothing on disk: for tests of the
// layers above, and the model the file journal is tested against.
func OpenMemory() *Journal {
	return &Journal{groups: map[string]*group{}, damaged: map[string]string{}, logger: zap.NewNop()}
}

func (j *Journal) groupLocked(name string) *group {
	g := j.groups[name]
	if g == nil {
		mem := raft.NewMemoryStorage()
		g = &group{name: name, mem: mem, st: &groupStorage{MemoryStorage: mem}}
		j.groups[name] = g
	}
	return g
}

// snapIndex is the index of the group's snapshot: MemoryStorage keeps
// its log starting right after it (without copying the snapshot's data
// as Snapshot does).
func snapIndex(g *group) uint64 {
	first, _ := g.mem.FirstIndex()
	return first - 1
}

// Storage is the group's log as etcd/raft reads it (made empty when the
// group is new). It stays valid until Drop. A group made here exists on
// disk once something is saved for it.
func (j *Journal) Storage(name string) raft.Storage {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.groupLocked(name).st
}

// Groups are the names of the groups the journal holds, sorted.
func (j *Journal) Groups() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]string, 0, len(j.groups))
	for name := range j.groups {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// Damaged are the groups whose log Open found damaged (a record failing
// its checksum, a truncated record, entries missing), each with what and
// where. Such a group's log was cut before the damage: it must not vote
// or campaign until a leader has brought it back (docs/clustered-
// jetstream.md, "Repair"), and then Repaired is called. Until then every
// Open reports it again (checkpoints carry it once the segment with the
// damage is gone).
func (j *Journal) Damaged() map[string]string {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make(map[string]string, len(j.damaged))
	for k, v := range j.damaged {
		out[k] = v
	}
	return out
}

// Repaired says a damaged group is whole again: a leader has brought its
// log back to where the damage had cut it short (docs/clustered-
// jetstream.md, "Repair"). Until then every Open reports it, even after
// the segment holding the damage is gone.
func (j *Journal) Repaired(name string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.checkLocked(); err != nil {
		return err
	}
	if _, ok := j.damaged[name]; !ok {
		return nil
	}
	if j.log != nil {
		// From now on the slot says the log's end again.
		delete(j.wit.claims, name)
		var wr *wround
		if g := j.groups[name]; g != nil {
			wr = j.slotRound(name, wstateOf(g), true)
		} else {
			wr = j.slotRound(name, wstate{}, false)
		}
		if _, err := j.writeLocked(appendRecord(nil, kRepaired, name, nil), wr); err != nil {
			return err
		}
	}
	delete(j.damaged, name)
	return nil
}

// checkLocked is the gate of every change.
func (j *Journal) checkLocked() error {
	if j.closed {
		return ErrClosed
	}
	if j.log != nil && j.log.failed != nil {
		return j.log.failed
	}
	return nil
}

// checkName refuses a name a record cannot carry.
func checkName(name string) error {
	if len(name) == 0 || len(name) > maxGroupName {
		return fmt.Errorf("journal: group name %q: must be 1 to %d bytes", name, maxGroupName)
	}
	return nil
}

// validate refuses a round that the in-memory log could not take (so
// that nothing is written that replay would choke on): entries that are
// not consecutive or leave a gap, a snapshot older than the group's.
func (j *Journal) validate(updates []Update) error {
	type pos struct{ snap, last uint64 }
	seen := map[string]pos{}
	for i := range updates {
		u := &updates[i]
		if err := checkName(u.Group); err != nil {
			return err
		}
		p, ok := seen[u.Group]
		if !ok {
			if g := j.groups[u.Group]; g != nil {
				p.snap = snapIndex(g)
				p.last, _ = g.mem.LastIndex()
			}
		}
		if u.Snapshot != nil && !raft.IsEmptySnap(u.Snapshot) {
			idx := u.Snapshot.GetMetadata().GetIndex()
			if p.snap != 0 && idx <= p.snap {
				return fmt.Errorf("journal: group %s: snapshot %d: %w", u.Group, idx, raft.ErrSnapOutOfDate)
			}
			p.snap, p.last = idx, idx
		}
		if n := len(u.Entries); n > 0 {
			first := u.Entries[0].GetIndex()
			for k, e := range u.Entries {
				if e.GetIndex() != first+uint64(k) {
					return fmt.Errorf("journal: group %s: entry %d follows %d", u.Group, e.GetIndex(), first+uint64(k)-1)
				}
			}
			if first > p.last+1 {
				return fmt.Errorf("journal: group %s: entries from %d leave a gap after %d", u.Group, first, p.last)
			}
			if last := first + uint64(n) - 1; last > p.snap {
				p.last = last
			}
		}
		seen[u.Group] = p
	}
	return nil
}

// Save makes a round durable: every update, in one write and one fsync.
// When it returns nil, all of it survives a crash; when it returns an
// error, none of it is in memory (on disk it may or may not be).
func (j *Journal) Save(updates []Update) error { return j.save(updates, true) }

// SaveNoSync is Save without the fsync, for a round etcd/raft says need
// not be durable (Ready.MustSync false: only the commit index moved,
// which a restart learns again from the leader). The next Save's fsync
// makes it durable with everything before it; the witness is not touched.
func (j *Journal) SaveNoSync(updates []Update) error { return j.save(updates, false) }

func (j *Journal) save(updates []Update, sync bool) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.checkLocked(); err != nil {
		return err
	}
	if err := j.validate(updates); err != nil {
		return err
	}
	if j.log != nil {
		buf := j.log.buf[:0]
		var err error
		for i := range updates {
			u := &updates[i]
			if u.Snapshot != nil && !raft.IsEmptySnap(u.Snapshot) {
				buf = appendRecord(buf, kSnapshot, u.Group, marshal(u.Snapshot))
			}
			if len(u.Entries) > 0 {
				j.log.body, err = appendEntries(j.log.body[:0], u.Entries)
				if err != nil {
					return fmt.Errorf("journal: group %s: %w", u.Group, err)
				}
				buf = appendRecord(buf, kEntries, u.Group, j.log.body)
			}
			if u.HardState != nil && !raft.IsEmptyHardState(u.HardState) {
				buf = appendRecord(buf, kHardState, u.Group, marshal(u.HardState))
			}
		}
		j.log.buf = buf
		if len(buf) > 0 {
			var wr *wround
			if sync {
				wr = j.saveRound(updates)
			}
			seg, err := j.writeSyncLocked(buf, wr, sync)
			if err != nil {
				return err
			}
			for i := range updates {
				u := &updates[i]
				if n := len(u.Entries); n > 0 {
					g := j.groupLocked(u.Group)
					seg.need(g, u.Entries[n-1].GetIndex())
				}
			}
		}
	}
	for i := range updates {
		u := &updates[i]
		if u.empty() {
			continue // a group is made by what it saves
		}
		g := j.groupLocked(u.Group)
		if u.Snapshot != nil && !raft.IsEmptySnap(u.Snapshot) {
			if err := g.mem.ApplySnapshot(u.Snapshot); err != nil {
				return err // validate ruled it out
			}
			g.st.setConfState(u.Snapshot.GetMetadata().GetConfState())
		}
		if len(u.Entries) > 0 {
			if err := g.mem.Append(u.Entries); err != nil {
				return err
			}
		}
		if u.HardState != nil && !raft.IsEmptyHardState(u.HardState) {
			if err := g.mem.SetHardState(u.HardState); err != nil {
				return err
			}
		}
	}
	return nil
}

// SetConfState records the group's membership after a configuration
// change was applied (InitialState returns it after a restart).
func (j *Journal) SetConfState(name string, cs *raftpb.ConfState) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.checkLocked(); err != nil {
		return err
	}
	if err := checkName(name); err != nil {
		return err
	}
	if j.log != nil {
		if _, err := j.writeLocked(appendRecord(nil, kConfState, name, encodeConfState(cs)), nil); err != nil {
			return err
		}
	}
	j.groupLocked(name).st.setConfState(cs)
	return nil
}

// encodeConfState tells a nil ConfState (never set) from an empty one.
func encodeConfState(cs *raftpb.ConfState) []byte {
	if cs == nil {
		return []byte{0}
	}
	return append([]byte{1}, marshal(cs)...)
}

func decodeConfState(b []byte) (*raftpb.ConfState, error) {
	if len(b) == 0 || b[0] > 1 || (b[0] == 0 && len(b) > 1) {
		return nil, errBodyFormat
	}
	if b[0] == 0 {
		return nil, nil
	}
	cs := &raftpb.ConfState{}
	return cs, unmarshal(b[1:], cs)
}

// Compact drops the group's entries up to and including index: its state
// machine has made them durable on its own. Raft then sends a follower
// that needs them a snapshot instead: data is what that snapshot carries
// (the state machine's description of itself at index). An index at or
// below the last compaction is a no-op; one past the last entry is an
// error.
func (j *Journal) Compact(name string, index uint64, data []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.checkLocked(); err != nil {
		return err
	}
	g := j.groups[name]
	if g == nil {
		return nil
	}
	if err := checkName(name); err != nil {
		return err
	}
	if index <= snapIndex(g) {
		return nil
	}
	if last, _ := g.mem.LastIndex(); index > last {
		return fmt.Errorf("journal: group %s: compact %d past the last entry %d", name, index, last)
	}
	term, err := g.mem.Term(index)
	if err != nil {
		return err
	}
	cs := g.st.confState()
	if j.log != nil {
		snap := &raftpb.Snapshot{Data: data, Metadata: &raftpb.SnapshotMetadata{
			Index: proto.Uint64(index), Term: proto.Uint64(term), ConfState: cs}}
		if _, err := j.writeLocked(appendRecord(nil, kCompact, name, marshal(snap)), nil); err != nil {
			return err
		}
	}
	if _, err := g.mem.CreateSnapshot(index, cs, data); err != nil {
		return err
	}
	return g.mem.Compact(index)
}

// Drop forgets a group (its stream was deleted, or moved off this server).
func (j *Journal) Drop(name string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if err := j.checkLocked(); err != nil {
		return err
	}
	// A group Open found damaged for its witness slot may have no log.
	if j.groups[name] == nil && (j.wit == nil || j.wit.named[name] == nil) {
		return nil
	}
	if j.log != nil && checkName(name) == nil {
		delete(j.wit.claims, name)
		if _, err := j.writeLocked(appendRecord(nil, kDrop, name, nil), j.slotRound(name, wstate{}, false)); err != nil {
			return err
		}
	}
	delete(j.groups, name)
	delete(j.damaged, name)
	if j.log != nil {
		j.releaseLocked()
	}
	return nil
}

// Close ends the journal; later calls fail with ErrClosed.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closed {
		return nil
	}
	j.closed = true
	if j.log == nil {
		return nil
	}
	var err error
	if j.wit != nil && j.wit.f != nil {
		// Every round so far completed: say so, so that the next Open
		// holds the log to all of them, the last one included.
		if j.log.failed == nil && j.wit.hdrAcked < j.wit.seq {
			err = j.markAcked()
		}
		if cerr := j.wit.f.Close(); err == nil {
			err = cerr
		}
		j.wit.f = nil
	}
	if j.log.f != nil {
		if cerr := j.log.f.Close(); err == nil {
			err = cerr
		}
		j.log.f = nil
	}
	return err
}
