package subject

import (
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// taggedResult is a Result that names the subject it was stored for, so a
// reader can tell a right hit from a wrong one.
func taggedEntry(subject string) *cacheEntry[*tsub] {
	e := new(cacheEntry[*tsub])
	e.res.Queues = []QueueGroup[*tsub]{{Name: subject}}
	e.r = &e.res
	return e
}

// checkShards verifies the table invariants: every live entry is found from
// its home slot, slots and the dense lists agree, and no shard is over
// its bound.
func checkShards(t *testing.T, c *matchCache[*tsub]) int {
	t.Helper()
	total := 0
	for s := range c.shards {
		sh := &c.shards[s]
		sh.mu.Lock()
		used := 0
		for i := range sh.slots {
			if sh.slots[i].Load() != nil {
				used++
			}
		}
		if used != len(sh.ents) || len(sh.keys) != len(sh.ents) || len(sh.ents) > shardMax {
			t.Fatalf("shard %d: %d slots used, %d keys, %d ents", s, used, len(sh.keys), len(sh.ents))
		}
		for j, e := range sh.ents {
			if e.pos != j || sh.keys[j] != e.subject || e.hash&(cacheShards-1) != uint64(s) {
				t.Fatalf("shard %d: entry %d (%q) has pos %d, key %q", s, j, e.subject, e.pos, sh.keys[j])
			}
			if r, ok := sh.get(e.hash, []byte(e.subject)); !ok || r != e.r {
				t.Fatalf("shard %d: live entry %q not found from its home slot", s, e.subject)
			}
		}
		total += len(sh.ents)
		sh.mu.Unlock()
	}
	return total
}

// TestCacheTable drives the lock-free table directly with far more
// subjects than it holds, so that probe runs wrap, evictions happen on
// every shard and backward-shift deletion is exercised, while readers
// check that every hit returns the Result stored for that very subject.
func TestCacheTable(t *testing.T) {
	c := newMatchCache[*tsub]()
	pool := make([]string, 3000)
	for i := range pool {
		pool[i] = fmt.Sprintf("k%d.%d", i%7, i)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var hits atomic.Int64
	for r := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(r), 99))
			for !stop.Load() {
				k := []byte(pool[rng.IntN(len(pool))])
				h := maphash.Bytes(c.seed, k)
				if res, ok := c.shard(h).get(h, k); ok {
					hits.Add(1)
					if res.Queues[0].Name != string(k) {
						t.Errorf("get(%q) returned the Result of %q", k, res.Queues[0].Name)
						return
					}
				}
			}
		})
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range 100000 {
		k := pool[rng.IntN(len(pool))]
		h := maphash.String(c.seed, k)
		switch op := rng.IntN(10); {
		case op < 7:
			c.shard(h).put(h, []byte(k), taggedEntry(k))
		case op < 9:
			c.invalidate(k)
			if _, ok := c.shard(h).get(h, []byte(k)); ok {
				t.Fatalf("%q still cached after invalidate", k)
			}
		default:
			p := fmt.Sprintf("k%d.*", rng.IntN(7))
			c.invalidate(p)
			for s := range c.shards {
				for _, key := range c.shards[s].keys {
					if Matches(p, key) {
						t.Fatalf("%q still cached after invalidating %q", key, p)
					}
				}
			}
		}
		if i%5000 == 0 {
			checkShards(t, c)
		}
	}
	for _, k := range pool { // fill up: every shard must evict
		h := maphash.String(c.seed, k)
		c.shard(h).put(h, []byte(k), taggedEntry(k))
	}
	stop.Store(true)
	wg.Wait()
	if n := checkShards(t, c); n < cacheShards*shardKeep || n > cacheMax {
		t.Fatalf("%d entries cached after filling, want %d..%d", n, cacheShards*shardKeep, cacheMax)
	}
	if hits.Load() == 0 {
		t.Fatal("readers never hit")
	}
}
