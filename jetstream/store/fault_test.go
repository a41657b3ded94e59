package store_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/jetstream/store/faultfs"
)

var crashIters = flag.Int("crash.iters", 60, "iterations of TestCrashDuringPublish (more: a longer soak)")

const dir = "/js/S"

func openFault(t *testing.T, fsys *faultfs.FS, cfg store.Config, segMax int64) store.Store {
	t.Helper()
	st, err := store.OpenFileStoreSegMax(fsys, dir, cfg, segMax)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return st
}

func payload(i int) []byte { return []byte(fmt.Sprintf("payload-%06d", i)) }

// TestCrashDuringPublish crashes the OS at a random point of a publish
// (and remove) loop, many times, seeded: after the restart every
// acknowledged message is there as stored, every acknowledged removal
// holds, nothing is there that was not published, and no sequence is
// given twice.
func TestCrashDuringPublish(t *testing.T) {
	for it := 0; it < *crashIters; it++ {
		seed := int64(it + 1)
		t.Run(fmt.Sprint(seed), func(t *testing.T) { crashOnce(t, seed) })
	}
}

type published struct {
	mu      sync.Mutex
	acked   map[uint64]int // seq → payload id
	removed map[uint64]bool
	// maybe: removals that failed at the crash point. A failed operation
	// may or may not have happened; only acknowledged ones must hold.
	maybe  map[uint64]bool
	maxSeq uint64
}

func crashOnce(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	fsys := faultfs.New()
	always := seed%5 != 0 // one run in five: SyncInterval, and a process crash only
	cfg := store.Config{Name: "S", SyncAlways: always, SyncInterval: 1 << 40}
	segMax := int64(512 + rng.Intn(4096))
	st := openFault(t, fsys, cfg, segMax)
	// Some history before the crash point: a reopen must keep it too.
	pub := &published{acked: map[uint64]int{}, removed: map[uint64]bool{}, maybe: map[uint64]bool{}}
	var next sync.Mutex
	id := 0
	nextID := func() int { next.Lock(); defer next.Unlock(); id++; return id }
	work := func(rng *rand.Rand, n int) {
		for i := 0; i < n; i++ {
			if rng.Intn(6) == 0 {
				pub.mu.Lock()
				var victim uint64
				for s := range pub.acked {
					if !pub.removed[s] {
						victim = s
						break
					}
				}
				pub.mu.Unlock()
				if victim == 0 {
					continue
				}
				ok, err := st.RemoveMsg(victim)
				if err != nil {
					pub.mu.Lock()
					pub.maybe[victim] = true
					pub.mu.Unlock()
					return
				}
				if ok {
					pub.mu.Lock()
					pub.removed[victim] = true
					pub.mu.Unlock()
				}
				continue
			}
			p := nextID()
			seq, _, err := st.StoreMsg(fmt.Sprintf("s.%d", p%7), nil, payload(p), 0)
			if err != nil {
				return // the crash point
			}
			pub.mu.Lock()
			if _, dup := pub.acked[seq]; dup {
				t.Errorf("sequence %d given twice", seq)
			}
			pub.acked[seq] = p
			pub.maxSeq = max(pub.maxSeq, seq)
			pub.mu.Unlock()
		}
	}
	work(rng, rng.Intn(40))
	fsys.FailAfter(rng.Intn(300))
	writers := 1 + rng.Intn(4)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wrng := rand.New(rand.NewSource(seed*100 + int64(w)))
		wg.Add(1)
		go func() { defer wg.Done(); work(wrng, 400) }()
	}
	wg.Wait()
	st.Stop() // fails past the crash point; that is the point
	switch {
	case !always:
		fsys.CrashProcess() // kill -9: what was written survives
	case rng.Intn(3) == 0:
		fsys.Crash(faultfs.DropUnsynced)
	default:
		fsys.Crash(faultfs.RandomKeep(rng))
	}
	dump := store.DumpLog(fsys, dir)

	st = openFault(t, fsys, cfg, segMax)
	defer st.Stop()
	if testing.Verbose() {
		t.Logf("after crash: %+v lost %+v files %v", st.State(true), st.State(false).Lost, fsys.Files(dir))
	}
	var sm store.StoreMsg
	for seq, p := range pub.acked {
		m, err := st.LoadMsg(seq, &sm)
		if pub.removed[seq] {
			if !errors.Is(err, store.ErrMsgNotFound) {
				t.Fatalf("acknowledged removal of %d undone: %v, %v", seq, m, err)
			}
			continue
		}
		if pub.maybe[seq] && errors.Is(err, store.ErrMsgNotFound) {
			continue // a removal that failed may have happened
		}
		if err != nil || !bytes.Equal(m.Data, payload(p)) {
			t.Logf("log:\n%s\nmaybe %v removed %v", dump, pub.maybe, pub.removed)
			t.Fatalf("acknowledged message %d (payload %d) after the crash: %v, %v", seq, p, m, err)
		}
	}
	seen := map[string]uint64{}
	var last uint64
	for s := uint64(0); ; s++ {
		m, err := st.LoadNextMsg(nil, s, &sm)
		if errors.Is(err, store.ErrMsgNotFound) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		var p int
		if _, err := fmt.Sscanf(string(m.Data), "payload-%d", &p); err != nil || p < 1 || p > id || m.Subject != fmt.Sprintf("s.%d", p%7) {
			t.Fatalf("message %d is nothing that was published: %q on %q", m.Seq, m.Data, m.Subject)
		}
		if prev, dup := seen[string(m.Data)]; dup {
			t.Fatalf("payload %d stored twice: %d and %d", p, prev, m.Seq)
		}
		seen[string(m.Data)] = m.Seq
		s, last = m.Seq, m.Seq
	}
	if lost := st.State(false).Lost; lost != nil && len(lost.Msgs) > 0 {
		for _, s := range lost.Msgs {
			if _, ok := pub.acked[s]; ok && !pub.removed[s] {
				t.Fatalf("acknowledged message %d reported lost: %s", s, lost.Reason)
			}
		}
	}
	seq, _, err := st.StoreMsg("after", nil, nil, 0)
	if err != nil || seq <= pub.maxSeq || seq <= last {
		t.Fatalf("first sequence after the crash %d (%v); acknowledged up to %d, stored up to %d", seq, err, pub.maxSeq, last)
	}
}

// TestTornTail tears the last write of a SyncInterval store in an OS
// crash: the torn record is cut, reported, and the store goes on.
func TestTornTail(t *testing.T) {
	fsys := faultfs.New()
	cfg := store.Config{Name: "S", SyncInterval: 1 << 40}
	st := openFault(t, fsys, cfg, 0)
	for i := 1; i <= 10; i++ {
		if _, _, err := st.StoreMsg("s", nil, payload(i), 0); err != nil {
			t.Fatal(err)
		}
	}
	// Each StoreMsg was one unsynced write: keep nine and 20 bytes of
	// the tenth.
	fsys.Crash(func(string, int) (int, int) { return 9, 20 })
	st = openFault(t, fsys, cfg, 0)
	defer st.Stop()
	state := st.State(false)
	if state.Msgs != 9 || state.LastSeq != 9 {
		t.Fatalf("after a torn tail: %+v", state)
	}
	if state.Lost == nil || !strings.Contains(state.Lost.Reason, "torn tail") || state.Lost.Bytes != 20 || len(state.Lost.Msgs) != 0 {
		t.Fatalf("torn tail not reported: %+v", state.Lost)
	}
	t.Logf("reported: %s", state.Lost.Reason)
	if seq, _, err := st.StoreMsg("s", nil, payload(11), 0); err != nil || seq != 10 {
		t.Fatalf("store after the cut: %d, %v", seq, err)
	}
	if m, err := st.LoadMsg(10, nil); err != nil || !bytes.Equal(m.Data, payload(11)) {
		t.Fatalf("load after the cut: %v, %v", m, err)
	}
}

// recordOffset finds where the record holding data starts in a segment.
func recordOffset(t *testing.T, fsys *faultfs.FS, subj string, data []byte) (string, int64) {
	t.Helper()
	for _, f := range fsys.Files(dir) {
		b, _ := fsys.ReadFile(f)
		if i := bytes.Index(b, data); i >= 0 {
			return f, int64(i - store.RecHdrLen - len(subj))
		}
	}
	t.Fatalf("%q is in no file", data)
	return "", 0
}

// TestBitFlip flips one bit of a record in the middle of the log, in the
// data or in the length, at rest and under a running store: that message
// gives ErrCorrupt and is listed in Lost, its neighbours are fine.
func TestBitFlip(t *testing.T) {
	for _, c := range []struct {
		name    string
		at      int64 // from the record's start; -1: in the data
		running bool
	}{
		{"data", -1, false},
		{"length", 1, false},
		{"sequence", 17, false},
		{"data while open", -1, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			fsys := faultfs.New()
			cfg := store.Config{Name: "S", SyncAlways: true}
			st := openFault(t, fsys, cfg, 0)
			for i := 1; i <= 20; i++ {
				if _, _, err := st.StoreMsg("s", nil, payload(i), 0); err != nil {
					t.Fatal(err)
				}
			}
			if !c.running {
				if err := st.Stop(); err != nil {
					t.Fatal(err)
				}
			}
			f, off := recordOffset(t, fsys, "s", payload(10))
			at := off + c.at
			if c.at < 0 {
				at = off + store.RecHdrLen + 1 + 3
			}
			if err := fsys.FlipBit(f, at, 2); err != nil {
				t.Fatal(err)
			}
			if !c.running {
				st = openFault(t, fsys, cfg, 0)
			}
			defer st.Stop()
			if _, err := st.LoadMsg(10, nil); !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("LoadMsg(10) = %v, want ErrCorrupt", err)
			}
			for _, s := range []uint64{9, 11} {
				if m, err := st.LoadMsg(s, nil); err != nil || !bytes.Equal(m.Data, payload(int(s))) {
					t.Fatalf("neighbour %d: %v, %v", s, m, err)
				}
			}
			if m, err := st.LoadNextMsg(nil, 10, nil); err != nil || m.Seq != 11 {
				t.Fatalf("LoadNextMsg from 10: %v, %v", m, err)
			}
			state := st.State(false)
			if state.Lost == nil || len(state.Lost.Msgs) != 1 || state.Lost.Msgs[0] != 10 ||
				!strings.Contains(state.Lost.Reason, "checksum mismatch") || state.Msgs != 19 {
				t.Fatalf("state %+v lost %+v", state, state.Lost)
			}
			t.Logf("reported: %s", state.Lost.Reason)
			if seq, _, err := st.StoreMsg("s", nil, payload(21), 0); err != nil || seq != 21 {
				t.Fatalf("store after damage: %d, %v", seq, err)
			}
		})
	}
}

// TestNoSpace fills the disk: StoreMsg fails with ErrStoreFull, what was
// acknowledged stays readable, and once there is room again the store
// goes on where it was, also after a restart.
func TestNoSpace(t *testing.T) {
	for _, always := range []bool{true, false} {
		t.Run(fmt.Sprint("always=", always), func(t *testing.T) {
			fsys := faultfs.New()
			cfg := store.Config{Name: "S", SyncAlways: always, SyncInterval: 1 << 40}
			st := openFault(t, fsys, cfg, 2048)
			cs, err := st.ConsumerStore("C", store.ConsumerConfig{AckPolicy: store.AckExplicit})
			if err != nil {
				t.Fatal(err)
			}
			fsys.SetSpace(5000)
			var acked []uint64
			var full error
			for i := 1; i < 1000; i++ {
				seq, _, err := st.StoreMsg("s", nil, payload(i), 0)
				if err != nil {
					full = err
					break
				}
				acked = append(acked, seq)
			}
			if !errors.Is(full, store.ErrStoreFull) {
				t.Fatalf("error on a full disk: %v", full)
			}
			t.Logf("full after %d messages: %v", len(acked), full)
			if _, _, err := st.StoreMsg("s", nil, payload(9999), 0); !errors.Is(err, store.ErrStoreFull) {
				t.Fatalf("second write on a full disk: %v", err)
			}
			if err := cs.SetState(&store.ConsumerState{Delivered: store.SequencePair{Consumer: 1, Stream: 1}}); !errors.Is(err, store.ErrStoreFull) {
				t.Fatalf("consumer state on a full disk: %v", err)
			}
			check := func(st store.Store, extra int) {
				t.Helper()
				state := st.State(false)
				if state.Msgs != uint64(len(acked)+extra) || state.Lost != nil {
					t.Fatalf("state %+v, lost %+v, want %d messages", state, state.Lost, len(acked)+extra)
				}
				for i, s := range acked {
					if m, err := st.LoadMsg(s, nil); err != nil || !bytes.Equal(m.Data, payload(i+1)) {
						t.Fatalf("acknowledged %d: %v, %v", s, m, err)
					}
				}
			}
			check(st, 0)
			fsys.SetSpace(-1)
			seq, _, err := st.StoreMsg("s", nil, payload(len(acked)+1), 0)
			if err != nil || seq != acked[len(acked)-1]+1 {
				t.Fatalf("with room again: %d, %v", seq, err)
			}
			acked = append(acked, seq)
			if err := cs.SetState(&store.ConsumerState{Delivered: store.SequencePair{Consumer: 1, Stream: 1}}); err != nil {
				t.Fatal(err)
			}
			if err := st.Stop(); err != nil {
				t.Fatal(err)
			}
			st = openFault(t, fsys, cfg, 2048)
			defer st.Stop()
			check(st, 0)
		})
	}
}

// TestSegmentsReclaimed: Compact and Purge give back whole segments.
func TestSegmentsReclaimed(t *testing.T) {
	fsys := faultfs.New()
	cfg := store.Config{Name: "S", SyncAlways: true}
	st := openFault(t, fsys, cfg, 1024)
	defer st.Stop()
	for i := 1; i <= 300; i++ {
		st.StoreMsg("s", nil, payload(i), 0)
	}
	segs := func() int {
		n := 0
		for _, f := range fsys.Files(dir) {
			if strings.HasSuffix(f, ".seg") {
				n++
			}
		}
		return n
	}
	before := segs()
	if _, err := st.Compact(200); err != nil {
		t.Fatal(err)
	}
	mid := segs()
	if _, err := st.Purge("", 0, 0); err != nil {
		t.Fatal(err)
	}
	after := segs()
	t.Logf("segments: %d, after Compact(200) %d, after Purge %d", before, mid, after)
	if before < 10 || mid > before/2 || after != 1 {
		t.Fatalf("segments %d → %d → %d", before, mid, after)
	}
	if seq, _, err := st.StoreMsg("s", nil, nil, 0); err != nil || seq != 301 {
		t.Fatalf("after purge: %d, %v", seq, err)
	}
}

// TestErase: EraseMsg leaves none of the message's bytes on disk, and the
// log still opens clean.
func TestErase(t *testing.T) {
	fsys := faultfs.New()
	cfg := store.Config{Name: "S", SyncAlways: true}
	st := openFault(t, fsys, cfg, 0)
	for i := 1; i <= 5; i++ {
		st.StoreMsg("s", nil, payload(i), 0)
	}
	if ok, err := st.EraseMsg(3); !ok || err != nil {
		t.Fatalf("EraseMsg = %v, %v", ok, err)
	}
	st.Stop()
	for _, f := range fsys.Files(dir) {
		if b, _ := fsys.ReadFile(f); bytes.Contains(b, payload(3)) {
			t.Fatalf("erased payload still in %s", f)
		}
	}
	st = openFault(t, fsys, cfg, 0)
	defer st.Stop()
	if s := st.State(true); s.Lost != nil || s.Msgs != 4 || len(s.Deleted) != 1 || s.Deleted[0] != 3 {
		t.Fatalf("after erase and reopen: %+v lost %+v", s, s.Lost)
	}
}

// TestLimitsAfterCrash: removals by limits that a crash took back are
// done again at open.
func TestLimitsAfterCrash(t *testing.T) {
	fsys := faultfs.New()
	cfg := store.Config{Name: "S", SyncAlways: true, MaxMsgs: 5, MaxMsgsPerSubject: 2}
	st := openFault(t, fsys, cfg, 0)
	for i := 1; i <= 20; i++ {
		st.StoreMsg(fmt.Sprintf("s.%d", i%3), nil, payload(i), 0)
	}
	want := seqsOf(t, st)
	fsys.Crash(faultfs.DropUnsynced)
	st = openFault(t, fsys, cfg, 0)
	defer st.Stop()
	wantSeqs(t, st, want...)
}

// TestConsumerDurable: a file consumer's state survives a restart, is the
// old or the new one after a crash, and a damaged state file is an error.
func TestConsumerDurable(t *testing.T) {
	fsys := faultfs.New()
	cfg := store.Config{Name: "S", SyncAlways: true}
	st := openFault(t, fsys, cfg, 0)
	cs, _ := st.ConsumerStore("C", store.ConsumerConfig{AckPolicy: store.AckExplicit})
	for i := uint64(1); i <= 5; i++ {
		cs.UpdateDelivered(i, i, 1, int64(i))
	}
	cs.UpdateAcks(1, 1)
	cs.UpdateAcks(3, 3)
	want, _ := cs.State()
	if err := st.Stop(); err != nil {
		t.Fatal(err)
	}
	st = openFault(t, fsys, cfg, 0)
	cs, err := st.ConsumerStore("C", store.ConsumerConfig{AckPolicy: store.AckExplicit})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := cs.State()
	if got.Delivered != want.Delivered || got.AckFloor != want.AckFloor || len(got.Pending) != 3 || got.Pending[2] == nil || *got.Pending[4] != *want.Pending[4] {
		t.Fatalf("after restart %+v, want %+v", got, want)
	}
	// A change not yet written when the OS crashes: the old state comes
	// back (the consumer redelivers), never a damaged one.
	cs.UpdateAcks(2, 2)
	fsys.Crash(faultfs.DropUnsynced)
	st = openFault(t, fsys, cfg, 0)
	cs, err = st.ConsumerStore("C", store.ConsumerConfig{AckPolicy: store.AckExplicit})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := cs.State(); got.AckFloor.Stream > 3 || got.Delivered != want.Delivered {
		t.Fatalf("after crash %+v", got)
	}
	st.Stop()
	f := dir + "/consumers/C/state"
	if err := fsys.FlipBit(f, 6, 0); err != nil {
		t.Fatal(err)
	}
	st = openFault(t, fsys, cfg, 0)
	defer st.Stop()
	if _, err := st.ConsumerStore("C", store.ConsumerConfig{AckPolicy: store.AckExplicit}); !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("damaged consumer state: %v", err)
	}
}
