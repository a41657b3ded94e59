package subject

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// The match cache maps a published subject to its (immutable) Result.
//
// It is split into shards, each with its own RWMutex, map and counters, so
// that a cache hit touches only its shard: publishers on different subjects
// do not bounce one lock word between cores, and Insert/Remove, which hold
// the trie's write lock, only block a shard while dropping its affected
// entries. A hit takes the shard's read lock for one map lookup; the hit
// counter lives on the same cache line, so counting costs no extra line
// transfer.

const (
	// cacheMax bounds the number of cached subjects (as nats-server does).
	cacheMax = 1024
	// cacheShards must be a power of two.
	cacheShards = 16
	shardMax    = cacheMax / cacheShards
	// shardKeep is what a full shard is cut back to: evicting a quarter at
	// a time amortises the eviction scan over many misses.
	shardKeep = shardMax * 3 / 4
)

type cacheShard[S comparable] struct {
	mu     sync.RWMutex
	hits   atomic.Uint64
	misses atomic.Uint64
	m      map[string]*Result[S]
	_      [64]byte // keep neighbouring shards off this cache line
}

type matchCache[S comparable] struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard[S]
}

func newMatchCache[S comparable]() *matchCache[S] {
	c := &matchCache[S]{seed: maphash.MakeSeed()}
	for i := range c.shards {
		c.shards[i].m = make(map[string]*Result[S], shardMax)
	}
	return c
}

func (c *matchCache[S]) shard(subject []byte) *cacheShard[S] {
	return &c.shards[maphash.Bytes(c.seed, subject)&(cacheShards-1)]
}

func (c *matchCache[S]) shardString(subject string) *cacheShard[S] {
	return &c.shards[maphash.String(c.seed, subject)&(cacheShards-1)]
}

// get is the hot path: no allocation (m[string(b)] does not convert).
func (sh *cacheShard[S]) get(subject []byte) (*Result[S], bool) {
	sh.mu.RLock()
	r, ok := sh.m[string(subject)]
	sh.mu.RUnlock()
	return r, ok
}

// put stores r, evicting arbitrary entries first when the shard is full.
// Map iteration order is randomised, which makes this a cheap random
// eviction; an LRU would need a write on every hit.
func (sh *cacheShard[S]) put(subject []byte, r *Result[S]) {
	sh.mu.Lock()
	if len(sh.m) >= shardMax {
		for k := range sh.m {
			if len(sh.m) <= shardKeep {
				break
			}
			delete(sh.m, k)
		}
	}
	sh.m[string(subject)] = r
	sh.mu.Unlock()
}

// invalidate drops the cached results that a change to pattern can alter.
// Only those: publishers on unrelated subjects keep their hits while
// clients subscribe and unsubscribe. Dropping (rather than patching the
// Result copy-on-write) costs the same copy, paid once by the next
// publisher instead of by every change in a burst of churn. Called with the
// trie write-locked, so no Match can re-cache a stale result meanwhile.
func (c *matchCache[S]) invalidate(pattern string) {
	if !HasWildcard(pattern) {
		// A literal pattern matches exactly one subject: itself.
		sh := c.shardString(pattern)
		sh.mu.Lock()
		delete(sh.m, pattern)
		sh.mu.Unlock()
		return
	}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for k := range sh.m {
			if matchTokens(pattern, k) {
				delete(sh.m, k)
			}
		}
		sh.mu.Unlock()
	}
}

// Stats is a snapshot of a Sublist's counters, in the shape of the
// nats-server /subsz endpoint (the JSON names are nats-server's).
type Stats struct {
	NumSubs    uint64 `json:"num_subscriptions"`
	NumCache   uint64 `json:"num_cache"`
	NumInserts uint64 `json:"num_inserts"`
	NumRemoves uint64 `json:"num_removes"`
	NumMatches uint64 `json:"num_matches"`
	// CacheHitRate is cache hits / NumMatches, in [0, 1].
	CacheHitRate float64 `json:"cache_hit_rate"`
	// MaxFanout and AvgFanout are taken over the cached results, counting
	// one per plain subscriber and one per queue group (a group receives
	// one copy), as nats-server does. Both are 0 without a cache.
	MaxFanout int     `json:"max_fanout"`
	AvgFanout float64 `json:"avg_fanout"`
}

// stats adds the cache's figures to st.
func (c *matchCache[S]) stats(st *Stats) {
	var hits, total uint64
	for i := range c.shards {
		sh := &c.shards[i]
		h := sh.hits.Load()
		hits += h
		st.NumMatches += h + sh.misses.Load()
		sh.mu.RLock()
		st.NumCache += uint64(len(sh.m))
		for _, r := range sh.m {
			f := len(r.Plain) + len(r.Queues)
			total += uint64(f)
			st.MaxFanout = max(st.MaxFanout, f)
		}
		sh.mu.RUnlock()
	}
	if st.NumMatches > 0 {
		st.CacheHitRate = float64(hits) / float64(st.NumMatches)
	}
	if st.NumCache > 0 {
		st.AvgFanout = float64(total) / float64(st.NumCache)
	}
}
