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

// wsNode is a cluster node with a WebSocket listener on a known port.
type wsNode struct {
	*node
	wsPort int
}

// startWSNode starts bin with a cluster listener, routes to the given
// cluster ports, and a WebSocket listener (extra goes in its block).
func startWSNode(t *testing.T, bin, name string, routes []int, extra string) *wsNode {
	t.Helper()
	cp, wp := testutil.FreePort(t), testutil.FreePort(t)
	var urls []string
	for _, r := range routes {
		urls = append(urls, strconv.Quote("nats://127.0.0.1:"+strconv.Itoa(r)))
	}
	conf := fmt.Sprintf("server_name: %s\nlisten: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\n"+
		"cluster {\n  name: ws\n  listen: 127.0.0.1:%d\n  routes: [%s]\n}\n"+
		"websocket {\n  listen: 127.0.0.1:%d\n  no_tls: true\n  %s\n}\n", name, cp, strings.Join(urls, ", "), wp, extra)
	p := testutil.Start(t, bin, "-c", testutil.WriteFile(t, name+".conf", conf))
	return &wsNode{node: &node{Proc: p, clusterPort: cp}, wsPort: wp}
}

func (n *wsNode) wsAddr() string { return "127.0.0.1:" + strconv.Itoa(n.wsPort) }

// A WebSocket client learns the other members' WebSocket URLs (INFO
// connect_urls, carried between servers as ws_connect_urls on routes) and
// fails over to one when its server dies; clients of the client port are
// told the client URLs only. natsd with natsd, and natsd with nats-server
// v2.15.2 each way.
func TestWebSocketClusterFailover(t *testing.T) {
	natsd, ref := testutil.NatsdBin(t), testutil.NatsServerBin(t)
	for _, tc := range []struct{ name, a, b string }{
		{"natsd-natsd", natsd, natsd},
		{"natsd-dies-reference-stays", natsd, ref},
		{"reference-dies-natsd-stays", ref, natsd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startWSNode(t, tc.a, "A", nil, "")
			b := startWSNode(t, tc.b, "B", []int{a.clusterPort}, "")
			waitMesh(t, 10*time.Second, a.node, b.node)

			// What each kind of client is told on A.
			testutil.Eventually(t, 5*time.Second, func() error {
				urls := fmt.Sprint(wsUpgrade(t, a.wsAddr(), nil).Info["connect_urls"])
				if !strings.Contains(urls, a.wsAddr()) || !strings.Contains(urls, b.wsAddr()) {
					return fmt.Errorf("WebSocket INFO connect_urls %s, want %s and %s", urls, a.wsAddr(), b.wsAddr())
				}
				return nil
			})
			tcpInfo := testutil.DialProto(t, a.ClientAddr()).Info
			if urls := fmt.Sprint(tcpInfo["connect_urls"]); strings.Contains(urls, strconv.Itoa(b.wsPort)) || !strings.Contains(urls, b.ClientAddr()) {
				t.Errorf("client port INFO connect_urls %s: want B's client URL %s, no WebSocket URL", urls, b.ClientAddr())
			}

			reconnected := make(chan string, 4)
			nc := connect(t, "ws://"+a.wsAddr(), nats.ReconnectWait(50*time.Millisecond), nats.MaxReconnects(-1),
				nats.ReconnectHandler(func(c *nats.Conn) { reconnected <- c.ConnectedUrl() }))
			testutil.Eventually(t, 5*time.Second, func() error {
				if !slices.Contains(nc.DiscoveredServers(), "ws://"+b.wsAddr()) {
					return fmt.Errorf("discovered %v, want ws://%s", nc.DiscoveredServers(), b.wsAddr())
				}
				return nil
			})
			a.Kill()
			select {
			case u := <-reconnected:
				if u != "ws://"+b.wsAddr() {
					t.Fatalf("reconnected to %s, want B's WebSocket URL ws://%s", u, b.wsAddr())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no failover within 10s")
			}
			sub, _ := nc.SubscribeSync("after.failover")
			_ = nc.Flush()
			tcp := connect(t, b.ClientURL())
			_ = tcp.Publish("after.failover", []byte("on B"))
			if m := nextMsg(t, sub); string(m.Data) != "on B" {
				t.Fatalf("got %q", m.Data)
			}
		})
	}
}

// Messages cross the route between WebSocket clients on different members,
// natsd and nats-server v2.15.2, both ways.
func TestWebSocketAcrossMixedCluster(t *testing.T) {
	n := startWSNode(t, testutil.NatsdBin(t), "natsd", nil, "compression: true")
	r := startWSNode(t, testutil.NatsServerBin(t), "ref", []int{n.clusterPort}, "compression: true")
	waitMesh(t, 10*time.Second, n.node, r.node)
	for _, dir := range [][2]*wsNode{{n, r}, {r, n}} {
		pub := connect(t, "ws://"+dir[0].wsAddr(), nats.Compression(true))
		subc := connect(t, "ws://"+dir[1].wsAddr())
		sub, _ := subc.SubscribeSync("mixed.ws")
		_ = subc.Flush()
		waitInterest(t, pub, "mixed.ws", sub)
		payload := strings.Repeat("across the route ", 4000)
		_ = pub.Publish("mixed.ws", []byte(payload))
		for {
			m := nextMsg(t, sub)
			if string(m.Data) == payload {
				break
			}
		}
	}
}
