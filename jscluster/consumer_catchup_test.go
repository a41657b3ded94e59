package jscluster_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// A follower down while its group's log was compacted past it catches up
// from a snapshot (the leader's store): the stream's consumers and their
// state come with it, so that it can lead them, and a consumer deleted
// meanwhile goes. Before, the consumers' configs were in the compacted
// entries only, and the follower that then led had none ("consumer not
// found").
func TestConsumerStateAfterSnapshotCatchUp(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	nc, js := connect(t, nodes[0])
	createStream(t, js, jetstream.StreamConfig{Name: "CF", Subjects: []string{"cf.>"}, Replicas: 3})
	publish := func(n int) {
		publishN(t, js, "cf.x", n)
	}
	publish(20)
	var leader string
	eventually(t, 10*time.Second, "replicas current", func() error {
		var err error
		leader, _, err = streamPeers(js, "CF")
		return err
	})
	var follower *node
	for _, nd := range nodes {
		if nd.name != leader && nd != nodes[0] {
			follower = nd
		}
	}
	// Consumer E is known to every replica, then deleted while the
	// follower is down.
	eventually(t, 10*time.Second, "create consumer E", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateConsumer(ctx, "CF", jetstream.ConsumerConfig{Durable: "E", AckPolicy: jetstream.AckExplicitPolicy})
		return err
	})
	eventually(t, 10*time.Second, "replicas current", func() error {
		_, _, err := streamPeers(js, "CF")
		return err
	})
	follower.proc.Kill()
	eventually(t, 10*time.Second, "delete consumer E", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return js.DeleteConsumer(ctx, "CF", "E")
	})
	// The consumer is made, and acks, while the follower is down.
	var cons jetstream.Consumer
	cons = createConsumer(t, js, "CF", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	got := 0
	for got < 15 {
		batch, err := cons.Fetch(15-got, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := m.DoubleAck(ctx)
			cancel()
			if err != nil {
				t.Fatal(err)
			}
			got++
		}
	}
	// Then at least two flushes (every 2 s) on the others: the log is
	// compacted past the consumer's config and acks.
	deadline := time.Now().Add(6 * time.Second)
	for time.Now().Before(deadline) {
		publish(10)
		time.Sleep(200 * time.Millisecond)
	}
	follower.restart(t)
	eventually(t, 30*time.Second, "the follower caught up from a snapshot", func() error {
		if !strings.Contains(follower.proc.Log(), "catching up from the leader") {
			return fmt.Errorf("no snapshot catch-up in %s's log yet", follower.name)
		}
		return nil
	})
	makeLeader(t, nc, js, "CF", follower)
	eventually(t, 20*time.Second, "consumer D on "+follower.name, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, "CF", "D")
		if err != nil {
			return err
		}
		info, err := c.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader != follower.name {
			return fmt.Errorf("led by %v", info.Cluster)
		}
		if info.AckFloor.Stream != 15 || info.NumAckPending != 0 {
			return backoffStop{fmt.Errorf("on %s: ack floor %d, ack pending %d; want 15, 0", follower.name, info.AckFloor.Stream, info.NumAckPending)}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Consumer(ctx, "CF", "E"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Errorf("consumer E, deleted while %s was down: %v, want not found", follower.name, err)
	}
}
