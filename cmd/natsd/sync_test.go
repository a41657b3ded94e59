package main

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// How the tests prove that something did NOT happen without sleeping: they
// make the server send something after it — a marker message from the same
// publisher (one connection's messages keep their order, across a route
// too), a PONG — and require the marker to be the next thing received.
// Whatever the server had queued before it handled the marker arrives
// first, so a message that should not have come shows up in its place.

// syncWait bounds every wait of these helpers.
const syncWait = 10 * time.Second

var seq atomic.Int64

// unique returns prefix followed by a number no other call returned.
func unique(prefix string) string { return prefix + strconv.FormatInt(seq.Add(1), 10) }

// waitInterest waits until a publish on subject from pub reaches each of
// subs (remote interest travels asynchronously), then drains the probes
// still on their way: bounded, and failing if a probe arrives twice (a
// message that crossed more than one route, or looped) or anything else
// arrives in between.
func waitInterest(t *testing.T, pub *nats.Conn, subject string, subs ...*nats.Subscription) {
	t.Helper()
	seen := map[*nats.Subscription]map[string]bool{}
	for _, s := range subs {
		seen[s] = map[string]bool{}
	}
	testutil.Eventually(t, syncWait, func() error {
		_ = pub.Publish(subject, []byte(unique("probe-")))
		_ = pub.Flush()
		for _, s := range subs {
			if len(seen[s]) > 0 {
				continue
			}
			m, err := s.NextMsg(50 * time.Millisecond)
			if err != nil {
				return fmt.Errorf("no interest in %s yet for %s", subject, s.Subject)
			}
			if data := string(m.Data); !strings.HasPrefix(data, "probe-") {
				t.Fatalf("waiting for interest in %s: %s got %s %q", subject, s.Subject, m.Subject, m.Data)
			}
			seen[s][string(m.Data)] = true
		}
		return nil
	})
	drainProbes(t, pub, subject, seen)
}

// drainProbes publishes a marker on subject from pub and reads each
// subscription up to it: what comes before may only be probes, each at
// most once (seen holds the ones a subscription already had).
func drainProbes(t *testing.T, pub *nats.Conn, subject string, seen map[*nats.Subscription]map[string]bool) {
	t.Helper()
	marker := unique("marker-")
	if err := pub.Publish(subject, []byte(marker)); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(syncWait)
	for sub, got := range seen {
		for {
			m, err := sub.NextMsg(time.Until(deadline))
			if err != nil {
				t.Fatalf("%s: the marker after the probes did not arrive: %v", sub.Subject, err)
			}
			data := string(m.Data)
			if data == marker {
				break
			}
			if !strings.HasPrefix(data, "probe-") {
				t.Fatalf("%s: got %q among the probes", sub.Subject, data)
			}
			if got[data] {
				t.Fatalf("%s: probe %q arrived twice: a message crossed more than one route, or looped", sub.Subject, data)
			}
			got[data] = true
		}
	}
}

// nothingBefore proves that none of subs has received anything it has not
// read yet: it publishes a marker on subject from pub and requires the
// marker to be the next message of each. That covers pub's earlier
// messages, and another connection's once that connection's flush (or an
// error the server answered it with) returned.
func nothingBefore(t *testing.T, pub *nats.Conn, subject string, subs ...*nats.Subscription) {
	t.Helper()
	marker := unique("marker-")
	if err := pub.Publish(subject, []byte(marker)); err != nil {
		t.Fatal(err)
	}
	if err := pub.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, sub := range subs {
		m, err := sub.NextMsg(syncWait)
		if err != nil {
			t.Fatalf("%s: the marker did not arrive: %v", sub.Subject, err)
		}
		if string(m.Data) != marker {
			t.Fatalf("%s: got %s %q before the marker, want nothing", sub.Subject, m.Subject, m.Data)
		}
	}
}

// queueMember is one member of a queue group on a connection of its own,
// which also subscribes plainly to a marker subject. Both subscriptions
// feed one channel, which the connection's reader fills in the order the
// server sent: so once a member has the marker a publisher sent after its
// messages, it has every message of that publisher the server gave it —
// a duplicate included.
type queueMember struct {
	mu      sync.Mutex
	got     map[string]int // queue message payload → deliveries
	markers map[string]bool
	n       atomic.Int64 // queue messages received
	done    chan struct{}
}

func newQueueMember(t *testing.T, url, subject, queue, markSubject string) *queueMember {
	t.Helper()
	nc := connect(t, url)
	ch := make(chan *nats.Msg, 1<<16)
	m := &queueMember{got: map[string]int{}, markers: map[string]bool{}, done: make(chan struct{})}
	if _, err := nc.ChanQueueSubscribe(subject, queue, ch); err != nil {
		t.Fatal(err)
	}
	if _, err := nc.ChanSubscribe(markSubject, ch); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			select {
			case msg := <-ch:
				m.mu.Lock()
				if msg.Subject == markSubject {
					m.markers[string(msg.Data)] = true
				} else {
					m.got[string(msg.Data)]++
					m.n.Add(1)
				}
				m.mu.Unlock()
			case <-m.done:
				return
			}
		}
	}()
	t.Cleanup(func() { close(m.done) })
	return m
}

// reset forgets what the member received so far.
func (m *queueMember) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.got = map[string]int{}
	m.n.Store(0)
}

// markAll publishes a marker on markSubject from each publisher and waits
// until every member has every marker: then each has all it will ever get
// of what the publishers sent before.
func markAll(t *testing.T, markSubject string, members []*queueMember, pubs ...*nats.Conn) {
	t.Helper()
	var markers []string
	for _, p := range pubs {
		mk := unique("marker-")
		markers = append(markers, mk)
		if err := p.Publish(markSubject, []byte(mk)); err != nil {
			t.Fatal(err)
		}
		if err := p.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, syncWait, func() error {
		for i, m := range members {
			m.mu.Lock()
			for _, mk := range markers {
				if !m.markers[mk] {
					m.mu.Unlock()
					return fmt.Errorf("member %d lacks marker %s", i, mk)
				}
			}
			m.mu.Unlock()
		}
		return nil
	})
}

// waitMarkInterest waits until a marker from each publisher reaches every
// member (the members' marker subscriptions are known across the routes),
// publishing fresh markers until then.
func waitMarkInterest(t *testing.T, markSubject string, members []*queueMember, pubs ...*nats.Conn) {
	t.Helper()
	testutil.Eventually(t, syncWait, func() error {
		var markers []string
		for _, p := range pubs {
			mk := unique("marker-")
			markers = append(markers, mk)
			_ = p.Publish(markSubject, []byte(mk))
			_ = p.Flush()
		}
		deadline := time.Now().Add(100 * time.Millisecond)
		for {
			missing := 0
			for _, m := range members {
				m.mu.Lock()
				for _, mk := range markers {
					if !m.markers[mk] {
						missing++
					}
				}
				m.mu.Unlock()
			}
			if missing == 0 {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%d markers missing", missing)
			}
			time.Sleep(5 * time.Millisecond)
		}
	})
}

// tally merges the members' deliveries: payload → deliveries, and the
// count per member.
func tally(members []*queueMember) (map[string]int, []int64) {
	all := map[string]int{}
	per := make([]int64, len(members))
	for i, m := range members {
		m.mu.Lock()
		for k, n := range m.got {
			all[k] += n
			per[i] += int64(n)
		}
		m.mu.Unlock()
	}
	return all, per
}
