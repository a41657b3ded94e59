package jscluster_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// replicaMsgs is how many messages a node's own replica of stream holds,
// and whether it reports any lost (its /jsz).
func replicaMsgs(nd *node, stream string) (uint64, bool, error) {
	resp, err := http.Get(nd.proc.MonitorURL() + "/jsz?accounts=true&streams=true")
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	var z struct {
		Accounts []struct {
			Streams []struct {
				Name  string `json:"name"`
				State struct {
					Msgs uint64          `json:"messages"`
					Lost json.RawMessage `json:"lost"`
				} `json:"state"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&z); err != nil {
		return 0, false, err
	}
	for _, a := range z.Accounts {
		for _, s := range a.Streams {
			if s.Name == stream {
				return s.State.Msgs, len(s.State.Lost) > 0 && string(s.State.Lost) != "null", nil
			}
		}
	}
	return 0, false, fmt.Errorf("%s has no replica of %s", nd.name, stream)
}

// makeLeader steps the stream's leader down until nd leads it.
func makeLeader(t *testing.T, nc *nats.Conn, js jetstream.JetStream, stream string, nd *node) {
	t.Helper()
	eventually(t, 30*time.Second, nd.name+" leads "+stream, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		info := s.CachedInfo()
		if info.Cluster != nil && info.Cluster.Leader == nd.name {
			return nil
		}
		_, _ = nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 2*time.Second)
		return fmt.Errorf("leader is %v", info.Cluster)
	})
}

// A follower whose stream store is damaged while it is down — a bit
// flipped in a message, or the file cut short — finds it when it starts,
// rebuilds its replica from the others without leading meanwhile, and
// then, made leader, serves every acknowledged message.
func TestDamagedReplicaIsRebuilt(t *testing.T) {
	for _, damage := range []string{"bitflip", "truncate"} {
		t.Run(damage, func(t *testing.T) {
			t.Parallel()
			nodes := startCluster(t, 3)
			nc, js := connect(t, nodes[0])
			eventually(t, 20*time.Second, "create R3 stream", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Replicas: 3})
				return err
			})
			acked := map[uint64]string{}
			for i := range 300 {
				body := fmt.Sprintf("message %d %s", i, strings.Repeat("x", i%50))
				eventually(t, 10*time.Second, "publish", func() error {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					defer cancel()
					ack, err := js.Publish(ctx, "s.x", []byte(body))
					if err == nil {
						acked[ack.Sequence] = body
					}
					return err
				})
			}
			for _, nd := range nodes {
				eventually(t, 10*time.Second, nd.name+" holds every message", func() error {
					n, _, err := replicaMsgs(nd, "S")
					if err == nil && n != 300 {
						err = fmt.Errorf("%d messages", n)
					}
					return err
				})
			}
			s, _ := js.Stream(context.Background(), "S")
			var victim *node
			for _, nd := range nodes {
				if nd.name != s.CachedInfo().Cluster.Leader {
					victim = nd
					break
				}
			}
			victim.proc.Stop()
			segs, _ := filepath.Glob(filepath.Join(victim.dir, "jetstream", "APP", "streams", "S", "msgs", "*.seg"))
			if len(segs) == 0 {
				t.Fatal("no segment files in the victim's store")
			}
			sort.Strings(segs)
			b, err := os.ReadFile(segs[0])
			if err != nil {
				t.Fatal(err)
			}
			switch damage {
			case "bitflip":
				b[len(b)/2] ^= 0x10
			case "truncate":
				b = b[:len(b)/2]
			}
			if err := os.WriteFile(segs[0], b, 0o600); err != nil {
				t.Fatal(err)
			}
			victim.restart(t)
			eventually(t, 20*time.Second, victim.name+" rebuilt", func() error {
				n, lost, err := replicaMsgs(victim, "S")
				if err == nil && (n != 300 || lost) {
					err = fmt.Errorf("%d messages, lost %v", n, lost)
				}
				return err
			})
			if !strings.Contains(victim.proc.Log(), "store is damaged") {
				t.Fatalf("%s did not say that its store was damaged", victim.name)
			}
			makeLeader(t, nc, js, "S", victim)
			readBack(t, s, acked)
		})
	}
}

// A memory stream's replica starts empty after a restart and is rebuilt
// from the others; made leader, it serves every acknowledged message.
func TestMemoryReplicaRebuiltAfterRestart(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	nc, js := connect(t, nodes[0])
	eventually(t, 20*time.Second, "create R3 memory stream", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "M", Subjects: []string{"m.>"}, Replicas: 3, Storage: jetstream.MemoryStorage})
		return err
	})
	acked := map[uint64]string{}
	// For longer than two of a replica's flush intervals (2 s each), so
	// that the group's log is compacted and the restarted replica must
	// fetch what the log no longer holds from the leader.
	start := time.Now()
	for i := 0; i < 60 || time.Since(start) < 5*time.Second; i++ {
		body := fmt.Sprintf("memory %d", i)
		eventually(t, 10*time.Second, "publish", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			ack, err := js.Publish(ctx, "m.x", []byte(body))
			if err == nil {
				acked[ack.Sequence] = body
			}
			return err
		})
	}
	var leader string
	eventually(t, 10*time.Second, "replicas current", func() error {
		var err error
		leader, _, err = streamPeers(js, "M")
		return err
	})
	var victim *node
	for _, nd := range nodes {
		if nd.name != leader && nd != nodes[0] {
			victim = nd
		}
	}
	victim.proc.Stop()
	victim.restart(t)
	eventually(t, 20*time.Second, victim.name+" rebuilt", func() error {
		n, _, err := replicaMsgs(victim, "M")
		if err == nil && n != uint64(len(acked)) {
			err = fmt.Errorf("%d messages", n)
		}
		return err
	})
	if !strings.Contains(victim.proc.Log(), "caught up from the leader") {
		t.Errorf("%s was not rebuilt from the leader's store (no catch-up in its log)", victim.name)
	}
	makeLeader(t, nc, js, "M", victim)
	s, _ := js.Stream(context.Background(), "M")
	readBack(t, s, acked)

}

// readBack reads every acknowledged message from the stream's leader. A
// request may be lost while a restarted node's routes settle (a duplicate
// route closed with it in flight): it is asked again on a timeout, never
// on a wrong answer.
func readBack(t *testing.T, s jetstream.Stream, acked map[uint64]string) {
	t.Helper()
	for seq, body := range acked {
		var msg *jetstream.RawStreamMsg
		eventually(t, 10*time.Second, fmt.Sprintf("message %d", seq), func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			var err error
			msg, err = s.GetMsg(ctx, seq)
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				return backoffStop{err}
			}
			return err
		})
		if string(msg.Data) != body {
			t.Fatalf("acknowledged message %d from the rebuilt leader: %q, want %q", seq, msg.Data, body)
		}
	}
}
