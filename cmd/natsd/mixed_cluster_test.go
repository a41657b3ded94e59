package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// TestMixedCluster puts natsd in a cluster with real nats-server nodes —
// v2.15.2 and Debian's 2.9 — with routes dialed both ways, and checks
// pub/sub and queue groups across them both ways.
func TestMixedCluster(t *testing.T) {
	peers := map[string]string{
		"v2.15.2": testutil.NatsServerBin(t),
		"v2.9":    testutil.NatsServer29Bin(t),
	}
	natsd := testutil.NatsdBin(t)
	for name, peer := range peers {
		t.Run(name, func(t *testing.T) {
			for _, natsdSeed := range []bool{true, false} {
				dir := "peer-dials-natsd"
				if !natsdSeed {
					dir = "natsd-dials-peer"
				}
				t.Run(dir, func(t *testing.T) {
					var n, p *node
					if natsdSeed {
						n = startNode(t, natsd, "natsd", nil)
						p = startNode(t, peer, "peer", []int{n.clusterPort})
					} else {
						p = startNode(t, peer, "peer", nil)
						n = startNode(t, natsd, "natsd", []int{p.clusterPort})
					}
					waitMesh(t, 10*time.Second, n, p)
					checkPubSubBothWays(t, n, p)
					checkQueueAcross(t, n, p)
				})
			}
		})
	}
}

func checkPubSubBothWays(t *testing.T, a, b *node) {
	t.Helper()
	for _, dir := range [][2]*node{{a, b}, {b, a}} {
		pub := connect(t, dir[0].ClientURL())
		subc := connect(t, dir[1].ClientURL())
		sub, _ := subc.SubscribeSync("mixed.>")
		_ = subc.Flush()
		waitInterest(t, pub, "mixed.probe", sub)
		// Plain, with reply and with headers.
		_ = pub.Publish("mixed.plain", []byte("p"))
		_ = pub.PublishRequest("mixed.req", "reply.x", []byte("r"))
		hm := nats.NewMsg("mixed.hdr")
		hm.Header.Set("K", "v")
		hm.Data = []byte("h")
		_ = pub.PublishMsg(hm)
		_ = pub.Flush()
		m := nextMsg(t, sub)
		if m.Subject != "mixed.plain" || string(m.Data) != "p" {
			t.Fatalf("plain: %s %q", m.Subject, m.Data)
		}
		m = nextMsg(t, sub)
		if m.Reply != "reply.x" || string(m.Data) != "r" {
			t.Fatalf("reply: %q %q", m.Reply, m.Data)
		}
		m = nextMsg(t, sub)
		if m.Header.Get("K") != "v" || string(m.Data) != "h" {
			t.Fatalf("headers: %v %q", m.Header, m.Data)
		}
		// Request/reply across the route.
		_, _ = subc.Subscribe("mixed.svc", func(m *nats.Msg) { _ = m.Respond([]byte("pong")) })
		_ = subc.Flush()
		testutil.Eventually(t, 5*time.Second, func() error {
			r, err := pub.Request("mixed.svc", []byte("ping"), 500*time.Millisecond)
			if err != nil {
				return err
			}
			if string(r.Data) != "pong" {
				return fmt.Errorf("reply %q", r.Data)
			}
			return nil
		})
	}
}

// checkQueueAcross: members of one queue group on both servers; messages
// published on both; each delivered exactly once, and both sides serve.
func checkQueueAcross(t *testing.T, a, b *node) {
	t.Helper()
	members := []*queueMember{
		newQueueMember(t, a.ClientURL(), "mq", "g", "mq.mark"),
		newQueueMember(t, b.ClientURL(), "mq", "g", "mq.mark"),
	}
	pa, pb := connect(t, a.ClientURL()), connect(t, b.ClientURL())
	waitMarkInterest(t, "mq.mark", members, pa, pb)
	// Wait until A knows B's member: a queue message published on A
	// reaches B.
	testutil.Eventually(t, syncWait, func() error {
		before := members[1].n.Load()
		for range 20 {
			_ = pa.Publish("mq", []byte(unique("warm-")))
		}
		markAll(t, "mq.mark", members, pa)
		if members[1].n.Load() == before {
			return fmt.Errorf("no queue message crossed from A to B yet")
		}
		return nil
	})
	for _, m := range members {
		m.reset()
	}
	const msgs = 1000
	for k := range msgs {
		p := pa
		if k%2 == 1 {
			p = pb
		}
		_ = p.Publish("mq", fmt.Appendf(nil, "m%d", k))
	}
	// Both publishers' markers reach both members after everything their
	// messages brought them, duplicates included.
	markAll(t, "mq.mark", members, pa, pb)
	seen, per := tally(members)
	total := 0
	for k, n := range seen {
		total += n
		if n != 1 {
			t.Errorf("%s delivered %d times", k, n)
		}
	}
	if len(seen) != msgs || total != msgs {
		t.Fatalf("%d distinct, %d deliveries; want %d each", len(seen), total, msgs)
	}
	if per[0] < msgs/4 || per[1] < msgs/4 {
		t.Fatalf("queue split A=%d B=%d: one side barely served", per[0], per[1])
	}
}

// A natsd node in a cluster with nats-server nodes running JetStream says
// in its log that its own clients cannot reach that JetStream, and core
// NATS keeps working across the two. (nats-server answers $JS.API in each
// account through its own node's import from the system account; that
// interest does not cross a route to natsd: a request through natsd gets
// no responders while the same request at a nats-server node is answered.)
func TestMixedClusterWithNatsServerJetStream(t *testing.T) {
	t.Parallel()
	// nats-server's clustered JetStream wants every node's routes
	// configured: each is given all three.
	ports := []int{testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)}
	routes := fmt.Sprintf("nats://127.0.0.1:%d,nats://127.0.0.1:%d,nats://127.0.0.1:%d", ports[0], ports[1], ports[2])
	var js []*node
	for i, cp := range ports {
		p := testutil.Start(t, testutil.NatsServerBin(t), "-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-n", fmt.Sprintf("js%d", i+1),
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", cp), "--cluster_name", "test", "--routes", routes,
			"-js", "-sd", t.TempDir())
		js = append(js, &node{Proc: p, clusterPort: cp})
	}
	// natsd runs clustered JetStream too: it cannot share a meta group
	// with nats-server's, so it says so (log and /jsz) and answers no
	// JetStream request, while core NATS crosses the whole cluster.
	n := startNode(t, testutil.NatsdBin(t), "natsd", []int{ports[0]}, "-js", "-sd", t.TempDir())
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, name := range []string{"js1", "js2", "js3"} {
			if !strings.Contains(n.Log(), "Route peer runs JetStream") || !strings.Contains(n.Log(), "peer="+name) {
				return fmt.Errorf("natsd's log does not say that %s runs JetStream", name)
			}
		}
		return nil
	})
	checkPubSubBothWays(t, n, js[1])

	direct := connect(t, js[0].ClientURL())
	testutil.Eventually(t, 20*time.Second, func() error { // until the meta group has a leader
		m, err := direct.Request("$JS.API.INFO", nil, 2*time.Second)
		if err == nil && strings.Contains(string(m.Data), `"error"`) {
			err = errors.New(string(m.Data))
		}
		return err
	})
	testutil.Eventually(t, 10*time.Second, func() error {
		meta, _ := httpGet(t, n.MonitorURL()+"/jsz")["meta_cluster"].(map[string]any)
		mixed, _ := meta["mixed_with"].([]any)
		if fmt.Sprint(mixed) != "[js1 js2 js3]" {
			return fmt.Errorf("natsd's /jsz meta_cluster %v: want mixed_with [js1 js2 js3]", meta)
		}
		return nil
	})
	// Asked at a nats-server node, the API is nats-server's alone: natsd,
	// which has the same subjects subscribed, answers none of it.
	for range 5 {
		if _, err := direct.Request("$JS.API.INFO", nil, 2*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if api, _ := httpGet(t, n.MonitorURL()+"/jsz")["api"].(map[string]any); api["total"] != float64(0) {
		t.Errorf("natsd answered JetStream requests in a cluster with nats-server's JetStream: /jsz api %v", api)
	}
	through := connect(t, n.ClientURL())
	if m, err := through.Request("$JS.API.INFO", nil, 2*time.Second); err == nil && strings.Contains(string(m.Data), `"error"`) {
		t.Errorf("$JS.API.INFO through natsd answered with an error: %s", m.Data)
	}
}
