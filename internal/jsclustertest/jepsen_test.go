package jsclustertest_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/jsclustertest"
	"github.com/natsd/natsd/internal/testutil"
)

// The 2025 Jepsen finding against nats-server, on natsd: messages
// acknowledged by the leader L and one follower F only (the third, O, was
// cut off); F's journal then loses them (its newest file cut back, or a
// bit flipped in the first record written after the cut-off), L
// dies, O returns. If F voted on its damaged log, F and O would elect a
// leader without those messages and they would be gone. F must not vote
// until its log is whole: the group waits without a leader (unavailable,
// not wrong) until L is back, then every acknowledged message is there,
// on every replica. natsd only: the partition uses its route-drop hook.
func TestDamagedJournalNeverElectsALeaderWithoutAckedWrites(t *testing.T) {
	t.Parallel()
	for _, damage := range []string{"truncate", "bitflip"} {
		t.Run(damage, func(t *testing.T) {
			t.Parallel()
			damagedJournalCase(t, damage)
		})
	}
}

func damagedJournalCase(t *testing.T, damage string) {
	c := jsclustertest.Start(t, jsclustertest.Natsd, 3, jsclustertest.Options{})
	js := c.JetStream(0)
	addStream(t, js, "JP", 3)
	l := c.WaitStreamLeader("JP", 10*time.Second)
	var f, o int
	for i, first := 0, true; i < 3; i++ {
		if i == l {
			continue
		}
		if first {
			f, first = i, false
		} else {
			o = i
		}
	}
	var log jsclustertest.AckLog
	publishN(t, c.JetStream(l), &log, "JP.before", 20, 5*time.Second)
	c.WaitCaughtUp("JP", log.LastSeq("JP"), 10*time.Second)

	if err := c.Partition([]int{o}, []int{l, f}); err != nil {
		t.Fatal(err)
	}
	want := make([]int, 3)
	want[l], want[f], want[o] = 1, 1, 0
	c.WaitRouteCounts(10*time.Second, want)
	seg, size := newestSegment(t, c.StoreDir(f))
	publishN(t, c.JetStream(l), &log, "JP.during", 30, 5*time.Second)
	t.Logf("30 messages acknowledged by %s and %s while %s was cut off", c.Name(l), c.Name(f), c.Name(o))

	c.Terminate(f)
	switch damage {
	case "truncate":
		if err := os.Truncate(seg, size); err != nil {
			t.Fatal(err)
		}
	case "bitflip":
		// One bit in the first record written after the cut-off: the
		// journal keeps nothing of the group from there on.
		b, err := os.ReadFile(seg)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(b)) <= size+40 {
			t.Fatalf("the journal grew by %d bytes only", int64(len(b))-size)
		}
		b[size+32] ^= 0x04
		if err := os.WriteFile(seg, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.Kill9(l)
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	c.Restart(f)
	testutil.Eventually(t, 10*time.Second, func() error {
		if !strings.Contains(c.Log(f), "log is damaged") {
			return fmt.Errorf("%s does not say its log is damaged", c.Name(f))
		}
		return nil
	})
	// F and O together are a majority, but F does not vote: no leader.
	deadline := time.Now().Add(4 * time.Second)
	for time.Now().Before(deadline) {
		if i, err := c.StreamLeader("JP"); err == nil {
			t.Fatalf("%s leads JP without %s, whose log is damaged, having been brought back", c.Name(i), c.Name(f))
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.Restart(l)
	c.WaitStreamLeader("JP", 20*time.Second)
	publishN(t, c.JetStream(o), &log, "JP.after", 5, 10*time.Second)
	c.WaitCaughtUp("JP", log.LastSeq("JP"), 20*time.Second)
	log.VerifyEachReplica(t, c, "JP")
	if !strings.Contains(c.Log(f), "whole again") {
		t.Errorf("%s did not say its log was whole again", c.Name(f))
	}
}

// newestSegment is the newest file of a node's Raft journal and its size.
func newestSegment(t *testing.T, storeDir string) (string, int64) {
	t.Helper()
	segs, _ := filepath.Glob(filepath.Join(storeDir, "jetstream", "_raft", "journal", "*.seg"))
	if len(segs) == 0 {
		t.Fatalf("no journal segments under %s", storeDir)
	}
	sort.Strings(segs)
	st, err := os.Stat(segs[len(segs)-1])
	if err != nil {
		t.Fatal(err)
	}
	return segs[len(segs)-1], st.Size()
}

// The whole cluster killed at once (kill -9, as a power cut) while
// publishes go on, then started again: every acknowledged message is
// there. Against natsd and nats-server (with sync_interval: always).
func TestWholeClusterKilledAndRestarted(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind jsclustertest.Kind) {
		c := jsclustertest.Start(t, kind, 3, jsclustertest.Options{})
		js := c.JetStream(0)
		addStream(t, js, "WC", 3)
		c.WaitStreamLeader("WC", 10*time.Second)
		var log jsclustertest.AckLog
		p := startPublisher(t, js, &log, "WC.x")
		testutil.Eventually(t, 20*time.Second, func() error {
			if n := p.acks.Load(); n < 100 {
				return fmt.Errorf("%d acks", n)
			}
			return nil
		})
		for i := range c.N() {
			c.Kill9(i)
		}
		p.stop()
		t.Logf("all three killed with %d acknowledged", log.Len())
		for i := range c.N() {
			c.Restart(i)
		}
		c.WaitStreamLeader("WC", 30*time.Second)
		// A publish in flight at the kill may have committed without its
		// acknowledgement reaching the client: at least what was
		// acknowledged, the same on every replica.
		c.WaitCaughtUp("WC", log.LastSeq("WC"), 30*time.Second)
		log.VerifyEachReplica(t, c, "WC")
	})
}
