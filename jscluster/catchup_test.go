package jscluster_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The catch-up requests ($NATSD.CATCHUP.<leader>.<group>) are the system
// account's: a client of another account cannot reach them. A system user
// that sends what is neither a range (16 bytes) nor the consumers' 'c',
// or names no group, gets no answer, and the leader goes on answering.
func TestCatchupRequestsBadInputAndAuth(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	_, js := connect(t, nodes[0])
	createStream(t, js, jetstream.StreamConfig{Name: "CU", Subjects: []string{"cu.>"}, Replicas: 3})
	createConsumer(t, js, "CU", jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy})
	var leader, group string
	eventually(t, 20*time.Second, "replicas current", func() error {
		var err error
		leader, _, err = streamPeers(js, "CU")
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, "CU")
		if err != nil {
			return err
		}
		group = s.CachedInfo().Cluster.RaftGroup
		return nil
	})
	var lead *node
	for _, nd := range nodes {
		if nd.name == leader {
			lead = nd
		}
	}
	var z struct {
		Meta struct {
			Peer string `json:"peer"`
		} `json:"meta_cluster"`
	}
	resp, err := http.Get(lead.proc.MonitorURL() + "/jsz")
	if err != nil {
		t.Fatal(err)
	}
	err = json.NewDecoder(resp.Body).Decode(&z)
	resp.Body.Close()
	if err != nil || z.Meta.Peer == "" || group == "" {
		t.Fatalf("leader's peer id %q, group %q: %v", z.Meta.Peer, group, err)
	}
	subject := "$NATSD.CATCHUP." + z.Meta.Peer + "." + group

	app, err := nats.Connect(lead.proc.ClientURL(), nats.UserInfo("app", "pass"))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if m, err := app.Request(subject, []byte{'c'}, time.Second); err == nil {
		t.Fatalf("a client of APP got a catch-up answer: %q", m.Data)
	}

	sys, err := nats.Connect(lead.proc.ClientURL(), nats.UserInfo("sys", "pass"))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	for _, bad := range [][]byte{nil, []byte("x"), []byte("cc"), make([]byte, 15), make([]byte, 17)} {
		if m, err := sys.Request(subject, bad, 300*time.Millisecond); err == nil {
			t.Errorf("request %q answered: %q", bad, m.Data)
		}
	}
	if m, err := sys.Request("$NATSD.CATCHUP."+z.Meta.Peer+".S-R3F-nosuchgroup", []byte{'c'}, 300*time.Millisecond); err == nil {
		t.Errorf("a request for no group answered: %q", m.Data)
	}
	m, err := sys.Request(subject, []byte{'c'}, 5*time.Second)
	if err != nil {
		t.Fatalf("the leader answers no catch-up request after the bad ones: %v", err)
	}
	var list []struct {
		Name string `json:"name"`
	}
	if err := json.Unmarshal(m.Data, &list); err != nil || len(list) != 1 || list[0].Name != "D" {
		t.Errorf("consumers sent for catch-up: %s (%v), want D", m.Data, err)
	}
}
