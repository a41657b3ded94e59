package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// node is one server of a test cluster.
type node struct {
	*testutil.Proc
	clusterPort int
}

// startNode starts natsd (or bin) with a cluster listener on a free port.
func startNode(t testing.TB, bin, name string, routes []int, extra ...string) *node {
	t.Helper()
	cp := testutil.FreePort(t)
	args := []string{"-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-n", name,
		"--cluster", "nats://127.0.0.1:" + strconv.Itoa(cp), "--cluster_name", "test"}
	if len(routes) > 0 {
		var urls []string
		for _, r := range routes {
			urls = append(urls, "nats://127.0.0.1:"+strconv.Itoa(r))
		}
		args = append(args, "--routes", strings.Join(urls, ","))
	}
	return &node{Proc: testutil.Start(t, bin, append(args, extra...)...), clusterPort: cp}
}

// numRoutes reads /routez num_routes.
func (n *node) numRoutes(t testing.TB) int {
	return int(httpGet(t, n.MonitorURL()+"/routez")["num_routes"].(float64))
}

// waitMesh waits until every node has a route to every other.
func waitMesh(t testing.TB, timeout time.Duration, nodes ...*node) {
	t.Helper()
	testutil.Eventually(t, timeout, func() error {
		for _, n := range nodes {
			if got := n.numRoutes(t); got != len(nodes)-1 {
				return fmt.Errorf("%s has %d routes, want %d", n.ClientURL(), got, len(nodes)-1)
			}
		}
		return nil
	})
}

// TestSeedWalkthrough runs the seed's three-node walkthrough with natsd in
// place of nats-server: A listens for routes, B and C route to A only, each
// ends with 2 routes, and a subscriber on A receives what is published on A,
// B and C and through a client given all three URLs.
func TestSeedWalkthrough(t *testing.T) {
	bin := testutil.NatsdBin(t)
	cp := testutil.FreePort(t)
	a := testutil.Start(t, bin, "-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-cluster", fmt.Sprintf("nats://localhost:%d", cp))
	seed := fmt.Sprintf("nats://localhost:%d", cp)
	b := testutil.Start(t, bin, "-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-cluster", "nats://localhost:-1", "-routes", seed)
	c := testutil.Start(t, bin, "-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-cluster", "nats://localhost:-1", "-routes", seed)
	nodes := []*node{{Proc: a}, {Proc: b}, {Proc: c}}
	waitMesh(t, 5*time.Second, nodes...)
	checkWalkthroughTraffic(t, a, b, c)
	for _, want := range []string{"Listening for route connections on", "Route connection created", "Registering remote route"} {
		if !strings.Contains(a.Log(), want) {
			t.Errorf("A's log lacks %q", want)
		}
	}
}

func checkWalkthroughTraffic(t *testing.T, a, b, c *testutil.Proc) {
	t.Helper()
	subA := connect(t, a.ClientURL())
	sub, _ := subA.SubscribeSync("walk")
	_ = subA.Flush()
	for i, p := range []*testutil.Proc{a, b, c} {
		nc := connect(t, p.ClientURL())
		waitInterest(t, nc, "walk", sub)
		if err := nc.Publish("walk", fmt.Appendf(nil, "from-%d", i)); err != nil {
			t.Fatal(err)
		}
		_ = nc.Flush()
		if m := nextMsg(t, sub); string(m.Data) != fmt.Sprintf("from-%d", i) {
			t.Fatalf("got %q", m.Data)
		}
	}
	all := connect(t, strings.Join([]string{a.ClientURL(), b.ClientURL(), c.ClientURL()}, ","))
	_ = all.Publish("walk", []byte("from-any"))
	_ = all.Flush()
	if m := nextMsg(t, sub); string(m.Data) != "from-any" {
		t.Fatalf("got %q", m.Data)
	}
}

// The same walkthrough from config files, in the seed's two shapes of the
// cluster block.
func TestSeedWalkthroughConfigFiles(t *testing.T) {
	bin := testutil.NatsdBin(t)
	for _, shape := range []string{"listen", "host_port"} {
		t.Run(shape, func(t *testing.T) {
			cpA, cpB, cpC := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
			block := func(port int, routes string) string {
				var b strings.Builder
				b.WriteString("cluster {\n")
				if shape == "listen" {
					fmt.Fprintf(&b, "  listen: 127.0.0.1:%d\n", port)
				} else {
					fmt.Fprintf(&b, "  host: 127.0.0.1\n  port: %d\n", port)
				}
				if routes != "" {
					fmt.Fprintf(&b, "  routes: [\n    %s\n  ]\n", routes)
				}
				b.WriteString("}\n")
				return "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\n" + b.String()
			}
			seed := fmt.Sprintf("nats-route://127.0.0.1:%d", cpA)
			a := testutil.Start(t, bin, "-c", testutil.WriteFile(t, "a.conf", block(cpA, "")))
			b := testutil.Start(t, bin, "-c", testutil.WriteFile(t, "b.conf", block(cpB, seed)))
			c := testutil.Start(t, bin, "-c", testutil.WriteFile(t, "c.conf", block(cpC, seed)))
			waitMesh(t, 5*time.Second, &node{Proc: a}, &node{Proc: b}, &node{Proc: c})
			checkWalkthroughTraffic(t, a, b, c)
		})
	}
}

// A 5-node mesh forms from one seed address: every node ends with one
// route to each of the others. How soon is BenchmarkFiveNodeMesh's.
func TestFiveNodeMesh(t *testing.T) {
	nodes := startMesh(t, 5)
	waitMesh(t, 20*time.Second, nodes...)
	ids := map[string]bool{}
	for _, n := range nodes {
		id := httpGet(t, n.MonitorURL()+"/varz")["server_id"].(string)
		ids[id] = true
		peers := map[any]bool{}
		for _, r := range httpGet(t, n.MonitorURL()+"/routez")["routes"].([]any) {
			peers[r.(map[string]any)["remote_id"]] = true
		}
		if len(peers) != 4 || peers[id] {
			t.Errorf("%s's routes go to %v", id, peers)
		}
	}
	if len(ids) != 5 {
		t.Errorf("server ids %v", ids)
	}
}

// startMesh starts k natsd nodes, the first the seed the others route to.
func startMesh(t testing.TB, k int) []*node {
	bin := testutil.NatsdBin(t)
	nodes := []*node{startNode(t, bin, "n0", nil)}
	for i := 1; i < k; i++ {
		nodes = append(nodes, startNode(t, bin, fmt.Sprintf("n%d", i), []int{nodes[0].clusterPort}))
	}
	return nodes
}

// BenchmarkFiveNodeMesh measures how long five natsd processes take from
// the seed's start to a full mesh (the processes' own start included; the
// routes are polled every 10 ms through /routez):
//
//	go test -run '^$' -bench FiveNodeMesh -benchtime 10x ./cmd/natsd/
func BenchmarkFiveNodeMesh(b *testing.B) {
	for b.Loop() {
		nodes := startMesh(b, 5)
		waitMesh(b, 20*time.Second, nodes...)
		b.StopTimer()
		for _, n := range nodes {
			n.Stop()
		}
		b.StartTimer()
	}
}

// threeNodes starts a three-node natsd cluster routed to the first node.
func threeNodes(t *testing.T) []*node {
	bin := testutil.NatsdBin(t)
	a := startNode(t, bin, "A", nil)
	b := startNode(t, bin, "B", []int{a.clusterPort})
	c := startNode(t, bin, "C", []int{a.clusterPort})
	nodes := []*node{a, b, c}
	waitMesh(t, 5*time.Second, nodes...)
	return nodes
}

// Every subscriber, on every node, gets each message exactly once: routed
// messages are never forwarded again (no loops).
func TestClusterEachSubscriberOnce(t *testing.T) {
	nodes := threeNodes(t)
	var subs []*nats.Subscription
	for _, n := range nodes {
		nc := connect(t, n.ClientURL())
		s, _ := nc.SubscribeSync("once.>")
		_ = nc.Flush()
		subs = append(subs, s)
	}
	for i, n := range nodes {
		pub := connect(t, n.ClientURL())
		waitInterest(t, pub, "once.probe", subs...)
		subj := fmt.Sprintf("once.%d", i)
		for k := range 50 {
			_ = pub.Publish(subj, fmt.Appendf(nil, "%d", k))
		}
		_ = pub.Flush()
		for si, s := range subs {
			for k := range 50 {
				m := nextMsg(t, s)
				if m.Subject != subj || string(m.Data) != strconv.Itoa(k) {
					t.Fatalf("sub %d: got %s %q, want %s %d", si, m.Subject, m.Data, subj, k)
				}
			}
		}
		// No second copy of any of the 50 follows them.
		nothingBefore(t, pub, "once.marker", subs...)
	}
}

// A queue group spread over three nodes gets each message exactly once.
func TestClusterQueueGroupExactlyOnce(t *testing.T) {
	nodes := threeNodes(t)
	var members []*queueMember
	for _, n := range nodes {
		for range 2 {
			members = append(members, newQueueMember(t, n.ClientURL(), "jobs", "workers", "jobs.mark"))
		}
	}
	// Wait until every node knows the group and the marker subscribers
	// elsewhere: each route of each node lists both subjects.
	testutil.Eventually(t, syncWait, func() error {
		for _, n := range nodes {
			for _, r := range httpGet(t, n.MonitorURL()+"/routez?subs=1")["routes"].([]any) {
				list, _ := r.(map[string]any)["subscriptions_list"].([]any)
				if !slices.Contains(list, any("jobs")) || !slices.Contains(list, any("jobs.mark")) {
					return fmt.Errorf("a route of %s lists %v", n.ClientURL(), list)
				}
			}
		}
		return nil
	})
	const msgs = 3000
	var pubs []*nats.Conn
	for i, n := range nodes {
		pub := connect(t, n.ClientURL())
		pubs = append(pubs, pub)
		for k := range msgs / 3 {
			_ = pub.Publish("jobs", fmt.Appendf(nil, "%d-%d", i, k))
		}
	}
	// Each publisher's marker reaches every member after whatever that
	// publisher's messages brought it, duplicates included.
	markAll(t, "jobs.mark", members, pubs...)
	seen, per := tally(members)
	total := 0
	for k, n := range seen {
		total += n
		if n != 1 {
			t.Errorf("message %s delivered %d times", k, n)
		}
	}
	if len(seen) != msgs || total != msgs {
		t.Fatalf("%d distinct, %d deliveries, want %d", len(seen), total, msgs)
	}
	for i := range nodes {
		// Members are chosen uniformly across the cluster: each node's two
		// members should get about a third.
		if n := per[2*i] + per[2*i+1]; n < msgs/3-300 || n > msgs/3+300 {
			t.Errorf("node %d served %d of %d", i, n, msgs)
		}
	}
}

// Unsubscribed interest is no longer forwarded: after the last subscriber on
// B leaves, A stops sending messages for it over the route.
func TestClusterUnsubscribeStopsForwarding(t *testing.T) {
	nodes := threeNodes(t)
	a, b := nodes[0], nodes[1]
	subB := connect(t, b.ClientURL())
	s, _ := subB.SubscribeSync("gone")
	_ = subB.Flush()
	pub := connect(t, a.ClientURL())
	waitInterest(t, pub, "gone", s)
	if err := s.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	_ = subB.Flush()
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, r := range httpGet(t, a.MonitorURL()+"/routez?subs=1")["routes"].([]any) {
			if subs, ok := r.(map[string]any)["subscriptions_list"].([]any); ok {
				for _, x := range subs {
					if x == "gone" {
						return fmt.Errorf("A still has remote interest in gone")
					}
				}
			}
		}
		return nil
	})
	// A marker subscriber on B and on C: after the 100 messages, one
	// marker crosses each route, and once both arrived A has counted
	// whatever it sent over its routes before them.
	var marks []*nats.Subscription
	for _, n := range nodes[1:] {
		nc := connect(t, n.ClientURL())
		m, _ := nc.SubscribeSync("gone.mark")
		_ = nc.Flush()
		marks = append(marks, m)
	}
	waitInterest(t, pub, "gone.mark", marks...)
	outBefore := routeOutMsgs(t, a)
	for range 100 {
		_ = pub.Publish("gone", []byte("x"))
	}
	nothingBefore(t, pub, "gone.mark", marks...)
	testutil.Eventually(t, syncWait, func() error {
		if after := routeOutMsgs(t, a); after < outBefore+2 {
			return fmt.Errorf("A's routes counted %v messages out, want the 2 markers", after-outBefore)
		}
		return nil
	})
	if after := routeOutMsgs(t, a); after != outBefore+2 {
		t.Fatalf("A forwarded %v messages besides the 2 markers with no remote interest", after-outBefore-2)
	}
}

func routeOutMsgs(t *testing.T, n *node) float64 {
	var sum float64
	for _, r := range httpGet(t, n.MonitorURL()+"/routez")["routes"].([]any) {
		sum += r.(map[string]any)["out_msgs"].(float64)
	}
	return sum
}

// A client given one URL learns the others (connect_urls) and fails over
// when its server is killed with SIGKILL.
func TestClusterDiscoveryAndFailover(t *testing.T) {
	nodes := threeNodes(t)
	a := nodes[0]
	reconnected := make(chan string, 4)
	nc := connect(t, a.ClientURL(), nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1),
		nats.ReconnectHandler(func(c *nats.Conn) { reconnected <- c.ConnectedUrl() }))
	testutil.Eventually(t, 5*time.Second, func() error {
		if got := len(nc.DiscoveredServers()); got != 2 {
			return fmt.Errorf("discovered %v", nc.DiscoveredServers())
		}
		return nil
	})
	a.Kill()
	select {
	case u := <-reconnected:
		if strings.Contains(u, a.ClientAddr()) {
			t.Fatalf("reconnected to the killed server %s", u)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no failover within 10s")
	}
	// The connection works on its new server.
	sub, _ := nc.SubscribeSync("after")
	_ = nc.Flush()
	_ = nc.Publish("after", []byte("ok"))
	if m := nextMsg(t, sub); string(m.Data) != "ok" {
		t.Fatalf("got %q", m.Data)
	}
}

// A killed node that restarts rejoins the full mesh.
func TestClusterRestartedNodeRejoins(t *testing.T) {
	bin := testutil.NatsdBin(t)
	nodes := threeNodes(t)
	a, c := nodes[0], nodes[2]
	c.Kill()
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := a.numRoutes(t); n != 1 {
			return fmt.Errorf("A has %d routes after C died", n)
		}
		return nil
	})
	c2 := startNode(t, bin, "C", []int{a.clusterPort})
	waitMesh(t, 5*time.Second, a, nodes[1], c2)
	sub := connect(t, c2.ClientURL())
	s, _ := sub.SubscribeSync("back")
	_ = sub.Flush()
	waitInterest(t, connect(t, nodes[1].ClientURL()), "back", s)
}
