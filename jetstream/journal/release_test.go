package journal

import (
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/natsd/natsd/jetstream/store/faultfs"
)

// TestSegmentsReleased: segments go once every group has compacted past
// its entries in them (or its entries since are few enough to be copied
// into the next checkpoint), a group with many entries that never
// compacts holds them until it is dropped, and the journal reads back
// the same after releases.
func TestSegmentsReleased(t *testing.T) {
	fsys := faultfs.New()
	const segSize = 16 << 10
	file, mem := openFault(t, fsys, segSize), OpenMemory()
	both := func(f func(j *Journal) error) {
		t.Helper()
		if err := f(mem); err != nil {
			t.Fatal(err)
		}
		if err := f(file); err != nil {
			t.Fatal(err)
		}
	}
	// More than a checkpoint copies (segSize/16), never compacted.
	lazy := Update{Group: "lazy"}
	for i := uint64(1); i <= 20; i++ {
		lazy.Entries = append(lazy.Entries, ent(i, 1, strings.Repeat("z", 100)))
	}
	both(func(j *Journal) error { return j.Save([]Update{lazy}) })
	groups := []string{"meta", "S-1", "S-2", "S-3"}
	data := strings.Repeat("x", 128)
	round := func(i uint64, compact bool) {
		var us []Update
		for _, g := range groups {
			us = append(us, Update{Group: g, Entries: []*raftpb.Entry{ent(i, 1, data)}, HardState: hardState(1, 1, i)})
		}
		both(func(j *Journal) error { return j.Save(us) })
		if compact && i > 2 {
			for _, g := range groups {
				both(func(j *Journal) error { return j.Compact(g, i-2, []byte(fmt.Sprint("at ", i-2))) })
			}
		}
	}
	var i uint64
	for i = 1; i <= 200; i++ {
		round(i, true)
	}
	if n := len(segFiles(fsys)); n < 10 {
		t.Fatalf("%d segment files: the lazy group should have held them all", n)
	}
	both(func(j *Journal) error { return j.Drop("lazy") })
	if n := len(segFiles(fsys)); n > 3 {
		t.Fatalf("%d segment files after the lazy group was dropped, want at most 3: %v", n, segFiles(fsys))
	}
	for ; i <= 400; i++ {
		round(i, true)
		if n := len(segFiles(fsys)); n > 3 {
			t.Fatalf("round %d: %d segment files, want at most 3: %v", i, n, segFiles(fsys))
		}
	}
	if got, want := file.segmentFiles(), segFiles(fsys); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("the journal has %v, the disk %v", got, want)
	}
	// Without compaction they pile up again.
	for ; i <= 550; i++ {
		round(i, false)
	}
	if n := len(segFiles(fsys)); n <= 3 {
		t.Fatalf("%d segment files with nothing compacted", n)
	}
	file.Close()
	fsys.Crash(faultfs.DropUnsynced)
	file = openFault(t, fsys, segSize)
	defer file.Close()
	sameStorage(t, "reopened", mem, file)
	if d := file.Damaged(); len(d) > 0 {
		t.Fatalf("damage reported: %v", d)
	}
}

// TestConcurrentReads: raft reads a group's Storage while rounds are
// saved and segments roll (run under -race).
func TestConcurrentReads(t *testing.T) {
	j := openFault(t, faultfs.New(), 4096)
	defer j.Close()
	if err := j.Save([]Update{upd("A", 1, 1, true)}); err != nil {
		t.Fatal(err)
	}
	st := j.Storage("A")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := uint64(2); i <= 300; i++ {
			if err := j.Save([]Update{upd("A", i, i, false), upd("B", i-1, i-1, true)}); err != nil {
				t.Error(err)
				return
			}
			if i%10 == 0 {
				_ = j.Compact("A", i-5, nil)
				_ = j.SetConfState("B", &raftpb.ConfState{Voters: []uint64{1, 2, 3}})
			}
		}
	}()
	for reading := true; reading; {
		select {
		case <-done:
			reading = false
		default:
		}
		first, _ := st.FirstIndex()
		last, _ := st.LastIndex()
		if last >= first {
			if _, err := st.Entries(first, last+1, 1<<20); err != nil && first > 1 {
				continue // compacted between the two calls
			}
		}
		_, _, _ = j.Storage("B").InitialState()
		_ = j.Groups()
		_ = j.Damaged()
	}
	if last, _ := st.LastIndex(); last != 300 {
		t.Fatalf("last %d, want 300", last)
	}
}
