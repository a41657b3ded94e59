package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// Route protocol edge cases and what clients hear about cluster membership,
// answered as nats-server v2.15.2 answers them (recorded).

// RS+ takes any queue weight, as nats-server does (the route stays), and
// an RS+ with an invalid subject is answered -ERR 'Invalid Subscription'
// with the route kept.
func TestRouteSubWeightsAndInvalidSubject(t *testing.T) {
	p, routeAddr := startClusterNode(t, "")
	raw := testutil.DialProto(t, routeAddr)
	raw.Send("CONNECT {\"name\":\"NFAKEPEER\",\"cluster\":\"sec\",\"echo\":true,\"headers\":true}\r\n" +
		"RS+ $G big q 2147483648\r\nRS+ $G neg q -1\r\nRS+ $G word q abc\r\nRS+ $G x..y q 3\r\nRS- $G a..b\r\n")
	got := testutil.Lines(raw.Flush())
	if !slices.Equal(got, []string{"-ERR 'Invalid Subscription'"}) {
		t.Fatalf("got %q, want one -ERR 'Invalid Subscription' and the route kept", got)
	}
	// Each odd weight became real interest: a client's message goes out.
	nc := connect(t, p.ClientURL())
	for _, subj := range []string{"big", "neg", "word"} {
		_ = nc.Publish(subj, []byte("m"))
	}
	_ = nc.Flush()
	want := []string{"RMSG $G big | q 1", "RMSG $G neg | q 1", "RMSG $G word | q 1"}
	if got := testutil.Lines(raw.Recv(3)); !slices.Equal(got, want) {
		t.Fatalf("routed %q, want %q", got, want)
	}
}

// When a member leaves, the clients of the others get an INFO without its
// URL, so that they drop it from their server pools. When the last peer
// leaves, that INFO lists the server's own URL (nats-server v2.15.2 does,
// recorded): an INFO without connect_urls would leave the dead member in
// nats.go's pool, which ignores an empty list.
func TestClientsToldWhenMemberLeaves(t *testing.T) {
	bin := testutil.NatsdBin(t)
	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d nodes", n), func(t *testing.T) {
			nodes := []*node{startNode(t, bin, "A", nil)}
			for i := 1; i < n; i++ {
				nodes = append(nodes, startNode(t, bin, string(rune('A'+i)), []int{nodes[0].clusterPort}))
			}
			waitMesh(t, 10*time.Second, nodes...)
			a, last := nodes[0], nodes[n-1]
			lastURL := strings.TrimPrefix(last.ClientURL(), "nats://")

			raw := testutil.DialProto(t, a.ClientAddr())
			raw.SetAsideInfo = true
			raw.AnswerPings = true
			raw.Send("CONNECT {\"verbose\":false,\"protocol\":1}\r\n")
			// newestURLs returns connect_urls of the newest INFO after the
			// first skip ones, or nil when none came yet.
			newestURLs := func(skip int) []string {
				raw.Flush()
				if len(raw.Infos) <= skip {
					return nil
				}
				var in map[string]any
				if err := jsonUnmarshal([]byte(strings.TrimPrefix(raw.Infos[len(raw.Infos)-1], "INFO ")), &in); err != nil {
					t.Fatal(err)
				}
				return asStrings(in["connect_urls"])
			}
			testutil.Eventually(t, 5*time.Second, func() error {
				if urls := append(asStrings(raw.Info["connect_urls"]), newestURLs(0)...); !slices.Contains(urls, lastURL) {
					return fmt.Errorf("connect_urls %q lack %s", urls, lastURL)
				}
				return nil
			})
			before := len(raw.Infos)
			last.Kill()
			testutil.Eventually(t, 10*time.Second, func() error {
				urls := newestURLs(before)
				if len(urls) == 0 || slices.Contains(urls, lastURL) {
					return fmt.Errorf("newest INFO's connect_urls %q: want a list without the dead member %s", urls, lastURL)
				}
				return nil
			})
		})
	}
}

func asStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			out = append(out, fmt.Sprint(x))
		}
	}
	return out
}

// A routed queue message whose group has no member on the receiving
// server is not dropped: it crosses a second route to a server that has
// one (nats-server's queue exception, recorded from v2.15.2; natsd the
// same). Plain messages never do. Two fake peers on one server: the first
// sends, the second has the groups rq and both, the first oq and both.
// Where both have the group, nats-server v2.15.2 returned it to the sender
// in the recording and natsd passes it to the other: each gives it to
// exactly one.
func TestRoutedQueueMessageWithoutLocalMember(t *testing.T) {
	for name, bin := range map[string]string{"natsd": testutil.NatsdBin(t), "nats-server": testutil.NatsServerBin(t)} {
		t.Run(name, func(t *testing.T) {
			cp := testutil.FreePort(t)
			conf := fmt.Sprintf("listen: 127.0.0.1:-1\ncluster {\n  name: qx\n  listen: 127.0.0.1:%d\n}\n", cp)
			p := testutil.Start(t, bin, "-c", testutil.WriteFile(t, "qx.conf", conf))
			routeAddr := fmt.Sprintf("127.0.0.1:%d", cp)
			peer := func(id string, port int) *testutil.ProtoConn {
				c := testutil.DialProto(t, routeAddr)
				c.AnswerPings, c.SetAsideInfo = true, true
				c.Send(`CONNECT {"echo":true,"verbose":false,"pedantic":false,"tls_required":false,"headers":true,"name":"` + id + `","cluster":"qx"}` + "\r\n")
				c.Send(`INFO {"server_id":"` + id + `","server_name":"` + id + `","version":"2.9.10","proto":2,"host":"127.0.0.1","port":` +
					fmt.Sprint(port) + `,"headers":true,"max_payload":1048576,"cluster":"qx","lnoc":true}` + "\r\n")
				c.Flush()
				return c
			}
			// What a peer got, without nats-server's $SYS interest.
			got := func(c *testutil.ProtoConn) []string {
				return slices.DeleteFunc(testutil.Lines(c.Flush()), func(l string) bool { return strings.Contains(l, " $SYS ") })
			}
			p1, p2 := peer("NFAKEONE", 16100), peer("NFAKETWO", 16200)
			cl := testutil.DialProto(t, p.ClientAddr())
			cl.Send("CONNECT {\"verbose\":false}\r\nSUB bar 1\r\nSUB bar q 2\r\n")
			cl.Flush()
			got(p1)
			got(p2)
			p2.Send("RS+ $G bar rq 1\r\nRS+ $G bar both 1\r\n")
			p1.Send("RS+ $G bar oq 1\r\nRS+ $G bar both 1\r\n")
			got(p2)
			got(p1)
			steps := []struct {
				rmsg        string
				local       []string
				first, scnd []string
			}{
				{"RMSG $G bar 2\r\nhi\r\n", []string{"MSG bar 1 2"}, nil, nil},
				{"RMSG $G bar | rq 2\r\nhi\r\n", []string{"MSG bar 1 2"}, nil, []string{"RMSG $G bar | rq 2"}},
				{"RMSG $G bar | q rq 2\r\nhi\r\n", []string{"MSG bar 1 2", "MSG bar 2 2"}, nil, []string{"RMSG $G bar | rq 2"}},
				{"RMSG $G bar | oq 2\r\nhi\r\n", []string{"MSG bar 1 2"}, []string{"RMSG $G bar | oq 2"}, nil},
			}
			for _, st := range steps {
				p1.Send(st.rmsg)
				// p1's PONG: the server has handled the RMSG, so whatever it
				// queued for p2 and the client comes before their PONGs.
				first, scnd, local := got(p1), got(p2), testutil.Lines(cl.Flush())
				slices.Sort(local)
				if !slices.Equal(first, st.first) || !slices.Equal(scnd, st.scnd) || !slices.Equal(local, st.local) {
					t.Errorf("%q: sender got %q, other peer %q, client %q; want %q, %q, %q", st.rmsg, first, scnd, local, st.first, st.scnd, st.local)
				}
			}
			p1.Send("RMSG $G bar | both 2\r\nhi\r\n")
			if all := append(got(p1), got(p2)...); !slices.Equal(all, []string{"RMSG $G bar | both 2"}) {
				t.Errorf("a group both peers have: the peers got %q, want it once", all)
			}
		})
	}
}
