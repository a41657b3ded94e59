package jscluster_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Replicas go where the stream's placement tags say, and with unique_tag
// never two in one zone; a stream no server set can take is refused with
// nats-server's "no suitable peers for placement" (10005).
func TestPlacementByTags(t *testing.T) {
	t.Parallel()
	zones := []string{"az:1", "az:2", "az:1", "az:3"}
	nodes := startClusterWith(t, 4, func(i int) (string, string) {
		extra := ""
		if i == 1 {
			extra = `, "ssd"`
		}
		return fmt.Sprintf("server_tags: [%q%s]\n", zones[i], extra), `unique_tag: "az:" `
	})
	_, js := connect(t, nodes[0])
	create := func(cfg jetstream.StreamConfig) error {
		var err error
		eventually(t, 20*time.Second, "create "+cfg.Name, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err = js.CreateStream(ctx, cfg)
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) {
				return nil // an answer, not a timeout
			}
			return err
		})
		return err
	}
	if err := create(jetstream.StreamConfig{Name: "SSD", Subjects: []string{"ssd"}, Replicas: 1,
		Placement: &jetstream.Placement{Tags: []string{"SSD"}}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "SSD placed", func() error {
		leader, _, err := streamPeers(js, "SSD")
		if err == nil && leader != "n2" {
			return fmt.Errorf("placed on %s, want n2 (the only ssd server)", leader)
		}
		return err
	})
	// STREAM.LIST (answered by the meta leader) shows each stream's state
	// as its leader has it, asking leaders elsewhere in the cluster.
	for range 3 {
		eventually(t, 10*time.Second, "publish to SSD", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := js.Publish(ctx, "ssd", []byte("x"))
			return err
		})
	}
	eventually(t, 10*time.Second, "SSD listed with its messages", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		l := js.ListStreams(ctx)
		for si := range l.Info() {
			if si.Config.Name == "SSD" && si.State.Msgs == 3 && si.Cluster != nil && si.Cluster.Leader == "n2" {
				return nil
			}
		}
		return fmt.Errorf("SSD not listed with 3 messages led by n2: %v", l.Err())
	})
	if err := create(jetstream.StreamConfig{Name: "Z", Subjects: []string{"z"}, Replicas: 3}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "Z placed in three zones", func() error {
		leader, reps, err := streamPeers(js, "Z")
		if err != nil {
			return err
		}
		all := append([]string{leader}, reps...)
		var zs []string
		for _, n := range all {
			var i int
			fmt.Sscanf(n, "n%d", &i)
			zs = append(zs, zones[i-1])
		}
		slices.Sort(zs)
		if len(all) != 3 || slices.Compact(zs) == nil || len(slices.Compact(zs)) != 3 {
			return fmt.Errorf("replicas %v in zones %v", all, zs)
		}
		return nil
	})
	err := create(jetstream.StreamConfig{Name: "FOUR", Subjects: []string{"four"}, Replicas: 4})
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) || apiErr.ErrorCode != 10005 || !strings.Contains(apiErr.Description, "no suitable peers") {
		t.Fatalf("R4 across three zones: %v, want 10005 no suitable peers for placement", err)
	}
}
