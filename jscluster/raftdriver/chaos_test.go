package raftdriver

import (
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// Several groups on 3 or 5 servers over a network that drops a tenth of
// the batches, duplicates, delays and reorders them, and cuts one server
// off for a while, and kills and restarts another; proposals go to
// whoever leads. Throughout: at most one
// leader per term per group, every server's applied entries a prefix of
// the longest (committed prefixes agree), entries applied in order with
// no gap or repeat and no proposal applied twice. After healing, every
// server converges on the same entries.
func TestChaos(t *testing.T) {
	tests := []struct {
		servers, groups int
		seed            int64
	}{
		{3, 3, 11},
		{3, 3, 12},
		{5, 3, 13},
		{5, 2, 14},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("servers=%d/groups=%d/seed=%d", tc.servers, tc.groups, tc.seed), func(t *testing.T) {
			runChaos(t, tc.servers, tc.groups, tc.seed)
		})
	}
}

func runChaos(t *testing.T, servers, ngroups int, seed int64) {
	checkNoLeak(t)
	c := newCluster(t, servers, seed)
	c.tick = 10 * time.Millisecond
	c.net.faults(0.10, 0.05, 15*time.Millisecond)
	rng := rand.New(rand.NewSource(seed))
	var groups []string
	for i := 0; i < ngroups; i++ {
		groups = append(groups, fmt.Sprintf("g%d", i))
	}
	for _, id := range ids(servers) {
		c.start(id)
		for _, g := range groups {
			c.addGroup(id, g, ids(servers))
		}
	}

	// The proposer's view of the drivers (a restart replaces one).
	var dmu sync.Mutex
	drivers := map[uint64]*Driver{}
	for id, d := range c.drivers {
		drivers[id] = d
	}
	driver := func(id uint64) *Driver {
		dmu.Lock()
		defer dmu.Unlock()
		return drivers[id]
	}

	// The proposer: unique data to whoever leads each group.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		lead := map[string]uint64{}
		n := 0
		for {
			select {
			case <-stop:
				return
			default:
			}
			for _, g := range groups {
				id := lead[g]
				if id == 0 {
					id = uint64(rng.Intn(servers) + 1)
				}
				n++
				err := driver(id).Propose(g, fmt.Appendf(nil, "%s:%d", g, n))
				if errors.Is(err, ErrNotLeader) || errors.Is(err, ErrStopped) {
					lead[g] = 0
					if st, ok := driver(id).Status(g); ok && st.Leader != 0 {
						lead[g] = st.Leader
					}
				}
			}
			time.Sleep(time.Millisecond)
		}
	}()

	mon := newMonitor(c, groups)
	phase := func(d time.Duration) {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			mon.check(t)
			time.Sleep(20 * time.Millisecond)
		}
	}
	phase(700 * time.Millisecond)
	// Cut off the leader of the first group: a leader in a minority must
	// step down (check-quorum) and the majority elect another.
	cut := c.leader(groups[0])
	c.net.partition(cut, true)
	phase(900 * time.Millisecond)
	c.net.partition(cut, false)
	phase(300 * time.Millisecond)
	// Kill another server and restart it on its journal, with its state
	// machines as they were (what they applied is theirs to keep).
	victim := cut%uint64(servers) + 1
	c.drivers[victim].Stop()
	phase(300 * time.Millisecond)
	sms := c.sms[victim]
	d := c.start(victim)
	c.sms[victim] = sms
	for _, g := range groups {
		if err := d.AddGroup(g, ids(servers), sms[g].lastIndex(), sms[g]); err != nil {
			t.Fatal(err)
		}
	}
	dmu.Lock()
	drivers[victim] = d
	dmu.Unlock()
	phase(400 * time.Millisecond)
	close(stop)
	wg.Wait()

	// Converge: a last proposal per group, applied everywhere, and then
	// every server holds the same entries.
	for _, g := range groups {
		// Each attempt is a new marker (one proposal is never made twice:
		// the state machines check that nothing is applied twice).
		attempt := 0
		testutil.Eventually(t, 20*time.Second, func() error {
			mon.check(t)
			for k := 1; k <= attempt; k++ {
				final := fmt.Sprintf("%s:final:%d", g, k)
				everywhere := true
				for _, id := range ids(servers) {
					everywhere = everywhere && slices.Contains(c.sms[id][g].data(), final)
				}
				if everywhere {
					return nil
				}
			}
			attempt++
			for _, d := range c.drivers {
				_ = d.Propose(g, fmt.Appendf(nil, "%s:final:%d", g, attempt))
			}
			return fmt.Errorf("no final marker of %s applied everywhere after %d attempts", g, attempt)
		})
	}
	for _, g := range groups {
		testutil.Eventually(t, 20*time.Second, func() error {
			ref := c.sms[1][g].snapshot()
			for _, id := range ids(servers)[1:] {
				if got := c.sms[id][g].snapshot(); !slices.Equal(got, ref) {
					return fmt.Errorf("group %s: server %d applied %d entries, server 1 %d", g, id, len(got), len(ref))
				}
			}
			return nil
		})
	}
	mon.check(t)
	var applied int
	for _, g := range groups {
		applied += len(c.sms[1][g].data())
	}
	st := c.drivers[cut].Stats()
	c.chk.mu.Lock()
	terms := len(c.chk.leaders[groups[0]])
	c.chk.mu.Unlock()
	t.Logf("server %d cut off; %d proposals applied; %d terms with a leader in %s; its stats %+v", cut, applied, terms, groups[0], st)
	if terms < 2 {
		t.Fatalf("group %s had %d leaders: cutting its leader off did not elect another", groups[0], terms)
	}
	if applied < len(groups)*10 {
		t.Fatalf("only %d proposals applied: the chaos left nothing to check", applied)
	}
}

// monitor checks the invariants over what the state machines applied.
type monitor struct {
	c      *cluster
	groups []string
	seen   map[string][]string // server/group → what was applied at the last check
}

func newMonitor(c *cluster, groups []string) *monitor {
	return &monitor{c: c, groups: groups, seen: map[string][]string{}}
}

func (m *monitor) check(t *testing.T) {
	t.Helper()
	m.c.chk.check(t)
	for _, g := range m.groups {
		var longest []string
		snaps := map[uint64][]string{}
		for id, sms := range m.c.sms {
			s := sms[g].snapshot()
			snaps[id] = s
			if len(s) > len(longest) {
				longest = s
			}
			// Nothing applied is ever taken back.
			key := fmt.Sprintf("%d/%s", id, g)
			prev := m.seen[key]
			if len(s) < len(prev) || !slices.Equal(s[:len(prev)], prev) {
				t.Fatalf("server %d group %s: applied entries changed (%d then %d)", id, g, len(prev), len(s))
			}
			m.seen[key] = s
		}
		for id, s := range snaps {
			if !slices.Equal(s, longest[:len(s)]) {
				i := 0
				for i < len(s) && s[i] == longest[i] {
					i++
				}
				t.Fatalf("group %s: server %d applied %q at position %d where another applied %q", g, id, s[i], i, longest[i])
			}
		}
	}
}
