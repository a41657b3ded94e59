package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// TestRouteBlockHook partitions a three-node natsd mesh with the route-drop
// test hook (cluster/testhooks.go): n3 listed in n1's and n2's block files
// and n1, n2 in n3's cut n3 off — its routes close, its redials are refused,
// messages no longer cross between n1 and n3 while n1↔n2 still works — and
// emptying the files brings the routes and the traffic back.
func TestRouteBlockHook(t *testing.T) {
	t.Parallel()
	bin := testutil.NatsdBin(t)
	dir := t.TempDir()
	names := []string{"n1", "n2", "n3"}
	ports := make([]int, len(names))
	var routes []string
	for i := range names {
		ports[i] = testutil.FreePort(t)
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(ports[i]))
	}
	blockFiles := make([]string, len(names))
	nodes := make([]*node, len(names))
	for i, name := range names {
		blockFiles[i] = filepath.Join(dir, name+".block")
		writeBlock(t, blockFiles[i])
		p := testutil.StartEnvReady(t, []string{"NATSD_TEST_ROUTE_BLOCK_FILE=" + blockFiles[i]}, bin,
			"-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-n", name,
			"--cluster", routes[i], "--cluster_name", "blocktest", "--routes", strings.Join(routes, ","))
		nodes[i] = &node{Proc: p, clusterPort: ports[i]}
	}
	waitMesh(t, 10*time.Second, nodes...)
	n1, n2, n3 := connect(t, nodes[0].ClientURL()), connect(t, nodes[1].ClientURL()), connect(t, nodes[2].ClientURL())
	sub1, sub2, sub3 := subscribeSync(t, n1, "to.n1"), subscribeSync(t, n2, "to.n2"), subscribeSync(t, n3, "to.n3")
	// Interest travels asynchronously: wait for it before the partition.
	crosses(t, n1, "to.n3", sub3)
	crosses(t, n3, "to.n1", sub1)
	crosses(t, n1, "to.n2", sub2)

	// Cut n3 off, from both sides.
	writeBlock(t, blockFiles[0], "n3")
	writeBlock(t, blockFiles[1], "n3")
	writeBlock(t, blockFiles[2], "n1", "n2")
	wantRoutes(t, nodes, 1, 1, 0)
	// The configured routes are redialed (every second) and refused while
	// the files say so: a refusal logged on both sides, routes still down.
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, i := range []int{0, 2} {
			if !strings.Contains(nodes[i].Log(), "Test hook: refusing a route to a blocked peer") {
				return fmt.Errorf("%s has refused no redial yet", names[i])
			}
		}
		return nil
	})
	wantRoutes(t, nodes, 1, 1, 0)
	crosses(t, n1, "to.n2", sub2) // the majority side still talks
	crosses(t, n2, "to.n1", sub1)
	// A message from n1 to n3's subscriber goes nowhere; one sent after it
	// to n2 arrives, so the first had every chance to be forwarded.
	publish(t, n1, "to.n3", "cut")
	crosses(t, n1, "to.n2", sub2)
	publish(t, n3, "to.n1", "cut")
	noMsg(t, sub3)
	noMsg(t, sub1)

	// Heal: the routes come back and messages cross again.
	for _, f := range blockFiles {
		writeBlock(t, f)
	}
	waitMesh(t, 15*time.Second, nodes...)
	crosses(t, n1, "to.n3", sub3)
	crosses(t, n3, "to.n1", sub1)
}

func writeBlock(t *testing.T, path string, names ...string) {
	t.Helper()
	s := strings.Join(names, "\n")
	if s != "" {
		s += "\n"
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func subscribeSync(t *testing.T, nc *nats.Conn, subject string) *nats.Subscription {
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

func publish(t *testing.T, nc *nats.Conn, subject, data string) {
	t.Helper()
	if err := nc.Publish(subject, []byte(data)); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

// crosses publishes probes to subject until sub receives one (interest
// reaches other servers asynchronously), and drains the probes after it.
func crosses(t *testing.T, nc *nats.Conn, subject string, sub *nats.Subscription) {
	t.Helper()
	n := 0
	testutil.Eventually(t, 10*time.Second, func() error {
		n++
		publish(t, nc, subject, "probe")
		if _, err := sub.NextMsg(100 * time.Millisecond); err != nil {
			return fmt.Errorf("no probe on %s after %d tries: %v", subject, n, err)
		}
		return nil
	})
	for {
		if _, err := sub.NextMsg(50 * time.Millisecond); err != nil {
			return
		}
	}
}

// noMsg: sub receives nothing (the message before was published and
// flushed, and a later one on a working path already arrived).
func noMsg(t *testing.T, sub *nats.Subscription) {
	t.Helper()
	for {
		m, err := sub.NextMsg(300 * time.Millisecond)
		if err != nil {
			return
		}
		if string(m.Data) != "probe" { // a probe of crosses, late under load
			t.Errorf("%s received %q across the partition", sub.Subject, m.Data)
			return
		}
	}
}

// wantRoutes waits until each node has the given number of routes.
func wantRoutes(t *testing.T, nodes []*node, want ...int) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() error {
		for i, n := range nodes {
			if got := n.numRoutes(t); got != want[i] {
				return fmt.Errorf("node %d has %d routes, want %d", i+1, got, want[i])
			}
		}
		return nil
	})
}
