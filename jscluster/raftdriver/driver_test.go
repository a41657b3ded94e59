package raftdriver

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/natsd/natsd/internal/testutil"
	"github.com/natsd/natsd/jetstream/journal"
)

// proposeFromLeader has every data committed in group, each once,
// through whoever leads it. A proposal the driver queued can still be
// dropped (leadership lost or being transferred when the driver takes
// it), so after proposing, a barrier (a unique entry) is proposed to the
// same leader: once some server S applied the barrier, every earlier
// proposal is applied on S or never will be (if it had committed, its
// index would be below the barrier's), and only those are proposed
// again. A barrier that does not commit (the leader changed) is followed
// by another before anything is proposed again.
func (c *cluster) proposeFromLeader(group string, datas []string) {
	c.t.Helper()
	c.settle(group, datas, false)
}

// settle is proposeFromLeader for datas that were proposed already
// (proposed true) or not.
func (c *cluster) settle(group string, datas []string, proposed bool) {
	c.t.Helper()
	pending := datas
	if proposed {
		pending = nil
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if time.Now().After(deadline) {
			c.t.Fatalf("group %s: proposals not committed within 30s", group)
		}
		lead := c.leader(group)
		d := c.drivers[lead]
		ok := true
		for _, data := range pending {
			if err := d.Propose(group, []byte(data)); err != nil {
				ok = false
				break
			}
		}
		c.barriers++
		barrier := fmt.Sprintf("barrier-%d", c.barriers)
		if !ok || d.Propose(group, []byte(barrier)) != nil {
			// What was taken before the refusal may be in the log (a
			// leader sends its entries before its own save, which may
			// then fail): find out with a barrier before proposing any
			// again (CI saw them applied twice).
			pending = nil
			continue
		}
		var at *testSM
		end := time.Now().Add(3 * time.Second)
		for at == nil && time.Now().Before(end) {
			for _, sms := range c.sms {
				if sm := sms[group]; sm != nil && sm.has(barrier) {
					at = sm
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
		if at == nil {
			// Unresolved: propose nothing again until a barrier commits.
			pending = nil
			continue
		}
		pending = pending[:0:0]
		for _, data := range datas {
			if !at.has(data) {
				pending = append(pending, data)
			}
		}
		if len(pending) == 0 {
			return
		}
		c.retried[group] += len(pending)
	}
}

// waitApplied waits until each of servers applied exactly want (data of
// normal entries, barriers aside), each once, all in the same order: the
// order proposed unless some had to be proposed again.
func (c *cluster) waitApplied(group string, servers []uint64, want []string) {
	c.t.Helper()
	sorted := slices.Sorted(slices.Values(want))
	testutil.Eventually(c.t, 20*time.Second, func() error {
		ref := c.sms[servers[0]][group].data()
		for _, id := range servers {
			got := c.sms[id][group].data()
			if !slices.Equal(slices.Sorted(slices.Values(got)), sorted) {
				seen, dups := map[string]bool{}, []string{}
				for _, g := range got {
					if seen[g] {
						dups = append(dups, g)
					}
					seen[g] = true
				}
				return fmt.Errorf("server %d applied %d of %d, twice: %v, proposed again: %d (stats %+v)", id, len(got), len(want), dups, c.retried[group], c.drivers[id].Stats())
			}
			if !slices.Equal(got, ref) {
				c.t.Fatalf("group %s: servers %d and %d applied in different orders", group, servers[0], id)
			}
		}
		if c.retried[group] == 0 && !slices.Equal(ref, want) {
			c.t.Fatalf("group %s: applied in another order than proposed", group)
		}
		return nil
	})
}

func seqData(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// One group on three servers: a leader is elected, and what it is handed
// is applied on every server in the order proposed.
func TestOneGroupAppliesInOrderEverywhere(t *testing.T) {
	checkNoLeak(t)
	c := newCluster(t, 3, 1)
	c.tick = 20 * time.Millisecond
	for _, id := range ids(3) {
		c.start(id)
		c.addGroup(id, "g", ids(3))
	}
	// Campaign makes server 1 stand at once instead of waiting for an
	// election timeout.
	if err := c.drivers[1].Campaign("g"); err != nil {
		t.Fatal(err)
	}
	want := seqData("p", 1000)
	c.proposeFromLeader("g", want)
	c.waitApplied("g", ids(3), want)
	// Every server applied the same entries (conf changes and the
	// leaders' empty entries included), not only the same data.
	ref := c.sms[1]["g"].snapshot()
	for _, id := range ids(3)[1:] {
		if got := c.sms[id]["g"].snapshot(); !slices.Equal(got[:min(len(got), len(ref))], ref[:min(len(got), len(ref))]) {
			t.Fatalf("server %d applied differently from server 1", id)
		}
	}
	c.chk.check(t)
}

// Fifty groups on three servers: all elect leaders and commit, and each
// round makes all its groups durable with one Save.
func TestManyGroupsOneSavePerRound(t *testing.T) {
	checkNoLeak(t)
	c := newCluster(t, 3, 2)
	c.tick = 20 * time.Millisecond
	c.wrapLog = func(_ uint64, j *journal.Journal) Log { return newWatchedLog(j) }
	const groups = 50
	// Groups added before Start: the first round bootstraps all fifty
	// with one Save.
	for _, id := range ids(3) {
		c.startStopped(id)
		for i := 0; i < groups; i++ {
			c.addGroup(id, fmt.Sprintf("g%02d", i), ids(3))
		}
	}
	for _, id := range ids(3) {
		c.drivers[id].Start()
	}
	leaders := map[string]uint64{}
	for i := 0; i < groups; i++ {
		g := fmt.Sprintf("g%02d", i)
		leaders[g] = c.leader(g)
	}
	// A proposal to every group at once, from the leaders, without
	// waiting in between: the rounds that persist them hold many groups.
	for r := 0; r < 5; r++ {
		for i := 0; i < groups; i++ {
			g := fmt.Sprintf("g%02d", i)
			// An error (leadership moved) is made good by settle.
			_ = c.drivers[leaders[g]].Propose(g, fmt.Appendf(nil, "%s-%d", g, r))
		}
	}
	for i := 0; i < groups; i++ {
		g := fmt.Sprintf("g%02d", i)
		c.settle(g, seqData(g, 5), true)
	}
	for i := 0; i < groups; i++ {
		g := fmt.Sprintf("g%02d", i)
		c.waitApplied(g, ids(3), seqData(g, 5))
	}
	for _, id := range ids(3) {
		w := c.logs[id].(*watchedLog)
		saves, maxGroups, multi, dup := w.stats()
		st := c.drivers[id].Stats()
		t.Logf("server %d: %d saves in %d rounds, at most %d groups in one", id, saves, st.Rounds, maxGroups)
		if multi {
			t.Errorf("server %d: a round called Save more than once", id)
		}
		if dup {
			t.Errorf("server %d: a Save held one group twice", id)
		}
		if uint64(saves) > st.Rounds || uint64(saves) != st.Saves {
			t.Errorf("server %d: %d saves, driver counted %d in %d rounds", id, saves, st.Saves, st.Rounds)
		}
		if maxGroups < 10 {
			t.Errorf("server %d: no Save held more than %d groups: rounds are not shared", id, maxGroups)
		}
	}
	c.chk.check(t)
}

// Nothing a server sends runs ahead of what it saved: a vote, a term, an
// acknowledged or sent append, checked against the journal's durable
// state at the moment of each Send.
func TestPersistBeforeSend(t *testing.T) {
	checkNoLeak(t)
	c := newCluster(t, 3, 3)
	watched := map[uint64]*watchedLog{}
	c.wrapLog = func(id uint64, j *journal.Journal) Log {
		w := newWatchedLog(j)
		watched[id] = w
		return w
	}
	c.net.mu.Lock()
	c.net.onSend = func(from, to uint64, batch []byte) {
		w := watched[from]
		err := DecodeBatch(batch, func(group string, m *raftpb.Message) {
			if err := w.checkSent(group, m); err != nil {
				c.chk.failf("server %d: %v", from, err)
			}
		})
		if err != nil {
			c.chk.failf("server %d sent a bad batch: %v", from, err)
		}
	}
	c.net.mu.Unlock()
	groups := []string{"a", "b", "c", "d", "e"}
	for _, id := range ids(3) {
		c.start(id)
	}
	for _, id := range ids(3) {
		for _, g := range groups {
			c.addGroup(id, g, ids(3))
		}
	}
	// Elections again and again (votes are what this is about), with
	// appends in between.
	for r := 0; r < 6; r++ {
		for _, g := range groups {
			lead := c.leader(g)
			c.proposeFromLeader(g, []string{fmt.Sprintf("%s-%d", g, r)})
			// A transfer forces a real election (MsgTimeoutNow skips
			// the pre-vote): new terms, new votes.
			if err := c.drivers[lead].TransferLeader(g, lead%3+1); err != nil && !errors.Is(err, ErrNotLeader) {
				t.Fatal(err)
			}
		}
	}
	for _, g := range groups {
		c.proposeFromLeader(g, []string{g + "-last"})
	}
	for _, g := range groups {
		testutil.Eventually(t, 20*time.Second, func() error {
			for _, id := range ids(3) {
				d := c.sms[id][g].data()
				if len(d) == 0 || d[len(d)-1] != g+"-last" {
					return fmt.Errorf("server %d has not applied %s-last", id, g)
				}
			}
			return nil
		})
	}
	votes, apps, acks, lazy, early := 0, 0, 0, 0, 0
	for _, w := range watched {
		w.mu.Lock()
		bad := w.lazyBad
		w.mu.Unlock()
		if bad != "" {
			t.Errorf("a round written without an fsync held %s", bad)
		}
		lazy += w.lazyRounds()
		w.mu.Lock()
		early += w.early
		w.mu.Unlock()
		votes += w.checkedCount(raftpb.MessageType_MsgVoteResp)
		apps += w.checkedCount(raftpb.MessageType_MsgApp)
		acks += w.checkedCount(raftpb.MessageType_MsgAppResp)
	}
	t.Logf("checked %d vote responses, %d appends (%d ahead of the leader's fsync), %d append responses; %d rounds without an fsync", votes, apps, early, acks, lazy)
	if votes == 0 || apps == 0 || acks == 0 {
		t.Fatalf("nothing to check: %d votes, %d appends, %d acks", votes, apps, acks)
	}
	c.chk.check(t)
}

// A leader killed (its driver stopped) is replaced and the group keeps
// committing; the server restarted on its journal catches up.
func TestLeaderStopAndRestart(t *testing.T) {
	checkNoLeak(t)
	c := newCluster(t, 3, 4)
	c.tick = 20 * time.Millisecond
	for _, id := range ids(3) {
		c.start(id)
		c.addGroup(id, "g", ids(3))
	}
	want := seqData("a", 100)
	c.proposeFromLeader("g", want)
	c.waitApplied("g", ids(3), want)

	old := c.leader("g")
	c.drivers[old].Stop()
	if err := c.drivers[old].Propose("g", []byte("x")); !errors.Is(err, ErrStopped) {
		t.Fatalf("Propose after Stop: %v, want ErrStopped", err)
	}
	if _, ok := c.drivers[old].Status("g"); ok {
		t.Fatal("Status after Stop answered")
	}
	c.drivers[old].Stop() // again: idempotent
	var others []uint64
	for _, id := range ids(3) {
		if id != old {
			others = append(others, id)
		}
	}
	if lead := c.leader("g"); lead == old {
		t.Fatalf("stopped server %d still leads", old)
	}
	more := seqData("b", 100)
	c.proposeFromLeader("g", more)
	want = append(want, more...)
	c.waitApplied("g", others, want)

	// Restart on the same journal, with a state machine that kept what
	// the old one applied (as a stream's store does).
	prev := c.sms[old]["g"]
	c.start(old)
	sm := newTestSM(old, "g", c.chk)
	sm.entries = prev.snapshot()
	sm.ordered = prev.data()
	for _, d := range sm.ordered {
		sm.datas[d] = true
	}
	sm.last = prev.lastIndex()
	if err := c.drivers[old].AddGroup("g", []uint64{9, 8, 7}, sm.last, sm); err != nil {
		t.Fatal(err)
	}
	c.sms[old]["g"] = sm
	c.waitApplied("g", ids(3), want)
	st, _ := c.drivers[old].Status("g")
	if !slices.Equal(st.Voters, ids(3)) {
		t.Fatalf("restarted voters %v: the peers given on restart must be ignored", st.Voters)
	}
	if err := c.drivers[old].AddGroup("g", nil, 0, sm); !errors.Is(err, ErrGroupExists) {
		t.Fatalf("second AddGroup: %v, want ErrGroupExists", err)
	}
	c.chk.check(t)
}

// TransferLeader moves leadership; a fourth server joins as a voter and
// catches up; a server is removed and the others go on.
func TestTransferAndMembership(t *testing.T) {
	checkNoLeak(t)
	c := newCluster(t, 4, 5)
	c.tick = 20 * time.Millisecond
	for _, id := range ids(3) {
		c.start(id)
		c.addGroup(id, "g", ids(3))
	}
	lead := c.leader("g")
	target := lead%3 + 1
	if err := c.drivers[target].TransferLeader("g", 0); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("TransferLeader on a follower: %v, want ErrNotLeader", err)
	}
	if err := c.drivers[lead].TransferLeader("g", target); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, func() error {
		if st, _ := c.drivers[target].Status("g"); st.Leader != target {
			return fmt.Errorf("leader %d, want %d", st.Leader, target)
		}
		return nil
	})
	// to 0: the leader picks a caught-up voter itself.
	lead = target
	testutil.Eventually(t, 15*time.Second, func() error {
		return c.drivers[lead].TransferLeader("g", 0)
	})
	testutil.Eventually(t, 15*time.Second, func() error {
		if l := c.leader("g"); l == lead {
			return errors.New("leadership did not move")
		}
		return nil
	})

	want := seqData("a", 50)
	c.proposeFromLeader("g", want)

	c.start(4)
	c.addGroup(4, "g", nil)
	add := &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{{
		Type: raftpb.ConfChangeType_ConfChangeAddNode.Enum(), NodeId: proto.Uint64(4)}}}
	lead = c.leader("g")
	if err := c.drivers[lead].ProposeConfChange("g", add); err != nil {
		t.Fatal(err)
	}
	more := seqData("b", 50)
	c.proposeFromLeader("g", more)
	want = append(want, more...)
	c.waitApplied("g", ids(4), want)
	testutil.Eventually(t, 15*time.Second, func() error {
		st, _ := c.drivers[c.leader("g")].Status("g")
		if !slices.Equal(st.Voters, ids(4)) {
			return fmt.Errorf("voters %v", st.Voters)
		}
		if pr := st.Progress[4]; pr.Match < st.Commit || pr.LastSeen.IsZero() {
			return fmt.Errorf("server 4's progress %+v, commit %d", pr, st.Commit)
		}
		return nil
	})

	// Remove a follower.
	lead = c.leader("g")
	victim := uint64(1)
	if victim == lead {
		victim = 2
	}
	rm := &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{{
		Type: raftpb.ConfChangeType_ConfChangeRemoveNode.Enum(), NodeId: proto.Uint64(victim)}}}
	testutil.Eventually(t, 15*time.Second, func() error {
		return c.drivers[c.leader("g")].ProposeConfChange("g", rm)
	})
	var rest []uint64
	for _, id := range ids(4) {
		if id != victim {
			rest = append(rest, id)
		}
	}
	testutil.Eventually(t, 15*time.Second, func() error {
		st, _ := c.drivers[c.leader("g")].Status("g")
		if !slices.Equal(st.Voters, rest) {
			return fmt.Errorf("voters %v, want %v", st.Voters, rest)
		}
		return nil
	})
	last := seqData("c", 20)
	c.proposeFromLeader("g", last)
	want = append(want, last...)
	c.waitApplied("g", rest, want)
	if err := c.drivers[victim].RemoveGroup("g"); err != nil {
		t.Fatal(err)
	}
	if err := c.drivers[victim].RemoveGroup("g"); !errors.Is(err, ErrUnknownGroup) {
		t.Fatalf("second RemoveGroup: %v, want ErrUnknownGroup", err)
	}
	if got := c.drivers[victim].Groups(); len(got) != 0 {
		t.Fatalf("groups after RemoveGroup: %v", got)
	}
	c.chk.check(t)
}
