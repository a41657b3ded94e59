package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// floodRSSBoundMiB bounds a flooded node: max_pending is 512 KiB, so what
// natsd may hold for the flood is a few MiB over its idle size; a queue
// that grew with the flood would pass it within the first second.
func floodRSSBoundMiB() int64 {
	if raceBuild {
		return 96
	}
	return 48
}

// TestFaultRouteFlood: a publisher on A sends 1 KiB messages as fast as A
// takes them to a fast subscriber on B, for 3 s, with max_pending small
// (512 KiB) so that the route A→B is past it within the first second.
// Beside it, counted streams of ~2,000 msgs/s run A→B (over the flooded
// route) and A→C. The flood is paced, not cut: every message of all three
// arrives exactly once and in order, no route is closed or registered
// again, no client is cut as a slow consumer, and RSS stays bounded.
func TestFaultRouteFlood(t *testing.T) {
	// Not parallel: the flood takes all the CPU it can get, which would
	// starve the other scenarios' pings; and its RSS is measured alone.
	probs := &errList{}
	nodes := startMesh(t, conf{top: "max_pending: 512KB\nmax_payload: 64KB\n"}, "A", "B", "C")
	a, b, c := nodes[0], nodes[1], nodes[2]
	rids := map[string]map[string]uint64{}
	for _, n := range nodes {
		_, r, err := n.routesTo()
		if err != nil {
			t.Fatal(err)
		}
		rids[n.name] = r
	}
	registered := map[string]int{}
	for _, n := range nodes {
		registered[n.name] = strings.Count(n.proc.Log(), "Registering remote route")
	}

	flood := newFloodStream(t, probs, "A→B flood", 1024, a, []nats.Option{nats.ReconnectBufSize(-1)}, b)
	ab := newStream(t, probs, "A→B", 64, a, nil, []*node{b})
	ac := newStream(t, probs, "A→C", 64, a, nil, []*node{c})
	base := map[string]usage{}
	for _, n := range nodes {
		base[n.name] = baseline(t, n)
	}
	rss := sampleRSS(a, b, c)
	ab.run(time.Millisecond, 2) // ~2,000 msgs/s
	ac.run(time.Millisecond, 2)
	ab.flowing(t, 100, 10*time.Second)
	ac.flowing(t, 100, 10*time.Second)
	start := time.Now()
	flood.flood()
	// The flood lasts 3 s (a length, not a wait for an outcome); meanwhile
	// A's queue for its route to B is watched: back-pressure holds it near
	// max_pending.
	peakPending := 0
	for time.Since(start) < 3*time.Second {
		var rz routez
		if err := a.getJSON("/routez", &rz); err != nil {
			t.Fatal(err)
		}
		for _, r := range rz.Routes {
			if r.RemoteName == "B" {
				peakPending = max(peakPending, r.Pending)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	flood.halt(t)
	floodFor := time.Since(start)
	ab.halt(t)
	ac.halt(t)
	msgs := strings.Join([]string{flood.verify(t, 60*time.Second), ab.verify(t, 20*time.Second), ac.verify(t, 20*time.Second)}, ", ")
	probs.check(t)

	for _, n := range nodes {
		_, r, err := n.routesTo()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(r) != fmt.Sprint(rids[n.name]) {
			t.Errorf("%s's routes changed during the flood: %v → %v", n.name, rids[n.name], r)
		}
		if got := strings.Count(n.proc.Log(), "Registering remote route"); got != registered[n.name] {
			t.Errorf("%s registered %d routes during the flood", n.name, got-registered[n.name])
		}
		if strings.Contains(n.proc.Log(), "Slow Consumer") {
			t.Errorf("%s reported a slow consumer", n.name)
		}
	}
	if bound := 512<<10 + 256<<10; peakPending > bound {
		t.Errorf("A's route to B held %d bytes, over max_pending (512 KiB) + 256 KiB", peakPending)
	}
	var out string
	for _, n := range nodes {
		u := backToBaseline(t, n, base[n.name], 20*time.Second)
		out += fmt.Sprintf("%s %v → %v; ", n.name, base[n.name], u)
	}
	t.Logf("numbers: flood ran %v, %.0f msgs/s, A's route to B peaked at %d KiB pending; %s; %speak RSS %s",
		floodFor.Round(time.Millisecond), float64(flood.sent.Load())/floodFor.Seconds(), peakPending>>10,
		msgs, out, rss.stop(t, floodRSSBoundMiB()))
}
