package jsclustertest_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/jsclustertest"
)

// Failover bound: issue 18 asks natsd for a new stream leader within 5 s
// of the old one's kill -9. nats-server is held only to electing one at
// all within failoverBoundReference; its time is logged for comparison.
const (
	failoverBoundNatsd     = 5 * time.Second
	failoverBoundReference = 20 * time.Second
)

// An R3 stream keeps acknowledging writes with a follower killed (kill -9);
// restarted on the same store, the follower catches up: its own replica
// (its /jsz) ends at the last acknowledged sequence. Every acknowledged
// message reads back.
func TestFollowerKilledWritesContinue(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind jsclustertest.Kind) {
		c := jsclustertest.Start(t, kind, 3, jsclustertest.Options{})
		js := c.JetStream(0)
		addStream(t, js, "FK", 3)
		leader := c.WaitStreamLeader("FK", 10*time.Second)
		var log jsclustertest.AckLog
		publishN(t, js, &log, "FK.a", 50, 5*time.Second)

		victim := (leader + 1) % c.N()
		client := 3 - leader - victim // the third node: its connection stays up
		js = c.JetStream(client)
		c.Kill9(victim)
		t.Logf("killed follower %s (leader %s)", c.Name(victim), c.Name(leader))
		publishN(t, js, &log, "FK.b", 100, 5*time.Second)

		c.Restart(victim)
		c.WaitCaughtUp("FK", log.LastSeq("FK"), 30*time.Second)
		publishN(t, js, &log, "FK.c", 20, 5*time.Second)
		c.WaitCaughtUp("FK", log.LastSeq("FK"), 30*time.Second)
		log.VerifyEachReplica(t, c, "FK")
	})
}

// kill -9 of the leader of a stream replicated on every node (R3 on three,
// R5 on five) while a client publishes (connected to another node): a new
// leader is elected and acknowledges a publish started after the kill
// within the bound; the time from the kill to that ack is logged. The
// killed node restarts and catches up; every acknowledged message reads
// back with each replica leading.
func TestLeaderKilledFailover(t *testing.T) {
	t.Parallel()
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("%d-nodes", n), func(t *testing.T) {
			t.Parallel()
			leaderKilled(t, n)
		})
	}
}

func leaderKilled(t *testing.T, n int) {
	forEachKind(t, func(t *testing.T, kind jsclustertest.Kind) {
		c := jsclustertest.Start(t, kind, n, jsclustertest.Options{})
		js := c.JetStream(0)
		addStream(t, js, "LK", n)
		leader := c.WaitStreamLeader("LK", 10*time.Second)
		var log jsclustertest.AckLog
		p := startPublisher(t, c.JetStream((leader+1)%c.N()), &log, "LK.x")
		p.waitAcks(t, 100, 10*time.Second)

		killed := time.Now()
		c.Kill9(leader)
		p.setMark(killed)
		bound := failoverBoundReference
		if kind == jsclustertest.Natsd {
			bound = failoverBoundNatsd
		}
		deadline := killed.Add(bound + 5*time.Second)
		for p.firstAckAfter().IsZero() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		first := p.firstAckAfter()
		if first.IsZero() {
			t.Fatalf("%s: no publish acknowledged within %v of killing the leader %s", kind, bound+5*time.Second, c.Name(leader))
		}
		failover := first.Sub(killed)
		t.Logf("%s: leader %s killed; first ack of a later publish after %v", kind, c.Name(leader), failover.Round(time.Millisecond))
		if failover > bound {
			t.Errorf("%s: failover took %v, more than %v", kind, failover, bound)
		}
		p.waitAcks(t, 50, 10*time.Second)
		p.stop()
		if nl := c.WaitStreamLeader("LK", 10*time.Second); nl == leader {
			t.Errorf("the killed node %s is still named leader", c.Name(leader))
		}
		t.Logf("%d acks, %d publish errors", p.acks.Load(), p.errs.Load())
		c.Restart(leader)
		c.WaitCaughtUp("LK", log.LastSeq("LK"), 30*time.Second)
		log.VerifyEachReplica(t, c, "LK")
	})
}

// A node (the stream's leader: the hardest case) SIGSTOPped for 15 s while
// a client on another node writes: writes go on, and after SIGCONT the node
// rejoins and its own replica catches up. Every acknowledged message reads
// back.
func TestStoppedNodeRejoins(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind jsclustertest.Kind) {
		c := jsclustertest.Start(t, kind, 3, jsclustertest.Options{})
		js := c.JetStream(0)
		addStream(t, js, "ST", 3)
		victim := c.WaitStreamLeader("ST", 10*time.Second)
		var log jsclustertest.AckLog
		other := (victim + 1) % c.N()
		p := startPublisher(t, c.JetStream(other), &log, "ST.x")
		p.waitAcks(t, 50, 10*time.Second)

		c.Stop(victim)
		stoppedAt := time.Now()
		t.Logf("SIGSTOP %s (the stream leader)", c.Name(victim))
		p.waitAcks(t, 100, 14*time.Second) // writes go on without it
		// The fault lasts 15 s, whatever the writes do.
		time.Sleep(time.Until(stoppedAt.Add(15 * time.Second)))
		c.Cont(victim)
		t.Logf("SIGCONT %s; %d acks so far, %d publish errors", c.Name(victim), p.acks.Load(), p.errs.Load())
		p.waitAcks(t, 50, 10*time.Second)
		p.stop()
		c.WaitCaughtUp("ST", log.LastSeq("ST"), 30*time.Second)
		log.VerifyEachReplica(t, c, "ST")
	})
}
