//go:build unix

package jscluster_test

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// An ack that asks for a reply (AckSync: nats.go's DoubleAck) is
// confirmed only once it is committed, as nats-server confirms it: with
// both followers of an R3 stream paused its leader cannot commit, and the
// ack goes unconfirmed; once they are back, the ack is confirmed (asked
// again) and survives the leader's kill -9.
func TestAckSyncConfirmedOnceCommitted(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	_, js := connect(t, nodes[0])
	createStream(t, js, jetstream.StreamConfig{Name: "AS", Subjects: []string{"as.>"}, Replicas: 3})
	publishN(t, js, "as.x", 3)
	lead, followers := leaderNode(t, nodes, js, "AS")
	_, ljs := connect(t, lead)
	var cons jetstream.Consumer
	cons = createConsumer(t, ljs, "AS", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []jetstream.Msg
	for m := range batch.Messages() {
		msgs = append(msgs, m)
	}
	if len(msgs) != 2 {
		t.Fatalf("fetched %d messages, want 2", len(msgs))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := msgs[0].DoubleAck(ctx); err != nil {
		t.Fatalf("ack of the first message with every replica up: %v", err)
	}

	for _, nd := range followers {
		nd.proc.Signal(syscall.SIGSTOP)
	}
	resume := func() {
		for _, nd := range followers {
			nd.proc.Signal(syscall.SIGCONT)
		}
	}
	t.Cleanup(resume)
	actx, acancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	defer acancel()
	if err := msgs[1].DoubleAck(actx); err == nil {
		t.Fatal("the second ack was confirmed while no follower could store it")
	}
	resume()
	eventually(t, 20*time.Second, "the second ack confirmed", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return msgs[1].DoubleAck(ctx)
	})

	// Both confirmed acks survive the leader that took them (if it still
	// leads; else whoever leads now).
	lead, _ = leaderNode(t, nodes, js, "AS")
	leader := lead.name
	var survivor *node
	for _, nd := range nodes {
		if nd == lead {
			nd.proc.Kill()
		} else {
			survivor = nd
		}
	}
	_, sjs := connect(t, survivor)
	eventually(t, 20*time.Second, "both acks on the new leader", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := sjs.Consumer(ctx, "AS", "D")
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster != nil && info.Cluster.Leader == leader {
			return fmt.Errorf("still led by the killed %s", leader)
		}
		if info.AckFloor.Stream != 2 {
			return backoffStop{fmt.Errorf("ack floor %d after the leader's kill, want 2", info.AckFloor.Stream)}
		}
		return nil
	})
}

// A consumer's create and delete are answered once committed, as
// nats-server answers them: with both followers of an R3 stream paused,
// neither is confirmed; once they are back, both are (asked again), and
// what was confirmed holds on the next leader.
func TestConsumerCreateDeleteConfirmedOnceCommitted(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	_, js := connect(t, nodes[0])
	createStream(t, js, jetstream.StreamConfig{Name: "CD", Subjects: []string{"cd.>"}, Replicas: 3})
	pause := func() (resume func()) {
		lead, followers := leaderNode(t, nodes, js, "CD")
		_, ljs := connect(t, lead)
		js = ljs
		for _, nd := range followers {
			nd.proc.Signal(syscall.SIGSTOP)
		}
		resume = func() {
			for _, nd := range followers {
				nd.proc.Signal(syscall.SIGCONT)
			}
		}
		t.Cleanup(resume)
		return resume
	}
	cfg := jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy}

	resume := pause()
	ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
	_, err := js.CreateOrUpdateConsumer(ctx, "CD", cfg)
	cancel()
	if err == nil {
		t.Fatal("a consumer create was confirmed while no follower could store it")
	}
	resume()
	_, js = connect(t, nodes[0])
	eventually(t, 20*time.Second, "the create confirmed", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateConsumer(ctx, "CD", cfg)
		return err
	})

	resume = pause()
	ctx, cancel = context.WithTimeout(context.Background(), 1500*time.Millisecond)
	err = js.DeleteConsumer(ctx, "CD", "D")
	cancel()
	if err == nil {
		t.Fatal("a consumer delete was confirmed while no follower could store it")
	}
	resume()
	_, js = connect(t, nodes[0])
	eventually(t, 20*time.Second, "the delete confirmed", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := js.DeleteConsumer(ctx, "CD", "D"); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return err
		}
		return nil
	})
	// Gone on whichever replica leads next.
	lead, _ := leaderNode(t, nodes, js, "CD")
	stepDownFrom(t, js, "CD", lead.name)
	eventually(t, 20*time.Second, "no consumer D", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.Consumer(ctx, "CD", "D")
		switch {
		case errors.Is(err, jetstream.ErrConsumerNotFound):
			return nil
		case err == nil:
			return backoffStop{errors.New("consumer D is back after its confirmed delete")}
		}
		return err
	})
}
