package jsclustertest_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/jsclustertest"
)

// A minority partition (the leader of a stream replicated on every node,
// with one more node in a cluster of five) refuses writes: publishes through it are never
// acknowledged. The majority elects a leader and goes on. After healing,
// every replica catches up and every acknowledged message reads back.
// natsd only: nats-server has no route-drop hook
// (TestPartitionUnsupportedOnNatsServer).
func TestMinorityPartitionRefusesWrites(t *testing.T) {
	t.Parallel()
	for _, n := range []int{3, 5} {
		t.Run(fmt.Sprintf("natsd-%d", n), func(t *testing.T) {
			t.Parallel()
			c := jsclustertest.Start(t, jsclustertest.Natsd, n, jsclustertest.Options{})
			js := c.JetStream(0)
			// Replicated on every node, so that the cluster's minority is
			// also the stream's (an R3 stream on five nodes may have two
			// replicas in a minority of two, which then rightly commits).
			addStream(t, js, "MP", n)
			leader := c.WaitStreamLeader("MP", 10*time.Second)
			var log jsclustertest.AckLog
			publishN(t, js, &log, "MP.before", 20, 5*time.Second)

			minority := []int{leader}
			var majority []int
			for i := range c.N() {
				if i != leader {
					if len(minority) < (n-1)/2 {
						minority = append(minority, i)
					} else {
						majority = append(majority, i)
					}
				}
			}
			if err := c.Partition(minority, majority); err != nil {
				t.Fatal(err)
			}
			want := make([]int, n)
			for _, i := range minority {
				want[i] = len(minority) - 1
			}
			for _, i := range majority {
				want[i] = len(majority) - 1
			}
			c.WaitRouteCounts(10*time.Second, want)
			t.Logf("partitioned: minority %v (with the old leader %s), majority %v", minority, c.Name(leader), majority)

			// The minority acknowledges nothing.
			jsMin, err := jetstream.New(c.ConnectOnly(leader))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 5 {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				ack, err := jsMin.Publish(ctx, "MP.minority", fmt.Appendf(nil, "minority-%d", i))
				cancel()
				if err == nil {
					t.Fatalf("the minority (%s) acknowledged a publish: seq %d", c.Name(leader), ack.Sequence)
				}
				t.Logf("minority publish %d: %v", i, err)
			}

			// The majority goes on: the first publish may wait for its
			// election.
			jsMaj, err := jetstream.New(c.ConnectOnly(majority[0]))
			if err != nil {
				t.Fatal(err)
			}
			publishN(t, jsMaj, &log, "MP.first", 1, 15*time.Second)
			publishN(t, jsMaj, &log, "MP.majority", 50, 5*time.Second)

			if err := c.Heal(); err != nil {
				t.Fatal(err)
			}
			c.WaitRoutes(15 * time.Second)
			c.WaitCaughtUp("MP", log.LastSeq("MP"), 30*time.Second)
			log.Verify(t, jsMaj)
		})
	}
}

// nats-server has no route-drop hook: Partition and Heal say so with
// ErrPartitionUnsupported instead of doing nothing.
func TestPartitionUnsupportedOnNatsServer(t *testing.T) {
	t.Parallel()
	c := jsclustertest.Start(t, jsclustertest.NatsServer, 3, jsclustertest.Options{CoreOnly: true})
	if err := c.Partition([]int{0}, []int{1, 2}); !errors.Is(err, jsclustertest.ErrPartitionUnsupported) {
		t.Errorf("Partition on nats-server: %v, want ErrPartitionUnsupported", err)
	}
	if err := c.Heal(); !errors.Is(err, jsclustertest.ErrPartitionUnsupported) {
		t.Errorf("Heal on nats-server: %v, want ErrPartitionUnsupported", err)
	}
}

// The harness's partitions work on natsd today, on a core NATS cluster
// (natsd serves no clustered JetStream yet): the routes between the groups
// close and stay closed, messages do not cross, and Heal brings the full
// mesh back. Bad groupings are errors.
func TestPartitionCoreNatsd(t *testing.T) {
	t.Parallel()
	c := jsclustertest.Start(t, jsclustertest.Natsd, 3, jsclustertest.Options{CoreOnly: true})
	for _, bad := range [][][]int{{{0, 1}}, {{0, 1}, {1, 2}}, {{0, 1, 2, 3}}} {
		if err := c.Partition(bad...); err == nil {
			t.Errorf("Partition(%v) was accepted", bad)
		}
	}
	sub := subscribe(t, c.ConnectOnly(2), "p.x")
	pub := c.ConnectOnly(0)
	crosses(t, pub, "p.x", sub)

	if err := c.Partition([]int{0, 1}, []int{2}); err != nil {
		t.Fatal(err)
	}
	c.WaitRouteCounts(10*time.Second, []int{1, 1, 0})
	// Sent after the cut, and flushed: n1 has no route to forward it on.
	if err := pub.Publish("p.x", []byte("cut")); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	if m, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		t.Errorf("n3 received %q across the partition", m.Data)
	}
	if err := c.Heal(); err != nil {
		t.Fatal(err)
	}
	c.WaitRoutes(15 * time.Second)
	crosses(t, pub, "p.x", sub)
}

func subscribe(t *testing.T, nc *nats.Conn, subject string) *nats.Subscription {
	t.Helper()
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return sub
}

// crosses publishes probes until sub receives one (interest reaches the
// other servers asynchronously), then drains the probes.
func crosses(t *testing.T, nc *nats.Conn, subject string, sub *nats.Subscription) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := nc.Publish(subject, []byte("probe")); err != nil {
			t.Fatal(err)
		}
		if _, err := sub.NextMsg(100 * time.Millisecond); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no probe on %s within 10s", subject)
		}
	}
	for {
		if _, err := sub.NextMsg(50 * time.Millisecond); err != nil {
			return
		}
	}
}
