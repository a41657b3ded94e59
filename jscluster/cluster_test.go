package jscluster_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/testutil"
)

// node is one natsd of a test cluster.
type node struct {
	name string
	conf string
	dir  string // store_dir
	proc *testutil.Proc
}

// restart starts the node again on its config and store.
func (nd *node) restart(t *testing.T) {
	t.Helper()
	nd.proc = testutil.Start(t, testutil.NatsdBin(t), "-c", nd.conf)
}

// startCluster runs n natsd servers with JetStream in one cluster (every
// node's routes name every node, itself included, as configs commonly do).
func startCluster(t *testing.T, n int) []*node {
	t.Helper()
	return startClusterWith(t, n, nil)
}

// startClusterWith is startCluster with extra config for node i: top
// level lines, and lines inside its jetstream block.
func startClusterWith(t *testing.T, n int, extra func(i int) (top, js string)) []*node {
	t.Helper()
	bin := testutil.NatsdBin(t)
	ports := make([]int, n)
	for i := range ports {
		ports[i] = testutil.FreePort(t)
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	dir := t.TempDir()
	nodes := make([]*node, n)
	for i := range nodes {
		name := fmt.Sprintf("n%d", i+1)
		more, jsMore := "", ""
		if extra != nil {
			more, jsMore = extra(i)
		}
		conf := testutil.WriteFile(t, name+".conf", more+fmt.Sprintf(`
server_name: %s
port: -1
http_port: -1
accounts {
  SYS { users [ { user: sys, password: pass } ] }
  APP { jetstream: enabled, users [ { user: app, password: pass } ] }
}
system_account: SYS
no_auth_user: app
jetstream { store_dir: %q
%s}
cluster {
  name: c1
  listen: 127.0.0.1:%d
  routes: [ %s ]
}
`, name, filepath.Join(dir, name), jsMore, ports[i], strings.Join(routes, ", ")))
		nodes[i] = &node{name: name, conf: conf, dir: filepath.Join(dir, name)}
	}
	for _, nd := range nodes {
		nd.proc = testutil.Start(t, bin, "-c", nd.conf)
	}
	return nodes
}

func connect(t *testing.T, nd *node) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(nd.proc.ClientURL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// eventually retries f until it succeeds or the time is up.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		var stop backoffStop
		if errors.As(err, &stop) {
			t.Fatalf("%s: %v", what, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestReplicatedStreamSurvivesLeaderKill(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 3)
	_, js := connect(t, nodes[0])
	var stream jetstream.Stream
	eventually(t, 20*time.Second, "create R3 stream", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var err error
		stream, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Replicas: 3})
		return err
	})
	acked := map[uint64]string{}
	publish := func(js jetstream.JetStream, i int) error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		body := fmt.Sprintf("m%d", i)
		ack, err := js.Publish(ctx, "orders.new", []byte(body))
		if err != nil {
			return err
		}
		acked[ack.Sequence] = body
		return nil
	}
	for i := range 100 {
		eventually(t, 10*time.Second, "publish", func() error { return publish(js, i) })
	}
	var info *jetstream.StreamInfo
	eventually(t, 10*time.Second, "stream info with replicas", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var err error
		info, err = stream.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
			return fmt.Errorf("cluster info %+v", info.Cluster)
		}
		return nil
	})
	if info.State.Msgs != 100 {
		t.Fatalf("stream holds %d messages, want 100", info.State.Msgs)
	}
	leader := info.Cluster.Leader
	var survivor *node
	for _, nd := range nodes {
		if nd.name == leader {
			nd.proc.Kill()
		} else if survivor == nil {
			survivor = nd
		}
	}
	_, js2 := connect(t, survivor)
	killed := time.Now()
	eventually(t, 5*time.Second, "first publish after the leader's kill", func() error { return publish(js2, 100) })
	t.Logf("a publish was acknowledged %v after the leader was killed", time.Since(killed).Round(time.Millisecond))
	for i := 101; i < 150; i++ {
		eventually(t, 5*time.Second, "publish", func() error { return publish(js2, i) })
	}
	s2, err := js2.Stream(context.Background(), "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	for seq, body := range acked {
		var msg *jetstream.RawStreamMsg
		eventually(t, 5*time.Second, "get", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			var err error
			msg, err = s2.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				return backoffStop{err}
			}
			return err
		})
		if msg == nil || string(msg.Data) != body {
			t.Fatalf("acknowledged message %d: got %v, want %q", seq, msg, body)
		}
	}
}

// backoffStop is an error eventually does not retry.
type backoffStop struct{ error }

// createStream creates a stream through js, retrying while the cluster
// settles (a meta leader just elected, say).
func createStream(t *testing.T, js jetstream.JetStream, cfg jetstream.StreamConfig) {
	t.Helper()
	eventually(t, 20*time.Second, "create stream "+cfg.Name, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, cfg)
		return err
	})
}

// createConsumer creates (or updates) a consumer of stream, retrying
// likewise.
func createConsumer(t *testing.T, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) jetstream.Consumer {
	t.Helper()
	var c jetstream.Consumer
	eventually(t, 10*time.Second, "create consumer on "+stream, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var err error
		c, err = js.CreateOrUpdateConsumer(ctx, stream, cfg)
		return err
	})
	return c
}

// publishN publishes n messages to subject ("0", "1", …), each retried
// until acknowledged.
func publishN(t *testing.T, js jetstream.JetStream, subject string, n int) {
	t.Helper()
	for i := range n {
		eventually(t, 10*time.Second, "publish", func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := js.Publish(ctx, subject, []byte(fmt.Sprint(i)))
			return err
		})
	}
}

// leaderNode waits until stream's replicas are current and returns the
// node that leads it and the others.
func leaderNode(t *testing.T, nodes []*node, js jetstream.JetStream, stream string) (lead *node, followers []*node) {
	t.Helper()
	var leader string
	eventually(t, 20*time.Second, "replicas of "+stream+" current", func() error {
		var err error
		leader, _, err = streamPeers(js, stream)
		return err
	})
	for _, nd := range nodes {
		if nd.name == leader {
			lead = nd
		} else {
			followers = append(followers, nd)
		}
	}
	return lead, followers
}

// stepDownFrom asks stream's leader to step down until another than
// leader leads, asking only while leader still does (a step-down after
// each failed look would keep the group without a leader).
func stepDownFrom(t *testing.T, js jetstream.JetStream, stream, leader string) {
	t.Helper()
	eventually(t, 30*time.Second, "a leader of "+stream+" other than "+leader, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil {
			return err
		}
		if l := s.CachedInfo().Cluster.Leader; l != leader && l != "" {
			return nil
		}
		_, _ = js.Conn().Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 2*time.Second)
		return fmt.Errorf("still led by %s", leader)
	})
}
