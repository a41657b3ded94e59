package journal

import (
	"bytes"
	"testing"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/natsd/natsd/jetstream/store/faultfs"
)

// FuzzJournalRecord feeds arbitrary bytes to the record decoder and to
// replay, as one record and as a whole segment (the last or not): never
// a panic, a record that decodes re-encodes to the same bytes, and the
// log replay leaves is one etcd/raft can read.
func FuzzJournalRecord(f *testing.F) {
	fsys := faultfs.New()
	j, err := Open(testDir, Options{FS: fsys, SegmentSize: 1})
	if err != nil {
		f.Fatal(err)
	}
	for _, round := range faultRounds {
		if err := j.Save(round); err != nil {
			f.Fatal(err)
		}
	}
	snap := &raftpb.Snapshot{Data: []byte("s"), Metadata: &raftpb.SnapshotMetadata{}}
	snap.Metadata.Index, snap.Metadata.Term = new(uint64(9)), new(uint64(2))
	_ = j.Save([]Update{{Group: "D", Snapshot: snap}})
	_ = j.Compact("A", 2, []byte("at 2"))
	_ = j.SetConfState("B", &raftpb.ConfState{Voters: []uint64{1, 2, 3}})
	_ = j.Drop("C")
	j.Close()
	for _, file := range segFiles(fsys) {
		b, _ := fsys.ReadFile(file)
		f.Add(b)
		for off := 0; off < len(b); {
			rec, err := decodeRecord(b[off:])
			if err != nil {
				break
			}
			f.Add(b[off : off+rec.size])
			off += rec.size
		}
	}
	// A checkpoint saying a last index far past the log (MemoryStorage.Term
	// panicked on it).
	f.Add(appendRecord(nil, kState, "G", appendState(nil, &groupState{lastIndex: 0x8b30303030303030, lastTerm: 1,
		snap: &raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{}}})))
	f.Fuzz(func(t *testing.T, b []byte) {
		if rec, err := decodeRecord(b); err == nil {
			again := appendRecord(nil, rec.kind, rec.group, rec.body)
			if !bytes.Equal(again, b[:rec.size]) {
				t.Fatalf("re-encoded %x, read %x", again, b[:rec.size])
			}
			_, _ = decodeEntries(rec.body)
			_, _ = decodeState(rec.body)
			_, _ = decodeConfState(rec.body)
		}
		// The checksums keep most mutations out of the bodies: also read
		// b as the body of each kind of record, checksummed, after a group
		// with a log.
		var bodies []byte
		if len(b) > 0 {
			bodies = appendRecord(nil, kEntries, "G", mustEntries(t, ent(1, 1, "a"), ent(2, 1, "b")))
			bodies = appendRecord(bodies, kind(1+b[0]%uint8(kindEnd-1)), "G", b[1:])
		}
		for _, c := range []struct {
			b    []byte
			last bool
		}{{b, false}, {b, true}, {bodies, true}} {
			j := OpenMemory()
			r := &replay{j: j, seen: map[string]bool{}}
			seg := &segment{num: 1, needs: map[*group]uint64{}}
			if end := r.segment(seg, "fuzz.seg", c.b, c.last); end < 0 || end > int64(len(c.b)) {
				t.Fatalf("replay ends at %d of %d", end, len(c.b))
			}
			r.finish()
			for _, name := range j.Groups() {
				st := j.Storage(name)
				first, _ := st.FirstIndex()
				lastIdx, _ := st.LastIndex()
				if lastIdx+1 < first {
					t.Fatalf("group %q: first %d, last %d", name, first, lastIdx)
				}
				if lastIdx >= first {
					if _, err := st.Entries(first, lastIdx+1, 1<<20); err != nil {
						t.Fatalf("group %q: entries: %v", name, err)
					}
				}
				hs, _, _ := st.InitialState()
				if hs.GetCommit() > lastIdx {
					t.Fatalf("group %q: commit %d past last %d", name, hs.GetCommit(), lastIdx)
				}
			}
		}
	})
}

func mustEntries(t *testing.T, ents ...*raftpb.Entry) []byte {
	b, err := appendEntries(nil, ents)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
