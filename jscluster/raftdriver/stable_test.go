package raftdriver

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/natsd/natsd/internal/testutil"
	"github.com/natsd/natsd/jetstream/journal"
)

func TestStableCommitted(t *testing.T) {
	ent := func(i uint64, typ raftpb.EntryType) *raftpb.Entry {
		e := &raftpb.Entry{}
		e.Index, e.Term, e.Type = &i, new(uint64), &typ
		return e
	}
	normal := func(i uint64) *raftpb.Entry { return ent(i, raftpb.EntryType_EntryNormal) }
	snapAt := func(i uint64) *raftpb.Snapshot {
		return &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: &i, Term: new(uint64)}}
	}
	for _, c := range []struct {
		name string
		rd   raft.Ready
		want bool
	}{
		{"nothing committed", raft.Ready{Entries: []*raftpb.Entry{normal(5)}}, false},
		{"committed, nothing new", raft.Ready{CommittedEntries: []*raftpb.Entry{normal(3), normal(4)}}, true},
		{"committed before the new entries", raft.Ready{Entries: []*raftpb.Entry{normal(5), normal(6)}, CommittedEntries: []*raftpb.Entry{normal(3), normal(4)}}, true},
		// A follower handed entries and the commit that covers them in
		// one message: they are on disk only once this round is saved.
		{"committed among this round's entries", raft.Ready{Entries: []*raftpb.Entry{normal(4), normal(5)}, CommittedEntries: []*raftpb.Entry{normal(3), normal(4)}}, false},
		// A new leader's entries replacing an uncommitted suffix.
		{"this round replaces what was committed", raft.Ready{Entries: []*raftpb.Entry{normal(2)}, CommittedEntries: []*raftpb.Entry{normal(2)}}, false},
		{"a membership change", raft.Ready{CommittedEntries: []*raftpb.Entry{normal(3), ent(4, raftpb.EntryType_EntryConfChangeV2)}}, false},
		{"a snapshot", raft.Ready{Snapshot: snapAt(10), CommittedEntries: []*raftpb.Entry{normal(11)}}, false},
		{"an empty snapshot", raft.Ready{Snapshot: &raftpb.Snapshot{}, CommittedEntries: []*raftpb.Entry{normal(11)}}, true},
	} {
		if got := stableCommitted(&c.rd); got != c.want {
			t.Errorf("%s: stableCommitted = %v, want %v", c.name, got, c.want)
		}
	}
}

// blockingLog holds the first save after the one that saved an entry
// holding after, until released.
type blockingLog struct {
	*journal.Journal
	mu      sync.Mutex
	after   []byte
	seen    bool
	held    chan struct{} // closed when a save is being held
	release chan struct{}
}

func (b *blockingLog) arm(after string) (held, release chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.after, b.seen, b.held, b.release = []byte(after), false, make(chan struct{}), make(chan struct{})
	return b.held, b.release
}

// hold waits if this save is the one to hold, and notes whether it saves
// the awaited entry.
func (b *blockingLog) hold(updates []journal.Update) {
	b.mu.Lock()
	if b.after == nil {
		b.mu.Unlock()
		return
	}
	if b.seen {
		b.after = nil
		held, release := b.held, b.release
		b.mu.Unlock()
		close(held)
		<-release
		return
	}
	for _, u := range updates {
		for _, e := range u.Entries {
			if string(e.GetData()) == string(b.after) {
				b.seen = true
			}
		}
	}
	b.mu.Unlock()
}

func (b *blockingLog) Save(u []journal.Update) error {
	b.hold(u)
	return b.Journal.Save(u)
}

func (b *blockingLog) SaveNoSync(u []journal.Update) error {
	b.hold(u)
	return b.Journal.SaveNoSync(u)
}

// A leader applies an entry its followers committed without waiting for
// the save of the round that learned of the commit: the entry is on its
// disk already (an earlier round saved it), and a leader's
// acknowledgements must not wait for the fsync of later proposals. The
// save after the one that held the entry is held here; the entry must be
// applied meanwhile.
func TestCommittedAppliedDuringSave(t *testing.T) {
	checkNoLeak(t)
	c := newCluster(t, 3, 11)
	logs := map[uint64]*blockingLog{}
	c.wrapLog = func(id uint64, j *journal.Journal) Log {
		logs[id] = &blockingLog{Journal: j}
		return logs[id]
	}
	for _, id := range ids(3) {
		c.start(id)
		c.addGroup(id, "g", ids(3))
	}
	c.proposeFromLeader("g", []string{"warm-up"})
	lead := c.leader("g")
	held, release := logs[lead].arm("early")
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	if err := c.drivers[lead].Propose("g", []byte("early")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the leader saved nothing after the proposal")
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if !c.sms[lead]["g"].has("early") {
			return fmt.Errorf("the leader has not applied %q while its next save is held", "early")
		}
		return nil
	})
	close(release)
	released = true
	c.proposeFromLeader("g", []string{"after"})
	c.waitApplied("g", ids(3), []string{"warm-up", "early", "after"})
	c.chk.check(t)
}

// savedLog records, for each group, the term of each index its saves
// returned with.
type savedLog struct {
	*journal.Journal
	mu    sync.Mutex
	terms map[string]map[uint64]uint64
}

func (l *savedLog) record(updates []journal.Update) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, u := range updates {
		m := l.terms[u.Group]
		if m == nil {
			m = map[uint64]uint64{}
			l.terms[u.Group] = m
		}
		for _, e := range u.Entries {
			m[e.GetIndex()] = e.GetTerm()
		}
	}
}

func (l *savedLog) Save(u []journal.Update) error {
	// As long as a disk's fsync: an entry handed over before its save
	// would be applied within this.
	time.Sleep(time.Millisecond)
	if err := l.Journal.Save(u); err != nil {
		return err
	}
	l.record(u)
	return nil
}

func (l *savedLog) SaveNoSync(u []journal.Update) error {
	if err := l.Journal.SaveNoSync(u); err != nil {
		return err
	}
	l.record(u)
	return nil
}

// savedCheckSM fails the test if it is handed an entry its server has not
// saved (with that term) by then.
type savedCheckSM struct {
	*testSM
	log *savedLog
}

func (s *savedCheckSM) Apply(ents []*raftpb.Entry) {
	s.log.mu.Lock()
	for _, e := range ents {
		if got, ok := s.log.terms[s.group][e.GetIndex()]; !ok || got != e.GetTerm() {
			s.chk.failf("server %d group %s: entry %d (term %d) applied before it was saved (saved: %v, term %d)",
				s.id, s.group, e.GetIndex(), e.GetTerm(), ok, got)
		}
	}
	s.log.mu.Unlock()
	s.testSM.Apply(ents)
}

// Whether committed entries are handed over before or after a round's
// save, a server applies only entries it has saved: through elections
// and leadership transfers with appends in between, on every server.
func TestAppliedOnlyWhatIsSaved(t *testing.T) {
	checkNoLeak(t)
	c := newCluster(t, 3, 5)
	logs := map[uint64]*savedLog{}
	c.wrapLog = func(id uint64, j *journal.Journal) Log {
		logs[id] = &savedLog{Journal: j, terms: map[string]map[uint64]uint64{}}
		return logs[id]
	}
	groups := []string{"a", "b", "c"}
	for _, id := range ids(3) {
		c.start(id)
		for _, g := range groups {
			sm := newTestSM(id, g, c.chk)
			if err := c.drivers[id].AddGroup(g, ids(3), 0, &savedCheckSM{testSM: sm, log: logs[id]}); err != nil {
				t.Fatal(err)
			}
			c.sms[id][g] = sm
		}
	}
	// A follower cut off while the others commit is sent, once back,
	// entries and the commit that covers them in one message: the case
	// where committed entries are not saved yet when the round begins.
	c.net.faults(0.05, 0.05, 3*time.Millisecond)
	want := map[string][]string{}
	for r := 0; r < 4; r++ {
		cut := uint64(r%3 + 1)
		c.net.partition(cut, true)
		for _, g := range groups {
			lead := c.leader(g)
			if lead == cut {
				continue // the leader is cut off: a new one is elected first
			}
			batch := seqData(fmt.Sprintf("%s-%d", g, r), 30)
			for _, d := range batch {
				_ = c.drivers[lead].Propose(g, []byte(d))
			}
			c.settle(g, batch, true)
			want[g] = append(want[g], batch...)
		}
		c.net.partition(cut, false)
		for _, g := range groups {
			if lead := c.leader(g); r%2 == 1 {
				_ = c.drivers[lead].TransferLeader(g, lead%3+1)
			}
		}
	}
	c.net.faults(0, 0, 0)
	for _, g := range groups {
		c.waitApplied(g, ids(3), want[g])
	}
	c.chk.check(t)
}
