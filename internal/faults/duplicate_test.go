package faults

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// TestFaultDuplicateRoute: two nodes configured to route to each other
// started one after the other, as a rolling start does. A's first dial
// finds B not yet listening; B dials A, and the route is up and carrying
// traffic; a second later A's dialer wakes. That must cost nothing: a
// counted stream A→B, as fast as A takes it, runs across it and must
// arrive whole and in order.
//
// natsd's dialer adopts the route B dialed (it finds a registered peer
// whose route listener is at its URL) instead of dialing a second
// connection. Before that fix, its redial made a duplicate, and natsd, which
// keeps of two connections between the same servers the one dialed by the
// smaller server id, replaced the established route under traffic and lost
// what was in flight. The test starts pairs until A's id is the smaller, so
// that without the adoption the replacement would happen every run.
// nats-server v2.15.2 redials and keeps the established route (recorded:
// the route id did not change, nothing lost).
func TestFaultDuplicateRoute(t *testing.T) {
	t.Parallel()
	probs := &errList{}
	var a, b *node
	for try := 0; ; try++ {
		if try == 30 { // each try is a coin toss: 2^-30
			t.Fatal("30 pairs started, never one where A's id sorts first")
		}
		a, b = newNode(t, "A"), newNode(t, "B")
		a.start(conf{routes: []*node{b}})
		b.start(conf{routes: []*node{a}})
		if referenceRun() || serverID(t, a) < serverID(t, b) {
			break
		}
		a.proc.Stop()
		b.proc.Stop()
	}
	waitMesh(t, 10*time.Second, a, b)
	_, rids, err := a.routesTo()
	if err != nil {
		t.Fatal(err)
	}
	first := rids["B"]

	// As fast as A takes it, so that however short the replacement's
	// window is, messages are published in it (at a steady 10,000 msgs/s
	// it fell between two batches in one run of three). The subscriber is
	// a raw one, fast enough for a flood.
	ab := newFloodStream(t, probs, "A→B", 64, a, nil, b)
	ab.flood()
	// A's dialer wakes one reconnect delay (1 s) after its failed first
	// dial: natsd's adopts B's route (A's route to B becomes configured),
	// nats-server's redials and closes its new connection as a duplicate.
	// The stream runs across that moment, and a while on.
	replaced := false
	testutil.Eventually(t, 10*time.Second, func() error {
		if strings.Contains(a.proc.Log(), "Duplicate Route") || strings.Contains(b.proc.Log(), "Duplicate Route") {
			replaced = true
			return nil
		}
		var rz routez
		if err := a.getJSON("/routez", &rz); err == nil && len(rz.Routes) == 1 && rz.Routes[0].Configured {
			return nil
		}
		return fmt.Errorf("A's dialer has not woken yet (no duplicate, A's route not configured)")
	})
	ab.flowing(t, 10000, 20*time.Second)
	ab.halt(t)
	msgs := ab.verify(t, 20*time.Second)
	probs.check(t)
	waitMesh(t, 10*time.Second, a, b)
	_, rids, err = a.routesTo()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("numbers: %s; A's route to B rid %d → %d (duplicate closed: %v)", msgs, first, rids["B"], replaced)
	if !referenceRun() && rids["B"] != first {
		t.Errorf("A's route to B was replaced (rid %d → %d)", first, rids["B"])
	}
}

// serverID is n's server id, from /varz.
func serverID(t *testing.T, n *node) string {
	t.Helper()
	var v struct {
		ID string `json:"server_id"`
	}
	if err := n.getJSON("/varz", &v); err != nil {
		t.Fatal(err)
	}
	return v.ID
}
