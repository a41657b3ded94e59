package journal

import (
	"fmt"
	"math/rand"
	"slices"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/natsd/natsd/jetstream/store/faultfs"
)

const testDir = "/data/journal"

func openFault(t testing.TB, fsys *faultfs.FS, segSize int64) *Journal {
	t.Helper()
	j, err := Open(testDir, Options{FS: fsys, SegmentSize: segSize})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return j
}

// segFiles are the journal's segment files (not its witness).
func segFiles(fsys *faultfs.FS) []string {
	var out []string
	for _, f := range fsys.Files(testDir) {
		if strings.HasSuffix(f, ".seg") {
			out = append(out, f)
		}
	}
	return out
}

func ent(index, term uint64, data string) *raftpb.Entry {
	return &raftpb.Entry{Index: proto.Uint64(index), Term: proto.Uint64(term),
		Type: raftpb.EntryType_EntryNormal.Enum(), Data: []byte(data)}
}

func hardState(term, vote, commit uint64) *raftpb.HardState {
	return &raftpb.HardState{Term: proto.Uint64(term), Vote: proto.Uint64(vote), Commit: proto.Uint64(commit)}
}

// sameStorage fails the test where the two journals answer etcd/raft
// differently for any group.
func sameStorage(t *testing.T, what string, want, got *Journal) {
	t.Helper()
	if w, g := want.Groups(), got.Groups(); !slices.Equal(w, g) {
		t.Fatalf("%s: groups %v, want %v", what, g, w)
	}
	for _, name := range want.Groups() {
		ws, gs := want.Storage(name), got.Storage(name)
		wf, _ := ws.FirstIndex()
		gf, _ := gs.FirstIndex()
		wl, _ := ws.LastIndex()
		gl, _ := gs.LastIndex()
		if wf != gf || wl != gl {
			t.Fatalf("%s: group %s: first/last %d/%d, want %d/%d", what, name, gf, gl, wf, wl)
		}
		for i := wf - 1; i <= wl; i++ {
			wt, werr := ws.Term(i)
			gt, gerr := gs.Term(i)
			if wt != gt || (werr == nil) != (gerr == nil) {
				t.Fatalf("%s: group %s: term(%d) %d %v, want %d %v", what, name, i, gt, gerr, wt, werr)
			}
		}
		if wl >= wf {
			we, werr := ws.Entries(wf, wl+1, 1<<62)
			ge, gerr := gs.Entries(wf, wl+1, 1<<62)
			if werr != nil || gerr != nil || len(we) != len(ge) {
				t.Fatalf("%s: group %s: entries %d %v, want %d %v", what, name, len(ge), gerr, len(we), werr)
			}
			for k := range we {
				if !proto.Equal(we[k], ge[k]) {
					t.Fatalf("%s: group %s: entry %v, want %v", what, name, ge[k], we[k])
				}
			}
		}
		whs, wcs, _ := ws.InitialState()
		ghs, gcs, _ := gs.InitialState()
		if !proto.Equal(whs, ghs) || !proto.Equal(wcs, gcs) {
			t.Fatalf("%s: group %s: initial state %v %v, want %v %v", what, name, ghs, gcs, whs, wcs)
		}
		wsn, _ := ws.Snapshot()
		gsn, _ := gs.Snapshot()
		if !proto.Equal(wsn, gsn) {
			t.Fatalf("%s: group %s: snapshot %v, want %v", what, name, gsn, wsn)
		}
	}
}

// modelGroup is what the op generator knows of a group.
type modelGroup struct{ term, last, snap, commit uint64 }

// randomOp applies one seeded random operation to both journals and
// checks they agree on whether it was refused.
func randomOp(t *testing.T, rng *rand.Rand, mem, file *Journal, names []string, state map[string]*modelGroup) {
	t.Helper()
	name := names[rng.Intn(len(names))]
	m := state[name]
	if m == nil {
		m = &modelGroup{term: 1}
		state[name] = m
	}
	var merr, ferr error
	switch op := rng.Intn(20); {
	case op < 12: // a round of one to three groups
		var us []Update
		for _, n := range rng.Perm(len(names))[:1+rng.Intn(3)] {
			gname := names[n]
			g := state[gname]
			if g == nil {
				g = &modelGroup{term: 1}
				state[gname] = g
			}
			u := Update{Group: gname}
			if rng.Intn(15) == 0 {
				g.term++
				g.snap = g.last + uint64(rng.Intn(5)) + 1
				g.last, g.commit = g.snap, g.snap
				u.Snapshot = &raftpb.Snapshot{Data: []byte(fmt.Sprint("snap", g.snap)), Metadata: &raftpb.SnapshotMetadata{
					Index: proto.Uint64(g.snap), Term: proto.Uint64(g.term),
					ConfState: &raftpb.ConfState{Voters: []uint64{1, 2, uint64(3 + rng.Intn(3))}}}}
			}
			from := g.last + 1
			if low := max(g.snap, g.commit); rng.Intn(5) == 0 && g.last > low { // a conflicting suffix
				g.term++
				from = low + 1 + uint64(rng.Int63n(int64(g.last-low)))
			}
			for k := 0; k < rng.Intn(5); k++ {
				u.Entries = append(u.Entries, ent(from+uint64(k), g.term, fmt.Sprint(gname, from+uint64(k), g.term, rng.Int())))
			}
			if len(u.Entries) > 0 {
				g.last = from + uint64(len(u.Entries)) - 1
			}
			if rng.Intn(2) == 0 {
				g.commit += uint64(rng.Int63n(int64(g.last - g.commit + 1)))
				u.HardState = hardState(g.term, uint64(rng.Intn(3)), g.commit)
			}
			us = append(us, u)
		}
		merr, ferr = mem.Save(us), file.Save(us)
	case op < 16:
		idx := m.snap + uint64(rng.Intn(int(m.commit-m.snap)+2)) // sometimes past the commit, once past the last
		data := []byte(fmt.Sprint("compact", idx))
		merr, ferr = mem.Compact(name, idx, data), file.Compact(name, idx, data)
		if merr == nil && idx > m.snap && slices.Contains(mem.Groups(), name) {
			m.snap = idx
		}
	case op < 18:
		cs := &raftpb.ConfState{Voters: []uint64{1, uint64(2 + rng.Intn(4))}, Learners: []uint64{9}}
		merr, ferr = mem.SetConfState(name, cs), file.SetConfState(name, cs)
	default:
		merr, ferr = mem.Drop(name), file.Drop(name)
		delete(state, name)
	}
	if (merr == nil) != (ferr == nil) {
		t.Fatalf("memory says %v, file says %v", merr, ferr)
	}
}

// TestModel feeds seeded random rounds, compactions, membership changes
// and drops to the in-memory journal and the file journal, reopens the
// file journal now and then, and requires the same answers to every
// raft.Storage question.
func TestModel(t *testing.T) {
	for seed := int64(1); seed <= 30; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			fsys := faultfs.New()
			segSize := int64(256 + rng.Intn(4096))
			mem, file := OpenMemory(), openFault(t, fsys, segSize)
			names := []string{"meta", "S-a", "S-b", "S-c", "S-d"}
			state := map[string]*modelGroup{}
			for i := 0; i < 400; i++ {
				randomOp(t, rng, mem, file, names, state)
				if rng.Intn(60) == 0 {
					sameStorage(t, fmt.Sprint("before reopen at op ", i), mem, file)
					file.Close()
					file = openFault(t, fsys, segSize)
					sameStorage(t, fmt.Sprint("reopened at op ", i), mem, file)
					if d := file.Damaged(); len(d) > 0 {
						t.Fatalf("damage reported on a clean journal: %v", d)
					}
				}
			}
			file.Close()
			file = openFault(t, fsys, segSize)
			defer file.Close()
			sameStorage(t, "at the end", mem, file)
			if d := file.Damaged(); len(d) > 0 {
				t.Fatalf("damage reported on a clean journal: %v", d)
			}
		})
	}
}
