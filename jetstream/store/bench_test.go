package store_test

import (
	"fmt"
	"testing"

	"github.com/natsd/natsd/jetstream/store"
)

// go test -run XXX -bench . -benchmem ./jetstream/store/
//
// 128-byte messages, as `nats bench` sends by default. The file
// benchmarks write to b.TempDir(), on this machine's disk.

var msg128 = make([]byte, 128)

func benchStore(b *testing.B, kind string) store.Store {
	b.Helper()
	var st store.Store
	var err error
	switch kind {
	case "mem":
		st, err = store.NewMemStore(store.Config{Name: "B"})
	case "always":
		st, err = store.OpenFileStore(store.OSFS(), b.TempDir(), store.Config{Name: "B", SyncAlways: true})
	case "interval":
		st, err = store.OpenFileStore(store.OSFS(), b.TempDir(), store.Config{Name: "B"})
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Stop() })
	return st
}

func BenchmarkStoreMsg(b *testing.B) {
	for _, c := range []struct {
		kind    string
		writers int
	}{{"mem", 1}, {"always", 1}, {"always", 16}, {"interval", 1}, {"interval", 16}} {
		b.Run(fmt.Sprintf("%s/%d", c.kind, c.writers), func(b *testing.B) {
			st := benchStore(b, c.kind)
			b.ReportAllocs()
			b.SetBytes(int64(len(msg128)))
			b.ResetTimer()
			if c.writers == 1 {
				for i := 0; i < b.N; i++ {
					if _, _, err := st.StoreMsg("bench.subject", nil, msg128, 0); err != nil {
						b.Fatal(err)
					}
				}
			} else {
				b.SetParallelism((c.writers + 1) / 2) // ×GOMAXPROCS goroutines (2 here: 16)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, _, err := st.StoreMsg("bench.subject", nil, msg128, 0); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}

// fill stores n messages over subjects "bench.<i%10>.<i%subjects>".
func fill(b *testing.B, st store.Store, n, subjects int) {
	b.Helper()
	for i := 0; i < n; i++ {
		if _, _, err := st.StoreMsg(fmt.Sprintf("bench.%d.%d", i%10, i%subjects), nil, msg128, 0); err != nil {
			b.Fatal(err)
		}
	}
	if err := st.Flush(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkLoadMsg(b *testing.B) {
	for _, kind := range []string{"mem", "interval"} {
		b.Run(kind, func(b *testing.B) {
			st := benchStore(b, kind)
			const n = 100000
			fill(b, st, n, 100)
			var sm store.StoreMsg
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := st.LoadMsg(uint64(i%n)+1, &sm); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoadNextMsgFiltered: a consumer with a filter walking a stream
// of 100k messages over 1000 subjects: the literal filter matches one
// message in 1000, the wildcard one in 10 (100 subjects).
func BenchmarkLoadNextMsgFiltered(b *testing.B) {
	for _, kind := range []string{"mem", "interval"} {
		st := benchStore(b, kind)
		const n = 100000
		fill(b, st, n, 1000)
		for _, f := range []string{"bench.7.7", "bench.7.*"} {
			b.Run(kind+"/"+f, func(b *testing.B) {
				filters := []string{f}
				var sm store.StoreMsg
				b.ReportAllocs()
				b.ResetTimer()
				seq := uint64(1)
				for i := 0; i < b.N; i++ {
					m, err := st.LoadNextMsg(filters, seq, &sm)
					if err != nil {
						seq = 1
						continue
					}
					seq = m.Seq + 1
				}
			})
		}
	}
}

func BenchmarkNumPending(b *testing.B) {
	st := benchStore(b, "mem")
	fill(b, st, 100000, 1000)
	for _, f := range []string{"bench.7.7", "bench.7.*", ">"} {
		b.Run(f, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				st.NumPending(uint64(i%100000)+1, []string{f}, false)
			}
		})
	}
}
