package jsclustertest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/jsclustertest"
)

// kvReads is how the linearizability workload reads from kind. natsd
// serves direct gets at the stream's leader only
// (docs/clustered-jetstream.md), so nats.go's own kv.Get must be
// linearizable there. nats-server v2.15.2 answers a direct get from any
// replica, and these tests found its kv.Get not linearizable: under the
// leader kill a client's get right after its own acknowledged put
// (@332) returned the value before it (@328); under the SIGSTOP, gets
// queued at the paused ex-leader were answered when it resumed with
// values ~8 s and 60 revisions old. Against nats-server the workload
// therefore reads through the leader ($JS.API.STREAM.MSG.GET), which
// passes most runs but not all (checkKV reports nats-server's verdict
// instead of requiring it).
func kvReads(kind jsclustertest.Kind) jsclustertest.ReadMode {
	if kind == jsclustertest.NatsServer {
		return jsclustertest.ReadLeader
	}
	return jsclustertest.ReadDirect
}

// checkKV requires natsd's history to be linearizable. nats-server's is
// checked and reported, not required: the reference itself is not
// linearizable under these faults even with leader reads (CI saw its
// history under the SIGSTOP case fail once, 2026-12-06), and natsd's
// tests must not fail on the reference's behaviour.
func checkKV(t *testing.T, kind jsclustertest.Kind, h jsclustertest.KVHistory) {
	t.Helper()
	if kind == jsclustertest.NatsServer {
		if jsclustertest.ReportKV(t, h) {
			return
		}
		t.Logf("nats-server v2.15.2's history above is not linearizable: reported, not required")
		return
	}
	jsclustertest.CheckKV(t, h)
}

// addBucket creates an R3 KV bucket (file storage) through js.
func addBucket(t *testing.T, js jetstream.JetStream, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.CreateKeyValue(actx, jetstream.KeyValueConfig{Bucket: name, Replicas: 3, Storage: jetstream.FileStorage})
		acancel()
		if err == nil {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("creating bucket %s: %v", name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitOps waits until the workload has n more operations of known outcome.
func waitOps(t *testing.T, run *jsclustertest.KVRun, n int, timeout time.Duration) {
	t.Helper()
	want := run.Known() + n
	deadline := time.Now().Add(timeout)
	for run.Known() < want {
		if time.Now().After(deadline) {
			t.Fatalf("the KV workload completed %d operations, want %d within %v", run.Known(), want, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Concurrent KV clients on every node put, get and compare-and-set three
// keys while the bucket's stream leader is killed (kill -9) and restarted:
// the history is linearizable.
func TestKVLinearizableLeaderKill(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind jsclustertest.Kind) {
		c := jsclustertest.Start(t, kind, 3, jsclustertest.Options{})
		addBucket(t, c.JetStream(0), "lin")
		run := jsclustertest.StartKV(t, c, jsclustertest.KVWorkload{Bucket: "lin", Reads: kvReads(kind)})
		waitOps(t, run, 300, 15*time.Second)
		leader := c.WaitStreamLeader("KV_lin", 10*time.Second)
		c.Kill9(leader)
		t.Logf("killed %s, the bucket's leader", c.Name(leader))
		waitOps(t, run, 300, 20*time.Second)
		c.Restart(leader)
		waitOps(t, run, 300, 15*time.Second)
		checkKV(t, kind, run.Stop())
	})
}

// The same workload while the bucket's stream leader is SIGSTOPped for
// 15 s and continued: the history is linearizable.
func TestKVLinearizableStoppedLeader(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind jsclustertest.Kind) {
		c := jsclustertest.Start(t, kind, 3, jsclustertest.Options{})
		addBucket(t, c.JetStream(0), "lin")
		run := jsclustertest.StartKV(t, c, jsclustertest.KVWorkload{Bucket: "lin", Reads: kvReads(kind)})
		waitOps(t, run, 300, 15*time.Second)
		leader := c.WaitStreamLeader("KV_lin", 10*time.Second)
		c.Stop(leader)
		stoppedAt := time.Now()
		before := run.Known()
		t.Logf("SIGSTOP %s, the bucket's leader", c.Name(leader))
		waitOps(t, run, 50, 14*time.Second) // the others elect a leader and go on
		time.Sleep(time.Until(stoppedAt.Add(15 * time.Second)))
		t.Logf("SIGCONT %s: %d operations completed while it was stopped", c.Name(leader), run.Known()-before)
		c.Cont(leader)
		waitOps(t, run, 300, 15*time.Second)
		checkKV(t, kind, run.Stop())
	})
}

// The same workload while the bucket's leader is cut off in a minority
// (its clients keep asking it, and time out) and the partition heals; then
// a follower's journal is found damaged on restart: the history is
// linearizable. natsd only: the partition uses its route-drop hook.
func TestKVLinearizablePartitionedLeader(t *testing.T) {
	t.Parallel()
	c := jsclustertest.Start(t, jsclustertest.Natsd, 3, jsclustertest.Options{})
	addBucket(t, c.JetStream(0), "lin")
	run := jsclustertest.StartKV(t, c, jsclustertest.KVWorkload{Bucket: "lin", Reads: jsclustertest.ReadDirect})
	waitOps(t, run, 300, 15*time.Second)
	leader := c.WaitStreamLeader("KV_lin", 10*time.Second)
	var others []int
	for i := range c.N() {
		if i != leader {
			others = append(others, i)
		}
	}
	if err := c.Partition([]int{leader}, others); err != nil {
		t.Fatal(err)
	}
	t.Logf("cut off %s, the bucket's leader", c.Name(leader))
	waitOps(t, run, 200, 20*time.Second) // the majority elects and goes on
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	waitOps(t, run, 200, 20*time.Second)
	// A follower restarted with the end of its journal cut off.
	f := others[0]
	if l, err := c.StreamLeader("KV_lin"); err == nil && l == f {
		f = others[1]
	}
	seg, size := newestSegment(t, c.StoreDir(f))
	waitOps(t, run, 100, 15*time.Second)
	c.Terminate(f)
	if err := os.Truncate(seg, size); err != nil {
		t.Fatal(err)
	}
	c.Restart(f)
	waitOps(t, run, 300, 20*time.Second)
	jsclustertest.CheckKV(t, run.Stop())
}
