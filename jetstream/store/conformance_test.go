package store_test

import (
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/natsd/natsd/jetstream/store"
)

// kind is one store implementation under the conformance suite.
type kind struct {
	name string
	open func(t *testing.T, cfg store.Config) store.Store
	// reopen stops st and opens it again (nil: the kind keeps nothing).
	reopen func(t *testing.T, st store.Store, cfg store.Config) store.Store
}

// fileKind is the file store on the real disk; sync picks SyncAlways or
// a SyncInterval.
func fileKind(name string, always bool) kind {
	dirs := map[store.Store]string{}
	var mu sync.Mutex
	open := func(t *testing.T, dir string, cfg store.Config) store.Store {
		cfg.SyncAlways = always
		if !always {
			cfg.SyncInterval = 20 * time.Millisecond
		}
		st, err := store.OpenFileStore(store.OSFS(), dir, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Stop() })
		mu.Lock()
		dirs[st] = dir
		mu.Unlock()
		return st
	}
	return kind{
		name: name,
		open: func(t *testing.T, cfg store.Config) store.Store { return open(t, t.TempDir(), cfg) },
		reopen: func(t *testing.T, st store.Store, cfg store.Config) store.Store {
			if err := st.Stop(); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			dir := dirs[st]
			mu.Unlock()
			return open(t, dir, cfg)
		},
	}
}

var kinds = []kind{
	{"mem", func(t *testing.T, cfg store.Config) store.Store {
		st, err := store.NewMemStore(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Stop() })
		return st
	}, nil},
	fileKind("file", true),
	fileKind("file-interval", false),
}

// conformance is the table of behaviour every store must show.
var conformance = []struct {
	name string
	fn   func(t *testing.T, k kind)
}{
	{"StoreLoad", testStoreLoad},
	{"RandomAgainstModel", testRandomAgainstModel},
	{"RemoveErase", testRemoveErase},
	{"MaxMsgs", testMaxMsgs},
	{"MaxBytes", testMaxBytes},
	{"PerSubject", testPerSubject},
	{"MaxMsgSize", testMaxMsgSize},
	{"MaxAge", testMaxAge},
	{"MsgTTL", testMsgTTL},
	{"PurgeCompactTruncate", testPurgeCompactTruncate},
	{"SkipMsgs", testSkipMsgs},
	{"SeqForTime", testSeqForTime},
	{"UpdateConfig", testUpdateConfig},
	{"Concurrent", testConcurrent},
	{"Closed", testClosed},
	{"ConsumerExplicit", testConsumerExplicit},
	{"ConsumerAll", testConsumerAll},
	{"ConsumerNone", testConsumerNone},
}

func TestConformance(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			for _, c := range conformance {
				t.Run(c.name, func(t *testing.T) { c.fn(t, k) })
			}
		})
	}
}

func store1(t *testing.T, st store.Store, subj, data string) uint64 {
	t.Helper()
	seq, _, err := st.StoreMsg(subj, nil, []byte(data), 0)
	if err != nil {
		t.Fatalf("StoreMsg(%s): %v", subj, err)
	}
	return seq
}

// seqsOf lists the live sequences by walking LoadNextMsg.
func seqsOf(t *testing.T, st store.Store) []uint64 {
	t.Helper()
	var out []uint64
	var sm store.StoreMsg
	for s := uint64(0); ; s++ {
		m, err := st.LoadNextMsg(nil, s, &sm)
		if errors.Is(err, store.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Seq)
		s = m.Seq
	}
}

func wantSeqs(t *testing.T, st store.Store, want ...uint64) {
	t.Helper()
	if got := seqsOf(t, st); !slices.Equal(got, want) {
		t.Fatalf("stored sequences %v, want %v", got, want)
	}
}

func testStoreLoad(t *testing.T, k kind) {
	st := k.open(t, store.Config{Name: "S"})
	hdr := []byte("NATS/1.0\r\nA: b\r\n\r\n")
	var last int64
	for i := 1; i <= 5; i++ {
		seq, ts, err := st.StoreMsg(fmt.Sprintf("foo.%d", i), hdr, []byte(fmt.Sprint(i)), 0)
		if err != nil || seq != uint64(i) || ts < last {
			t.Fatalf("StoreMsg #%d = %d, %d, %v", i, seq, ts, err)
		}
		last = ts
	}
	var sm store.StoreMsg
	for i := 5; i >= 1; i-- { // one reused StoreMsg, large to small
		m, err := st.LoadMsg(uint64(i), &sm)
		if err != nil || m != &sm || m.Subject != fmt.Sprintf("foo.%d", i) || string(m.Data) != fmt.Sprint(i) || string(m.Header) != string(hdr) {
			t.Fatalf("LoadMsg(%d) = %+v, %v", i, m, err)
		}
	}
	for _, s := range []uint64{0, 6, 1 << 40} {
		if _, err := st.LoadMsg(s, nil); !errors.Is(err, store.ErrMsgNotFound) {
			t.Fatalf("LoadMsg(%d) = %v, want ErrMsgNotFound", s, err)
		}
	}
	state := st.State(false)
	if state.Msgs != 5 || state.FirstSeq != 1 || state.LastSeq != 5 || state.NumSubjects != 5 ||
		state.Bytes == 0 || state.FirstTime.IsZero() || state.LastTime.UnixNano() != last || state.Lost != nil {
		t.Fatalf("State = %+v", state)
	}
	// A message with neither header nor data.
	seq, _, err := st.StoreMsg("empty", nil, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := st.LoadMsg(seq, &sm); err != nil || len(m.Header) != 0 || len(m.Data) != 0 || m.Subject != "empty" {
		t.Fatalf("empty message: %+v, %v", m, err)
	}
}

// testRandomAgainstModel runs seeded random operations and compares every
// query with the brute-force model after each round.
func testRandomAgainstModel(t *testing.T, k kind) {
	for seed := int64(1); seed <= 6; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			st := k.open(t, store.Config{Name: "S"})
			m := newModel()
			for i := range 12 {
				randomOps(t, st, m, rng, 40)
				checkAgainst(t, st, m, rng)
				if k.reopen != nil && i%3 == 2 {
					st = k.reopen(t, st, store.Config{Name: "S"})
					checkAgainst(t, st, m, rng)
				}
			}
		})
	}
}

func testRemoveErase(t *testing.T, k kind) {
	st := k.open(t, store.Config{Name: "S"})
	for i := 0; i < 6; i++ {
		store1(t, st, "s", "x")
	}
	for _, c := range []struct {
		seq   uint64
		erase bool
	}{{1, false}, {3, true}, {6, false}} {
		var ok bool
		var err error
		if c.erase {
			ok, err = st.EraseMsg(c.seq)
		} else {
			ok, err = st.RemoveMsg(c.seq)
		}
		if !ok || err != nil {
			t.Fatalf("remove %d = %v, %v", c.seq, ok, err)
		}
		if ok, err := st.RemoveMsg(c.seq); ok || err != nil {
			t.Fatalf("second remove %d = %v, %v", c.seq, ok, err)
		}
		if _, err := st.LoadMsg(c.seq, nil); !errors.Is(err, store.ErrMsgNotFound) {
			t.Fatalf("load removed %d: %v", c.seq, err)
		}
	}
	state := st.State(true)
	// The last sequence stays 6 though message 6 is gone: sequences are
	// never given twice.
	if state.Msgs != 3 || state.FirstSeq != 2 || state.LastSeq != 6 || !slices.Equal(state.Deleted, []uint64{3, 6}) || state.NumDeleted != 2 {
		t.Fatalf("State = %+v", state)
	}
	if seq := store1(t, st, "s", "y"); seq != 7 {
		t.Fatalf("next seq %d, want 7", seq)
	}
	if ss := st.FilteredState(0, "s"); ss != (store.SimpleState{Msgs: 4, First: 2, Last: 7}) {
		t.Fatalf("FilteredState = %+v", ss)
	}
}

// removals records OnRemove calls; it calls back into the store to prove
// the callback runs without the store's lock.
type removals struct {
	mu   sync.Mutex
	seqs []uint64
}

func watch(st store.Store) *removals {
	r := &removals{}
	st.OnRemove(func(seq uint64, subj string) {
		st.State(false) // deadlocks if the store held its lock
		r.mu.Lock()
		r.seqs = append(r.seqs, seq)
		r.mu.Unlock()
	})
	return r
}

func (r *removals) get() []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.seqs)
}

func testMaxMsgs(t *testing.T, k kind) {
	st := k.open(t, store.Config{Name: "S", MaxMsgs: 3})
	rm := watch(st)
	for i := 0; i < 5; i++ {
		store1(t, st, "s", "x")
	}
	wantSeqs(t, st, 3, 4, 5)
	if got := rm.get(); !slices.Equal(got, []uint64{1, 2}) {
		t.Fatalf("OnRemove got %v", got)
	}
	st2 := k.open(t, store.Config{Name: "S", MaxMsgs: 3, Discard: store.DiscardNew})
	for i := 0; i < 3; i++ {
		store1(t, st2, "s", "x")
	}
	if _, _, err := st2.StoreMsg("s", nil, nil, 0); !errors.Is(err, store.ErrMaxMsgs) {
		t.Fatalf("DiscardNew over MaxMsgs: %v", err)
	}
	wantSeqs(t, st2, 1, 2, 3)
	st2.RemoveMsg(2)
	if seq := store1(t, st2, "s", "x"); seq != 4 {
		t.Fatalf("seq after room was made: %d", seq)
	}
}

func testMaxBytes(t *testing.T, k kind) {
	probe := k.open(t, store.Config{Name: "P"})
	store1(t, probe, "s", "0123456789")
	one := probe.State(false).Bytes // what one message counts, by this store's measure
	st := k.open(t, store.Config{Name: "S", MaxBytes: int64(3*one + one/2)})
	for i := 0; i < 5; i++ {
		store1(t, st, "s", "0123456789")
	}
	wantSeqs(t, st, 3, 4, 5)
	if b := st.State(false).Bytes; b != 3*one {
		t.Fatalf("Bytes %d, want %d", b, 3*one)
	}
	st2 := k.open(t, store.Config{Name: "S", MaxBytes: int64(2 * one), Discard: store.DiscardNew})
	store1(t, st2, "s", "0123456789")
	store1(t, st2, "s", "0123456789")
	if _, _, err := st2.StoreMsg("s", nil, []byte("0123456789"), 0); !errors.Is(err, store.ErrMaxBytes) {
		t.Fatalf("DiscardNew over MaxBytes: %v", err)
	}
}

func testPerSubject(t *testing.T, k kind) {
	st := k.open(t, store.Config{Name: "S", MaxMsgsPerSubject: 2})
	rm := watch(st)
	for _, s := range []string{"a", "b", "a", "a", "b", "a"} {
		store1(t, st, s, "x")
	}
	// a: 1 3 4 6 → 4 6; b: 2 5.
	wantSeqs(t, st, 2, 4, 5, 6)
	if got := rm.get(); !slices.Equal(got, []uint64{1, 3}) {
		t.Fatalf("OnRemove got %v", got)
	}
	// DiscardNew alone still drops the oldest of a subject; with
	// DiscardNewPerSubject the new one is refused.
	st2 := k.open(t, store.Config{Name: "S", MaxMsgsPerSubject: 1, Discard: store.DiscardNew})
	store1(t, st2, "k", "1")
	store1(t, st2, "k", "2")
	wantSeqs(t, st2, 2)
	st3 := k.open(t, store.Config{Name: "S", MaxMsgsPerSubject: 1, Discard: store.DiscardNew, DiscardNewPerSubject: true})
	store1(t, st3, "k", "1")
	if _, _, err := st3.StoreMsg("k", nil, nil, 0); !errors.Is(err, store.ErrMaxMsgsPerSubject) {
		t.Fatalf("DiscardNewPerSubject: %v", err)
	}
	store1(t, st3, "other", "1")
	wantSeqs(t, st3, 1, 2)
}

func testMaxMsgSize(t *testing.T, k kind) {
	st := k.open(t, store.Config{Name: "S", MaxMsgSize: 10})
	if _, _, err := st.StoreMsg("s", []byte("12345"), []byte("123456"), 0); !errors.Is(err, store.ErrMaxMsgSize) {
		t.Fatalf("11 bytes over 10: %v", err)
	}
	if _, _, err := st.StoreMsg("s", []byte("12345"), []byte("12345"), 0); err != nil {
		t.Fatalf("10 bytes: %v", err)
	}
	if st.State(false).LastSeq != 1 {
		t.Fatal("a refused message took a sequence")
	}
}

// eventually polls cond until it holds or the bound passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func testMaxAge(t *testing.T, k kind) {
	st := k.open(t, store.Config{Name: "S", MaxAge: 150 * time.Millisecond, AllowMsgTTL: true})
	rm := watch(st)
	store1(t, st, "s", "1")
	if _, _, err := st.StoreMsg("s", nil, []byte("never"), -1); err != nil {
		t.Fatal(err)
	}
	store1(t, st, "s", "3")
	eventually(t, "MaxAge to remove 1 and 3", func() bool { return st.State(false).Msgs == 1 })
	wantSeqs(t, st, 2) // TTL "never" is exempt from MaxAge
	if got := rm.get(); !slices.Equal(got, []uint64{1, 3}) {
		t.Fatalf("OnRemove got %v", got)
	}
}

func testMsgTTL(t *testing.T, k kind) {
	st := k.open(t, store.Config{Name: "S"})
	if _, _, err := st.StoreMsg("s", nil, nil, 5); !errors.Is(err, store.ErrBadTTL) {
		t.Fatalf("TTL without AllowMsgTTL: %v", err)
	}
	st = k.open(t, store.Config{Name: "S", AllowMsgTTL: true})
	if _, _, err := st.StoreMsg("s", nil, nil, -2); !errors.Is(err, store.ErrBadTTL) {
		t.Fatalf("TTL -2: %v", err)
	}
	rm := watch(st)
	store1(t, st, "keep", "1")
	seq, _, err := st.StoreMsg("go", nil, []byte("2"), 1)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := st.LoadMsg(seq, nil); err != nil || m.TTL != 1 {
		t.Fatalf("TTL of stored message: %+v, %v", m, err)
	}
	store1(t, st, "keep", "3")
	eventually(t, "TTL to remove 2", func() bool { return st.State(false).Msgs == 2 })
	wantSeqs(t, st, 1, 3)
	if got := rm.get(); !slices.Equal(got, []uint64{2}) {
		t.Fatalf("OnRemove got %v", got)
	}
}

func testPurgeCompactTruncate(t *testing.T, k kind) {
	st := k.open(t, store.Config{Name: "S"})
	fill := func() {
		for _, s := range []string{"a", "b", "a", "c", "a", "b"} {
			store1(t, st, s, "x")
		}
	}
	fill() // 1..6
	if n, err := st.Purge("a", 0, 1); n != 2 || err != nil {
		t.Fatalf("Purge(a, keep 1) = %d, %v", n, err)
	}
	wantSeqs(t, st, 2, 4, 5, 6)
	if n, err := st.Purge("b", 3, 0); n != 1 || err != nil { // below seq 3 only
		t.Fatalf("Purge(b, upTo 3) = %d, %v", n, err)
	}
	wantSeqs(t, st, 4, 5, 6)
	if n, err := st.Compact(6); n != 2 || err != nil {
		t.Fatalf("Compact(6) = %d, %v", n, err)
	}
	wantSeqs(t, st, 6)
	if n, err := st.Purge("", 0, 0); n != 1 || err != nil {
		t.Fatalf("Purge all = %d, %v", n, err)
	}
	if s := st.State(false); s.Msgs != 0 || s.FirstSeq != 7 || s.LastSeq != 6 {
		t.Fatalf("after purge all: %+v", s)
	}
	fill() // 7..12
	if n, err := st.Purge("", 0, 2); n != 4 || err != nil {
		t.Fatalf("Purge keep 2 = %d, %v", n, err)
	}
	wantSeqs(t, st, 11, 12)
	if err := st.Truncate(11); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, st, 11)
	if s := st.State(false); s.LastSeq != 11 {
		t.Fatalf("after Truncate(11): %+v", s)
	}
	if seq := store1(t, st, "z", "x"); seq != 12 {
		t.Fatalf("seq after truncate %d", seq)
	}
	if n, err := st.Compact(100); n != 2 || err != nil {
		t.Fatalf("Compact(100) = %d, %v", n, err)
	}
	if s := st.State(false); s.Msgs != 0 || s.FirstSeq != 100 || s.LastSeq != 99 {
		t.Fatalf("after Compact(100): %+v", s)
	}
	if seq := store1(t, st, "z", "x"); seq != 100 {
		t.Fatalf("seq after compact past the end %d", seq)
	}
}

func testSkipMsgs(t *testing.T, k kind) {
	st := k.open(t, store.Config{Name: "S"})
	if err := st.SkipMsgs(10); err != nil {
		t.Fatal(err)
	}
	if s := st.State(false); s.FirstSeq != 11 || s.LastSeq != 10 || s.Msgs != 0 {
		t.Fatalf("skip on empty: %+v", s)
	}
	store1(t, st, "a", "x") // 11
	st.SkipMsgs(1 << 32)    // a mirror's huge gap must not cost memory per sequence
	seq := store1(t, st, "a", "x")
	if seq != 12+1<<32 {
		t.Fatalf("seq after skip %d", seq)
	}
	s := st.State(false)
	if s.Msgs != 2 || s.FirstSeq != 11 || s.NumDeleted != 1<<32 {
		t.Fatalf("State %+v", s)
	}
	if n := st.NumPending(12, nil, false); n != 1 {
		t.Fatalf("NumPending across the gap = %d", n)
	}
}

func testSeqForTime(t *testing.T, k kind) {
	st := k.open(t, store.Config{Name: "S"})
	var times []int64
	for i := 0; i < 20; i++ {
		_, ts, err := st.StoreMsg("s", nil, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		times = append(times, ts)
	}
	st.RemoveMsg(5)
	st.RemoveMsg(6)
	if got := st.SeqForTime(time.Unix(0, times[4])); got != 7 && times[6] != times[4] {
		t.Fatalf("SeqForTime(t5) = %d, want 7 (5 and 6 removed)", got)
	}
	if got := st.SeqForTime(time.Unix(0, 0)); got != 1 {
		t.Fatalf("SeqForTime(0) = %d", got)
	}
	if got := st.SeqForTime(time.Unix(0, times[19]+1)); got != 21 {
		t.Fatalf("SeqForTime(after last) = %d", got)
	}
	for i, ts := range times {
		got := st.SeqForTime(time.Unix(0, ts))
		want := uint64(i + 1)
		for j := range i { // equal times: the first with it
			if times[j] == ts {
				want = uint64(j + 1)
				break
			}
		}
		if want == 5 || want == 6 {
			want = 7
		}
		if got != want {
			t.Fatalf("SeqForTime(t%d) = %d, want %d", i+1, got, want)
		}
	}
}

func testUpdateConfig(t *testing.T, k kind) {
	st := k.open(t, store.Config{Name: "S"})
	rm := watch(st)
	for _, s := range []string{"a", "a", "a", "b", "b"} {
		store1(t, st, s, "x")
	}
	if err := st.UpdateConfig(store.Config{Name: "S", MaxMsgsPerSubject: 1}); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, st, 3, 5)
	if err := st.UpdateConfig(store.Config{Name: "S", MaxMsgs: 1}); err != nil {
		t.Fatal(err)
	}
	wantSeqs(t, st, 5)
	if got := rm.get(); !slices.Equal(got, []uint64{1, 2, 4, 3}) && !slices.Equal(got, []uint64{4, 1, 2, 3}) {
		t.Fatalf("OnRemove got %v", got)
	}
}

func testConcurrent(t *testing.T, k kind) {
	st := k.open(t, store.Config{Name: "S"})
	const writers, each = 8, 50
	var wg sync.WaitGroup
	seqs := make([][]uint64, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var sm store.StoreMsg
			for i := range each {
				seq, _, err := st.StoreMsg(fmt.Sprintf("w.%d", w), nil, []byte(fmt.Sprint(i)), 0)
				if err != nil {
					t.Error(err)
					return
				}
				seqs[w] = append(seqs[w], seq)
				if _, err := st.LoadMsg(seq, &sm); err != nil {
					t.Errorf("load own %d: %v", seq, err)
				}
				st.NumPending(1, []string{"w.*"}, false)
			}
		}()
	}
	wg.Wait()
	all := slices.Concat(seqs...)
	slices.Sort(all)
	if len(slices.Compact(all)) != writers*each || all[0] != 1 {
		t.Fatalf("sequences not unique and dense: %d", len(all))
	}
	for w := range writers {
		if !slices.IsSorted(seqs[w]) {
			t.Fatal("one writer's sequences went back")
		}
		if ss := st.FilteredState(0, fmt.Sprintf("w.%d", w)); ss.Msgs != each {
			t.Fatalf("writer %d: %+v", w, ss)
		}
	}
}

func testClosed(t *testing.T, k kind) {
	st := k.open(t, store.Config{Name: "S"})
	store1(t, st, "a", "x")
	if err := st.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.StoreMsg("a", nil, nil, 0); !errors.Is(err, store.ErrStoreClosed) {
		t.Fatalf("StoreMsg after Stop: %v", err)
	}
	if _, err := st.LoadMsg(1, nil); !errors.Is(err, store.ErrStoreClosed) {
		t.Fatalf("LoadMsg after Stop: %v", err)
	}
	if err := st.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func consumer(t *testing.T, k kind, p store.AckPolicy) store.ConsumerStore {
	st := k.open(t, store.Config{Name: "S"})
	if _, err := st.ConsumerStore("a/b", store.ConsumerConfig{}); !errors.Is(err, store.ErrBadConsumerName) {
		t.Fatalf("name with a slash: %v", err)
	}
	cs, err := st.ConsumerStore("C", store.ConsumerConfig{AckPolicy: p})
	if err != nil {
		t.Fatal(err)
	}
	if st.State(false).Consumers != 1 {
		t.Fatal("State().Consumers != 1")
	}
	return cs
}

func csState(t *testing.T, cs store.ConsumerStore) *store.ConsumerState {
	t.Helper()
	s, err := cs.State()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testConsumerExplicit(t *testing.T, k kind) {
	cs := consumer(t, k, store.AckExplicit)
	for i := uint64(1); i <= 4; i++ {
		if err := cs.UpdateDelivered(i, i*10, 1, int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	cs.UpdateDelivered(5, 10, 2, 99) // redelivery of stream 10
	s := csState(t, cs)
	if s.Delivered != (store.SequencePair{Consumer: 5, Stream: 40}) || len(s.Pending) != 4 ||
		s.Pending[10].Sequence != 1 || s.Pending[10].Timestamp != 99 || s.Redelivered[10] != 1 {
		t.Fatalf("state %+v pending %v", s, s.Pending)
	}
	s.Pending[20].Sequence = 777 // a copy: must not change the store
	if err := cs.UpdateAcks(2, 20); err != nil {
		t.Fatal(err)
	}
	if s := csState(t, cs); s.AckFloor != (store.SequencePair{}) || len(s.Pending) != 3 {
		t.Fatalf("ack out of order moved the floor: %+v", s)
	}
	if err := cs.UpdateAcks(5, 10); err != nil { // acks the redelivery
		t.Fatal(err)
	}
	if s := csState(t, cs); s.AckFloor != (store.SequencePair{Consumer: 2, Stream: 29}) || len(s.Redelivered) != 0 {
		t.Fatalf("floor after acking 1 and 2: %+v", s)
	}
	if err := cs.UpdateAcks(9, 90); !errors.Is(err, store.ErrMsgNotFound) {
		t.Fatalf("ack of nothing pending: %v", err)
	}
	cs.UpdateAcks(3, 30)
	cs.UpdateAcks(4, 40)
	if s := csState(t, cs); s.AckFloor != s.Delivered || len(s.Pending) != 0 {
		t.Fatalf("all acked: %+v", s)
	}
	want := &store.ConsumerState{Delivered: store.SequencePair{Consumer: 9, Stream: 9},
		AckFloor: store.SequencePair{Consumer: 7, Stream: 7},
		Pending:  map[uint64]*store.Pending{8: {Sequence: 8, Timestamp: 1}}}
	if err := cs.SetState(want); err != nil {
		t.Fatal(err)
	}
	if s := csState(t, cs); s.Delivered != want.Delivered || s.AckFloor != want.AckFloor || *s.Pending[8] != *want.Pending[8] {
		t.Fatalf("after SetState: %+v", s)
	}
	if err := cs.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.State(); !errors.Is(err, store.ErrStoreClosed) {
		t.Fatalf("State after Stop: %v", err)
	}
}

func testConsumerAll(t *testing.T, k kind) {
	cs := consumer(t, k, store.AckAll)
	for i := uint64(1); i <= 5; i++ {
		cs.UpdateDelivered(i, i, 1, 0)
	}
	if err := cs.UpdateAcks(3, 3); err != nil {
		t.Fatal(err)
	}
	s := csState(t, cs)
	if s.AckFloor != (store.SequencePair{Consumer: 3, Stream: 3}) || len(s.Pending) != 2 || s.Pending[4] == nil {
		t.Fatalf("AckAll of 3: %+v %v", s, s.Pending)
	}
}

func testConsumerNone(t *testing.T, k kind) {
	cs := consumer(t, k, store.AckNone)
	cs.UpdateDelivered(1, 5, 1, 0)
	cs.UpdateDelivered(2, 9, 1, 0)
	s := csState(t, cs)
	if s.AckFloor != (store.SequencePair{Consumer: 2, Stream: 9}) || s.Delivered != s.AckFloor || len(s.Pending) != 0 {
		t.Fatalf("AckNone: %+v", s)
	}
	if err := cs.UpdateAcks(2, 9); !errors.Is(err, store.ErrNoAckPolicy) {
		t.Fatalf("ack under AckNone: %v", err)
	}
}
