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
