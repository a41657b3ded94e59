package journal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/natsd/natsd/jetstream/store/faultfs"
)

// The rounds every fault test starts from: three groups, A, B and C,
// with B's and C's records interleaved after A's last one.
var faultRounds = [][]Update{
	{upd("A", 1, 2, true), upd("B", 1, 2, true), upd("C", 1, 2, true)},
	{upd("A", 3, 3, false), upd("B", 3, 4, false)},
	{upd("B", 5, 5, false), upd("C", 3, 3, false)},
	{upd("C", 4, 4, false)},
}

func upd(group string, from, to uint64, hs bool) Update {
	u := Update{Group: group}
	for i := from; i <= to; i++ {
		u.Entries = append(u.Entries, ent(i, 1, fmt.Sprint(group, i)))
	}
	if hs {
		u.HardState = hardState(1, 1, 1)
	}
	return u
}

// diskRecord is a record as found in a segment file.
type diskRecord struct {
	file       string
	off, size  int
	kind       kind
	group      string
	nameAndHdr int
}

func readRecords(t *testing.T, fsys *faultfs.FS) []diskRecord {
	t.Helper()
	var out []diskRecord
	for _, file := range segFiles(fsys) {
		b, _ := fsys.ReadFile(file)
		for off := 0; off < len(b); {
			rec, err := decodeRecord(b[off:])
			if err != nil {
				t.Fatalf("%s offset %d: %v", file, off, err)
			}
			out = append(out, diskRecord{file, off, rec.size, rec.kind, rec.group, headerSize + len(rec.group)})
			off += rec.size
		}
	}
	return out
}

// find is the nth (from 0) record of a kind and group.
func find(t *testing.T, recs []diskRecord, k kind, group string, nth int) diskRecord {
	t.Helper()
	want := nth
	for _, r := range recs {
		if r.kind == k && r.group == group {
			if nth == 0 {
				return r
			}
			nth--
		}
	}
	t.Fatalf("no %s record %d of %s", k, want, group)
	return diskRecord{}
}

// keepSegment is a crash that keeps, of the segments' unsynced writes,
// the first whole ones and torn bytes of the next, and nothing of the
// witness's.
func keepSegment(whole, torn int) faultfs.Keep {
	return func(name string, n int) (int, int) {
		if strings.HasSuffix(name, ".seg") {
			return whole, torn
		}
		return 0, 0
	}
}

// keepWitness is a crash that keeps the witness's unsynced writes and
// none of the segments'.
func keepWitness(name string, n int) (int, int) {
	if strings.HasSuffix(name, ".seg") {
		return 0, 0
	}
	return n, 0
}

func truncateFile(fsys *faultfs.FS, file string, size int) {
	b, _ := fsys.ReadFile(file)
	fsys.WriteFile(file, b[:size])
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name string
		// segSize 1: every round in a segment of its own.
		segSize int64
		// fault damages the files of a closed journal; j is open when
		// given (faults that strike while it runs).
		fault       func(t *testing.T, fsys *faultfs.FS, recs []diskRecord, j *Journal)
		wantDamaged []string
		wantLast    map[string]uint64
	}{
		{
			name: "bit flip in the body of B's second entries record",
			fault: func(t *testing.T, fsys *faultfs.FS, recs []diskRecord, _ *Journal) {
				r := find(t, recs, kEntries, "B", 1)
				fsys.FlipBit(r.file, int64(r.off+r.nameAndHdr+3), 2)
			},
			wantDamaged: []string{"B"},
			// B's later 5 does not join its log cut at 2: left out.
			wantLast: map[string]uint64{"A": 3, "B": 2, "C": 4},
		},
		{
			name: "bit flip in the header of B's second entries record",
			fault: func(t *testing.T, fsys *faultfs.FS, recs []diskRecord, _ *Journal) {
				r := find(t, recs, kEntries, "B", 1)
				fsys.FlipBit(r.file, int64(r.off+9), 0) // the length
			},
			// Whose record it was is unknown: every group with records
			// after it in the segment is reported; A's last is before.
			wantDamaged: []string{"B", "C"},
			wantLast:    map[string]uint64{"A": 3, "B": 2, "C": 4},
		},
		{
			name: "bit flip in the last record, acknowledged: damage, not a torn tail",
			fault: func(t *testing.T, fsys *faultfs.FS, recs []diskRecord, _ *Journal) {
				r := find(t, recs, kEntries, "C", 2)
				fsys.FlipBit(r.file, int64(r.off+r.size-1), 7)
			},
			wantDamaged: []string{"C"},
			wantLast:    map[string]uint64{"A": 3, "B": 5, "C": 3},
		},
		{
			name: "torn tail: the power goes while the last round is written",
			fault: func(t *testing.T, fsys *faultfs.FS, _ []diskRecord, j *Journal) {
				fsys.FailAfter(1) // the segment's write goes through, the witness's does not
				if err := j.Save([]Update{upd("C", 5, 5, false)}); !errors.Is(err, faultfs.ErrCrashed) {
					t.Fatalf("save: %v, want the crash", err)
				}
				fsys.Crash(keepSegment(0, 20)) // 20 bytes of the round
			},
			wantLast: map[string]uint64{"A": 3, "B": 5, "C": 4},
		},
		{
			name: "the power goes with the round's witness write on disk and its segment write not",
			fault: func(t *testing.T, fsys *faultfs.FS, _ []diskRecord, j *Journal) {
				crashBeforeFsync(t, fsys, func() error { return j.Save([]Update{upd("C", 5, 5, true)}) })
				fsys.Crash(keepWitness)
			},
			wantLast: map[string]uint64{"A": 3, "B": 5, "C": 4},
		},
		{
			name: "acknowledged last round cut: the witness says it was there",
			fault: func(t *testing.T, fsys *faultfs.FS, recs []diskRecord, _ *Journal) {
				r := find(t, recs, kEntries, "C", 2)
				truncateFile(fsys, r.file, r.off+r.size/2)
			},
			wantDamaged: []string{"C"},
			wantLast:    map[string]uint64{"A": 3, "B": 5, "C": 3},
		},
		{
			name: "lost unsynced write: the power goes before the round's fsync",
			fault: func(t *testing.T, fsys *faultfs.FS, _ []diskRecord, j *Journal) {
				fsys.FailAfter(1) // the write goes through, the fsync does not
				err := j.Save([]Update{upd("A", 4, 6, false)})
				if !errors.Is(err, faultfs.ErrCrashed) {
					t.Fatalf("save: %v, want the crash", err)
				}
				if err := j.Save([]Update{upd("A", 4, 6, false)}); err == nil {
					t.Fatal("save after a failed fsync succeeded")
				}
				fsys.Crash(faultfs.DropUnsynced)
			},
			wantLast: map[string]uint64{"A": 3, "B": 5, "C": 4},
		},
		{
			name: "full disk: the round fails, the journal goes on when space is back",
			fault: func(t *testing.T, fsys *faultfs.FS, _ []diskRecord, j *Journal) {
				fsys.SetSpace(10)
				err := j.Save([]Update{upd("A", 4, 6, false)})
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("save on a full disk: %v, want ENOSPC", err)
				}
				if last, _ := j.Storage("A").LastIndex(); last != 3 {
					t.Fatalf("a failed round reached memory: A's last is %d", last)
				}
				fsys.SetSpace(-1)
				if err := j.Save([]Update{upd("C", 5, 5, false)}); err != nil {
					t.Fatalf("save with space back: %v", err)
				}
				fsys.Crash(faultfs.DropUnsynced)
			},
			wantLast: map[string]uint64{"A": 3, "B": 5, "C": 5},
		},
		{
			name:    "missing segment: the one with A's 3 and B's 3 to 4",
			segSize: 1,
			fault: func(t *testing.T, fsys *faultfs.FS, recs []diskRecord, _ *Journal) {
				r := find(t, recs, kEntries, "B", 1)
				if err := fsys.Remove(r.file); err != nil {
					t.Fatal(err)
				}
			},
			wantDamaged: []string{"A", "B"},
			wantLast:    map[string]uint64{"A": 2, "B": 2, "C": 4},
		},
		{
			name:    "truncated record in a segment that is not the last",
			segSize: 1,
			fault: func(t *testing.T, fsys *faultfs.FS, recs []diskRecord, _ *Journal) {
				r := find(t, recs, kEntries, "B", 1)
				truncateFile(fsys, r.file, r.off+r.size-5)
			},
			wantDamaged: []string{"B"},
			wantLast:    map[string]uint64{"A": 3, "B": 2, "C": 4},
		},
		{
			name:    "bit flip in a checkpoint's state of C",
			segSize: 1,
			fault: func(t *testing.T, fsys *faultfs.FS, recs []diskRecord, _ *Journal) {
				r := find(t, recs, kState, "C", 1)
				fsys.FlipBit(r.file, int64(r.off+r.nameAndHdr+1), 1)
			},
			wantDamaged: []string{"C"},
			wantLast:    map[string]uint64{"A": 3, "B": 5, "C": 4},
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
			for _, round := range faultRounds {
				if err := j.Save(round); err != nil {
					t.Fatal(err)
				}
			}
			recs := readRecords(t, fsys)
			var live *Journal
			if tc.name[:4] == "lost" || tc.name[:4] == "full" || tc.name[:4] == "torn" || tc.name[:9] == "the power" {
				live = j
			} else {
				j.Close()
			}
			tc.fault(t, fsys, recs, live)
			if live != nil {
				live.Close()
			}
			j, err := Open(testDir, Options{FS: fsys, SegmentSize: segSize})
			if err != nil {
				t.Fatalf("open after the fault: %v", err)
			}
			defer j.Close()
			damaged := j.Damaged()
			var names []string
			for name, reason := range damaged {
				names = append(names, name)
				if !strings.Contains(reason, filepath.Join(testDir, "")) {
					t.Errorf("reason for %s does not say where: %q", name, reason)
				}
			}
			slices.Sort(names)
			if !slices.Equal(names, tc.wantDamaged) {
				t.Fatalf("damaged %v (%v), want %v", names, damaged, tc.wantDamaged)
			}
			for group, want := range tc.wantLast {
				checkLog(t, j, group, want)
			}
		})
	}
}

// checkLog requires a group's log to be exactly its entries 1 to last as
// the rounds wrote them.
func checkLog(t *testing.T, j *Journal, group string, last uint64) {
	t.Helper()
	st := j.Storage(group)
	first, _ := st.FirstIndex()
	got, _ := st.LastIndex()
	if first != 1 || got != last {
		t.Fatalf("group %s: entries %d to %d, want 1 to %d", group, first, got, last)
	}
	ents, err := st.Entries(1, last+1, 1<<62)
	if err != nil {
		t.Fatalf("group %s: %v", group, err)
	}
	for _, e := range ents {
		if want := fmt.Sprint(group, e.GetIndex()); string(e.GetData()) != want {
			t.Fatalf("group %s: entry %d is %q, want %q", group, e.GetIndex(), e.GetData(), want)
		}
	}
	hs, _, _ := st.InitialState()
	if hs.GetCommit() > last {
		t.Fatalf("group %s: commit %d past its last entry %d", group, hs.GetCommit(), last)
	}
}

// TestDamagedGroupRepaired: a damaged group's log, cut at the damage,
// takes the rounds a leader sends from there, and they survive the next
// Open even though the damage is still in the file (and reported again).
func TestDamagedGroupRepaired(t *testing.T) {
	fsys := faultfs.New()
	j := openFault(t, fsys, 1<<20)
	for _, round := range faultRounds {
		if err := j.Save(round); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	r := find(t, readRecords(t, fsys), kEntries, "B", 1)
	fsys.FlipBit(r.file, int64(r.off+r.nameAndHdr+3), 2)
	j = openFault(t, fsys, 1<<20)
	if _, ok := j.Damaged()["B"]; !ok {
		t.Fatalf("B not reported damaged: %v", j.Damaged())
	}
	checkLog(t, j, "B", 2)
	// The leader sends 3 to 6 again (as it had them).
	if err := j.Save([]Update{upd("B", 3, 6, false)}); err != nil {
		t.Fatal(err)
	}
	j.Close()
	j = openFault(t, fsys, 1<<20)
	defer j.Close()
	checkLog(t, j, "B", 6)
	checkLog(t, j, "A", 3)
	checkLog(t, j, "C", 4)
}

// TestRealFiles runs the rounds on the real file system (store.OSFS):
// written, closed, read back, torn at the end, read back again.
func TestRealFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "journal")
	j, err := Open(dir, Options{SegmentSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	for _, round := range faultRounds {
		if err := j.Save(round); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	j, err = Open(dir, Options{SegmentSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	if d := j.Damaged(); len(d) > 0 {
		t.Fatalf("damaged: %v", d)
	}
	checkLog(t, j, "A", 3)
	checkLog(t, j, "B", 5)
	checkLog(t, j, "C", 4)
	if err := j.Save([]Update{upd("C", 5, 5, false)}); err != nil {
		t.Fatal(err)
	}
	files := j.segmentFiles()
	j.Close()
	last := files[len(files)-1]
	fi, err := os.Stat(last)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(last, fi.Size()-3); err != nil {
		t.Fatal(err)
	}
	j, err = Open(dir, Options{SegmentSize: 256})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	// The cut looks like a torn tail, but C's round was acknowledged: the
	// witness says so.
	if d := j.Damaged(); len(d) != 1 || !strings.Contains(d["C"], "behind") {
		t.Fatalf("damaged after an acknowledged round was cut: %v, want C behind", d)
	}
	if last, term, _, ok := j.Witness("C"); !ok || last != 5 || term != 1 {
		t.Fatalf("witness of C: %d %d %v, want 5 (term 1)", last, term, ok)
	}
	checkLog(t, j, "C", 4)
	if fi2, _ := os.Stat(last); fi2.Size() >= fi.Size()-3 {
		t.Fatalf("torn tail not cut: %d bytes", fi2.Size())
	}
}

// TestDamageRemembered: the segment holding the damage may be released
// (the damaged group's cut log is in the next checkpoint), but the group
// stays reported damaged on every Open until Repaired says a leader has
// brought it back; Drop forgets it too.
func TestDamageRemembered(t *testing.T) {
	fsys := faultfs.New()
	j := openFault(t, fsys, 1024)
	for _, round := range faultRounds {
		if err := j.Save(round); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	r := find(t, readRecords(t, fsys), kEntries, "B", 1)
	fsys.FlipBit(r.file, int64(r.off+r.nameAndHdr+3), 2)
	j = openFault(t, fsys, 1024)
	if _, ok := j.Damaged()["B"]; !ok {
		t.Fatalf("B not reported damaged: %v", j.Damaged())
	}
	if files := segFiles(fsys); slices.Contains(files, r.file) {
		t.Fatalf("the damaged segment %s was kept (%v): the test needs it released", r.file, files)
	}
	j.Close()
	j = openFault(t, fsys, 1024)
	reason, ok := j.Damaged()["B"]
	if !ok || !strings.Contains(reason, r.file) {
		t.Fatalf("B's damage forgotten once its segment was released: %v", j.Damaged())
	}
	checkLog(t, j, "B", 2)
	if err := j.Save([]Update{upd("B", 3, 5, false)}); err != nil {
		t.Fatal(err)
	}
	if err := j.Repaired("B"); err != nil {
		t.Fatal(err)
	}
	if d := j.Damaged(); len(d) > 0 {
		t.Fatalf("damaged after Repaired: %v", d)
	}
	j.Close()
	j = openFault(t, fsys, 1024)
	defer j.Close()
	if d := j.Damaged(); len(d) > 0 {
		t.Fatalf("damaged after Repaired and a reopen: %v", d)
	}
	checkLog(t, j, "B", 5)
}

// TestRefused: what a record cannot carry, or the log cannot take, is
// refused with an error before anything is written.
func TestRefused(t *testing.T) {
	fsys := faultfs.New()
	j := openFault(t, fsys, 1<<20)
	defer j.Close()
	long := strings.Repeat("g", 256)
	for name, err := range map[string]error{
		"long name":        j.Save([]Update{upd(long, 1, 1, false)}),
		"empty name":       j.Save([]Update{upd("", 1, 1, false)}),
		"long name conf":   j.SetConfState(long, &raftpb.ConfState{}),
		"gap":              j.Save([]Update{upd("A", 2, 2, false)}),
		"not consecutive":  j.Save([]Update{{Group: "A", Entries: []*raftpb.Entry{ent(1, 1, "a"), ent(3, 1, "c")}}}),
		"compact past end": func() error { _ = j.Save([]Update{upd("B", 1, 1, false)}); return j.Compact("B", 2, nil) }(),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if last, _ := j.Storage("A").LastIndex(); last != 0 {
		t.Fatalf("A has entries to %d after refused rounds", last)
	}
}
