package subject

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// The benchmark world: subjects kind.region.id, as in orders.eu.123.
var (
	benchKinds   = []string{"orders", "payments", "shipments", "users", "metrics", "audit", "billing", "stock"}
	benchRegions = []string{"eu", "us", "ap", "sa", "af", "me"}
)

const benchIDs = 200

func benchLiteral(rng *rand.Rand) string {
	return fmt.Sprintf("%s.%s.%d", benchKinds[rng.IntN(len(benchKinds))], benchRegions[rng.IntN(len(benchRegions))], rng.IntN(benchIDs))
}

// benchPatterns returns 10,000 subscription subjects: 70% literal, 20% with
// '*', 10% with '>', and every tenth a queue subscription. A published
// subject then matches about 30 subscriptions (mostly the wildcards).
func benchPatterns(rng *rand.Rand) (subjects, queues []string) {
	for i := range 10000 {
		k := benchKinds[rng.IntN(len(benchKinds))]
		r := benchRegions[rng.IntN(len(benchRegions))]
		id := rng.IntN(benchIDs)
		var s string
		switch p := rng.IntN(100); {
		case p < 70:
			s = fmt.Sprintf("%s.%s.%d", k, r, id)
		case p < 85:
			s = fmt.Sprintf("%s.*.%d", k, id)
		case p < 90:
			s = fmt.Sprintf("%s.%s.*", k, r)
		case p < 97:
			s = fmt.Sprintf("%s.%s.>", k, r)
		default:
			s = k + ".>"
		}
		q := ""
		if i%10 == 0 {
			q = fmt.Sprint("workers", rng.IntN(3))
		}
		subjects, queues = append(subjects, s), append(queues, q)
	}
	return subjects, queues
}

func benchList(b *testing.B, cache bool) *Sublist[*tsub] {
	rng := rand.New(rand.NewPCG(42, 42))
	l := NewSublist[*tsub](cache)
	subjects, queues := benchPatterns(rng)
	for i, s := range subjects {
		if err := l.Insert(s, queues[i], &tsub{id: i}); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

// benchPubs returns n published subjects from the same world.
func benchPubs(n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	pubs := make([][]byte, n)
	for i := range pubs {
		pubs[i] = []byte(benchLiteral(rng))
	}
	return pubs
}

func BenchmarkMatch(b *testing.B) {
	// 512 hot subjects fit in the 1024-entry cache whatever the shard
	// spread, so every timed Match is a hit.
	b.Run("cached_hit", func(b *testing.B) {
		l := benchList(b, true)
		pubs := benchPubs(512, 1)
		for _, p := range pubs {
			l.Match(p)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			l.Match(pubs[i&511])
		}
		b.StopTimer()
		if st := l.Stats(); st.CacheHitRate < 0.99 {
			b.Fatalf("hit rate %.3f", st.CacheHitRate)
		}
	})
	// Every subject new: the walk, building the Result, and caching it
	// (with evictions) are all in the figure.
	b.Run("miss", func(b *testing.B) {
		l := benchList(b, true)
		pubs := make([][]byte, 1<<16)
		for i := range pubs {
			pubs[i] = fmt.Appendf(nil, "%s.%s.%d", benchKinds[i%8], benchRegions[i%6], benchIDs+i)
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			if i&(len(pubs)-1) == 0 && i > 0 {
				b.StopTimer()
				l = benchList(b, true) // empty the cache: stay misses
				b.StartTimer()
			}
			l.Match(pubs[i&(len(pubs)-1)])
		}
	})
	// The trie walk and Result build alone.
	b.Run("nocache", func(b *testing.B) {
		l := benchList(b, false)
		pubs := benchPubs(4096, 2)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			l.Match(pubs[i&4095])
		}
	})
	b.Run("nocache_no_interest", func(b *testing.B) {
		l := benchList(b, false)
		p := []byte("nobody.listens.here")
		b.ReportAllocs()
		for b.Loop() {
			l.Match(p)
		}
	})
	b.Run("wildcard_heavy_nocache", func(b *testing.B) {
		l := wildcardHeavyList(b)
		pubs := wildcardHeavyPubs()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			l.Match(pubs[i&1023])
		}
	})
	// The cached hit path from every P; run with -cpu=1,2 to see what
	// concurrent readers cost each other. "spread" uses the 512 hot
	// subjects, "hot" has every goroutine publishing on one subject.
	b.Run("parallel_spread", func(b *testing.B) {
		l := benchList(b, true)
		pubs := benchPubs(512, 1)
		for _, p := range pubs {
			l.Match(p)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for i := 0; pb.Next(); i++ {
				l.Match(pubs[i&511])
			}
		})
	})
	b.Run("parallel_hot", func(b *testing.B) {
		l := benchList(b, true)
		p := benchPubs(1, 1)[0]
		l.Match(p)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				l.Match(p)
			}
		})
	})
	b.Run("has_interest_nocache", func(b *testing.B) {
		l := benchList(b, false)
		pubs := benchPubs(4096, 2)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; b.Loop(); i++ {
			l.HasInterest(pubs[i&4095])
		}
	})
}

// wildcardHeavyList holds 10,000 five-token subscriptions, 90% of them
// with wildcards at varying positions, so a Match explores many branches.
func wildcardHeavyList(b *testing.B) *Sublist[*tsub] {
	rng := rand.New(rand.NewPCG(9, 9))
	l := NewSublist[*tsub](false)
	for i := range 10000 {
		toks := make([]string, 5)
		for j := range toks {
			toks[j] = fmt.Sprint("t", rng.IntN(4))
			if i%10 != 0 && rng.IntN(3) == 0 {
				toks[j] = "*"
			}
		}
		n := 5
		if i%10 != 0 && rng.IntN(4) == 0 {
			n = 1 + rng.IntN(5)
			toks[n-1] = ">"
		}
		if err := l.Insert(joinDots(toks[:n]), "", &tsub{id: i}); err != nil {
			b.Fatal(err)
		}
	}
	return l
}

func wildcardHeavyPubs() [][]byte {
	rng := rand.New(rand.NewPCG(10, 10))
	pubs := make([][]byte, 1024)
	for i := range pubs {
		pubs[i] = fmt.Appendf(nil, "t%d.t%d.t%d.t%d.t%d", rng.IntN(4), rng.IntN(4), rng.IntN(4), rng.IntN(4), rng.IntN(4))
	}
	return pubs
}

func joinDots(toks []string) string {
	s := toks[0]
	for _, t := range toks[1:] {
		s += "." + t
	}
	return s
}

// BenchmarkInsert adds distinct subscriptions to a list that already holds
// the 10,000 and has a warm cache, so invalidation is in the figure.
func BenchmarkInsert(b *testing.B) {
	for _, kind := range []string{"literal", "wildcard"} {
		b.Run(kind, func(b *testing.B) {
			l := benchList(b, true)
			for _, p := range benchPubs(512, 1) {
				l.Match(p)
			}
			subs := make([]*tsub, 1<<16)
			for i := range subs {
				s := fmt.Sprintf("%s.%s.%d", benchKinds[i%8], benchRegions[i%6], benchIDs+i)
				if kind == "wildcard" {
					s = fmt.Sprintf("%s.*.%d", benchKinds[i%8], benchIDs+i)
				}
				subs[i] = &tsub{id: i, subject: s}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				s := subs[i&(len(subs)-1)]
				if i >= len(subs) {
					l.Remove(s.subject, "", s) // keep the list size steady
				}
				l.Insert(s.subject, "", s)
			}
		})
	}
}

// BenchmarkRemove removes subscriptions from the 10,000-list (with a warm
// cache), re-inserting outside the timer when it runs dry.
func BenchmarkRemove(b *testing.B) {
	l := benchList(b, true)
	for _, p := range benchPubs(512, 1) {
		l.Match(p)
	}
	var subs []*tsub
	l.All(func(subject, queue string, s *tsub) bool {
		s.subject, s.queue = subject, queue
		subs = append(subs, s)
		return true
	})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		j := i % len(subs)
		if j == 0 && i > 0 {
			b.StopTimer()
			for _, s := range subs {
				l.Insert(s.subject, s.queue, s)
			}
			b.StartTimer()
		}
		s := subs[j]
		if err := l.Remove(s.subject, s.queue, s); err != nil {
			b.Fatal(err)
		}
	}
}
