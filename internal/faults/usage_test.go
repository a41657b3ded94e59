package faults

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// A healed node must hold exactly the fds and goroutines it held before the
// fault (the waits are Eventually-style, so a goroutine that happens to be
// running at one look does not count), with one correction: a route's
// reader runs on its dialer's goroutine when this node dialed the route
// (/routez did_solicit), and on a goroutine of its own when the peer did.
// A route the fault made anew the other way round holds one goroutine more,
// or one fewer.

// usage is what a natsd process holds: open file descriptors and, from
// /varz, goroutines (-1 where /varz has no count, as nats-server's); and
// how many of its routes the peer dialed.
type usage struct {
	fds, goroutines, accepted int
}

func (u usage) String() string {
	return fmt.Sprintf("%d fds, %d goroutines (%d routes accepted)", u.fds, u.goroutines, u.accepted)
}

func (n *node) usage() (usage, error) {
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", n.pid()))
	if err != nil {
		return usage{}, err
	}
	var v struct {
		Goroutines *int `json:"goroutines"`
	}
	if err := n.getJSON("/varz", &v); err != nil {
		return usage{}, err
	}
	var rz struct {
		Routes []struct {
			DidSolicit bool `json:"did_solicit"`
		} `json:"routes"`
	}
	if err := n.getJSON("/routez", &rz); err != nil {
		return usage{}, err
	}
	u := usage{fds: len(ents), goroutines: -1}
	if v.Goroutines != nil {
		u.goroutines = *v.Goroutines
	}
	for _, r := range rz.Routes {
		if !r.DidSolicit {
			u.accepted++
		}
	}
	return u, nil
}

// referenceRun says whether NATSD_BIN points the suite at nats-server.
func referenceRun() bool {
	return strings.HasPrefix(filepath.Base(os.Getenv("NATSD_BIN")), "nats-server")
}

// baseline is n's usage in a steady state: the lowest of a few samples, so
// that a goroutine that happened to be running at one sample does not raise
// the bar the fault is held to.
func baseline(t *testing.T, n *node) usage {
	t.Helper()
	var best usage
	for i := range 5 {
		u, err := n.usage()
		if err != nil {
			t.Fatalf("%s: %v", n.name, err)
		}
		if u.goroutines < 0 && !referenceRun() {
			t.Fatalf("%s: /varz has no goroutine count", n.name)
		}
		if i == 0 || u.fds < best.fds {
			best.fds = u.fds
		}
		if i == 0 || u.goroutines < best.goroutines {
			best.goroutines = u.goroutines
		}
		best.accepted = u.accepted
		time.Sleep(50 * time.Millisecond) // spacing of the samples, not a wait for an outcome
	}
	return best
}

// backToBaseline waits until n holds no more fds than base, and no more
// goroutines than base corrected for its accepted routes (see above), and
// returns what it holds then. A leak keeps it above until the bound.
func backToBaseline(t *testing.T, n *node, base usage, within time.Duration) usage {
	t.Helper()
	var u usage
	testutil.Eventually(t, within, func() error {
		var err error
		if u, err = n.usage(); err != nil {
			return err
		}
		if u.fds > base.fds || u.goroutines > base.goroutines+u.accepted-base.accepted {
			return fmt.Errorf("%s holds %v, baseline %v: leaked", n.name, u, base)
		}
		return nil
	})
	return u
}

// rssKiB is VmRSS of pid.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}

// rssSampler records the peak VmRSS of processes every 50 ms while a fault
// runs. A process that is gone (killed by the test) is skipped.
type rssSampler struct {
	mu    sync.Mutex
	pids  map[string]int
	peak  map[string]int64
	stopC chan struct{}
	done  chan struct{}
}

func sampleRSS(nodes ...*node) *rssSampler {
	s := &rssSampler{pids: map[string]int{}, peak: map[string]int64{}, stopC: make(chan struct{}), done: make(chan struct{})}
	for _, n := range nodes {
		s.pids[n.name] = n.pid()
	}
	go func() {
		defer close(s.done)
		tk := time.NewTicker(50 * time.Millisecond)
		defer tk.Stop()
		for {
			s.sample()
			select {
			case <-s.stopC:
				return
			case <-tk.C:
			}
		}
	}()
	return s
}

// track points the sampler at n's process after a restart.
func (s *rssSampler) track(n *node) {
	s.mu.Lock()
	s.pids[n.name] = n.pid()
	s.mu.Unlock()
}

func (s *rssSampler) sample() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, pid := range s.pids {
		if kb, err := rssKiB(pid); err == nil && kb > s.peak[name] {
			s.peak[name] = kb
		}
	}
}

// stop ends the sampling and fails t if a peak passed boundMiB; it returns
// the peaks ("A 41 MiB, B 40 MiB").
func (s *rssSampler) stop(t *testing.T, boundMiB int64) string {
	t.Helper()
	close(s.stopC)
	<-s.done
	s.sample()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, name := range slices.Sorted(maps.Keys(s.peak)) {
		mib := s.peak[name] >> 10
		out = append(out, fmt.Sprintf("%s %d MiB", name, mib))
		if mib > boundMiB {
			t.Errorf("%s: peak RSS %d MiB over the bound of %d MiB", name, mib, boundMiB)
		}
	}
	return strings.Join(out, ", ") + fmt.Sprintf(" (bound %d MiB)", boundMiB)
}
