package raftdriver

import (
	"container/heap"
	"fmt"
	"math/rand"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/natsd/natsd/internal/testutil"
	"github.com/natsd/natsd/jetstream/journal"
)

// memNet is the tests' transport between drivers in one process: what
// the routes are in a server. Faults are chosen by a seeded generator:
// drop, duplicate, delay (which reorders), and partitions that cut a
// server off both ways.
type memNet struct {
	mu        sync.Mutex
	rng       *rand.Rand
	nodes     map[uint64]*Driver
	cut       map[uint64]bool
	drop, dup float64
	maxDelay  time.Duration
	// onSend, when set, sees every batch as it is sent (on the sender's
	// driver goroutine).
	onSend func(from, to uint64, batch []byte)

	queue   deliveries
	seq     uint64
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
	closeMu sync.Once
}

type delivery struct {
	at    time.Time
	seq   uint64
	to    uint64
	batch []byte
}

type deliveries []delivery

func (q deliveries) Len() int { return len(q) }
func (q deliveries) Less(i, j int) bool {
	if q[i].at.Equal(q[j].at) {
		return q[i].seq < q[j].seq
	}
	return q[i].at.Before(q[j].at)
}
func (q deliveries) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *deliveries) Push(x any)   { *q = append(*q, x.(delivery)) }
func (q *deliveries) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func newMemNet(seed int64) *memNet {
	n := &memNet{
		rng:   rand.New(rand.NewSource(seed)),
		nodes: map[uint64]*Driver{},
		cut:   map[uint64]bool{},
		wake:  make(chan struct{}, 1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go n.deliver()
	return n
}

func (n *memNet) close() {
	n.closeMu.Do(func() { close(n.quit) })
	<-n.done
}

func (n *memNet) set(id uint64, d *Driver) {
	n.mu.Lock()
	n.nodes[id] = d
	n.mu.Unlock()
}

func (n *memNet) faults(drop, dup float64, maxDelay time.Duration) {
	n.mu.Lock()
	n.drop, n.dup, n.maxDelay = drop, dup, maxDelay
	n.mu.Unlock()
}

func (n *memNet) partition(id uint64, cut bool) {
	n.mu.Lock()
	n.cut[id] = cut
	n.mu.Unlock()
}

// transport is server from's end of the network.
func (n *memNet) transport(from uint64) Transport { return netEnd{n: n, from: from} }

type netEnd struct {
	n    *memNet
	from uint64
}

func (e netEnd) Send(to uint64, batch []byte) {
	n := e.n
	n.mu.Lock()
	onSend := n.onSend
	if n.cut[e.from] || n.cut[to] {
		sender := n.nodes[e.from]
		n.mu.Unlock()
		if onSend != nil {
			onSend(e.from, to, batch)
		}
		// A transport that knows the peer is gone says so.
		if sender != nil {
			sender.ReportUnreachable(to)
		}
		return
	}
	copies := 1
	if n.drop > 0 && n.rng.Float64() < n.drop {
		copies = 0
	} else if n.dup > 0 && n.rng.Float64() < n.dup {
		copies = 2
	}
	now := time.Now()
	for i := 0; i < copies; i++ {
		var delay time.Duration
		if n.maxDelay > 0 {
			delay = time.Duration(n.rng.Int63n(int64(n.maxDelay)))
		}
		n.seq++
		heap.Push(&n.queue, delivery{at: now.Add(delay), seq: n.seq, to: to, batch: batch})
	}
	n.mu.Unlock()
	if onSend != nil {
		onSend(e.from, to, batch)
	}
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// deliver hands batches to their receivers when they are due, in order
// of due time (a random delay reorders them).
func (n *memNet) deliver() {
	defer close(n.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		n.mu.Lock()
		now := time.Now()
		var due []delivery
		for n.queue.Len() > 0 && !n.queue[0].at.After(now) {
			due = append(due, heap.Pop(&n.queue).(delivery))
		}
		next := time.Hour
		if n.queue.Len() > 0 {
			next = n.queue[0].at.Sub(now)
		}
		var targets []*Driver
		for _, dl := range due {
			if n.cut[dl.to] {
				targets = append(targets, nil)
				continue
			}
			targets = append(targets, n.nodes[dl.to])
		}
		n.mu.Unlock()
		for i, dl := range due {
			if targets[i] != nil {
				targets[i].Receive(dl.batch)
			}
		}
		timer.Reset(next)
		select {
		case <-n.quit:
			return
		case <-n.wake:
		case <-timer.C:
		}
	}
}

// testSM records what a group applied, and checks as it goes that
// entries arrive in order without gaps or repeats.
type testSM struct {
	id    uint64
	group string
	chk   *checker

	mu      sync.Mutex
	last    uint64
	entries []string // "index/term/type/data" of every entry applied
	ordered []string // the non-empty normal entries' data, in order
	datas   map[string]bool
	leaders [][2]uint64
	snaps   []string // data of the snapshots applied
}

func newTestSM(id uint64, group string, chk *checker) *testSM {
	return &testSM{id: id, group: group, chk: chk, datas: map[string]bool{}}
}

func (s *testSM) Apply(ents []*raftpb.Entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range ents {
		if s.last != 0 && e.GetIndex() != s.last+1 {
			s.chk.failf("server %d group %s: applied index %d after %d", s.id, s.group, e.GetIndex(), s.last)
		}
		s.last = e.GetIndex()
		s.entries = append(s.entries, fmt.Sprintf("%d/%d/%d/%s", e.GetIndex(), e.GetTerm(), e.GetType(), e.GetData()))
		if d := string(e.GetData()); e.GetType() == raftpb.EntryType_EntryNormal && d != "" {
			if s.datas[d] {
				s.chk.failf("server %d group %s: %q applied twice", s.id, s.group, d)
			}
			s.datas[d] = true
			if !strings.HasPrefix(d, "barrier-") {
				s.ordered = append(s.ordered, d)
			}
		}
	}
}

// ApplySnapshot takes a snapshot's state as what was applied up to its
// index: the entries that follow continue from there.
func (s *testSM) ApplySnapshot(snap *raftpb.Snapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	idx := snap.GetMetadata().GetIndex()
	if idx <= s.last {
		s.chk.failf("server %d group %s: snapshot at %d after applying %d", s.id, s.group, idx, s.last)
	}
	s.last = idx
	s.snaps = append(s.snaps, string(snap.GetData()))
}

func (s *testSM) LeaderChanged(leader, term uint64) {
	s.mu.Lock()
	s.leaders = append(s.leaders, [2]uint64{leader, term})
	s.mu.Unlock()
	if leader != 0 {
		s.chk.leader(s.group, term, leader)
	}
}

// snapshot is a copy of what was applied.
func (s *testSM) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.entries...)
}

func (s *testSM) lastIndex() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// has says whether data was applied (barriers included).
func (s *testSM) has(data string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.datas[data]
}

// data are the non-empty normal entries applied, in order, barriers
// aside.
func (s *testSM) data() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ordered...)
}

// checker collects invariant violations from every goroutine.
type checker struct {
	mu      sync.Mutex
	errs    []string
	leaders map[string]map[uint64]uint64 // group → term → leader
}

func newChecker() *checker { return &checker{leaders: map[string]map[uint64]uint64{}} }

func (c *checker) failf(format string, args ...any) {
	c.mu.Lock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

// leader records that leader led group in term: two leaders in one term
// is the election safety Raft promises.
func (c *checker) leader(group string, term, leader uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.leaders[group]
	if m == nil {
		m = map[uint64]uint64{}
		c.leaders[group] = m
	}
	if prev, ok := m[term]; ok && prev != leader {
		c.errs = append(c.errs, fmt.Sprintf("group %s term %d: leaders %d and %d", group, term, prev, leader))
	}
	m[term] = leader
}

func (c *checker) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.errs) > 0 {
		t.Fatalf("%d invariant violations, first: %v", len(c.errs), c.errs[:min(len(c.errs), 5)])
	}
}

// cluster is n drivers (ids 1..n) on one memNet, each with its journal.
type cluster struct {
	t        *testing.T
	net      *memNet
	chk      *checker
	tick     time.Duration
	journals map[uint64]*journal.Journal
	logs     map[uint64]Log
	drivers  map[uint64]*Driver
	sms      map[uint64]map[string]*testSM
	// wrapLog, when set, wraps each server's journal (tests that watch
	// the driver's calls).
	wrapLog func(id uint64, j *journal.Journal) Log
	// barriers numbers proposeFromLeader's barriers; retried counts, per
	// group, proposals it had to make again.
	barriers int
	retried  map[string]int
}

func newCluster(t *testing.T, n int, seed int64) *cluster {
	c := &cluster{
		t:        t,
		net:      newMemNet(seed),
		chk:      newChecker(),
		tick:     10 * time.Millisecond,
		journals: map[uint64]*journal.Journal{},
		logs:     map[uint64]Log{},
		drivers:  map[uint64]*Driver{},
		sms:      map[uint64]map[string]*testSM{},
		retried:  map[string]int{},
	}
	t.Cleanup(c.close)
	return c
}

// start runs server id's driver, on its journal (kept across restarts).
func (c *cluster) start(id uint64) *Driver {
	d := c.startStopped(id)
	d.Start()
	return d
}

// startStopped is start without Driver.Start.
func (c *cluster) startStopped(id uint64) *Driver {
	j := c.journals[id]
	if j == nil {
		j = journal.OpenMemory()
		c.journals[id] = j
		var l Log = j
		if c.wrapLog != nil {
			l = c.wrapLog(id, j)
		}
		c.logs[id] = l
	}
	d := New(Config{ID: id, Log: c.logs[id], Transport: c.net.transport(id), Tick: c.tick})
	if w, ok := c.logs[id].(*watchedLog); ok {
		w.drv.Store(d)
	}
	c.net.set(id, d)
	c.drivers[id] = d
	c.sms[id] = map[string]*testSM{}
	return d
}

// addGroup adds group on server id with a fresh state machine.
func (c *cluster) addGroup(id uint64, group string, peers []uint64) *testSM {
	c.t.Helper()
	sm := newTestSM(id, group, c.chk)
	if err := c.drivers[id].AddGroup(group, peers, 0, sm); err != nil {
		c.t.Fatalf("AddGroup(%s) on %d: %v", group, id, err)
	}
	c.sms[id][group] = sm
	return sm
}

func (c *cluster) close() {
	for _, d := range c.drivers {
		d.Stop()
	}
	c.net.close()
}

// leader waits for one server to lead group (seen by that server's
// driver) and returns it.
func (c *cluster) leader(group string) uint64 {
	c.t.Helper()
	var lead uint64
	testutil.Eventually(c.t, 15*time.Second, func() error {
		for id, d := range c.drivers {
			if st, ok := d.Status(group); ok && st.Leader == id {
				lead = id
				return nil
			}
		}
		return fmt.Errorf("group %s has no leader", group)
	})
	return lead
}

func ids(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// checkNoLeak fails the test if goroutines it started outlive it; it is
// registered first so that it runs after every other cleanup.
func checkNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	t.Cleanup(func() {
		testutil.Eventually(t, 5*time.Second, func() error {
			if n := runtime.NumGoroutine(); n > base {
				return fmt.Errorf("%d goroutines, %d before the test", n, base)
			}
			return nil
		})
	})
}
