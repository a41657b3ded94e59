package journal

import (
	"bytes"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/natsd/natsd/jetstream/store/faultfs"
)

// witnessRounds are faultRounds and then a round with A's hard state
// only (commit 3): the last record is A's.
var witnessRounds = append(slices.Clone(faultRounds), []Update{{Group: "A", HardState: hardState(1, 1, 3)}})

var witnessPath = filepath.Join(testDir, witnessFile)

// slotOf is the witness slot a group has (the journal open).
func slotOf(t *testing.T, j *Journal, group string) int {
	t.Helper()
	j.mu.Lock()
	defer j.mu.Unlock()
	s := j.wit.named[group]
	if s == nil {
		t.Fatalf("group %s has no witness slot", group)
	}
	return s.idx
}

// crashBeforeFsync runs op (a round) with the power going after its
// writes and before its fsyncs: the segment's write and the witness's
// (one: the slots of these tests are less than a page apart).
func crashBeforeFsync(t *testing.T, fsys *faultfs.FS, op func() error) {
	t.Helper()
	before := fsys.Stats()
	fsys.FailAfter(2)
	if err := op(); !errors.Is(err, faultfs.ErrCrashed) {
		t.Fatalf("%v, want the crash", err)
	}
	if after := fsys.Stats(); after.Writes != before.Writes+2 || after.Syncs != before.Syncs {
		t.Fatalf("the crash came after %d writes and %d fsyncs, want 2 and none",
			after.Writes-before.Writes, after.Syncs-before.Syncs)
	}
}

// TestWitness: the truncations of acknowledged rounds that look like a
// torn tail to the segments (and were cut silently before the witness)
// are found, with the point the witness says the log must reach; what a
// crash leaves, and a torn copy of a slot, are not.
func TestWitness(t *testing.T) {
	type said struct{ last, term, commit uint64 }
	tests := []struct {
		name    string
		segSize int64 // 0: 1 MiB; 1: a round a segment
		// slots are the groups' slot numbers, for faults of the witness.
		fault       func(t *testing.T, fsys *faultfs.FS, recs []diskRecord, slots map[string]int)
		live        func(t *testing.T, fsys *faultfs.FS, j *Journal) // a fault while it runs
		wantDamaged []string
		wantReason  string            // in every reason
		wantWitness map[string]said   // Witness of the damaged groups; absent: ok false
		wantLast    map[string]uint64 // groups' logs (from 1)
		wantCommit  map[string]uint64
	}{
		{
			name: "the last round cut (A's hard state): commit behind",
			fault: func(t *testing.T, fsys *faultfs.FS, recs []diskRecord, _ map[string]int) {
				r := find(t, recs, kHardState, "A", 1)
				truncateFile(fsys, r.file, r.off)
			},
			wantDamaged: []string{"A"},
			wantReason:  "behind: commit 1",
			wantWitness: map[string]said{"A": {3, 1, 3}},
			wantLast:    map[string]uint64{"A": 3, "B": 5, "C": 4},
			wantCommit:  map[string]uint64{"A": 1},
		},
		{
			name: "the last three rounds cut, from B's 5",
			fault: func(t *testing.T, fsys *faultfs.FS, recs []diskRecord, _ map[string]int) {
				r := find(t, recs, kEntries, "B", 2)
				truncateFile(fsys, r.file, r.off)
			},
			wantDamaged: []string{"A", "B", "C"},
			wantReason:  "behind",
			wantWitness: map[string]said{"A": {3, 1, 3}, "B": {5, 1, 1}, "C": {4, 1, 1}},
			wantLast:    map[string]uint64{"A": 3, "B": 4, "C": 2},
		},
		{
			name: "a few bytes cut off the last record",
			fault: func(t *testing.T, fsys *faultfs.FS, recs []diskRecord, _ map[string]int) {
				r := recs[len(recs)-1]
				truncateFile(fsys, r.file, r.off+r.size-3)
			},
			wantDamaged: []string{"A"},
			wantReason:  "behind: commit 1",
			wantWitness: map[string]said{"A": {3, 1, 3}},
			wantLast:    map[string]uint64{"A": 3, "B": 5, "C": 4},
		},
		{
			name: "bit flip in the header of the last record",
			fault: func(t *testing.T, fsys *faultfs.FS, recs []diskRecord, _ map[string]int) {
				r := recs[len(recs)-1]
				fsys.FlipBit(r.file, int64(r.off+9), 3)
			},
			wantDamaged: []string{"A"},
			wantReason:  "behind: commit 1",
			wantWitness: map[string]said{"A": {3, 1, 3}},
			wantLast:    map[string]uint64{"A": 3, "B": 5, "C": 4},
		},
		{
			name:    "the newest segment deleted",
			segSize: 1,
			fault: func(t *testing.T, fsys *faultfs.FS, _ []diskRecord, _ map[string]int) {
				files := segFiles(fsys)
				if err := fsys.Remove(files[len(files)-1]); err != nil {
					t.Fatal(err)
				}
			},
			wantDamaged: []string{"A"},
			wantReason:  "behind: commit 1",
			wantWitness: map[string]said{"A": {3, 1, 3}},
			wantLast:    map[string]uint64{"A": 3, "B": 5, "C": 4},
		},
		{
			name:    "the two newest segments deleted",
			segSize: 1,
			fault: func(t *testing.T, fsys *faultfs.FS, _ []diskRecord, _ map[string]int) {
				files := segFiles(fsys)
				for _, f := range files[len(files)-2:] {
					if err := fsys.Remove(f); err != nil {
						t.Fatal(err)
					}
				}
			},
			wantDamaged: []string{"A", "C"},
			wantReason:  "behind",
			wantWitness: map[string]said{"A": {3, 1, 3}, "C": {4, 1, 1}},
			wantLast:    map[string]uint64{"A": 3, "B": 5, "C": 3},
		},
		{
			name: "every segment deleted: groups with a slot and no records",
			fault: func(t *testing.T, fsys *faultfs.FS, _ []diskRecord, _ map[string]int) {
				for _, f := range segFiles(fsys) {
					if err := fsys.Remove(f); err != nil {
						t.Fatal(err)
					}
				}
			},
			wantDamaged: []string{"A", "B", "C"},
			wantReason:  "behind: no records",
			wantWitness: map[string]said{"A": {3, 1, 3}, "B": {5, 1, 1}, "C": {4, 1, 1}},
		},
		{
			name: "the newest copy of B's slot torn: the older one is used",
			fault: func(t *testing.T, fsys *faultfs.FS, _ []diskRecord, slots map[string]int) {
				b, _ := fsys.ReadFile(witnessPath)
				sr := readSlot(b[slotOff(slots["B"]):])
				off := slotOff(slots["B"]) + int64(sr.cur.copyNumber*wCopy)
				fsys.FlipBit(witnessPath, off+30, 1)
			},
			wantLast: map[string]uint64{"A": 3, "B": 5, "C": 4},
		},
		{
			name: "both copies of B's slot unreadable",
			fault: func(t *testing.T, fsys *faultfs.FS, _ []diskRecord, slots map[string]int) {
				fsys.FlipBit(witnessPath, slotOff(slots["B"])+30, 1)
				fsys.FlipBit(witnessPath, slotOff(slots["B"])+wCopy+30, 1)
			},
			wantDamaged: []string{"B"},
			wantReason:  "both copies are unreadable",
			wantLast:    map[string]uint64{"A": 3, "B": 5, "C": 4},
		},
		{
			name: "B's name in its slot unreadable",
			fault: func(t *testing.T, fsys *faultfs.FS, _ []diskRecord, slots map[string]int) {
				fsys.FlipBit(witnessPath, slotOff(slots["B"])+wNameOff+5, 1)
			},
			wantDamaged: []string{"B"},
			wantReason:  "its name is unreadable",
			wantWitness: map[string]said{"B": {5, 1, 1}},
			wantLast:    map[string]uint64{"A": 3, "B": 5, "C": 4},
		},
		{
			name: "the witness deleted: nothing to check against (a journal from before it)",
			fault: func(t *testing.T, fsys *faultfs.FS, _ []diskRecord, _ map[string]int) {
				if err := fsys.Remove(witnessPath); err != nil {
					t.Fatal(err)
				}
			},
			wantLast: map[string]uint64{"A": 3, "B": 5, "C": 4},
		},
		{
			name: "the power goes during Drop: its segment write kept, its witness write not",
			live: func(t *testing.T, fsys *faultfs.FS, j *Journal) {
				crashBeforeFsync(t, fsys, func() error { return j.Drop("B") })
				fsys.Crash(keepSegment(1, 0))
			},
			wantLast: map[string]uint64{"A": 3, "C": 4},
		},
		{
			name: "the power goes during Drop: its witness write kept, its segment write not",
			live: func(t *testing.T, fsys *faultfs.FS, j *Journal) {
				crashBeforeFsync(t, fsys, func() error { return j.Drop("B") })
				fsys.Crash(keepWitness)
			},
			wantLast: map[string]uint64{"A": 3, "B": 5, "C": 4},
		},
		{
			name: "the power goes in a new group's first round, its witness write kept",
			live: func(t *testing.T, fsys *faultfs.FS, j *Journal) {
				crashBeforeFsync(t, fsys, func() error { return j.Save([]Update{upd("D", 1, 2, true)}) })
				fsys.Crash(keepWitness)
			},
			wantLast: map[string]uint64{"A": 3, "B": 5, "C": 4},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := faultfs.New()
			segSize := tc.segSize
			if segSize == 0 {
				segSize = 1 << 20
			}
			j := openFault(t, fsys, segSize)
			for _, round := range witnessRounds {
				if err := j.Save(round); err != nil {
					t.Fatal(err)
				}
			}
			slots := map[string]int{}
			for _, g := range []string{"A", "B", "C"} {
				slots[g] = slotOf(t, j, g)
			}
			if tc.live != nil {
				tc.live(t, fsys, j)
				j.Close()
			} else {
				j.Close()
				tc.fault(t, fsys, readRecords(t, fsys), slots)
			}
			j = openFault(t, fsys, segSize)
			defer j.Close()
			damaged := j.Damaged()
			var names []string
			for name, reason := range damaged {
				names = append(names, name)
				if !strings.Contains(reason, tc.wantReason) || !strings.Contains(reason, testDir) {
					t.Errorf("reason for %s: %q, want %q and where", name, reason, tc.wantReason)
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, tc.wantDamaged) {
				t.Fatalf("damaged %v (%v), want %v", names, damaged, tc.wantDamaged)
			}
			for _, name := range []string{"A", "B", "C", "D"} {
				last, term, commit, ok := j.Witness(name)
				want, wantOK := tc.wantWitness[name]
				if ok != wantOK || (ok && (said{last, term, commit} != want)) {
					t.Errorf("Witness(%s) = %d %d %d %v, want %v %v", name, last, term, commit, ok, want, wantOK)
				}
			}
			for group, want := range tc.wantLast {
				checkLog(t, j, group, want)
			}
			if !slices.Equal(j.Groups(), slices.Sorted(func(yield func(string) bool) {
				for g := range tc.wantLast {
					if !yield(g) {
						return
					}
				}
			})) {
				t.Fatalf("groups %v, want those of %v", j.Groups(), tc.wantLast)
			}
			for group, want := range tc.wantCommit {
				if hs, _, _ := j.Storage(group).InitialState(); hs.GetCommit() != want {
					t.Fatalf("group %s: commit %d, want %d", group, hs.GetCommit(), want)
				}
			}
			// What Open found it writes back: the next Open finds the same.
			j.Close()
			j = openFault(t, fsys, segSize)
			if again := j.Damaged(); len(again) != len(damaged) {
				t.Fatalf("the next Open: damaged %v, want %v", again, damaged)
			}
		})
	}
}

// TestWitnessClaimKept: a group found behind stays reported, with the
// witness's point, across Opens until Repaired, even after the rounds
// that bring it back; then it reads back clean.
func TestWitnessClaimKept(t *testing.T) {
	fsys := faultfs.New()
	j := openFault(t, fsys, 1<<20)
	for _, round := range faultRounds {
		if err := j.Save(round); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	r := find(t, readRecords(t, fsys), kEntries, "C", 2)
	truncateFile(fsys, r.file, r.off) // C's 4
	wantC := func(j *Journal, what string) {
		t.Helper()
		if _, ok := j.Damaged()["C"]; !ok {
			t.Fatalf("%s: C not damaged: %v", what, j.Damaged())
		}
		if last, term, _, ok := j.Witness("C"); !ok || last != 4 || term != 1 {
			t.Fatalf("%s: Witness(C) = %d %d %v, want 4 (term 1)", what, last, term, ok)
		}
	}
	j = openFault(t, fsys, 1<<20)
	wantC(j, "first open")
	j.Close()
	j = openFault(t, fsys, 1<<20)
	wantC(j, "second open")
	// The leader sends C's 4 and 5: the log reaches the witness, but only
	// the driver says when the group is whole.
	if err := j.Save([]Update{upd("C", 4, 5, false)}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j = openFault(t, fsys, 1<<20)
	wantC(j, "after the leader's rounds")
	checkLog(t, j, "C", 5)
	if err := j.Repaired("C"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, ok := j.Witness("C"); ok {
		t.Fatal("Witness(C) ok after Repaired")
	}
	j.Close()
	j = openFault(t, fsys, 1<<20)
	defer j.Close()
	if d := j.Damaged(); len(d) > 0 {
		t.Fatalf("damaged after Repaired: %v", d)
	}
	checkLog(t, j, "C", 5)
}

// TestWitnessSlotReuse: Drop frees a group's slot, the next new group
// takes it (the file does not grow), and a dropped group is not reported
// for the slot it had.
func TestWitnessSlotReuse(t *testing.T) {
	fsys := faultfs.New()
	j := openFault(t, fsys, 1<<20)
	for _, round := range faultRounds {
		if err := j.Save(round); err != nil {
			t.Fatal(err)
		}
	}
	b := slotOf(t, j, "B")
	size := func() int { d, _ := fsys.ReadFile(witnessPath); return len(d) }
	before := size()
	if err := j.Drop("B"); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j = openFault(t, fsys, 1<<20)
	if d := j.Damaged(); len(d) > 0 {
		t.Fatalf("damaged after Drop: %v", d)
	}
	if err := j.Save([]Update{upd("D", 1, 2, true)}); err != nil {
		t.Fatal(err)
	}
	if got := slotOf(t, j, "D"); got != b {
		t.Fatalf("D has slot %d, want B's freed %d", got, b)
	}
	if after := size(); after != before {
		t.Fatalf("the witness grew from %d to %d bytes with a free slot", before, after)
	}
	// B comes back (a stream moved back here): a slot of its own again.
	if err := j.Save([]Update{upd("B", 1, 1, true)}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j = openFault(t, fsys, 1<<20)
	defer j.Close()
	if d := j.Damaged(); len(d) > 0 {
		t.Fatalf("damaged after the reuse: %v", d)
	}
	checkLog(t, j, "D", 2)
	checkLog(t, j, "B", 1)
	if slotOf(t, j, "B") == slotOf(t, j, "D") {
		t.Fatal("B and D share a slot")
	}
}

// FuzzWitnessSlot feeds arbitrary bytes to the slot and header decoders
// and, as a whole witness file, to Open: never a panic or a failed Open,
// and a copy or name that decodes re-encodes to the same bytes.
func FuzzWitnessSlot(f *testing.F) {
	fsys := faultfs.New()
	j := openFault(f, fsys, 1<<20)
	for _, round := range witnessRounds {
		if err := j.Save(round); err != nil {
			f.Fatal(err)
		}
	}
	_ = j.Drop("B")
	j.Close()
	segs := map[string][]byte{}
	for _, file := range segFiles(fsys) {
		segs[file], _ = fsys.ReadFile(file)
	}
	w, _ := fsys.ReadFile(witnessPath)
	f.Add(w)
	for off := 0; off+wBlock <= len(w); off += wBlock {
		f.Add(w[off : off+wBlock])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for off := 0; off+wCopy <= len(b) && off <= 2*wCopy; off += wCopy {
			if c := decodeCopy(b[off:]); c.ok {
				if again := encodeCopy(c.seq, c.hash, c.used, c.open, c.st); !bytes.Equal(again, b[off:off+wCopy]) {
					t.Fatalf("copy re-encoded %x, read %x", again, b[off:off+wCopy])
				}
			}
		}
		_, _, _ = decodeHeader(b)
		if len(b) >= wBlock {
			if name, _, ok := decodeName(b[wNameOff:]); ok {
				if again := encodeName(name); !bytes.Equal(again, b[wNameOff:wBlock]) {
					t.Fatalf("name re-encoded %x, read %x", again, b[wNameOff:wBlock])
				}
			}
		}
		_ = readSlot(b)
		fs := faultfs.New()
		for file, data := range segs {
			fs.WriteFile(file, data)
		}
		fs.WriteFile(witnessPath, b)
		j, err := Open(testDir, Options{FS: fs, SegmentSize: 1 << 20})
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		for _, name := range j.Groups() {
			st := j.Storage(name)
			last, _ := st.LastIndex()
			if hs, _, _ := st.InitialState(); hs.GetCommit() > last {
				t.Fatalf("group %s: commit %d past last %d", name, hs.GetCommit(), last)
			}
		}
		j.Close()
	})
}

// TestWitnessCrashInOpen: a round cut by a crash with its witness write
// on disk and its segment write not, then the power going again at every
// point of the next Open (which brings the witness back to the log), and
// either keeping or losing what that Open had not fsynced: no damage, and
// the acknowledged rounds are there.
func TestWitnessCrashInOpen(t *testing.T) {
	for k := 0; k < 16; k++ {
		for _, keep := range []faultfs.Keep{faultfs.DropUnsynced, keepWitness} {
			fsys := faultfs.New()
			j := openFault(t, fsys, 1<<20)
			for _, round := range faultRounds {
				if err := j.Save(round); err != nil {
					t.Fatal(err)
				}
			}
			u := upd("C", 5, 5, false)
			u.HardState = hardState(1, 1, 2)
			crashBeforeFsync(t, fsys, func() error { return j.Save([]Update{u}) })
			fsys.Crash(keepWitness)
			fsys.FailAfter(k)
			if j, err := Open(testDir, Options{FS: fsys, SegmentSize: 1 << 20}); err == nil {
				j.Close()
			}
			fsys.Crash(keep)
			j = openFault(t, fsys, 1<<20)
			if d := j.Damaged(); len(d) > 0 {
				t.Fatalf("power lost after %d operations of Open: damaged %v", k, d)
			}
			checkLog(t, j, "A", 3)
			checkLog(t, j, "B", 5)
			checkLog(t, j, "C", 4)
			j.Close()
		}
	}
}
