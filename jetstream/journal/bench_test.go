package journal

import (
	"fmt"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// BenchmarkSave is a driver's round on the real file system: 16 groups,
// one 128-byte entry and a hard state each, one write and one fsync.
// It is fsync-bound; rounds/s is the number to compare.
func BenchmarkSave(b *testing.B) {
	j, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	const groups = 16
	names := make([]string, groups)
	for g := range names {
		names[g] = fmt.Sprintf("S-%02d", g)
	}
	data := []byte(strings.Repeat("x", 128))
	us := make([]Update, groups)
	b.SetBytes(groups * 128)
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		for g := range us {
			idx := uint64(i)
			us[g] = Update{Group: names[g], Entries: []*raftpb.Entry{ent(idx, 1, "")}, HardState: hardState(1, 1, idx-1)}
			us[g].Entries[0].Data = data
		}
		if err := j.Save(us); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 0 {
			for _, n := range names {
				if err := j.Compact(n, uint64(i-10), nil); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rounds/s")
}
