package jscluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A durable consumer of an R3 stream keeps its place through its leader's
// kill -9: every delivery and ack reached the other replicas through the
// stream's group, so the new leader continues where the old one was.
func TestConsumerSurvivesLeaderKill(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	_, js := connect(t, nodes[0])
	createStream(t, js, jetstream.StreamConfig{Name: "CS", Subjects: []string{"cs.>"}, Replicas: 3})
	publishN(t, js, "cs.x", 100)
	var cons jetstream.Consumer
	cons = createConsumer(t, js, "CS", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	got := 0
	for got < 50 {
		batch, err := cons.Fetch(50-got, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if err := m.DoubleAck(context.Background()); err != nil {
				t.Fatal(err)
			}
			got++
		}
	}
	var leader string
	eventually(t, 10*time.Second, "replicas current", func() error {
		var err error
		leader, _, err = streamPeers(js, "CS")
		return err
	})
	var survivor *node
	for _, nd := range nodes {
		if nd.name == leader {
			nd.proc.Kill()
		} else {
			survivor = nd
		}
	}
	_, js2 := connect(t, survivor)
	var info *jetstream.ConsumerInfo
	eventually(t, 10*time.Second, "consumer on the new leader", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := js2.Consumer(ctx, "CS", "D")
		if err != nil {
			return err
		}
		info, err = c.Info(ctx)
		if err == nil && info.Cluster != nil && info.Cluster.Leader == leader {
			err = fmt.Errorf("still led by the killed %s", leader)
		}
		cons = c
		return err
	})
	if info.AckFloor.Stream != 50 || info.Delivered.Stream != 50 || info.NumPending != 50 || info.NumAckPending != 0 {
		t.Fatalf("after the leader's kill: ack floor %d, delivered %d, pending %d, ack pending %d; want 50, 50, 50, 0",
			info.AckFloor.Stream, info.Delivered.Stream, info.NumPending, info.NumAckPending)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() {
		md, _ := m.Metadata()
		if md.Sequence.Stream != 51 {
			t.Fatalf("next delivery is stream sequence %d, want 51", md.Sequence.Stream)
		}
	}
}

// A work-queue stream with three replicas: what a consumer acknowledges
// goes from every replica (the leader decides, the group tells the
// others), and the queue keeps working through its leader's kill -9.
func TestWorkQueueReplicated(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	_, js := connect(t, nodes[0])
	createStream(t, js, jetstream.StreamConfig{Name: "WQ", Subjects: []string{"wq.>"}, Replicas: 3, Retention: jetstream.WorkQueuePolicy})
	work := func(js jetstream.JetStream, n int) {
		t.Helper()
		publishN(t, js, "wq.job", n)
		var cons jetstream.Consumer
		eventually(t, 10*time.Second, "consumer", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			var err error
			cons, err = js.CreateOrUpdateConsumer(ctx, "WQ", jetstream.ConsumerConfig{Durable: "W", AckPolicy: jetstream.AckExplicitPolicy})
			return err
		})
		for got := 0; got < n; {
			batch, err := cons.Fetch(n-got, jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				continue
			}
			for m := range batch.Messages() {
				if err := m.DoubleAck(context.Background()); err == nil {
					got++
				}
			}
		}
	}
	work(js, 20)
	for _, nd := range nodes {
		eventually(t, 10*time.Second, nd.name+" holds no acknowledged work", func() error {
			n, _, err := replicaMsgs(nd, "WQ")
			if err == nil && n != 0 {
				err = fmt.Errorf("%d messages", n)
			}
			return err
		})
	}
	var leader string
	eventually(t, 10*time.Second, "replicas current", func() error {
		var err error
		leader, _, err = streamPeers(js, "WQ")
		return err
	})
	var survivors []*node
	for _, nd := range nodes {
		if nd.name == leader {
			nd.proc.Kill()
		} else {
			survivors = append(survivors, nd)
		}
	}
	_, js2 := connect(t, survivors[0])
	work(js2, 10)
	for _, nd := range survivors {
		eventually(t, 10*time.Second, nd.name+" holds no acknowledged work after the failover", func() error {
			n, _, err := replicaMsgs(nd, "WQ")
			if err == nil && n != 0 {
				err = fmt.Errorf("%d messages", n)
			}
			return err
		})
	}
}

// A consumer's pause is part of its config: it holds on the replica that
// leads after a step-down (before, only the leader that took it knew).
func TestConsumerPauseSurvivesStepDown(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	_, js := connect(t, nodes[0])
	createStream(t, js, jetstream.StreamConfig{Name: "PS", Subjects: []string{"ps.>"}, Replicas: 3})
	createConsumer(t, js, "PS", jetstream.ConsumerConfig{Durable: "P", AckPolicy: jetstream.AckExplicitPolicy})
	until := time.Now().Add(time.Hour).UTC()
	eventually(t, 10*time.Second, "pause", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.PauseConsumer(ctx, "PS", "P", until)
		return err
	})
	lead, _ := leaderNode(t, nodes, js, "PS")
	leader := lead.name
	stepDownFrom(t, js, "PS", leader)
	eventually(t, 20*time.Second, "paused on the new leader", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, "PS", "P")
		if err != nil {
			return err
		}
		info := c.CachedInfo()
		if info.Cluster == nil || info.Cluster.Leader == leader {
			return fmt.Errorf("consumer info from %v", info.Cluster)
		}
		if !info.Paused || info.Config.PauseUntil == nil || !info.Config.PauseUntil.Equal(until.Truncate(time.Nanosecond)) {
			return backoffStop{fmt.Errorf("on %s: paused %v until %v, want until %v", info.Cluster.Leader, info.Paused, info.Config.PauseUntil, until)}
		}
		return nil
	})
}

// An ephemeral consumer of a replicated stream deleted for inactivity goes
// from every replica: before, only the leader dropped it, and the others
// kept it on disk (to bring it back when they came to lead).
func TestInactiveConsumerDeletedOnEveryReplica(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	_, js := connect(t, nodes[0])
	createStream(t, js, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in.>"}, Replicas: 3})
	var name string
	eventually(t, 10*time.Second, "create ephemeral", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := js.CreateConsumer(ctx, "IN", jetstream.ConsumerConfig{AckPolicy: jetstream.AckExplicitPolicy, InactiveThreshold: time.Second})
		if err == nil {
			name = c.CachedInfo().Name
		}
		return err
	})
	onDisk := func() []string {
		var where []string
		for _, nd := range nodes {
			m, _ := filepath.Glob(filepath.Join(nd.dir, "*", "*", "streams", "IN", "consumers", name+".json"))
			if len(m) > 0 {
				where = append(where, nd.name)
			}
		}
		return where
	}
	eventually(t, 10*time.Second, "the ephemeral on every replica", func() error {
		if w := onDisk(); len(w) != 3 {
			return fmt.Errorf("%s on %v only", name, w)
		}
		return nil
	})
	eventually(t, 20*time.Second, "the ephemeral gone from every replica", func() error {
		if w := onDisk(); len(w) != 0 {
			return fmt.Errorf("%s still on %v", name, w)
		}
		return nil
	})
}
