package journal

import (
	"errors"
	"fmt"
	"math/rand"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/natsd/natsd/jetstream/store/faultfs"
)

// crashGroup is what a group was told: every entry ever offered (there
// are no conflicts here, so an index has one value), and what was
// acknowledged.
type crashGroup struct {
	offered                map[uint64]string
	compact                uint64 // acknowledged
	tried, triedCommit     uint64 // offered, acknowledged or not
	ackedLast, ackedCommit uint64
}

// TestCrash saves rounds (with compactions, so segments roll and are
// released) until the power goes at a seeded random point, loses what
// was not fsynced (all of it, or a random prefix with a torn write, each
// file on its own: the witness's writes may survive and the segment's
// not, or the other way), or the process dies (kill -9: what was written
// stays), reopens, and requires every round Save acknowledged, whole, no
// damage reported (the witness does not hold a round the crash cut
// against the log), and nothing that was never offered. Then the
// witness still catches an acknowledged round cut from the log.
func TestCrash(t *testing.T) {
	for seed := int64(1); seed <= 400; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) { crashOnce(t, seed) })
	}
}

func crashOnce(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	fsys := faultfs.New()
	segSize := int64(512 + rng.Intn(8192))
	j := openFault(t, fsys, segSize)
	names := []string{"meta", "S-1", "S-2", "S-3"}
	groups := map[string]*crashGroup{}
	for _, n := range names {
		groups[n] = &crashGroup{offered: map[uint64]string{}}
	}
	fsys.FailAfter(rng.Intn(400))
	for round := 0; round < 300; round++ {
		if rng.Intn(6) == 0 {
			n := names[rng.Intn(len(names))]
			g := groups[n]
			if g.ackedCommit > g.compact {
				idx := g.compact + 1 + uint64(rng.Int63n(int64(g.ackedCommit-g.compact)))
				if err := j.Compact(n, idx, []byte(fmt.Sprint("state at ", idx))); err != nil {
					break
				}
				g.compact = idx
			}
			continue
		}
		if rng.Intn(4) == 0 {
			// A round in which only a commit index moved: written, not
			// fsynced (the driver's SaveNoSync). A crash may lose it;
			// it must never make the journal look damaged.
			n := names[rng.Intn(len(names))]
			g := groups[n]
			if g.ackedLast > g.ackedCommit {
				hs := hardState(1, 1, g.ackedCommit+1+uint64(rng.Int63n(int64(g.ackedLast-g.ackedCommit))))
				if err := j.SaveNoSync([]Update{{Group: n, HardState: hs}}); err != nil {
					if !errors.Is(err, faultfs.ErrCrashed) {
						t.Fatalf("save without sync: %v", err)
					}
					break
				}
				g.triedCommit = hs.GetCommit()
			}
			continue
		}
		var us []Update
		for _, k := range rng.Perm(len(names))[:1+rng.Intn(len(names))] {
			n := names[k]
			g := groups[n]
			u := Update{Group: n}
			for e := 0; e < 1+rng.Intn(3); e++ {
				g.tried++
				data := fmt.Sprintf("%s/%d/%x", n, g.tried, rng.Int63())
				g.offered[g.tried] = data
				u.Entries = append(u.Entries, ent(g.tried, 1, data))
			}
			g.triedCommit = g.ackedLast // what the others have acknowledged
			u.HardState = hardState(1, 1, g.triedCommit)
			us = append(us, u)
		}
		if err := j.Save(us); err != nil {
			if !errors.Is(err, faultfs.ErrCrashed) {
				t.Fatalf("save: %v", err)
			}
			break
		}
		for _, u := range us {
			g := groups[u.Group]
			g.ackedLast = g.tried
			g.ackedCommit = g.triedCommit
		}
	}
	keep := faultfs.DropUnsynced
	switch seed % 4 {
	case 0, 2:
		keep = faultfs.RandomKeep(rng)
	case 3:
		keep = shortTears(rng)
	}
	if seed%5 == 0 {
		fsys.CrashProcess()
	} else {
		fsys.Crash(keep)
	}
	if seed%3 == 0 {
		// The power goes again while Open cuts the torn tail and begins
		// a segment.
		fsys.FailAfter(rng.Intn(6))
		if j, err := Open(testDir, Options{FS: fsys, SegmentSize: segSize}); err == nil {
			j.Close()
		}
		fsys.Crash(keep)
	}
	j = openFault(t, fsys, segSize)
	defer j.Close()
	if d := j.Damaged(); len(d) > 0 {
		t.Fatalf("damage reported after a crash: %v", d)
	}
	for _, n := range names {
		g := groups[n]
		st := j.Storage(n)
		first, _ := st.FirstIndex()
		last, _ := st.LastIndex()
		hs, _, _ := st.InitialState()
		if last < g.ackedLast || hs.GetCommit() < g.ackedCommit || first-1 < g.compact {
			t.Fatalf("group %s: first %d last %d commit %d; acknowledged: compacted to %d, last %d, commit %d",
				n, first, last, hs.GetCommit(), g.compact, g.ackedLast, g.ackedCommit)
		}
		if last < first {
			continue
		}
		ents, err := st.Entries(first, last+1, 1<<62)
		if err != nil {
			t.Fatalf("group %s: entries: %v", n, err)
		}
		for _, e := range ents {
			if want, ok := g.offered[e.GetIndex()]; !ok || string(e.GetData()) != want {
				t.Fatalf("group %s: entry %d is %q, want %q", n, e.GetIndex(), e.GetData(), want)
			}
		}
	}
	// The journal goes on from there, and reads back clean again.
	after := groupsLast(j, "meta") + 1
	if err := j.Save([]Update{{Group: "meta", Entries: []*raftpb.Entry{ent(after, 2, "after")}}}); err != nil {
		t.Fatalf("save after the crash: %v", err)
	}
	j.Close()
	j = openFault(t, fsys, segSize)
	if d := j.Damaged(); len(d) > 0 {
		t.Fatalf("damage reported on the second open: %v", d)
	}
	// Once more, and the acknowledged round is cut off the log (the last
	// record of the newest segment): a torn tail to the segments, not to
	// the witness.
	if err := j.Save([]Update{{Group: "meta", Entries: []*raftpb.Entry{ent(after+1, 2, "cut")}}}); err != nil {
		t.Fatalf("save after the crash: %v", err)
	}
	j.Close()
	files := segFiles(fsys)
	newest := files[len(files)-1]
	b, _ := fsys.ReadFile(newest)
	fsys.WriteFile(newest, b[:len(b)-3])
	j = openFault(t, fsys, segSize)
	defer j.Close()
	if d := j.Damaged(); len(d) != 1 || d["meta"] == "" {
		t.Fatalf("the acknowledged round cut: damaged %v, want meta", d)
	}
	if last, term, _, ok := j.Witness("meta"); !ok || last != after+1 || term != 2 {
		t.Fatalf("witness of meta: %d %d %v, want %d (term 2)", last, term, ok, after+1)
	}
}

// shortTears is a crash that keeps a random prefix of each file's
// unsynced writes and tears the next within its first 256 bytes: a
// round's segment write is then often lost while its witness write (of
// a few 64-byte copies) is kept, which RandomKeep's tears of up to 4 KiB
// seldom do.
func shortTears(rng *rand.Rand) faultfs.Keep {
	return func(_ string, n int) (int, int) {
		return rng.Intn(n + 1), rng.Intn(256)
	}
}

func groupsLast(j *Journal, name string) uint64 {
	last, _ := j.Storage(name).LastIndex()
	return last
}
