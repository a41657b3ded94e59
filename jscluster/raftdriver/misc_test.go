package raftdriver

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/natsd/natsd/internal/testutil"
	"github.com/natsd/natsd/jetstream/journal"
)

// failingLog fails every Save once armed.
type failingLog struct {
	*journal.Journal
	armed  atomic.Bool
	failed atomic.Bool
}

func (f *failingLog) Save(u []journal.Update) error {
	if f.armed.Load() {
		f.failed.Store(true)
		return errors.New("disk gone")
	}
	return f.Journal.Save(u)
}

// A server whose journal fails to save stops: it sends nothing of the
// round it could not persist (nor anything after), its calls say
// ErrStopped, and the others go on without it.
func TestSaveFailureStopsDriver(t *testing.T) {
	checkNoLeak(t)
	c := newCluster(t, 3, 6)
	c.tick = 20 * time.Millisecond
	logs := map[uint64]*failingLog{}
	c.wrapLog = func(id uint64, j *journal.Journal) Log {
		logs[id] = &failingLog{Journal: j}
		return logs[id]
	}
	var sentAfter atomic.Int64
	c.net.mu.Lock()
	c.net.onSend = func(from, _ uint64, _ []byte) {
		if logs[from].failed.Load() {
			sentAfter.Add(1)
		}
	}
	c.net.mu.Unlock()
	for _, id := range ids(3) {
		c.start(id)
		c.addGroup(id, "g", ids(3))
	}
	want := seqData("a", 20)
	c.proposeFromLeader("g", want)
	c.waitApplied("g", ids(3), want)
	// The leader's disk goes: its appends must not reach the followers.
	bad := c.leader("g")
	logs[bad].armed.Store(true)
	more := seqData("b", 20)
	c.proposeFromLeader("g", more)
	testutil.Eventually(t, 15*time.Second, func() error {
		if _, ok := c.drivers[bad].Status("g"); ok {
			return errors.New("the failed server still runs")
		}
		return nil
	})
	if !logs[bad].failed.Load() {
		t.Fatal("server stopped without a failed Save")
	}
	if err := c.drivers[bad].Propose("g", []byte("x")); !errors.Is(err, ErrStopped) {
		t.Fatalf("Propose: %v, want ErrStopped", err)
	}
	if err := c.drivers[bad].AddGroup("h", ids(3), 0, newTestSM(bad, "h", c.chk)); !errors.Is(err, ErrStopped) {
		t.Fatalf("AddGroup: %v, want ErrStopped", err)
	}
	if n := sentAfter.Load(); n != 0 {
		t.Fatalf("server %d sent %d batches after its Save failed", bad, n)
	}
	var rest []uint64
	for _, id := range ids(3) {
		if id != bad {
			rest = append(rest, id)
		}
	}
	want = append(want, more...)
	last := seqData("c", 20)
	c.proposeFromLeader("g", last)
	want = append(want, last...)
	c.waitApplied("g", rest, want)
	c.chk.check(t)
}

// Receive never blocks: beyond the inbox's capacity it drops and counts.
// A driver not started takes nothing out of its inbox.
func TestReceiveDropsWhenFull(t *testing.T) {
	n := newMemNet(1)
	defer n.close()
	d := New(Config{ID: 1, Log: journal.OpenMemory(), Transport: n.transport(1)})
	frame := AppendFrame(nil, "g", sampleMessages()[0])
	for i := 0; i < inboxBatches+10; i++ {
		d.Receive(frame)
	}
	if got := d.Stats().DroppedInbox; got != 10 {
		t.Fatalf("dropped %d, want 10", got)
	}
	d.Stop()
	d.Stop()
	if err := d.Campaign("g"); !errors.Is(err, ErrStopped) {
		t.Fatalf("Campaign after Stop: %v", err)
	}
}

// A driver's inbox takes frames for groups it does not run, bad frames
// and bad batches without harm, and counts them.
func TestReceiveBadInput(t *testing.T) {
	checkNoLeak(t)
	c := newCluster(t, 1, 7)
	d := c.start(1)
	c.addGroup(1, "g", ids(1))
	c.leader("g")
	good := AppendFrame(nil, "nope", sampleMessages()[0])
	bad := append([]byte(nil), good...)
	bad[len(bad)-1] ^= 1
	d.Receive(good)
	d.Receive(bad)
	d.Receive([]byte{1, 2, 3})
	d.Receive(AppendFrame(nil, "g", sampleMessages()[1])) // from a server not in the group
	testutil.Eventually(t, 5*time.Second, func() error {
		st := d.Stats()
		if st.UnknownGroup != 1 || st.BadFrames != 1 || st.BadBatches != 1 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	if st, ok := d.Status("g"); !ok || st.Leader != 1 {
		t.Fatalf("group after bad input: %+v", st)
	}
}

// A follower that was away while the leader compacted its log is sent a
// snapshot: saved, handed to the state machine (ApplySnapshot), and the
// entries after it follow.
func TestSnapshotToLaggingFollower(t *testing.T) {
	checkNoLeak(t)
	c := newCluster(t, 3, 8)
	c.tick = 20 * time.Millisecond
	for _, id := range ids(3) {
		c.start(id)
		c.addGroup(id, "g", ids(3))
	}
	want := seqData("a", 20)
	c.proposeFromLeader("g", want)
	c.waitApplied("g", ids(3), want)
	lead := c.leader("g")
	away := lead%3 + 1
	c.drivers[away].Stop()
	more := seqData("b", 50)
	c.proposeFromLeader("g", more)
	var up []uint64
	for _, id := range ids(3) {
		if id != away {
			up = append(up, id)
		}
	}
	want = append(want, more...)
	c.waitApplied("g", up, want)
	// The state machines made everything durable on their own: the
	// journals drop it, and a snapshot says what the state is.
	for _, id := range up {
		idx := c.sms[id]["g"].lastIndex()
		if err := c.journals[id].Compact("g", idx, fmt.Appendf(nil, "state@%d", idx)); err != nil {
			t.Fatal(err)
		}
	}
	// Restarted with a state machine that kept nothing (applied 0): its
	// own log is handed again, then the snapshot, then what follows.
	old := c.sms[away]["g"].data()
	c.start(away)
	sm := newTestSM(away, "g", c.chk)
	c.sms[away]["g"] = sm
	if err := c.drivers[away].AddGroup("g", nil, 0, sm); err != nil {
		t.Fatal(err)
	}
	final := seqData("c", 10)
	c.proposeFromLeader("g", final)
	testutil.Eventually(t, 15*time.Second, func() error {
		sm.mu.Lock()
		snaps := slices.Clone(sm.snaps)
		sm.mu.Unlock()
		if len(snaps) != 1 || !strings.HasPrefix(snaps[0], "state@") {
			return fmt.Errorf("snapshots applied: %q", snaps)
		}
		// final in the order the group committed it.
		ref := c.sms[up[0]]["g"].data()
		committed := ref[max(0, len(ref)-len(final)):]
		if got := sm.data(); !slices.Equal(got, append(slices.Clone(old), committed...)) {
			return fmt.Errorf("after the snapshot applied %d entries: %q", len(got), got)
		}
		return nil
	})
	c.chk.check(t)
}

// What one round sends to one server is split into batches of at most
// maxBatchBytes (unless one frame alone is larger).
func TestBatchesSplitAtMaxSize(t *testing.T) {
	checkNoLeak(t)
	c := newCluster(t, 3, 9)
	c.tick = 20 * time.Millisecond
	var mu sync.Mutex
	var over []int
	var big int
	c.net.mu.Lock()
	c.net.onSend = func(_, _ uint64, batch []byte) {
		frames := 0
		_ = DecodeBatch(batch, func(string, *raftpb.Message) { frames++ })
		mu.Lock()
		defer mu.Unlock()
		if len(batch) > maxBatchBytes/2 {
			big++
		}
		if len(batch) > maxBatchBytes && frames > 1 {
			over = append(over, len(batch))
		}
	}
	c.net.mu.Unlock()
	for _, id := range ids(3) {
		c.start(id)
		c.addGroup(id, "g", ids(3))
	}
	var want []string
	for i := 0; i < 40; i++ {
		want = append(want, fmt.Sprintf("%d-%s", i, strings.Repeat("x", 100<<10)))
	}
	c.proposeFromLeader("g", want)
	c.waitApplied("g", ids(3), want)
	mu.Lock()
	defer mu.Unlock()
	if len(over) > 0 {
		t.Fatalf("batches over %d bytes: %v", maxBatchBytes, over)
	}
	if big == 0 {
		t.Fatal("no batch came near the limit: nothing was checked")
	}
}

// restartedSM is a state machine that kept what prev applied up to index
// upTo (prev's entries start at index 1).
func restartedSM(prev *testSM, upTo uint64) *testSM {
	sm := newTestSM(prev.id, prev.group, prev.chk)
	for _, rec := range prev.snapshot() {
		f := strings.SplitN(rec, "/", 4)
		var idx uint64
		fmt.Sscan(f[0], &idx)
		if idx > upTo {
			break
		}
		sm.entries = append(sm.entries, rec)
		sm.last = idx
		if f[2] == "0" && f[3] != "" {
			sm.datas[f[3]] = true
			if !strings.HasPrefix(f[3], "barrier-") {
				sm.ordered = append(sm.ordered, f[3])
			}
		}
	}
	return sm
}

// A server restarted after it recorded a joint configuration change but
// before its state machine applied it: the change is handed again and
// must be applied once more to the membership before it, not entered
// twice (which raft refuses with a panic).
func TestRestartReplaysJointChange(t *testing.T) {
	checkNoLeak(t)
	c := newCluster(t, 3, 10)
	c.tick = 20 * time.Millisecond
	for _, id := range ids(3) {
		c.start(id)
		c.addGroup(id, "g", ids(3))
	}
	want := seqData("a", 10)
	c.proposeFromLeader("g", want)
	c.waitApplied("g", ids(3), want)
	enter := &raftpb.ConfChangeV2{
		Transition: raftpb.ConfChangeTransition_ConfChangeTransitionJointExplicit.Enum(),
		Changes: []*raftpb.ConfChangeSingle{{
			Type: raftpb.ConfChangeType_ConfChangeAddLearnerNode.Enum(), NodeId: proto.Uint64(4)}},
	}
	lead := c.leader("g")
	if err := c.drivers[lead].ProposeConfChange("g", enter); err != nil {
		t.Fatal(err)
	}
	follower := lead%3 + 1
	var idx uint64
	testutil.Eventually(t, 15*time.Second, func() error {
		for _, rec := range c.sms[follower]["g"].snapshot() {
			if f := strings.SplitN(rec, "/", 4); f[2] == "2" {
				fmt.Sscan(f[0], &idx)
				return nil
			}
		}
		return errors.New("joint change not applied on the follower")
	})
	c.drivers[follower].Stop()
	sm := restartedSM(c.sms[follower]["g"], idx-1)
	c.start(follower)
	c.sms[follower]["g"] = sm
	if err := c.drivers[follower].AddGroup("g", nil, idx-1, sm); err != nil {
		t.Fatal(err)
	}
	// Leave the joint configuration, and go on committing.
	testutil.Eventually(t, 15*time.Second, func() error {
		return c.drivers[c.leader("g")].ProposeConfChange("g", &raftpb.ConfChangeV2{})
	})
	more := seqData("b", 10)
	c.proposeFromLeader("g", more)
	want = append(want, more...)
	c.waitApplied("g", ids(3), want)
	testutil.Eventually(t, 15*time.Second, func() error {
		st, _ := c.drivers[follower].Status("g")
		if !slices.Equal(st.Voters, ids(3)) || !slices.Equal(st.Learners, []uint64{4}) {
			return fmt.Errorf("restarted server's membership: voters %v learners %v", st.Voters, st.Learners)
		}
		return nil
	})
	c.chk.check(t)
}
