package subject

import (
	"hash/maphash"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
)

// The match cache maps a published subject to its (immutable) Result.
//
// A hit takes no lock and writes no shared memory except its shard's hit
// counter. Each of the 16 shards is a fixed open-addressed table of atomic
// pointers to immutable entries, indexed by the same 64-bit maphash that
// picked the shard, so a hit costs one hash, a probe or two and a string
// compare. Writers (a miss storing its Result, Insert/Remove invalidating,
// eviction) serialise on the shard's mutex and publish with atomic stores.
//
// A reader racing a writer can at worst miss an entry that is being moved
// or has just been stored; a miss recomputes the Result from the trie, so
// that is only lost work. It can never find an entry after its removal has
// been stored, and invalidation is stored before Insert/Remove return.
//
// Measured against the first design (the same shards, each a map under an
// RWMutex): a hit went from ~22-24 ns to ~12 ns on one core, and two
// goroutines hitting one subject no longer bounce a lock word (with
// -cpu=2 the RWMutex version took 36-67 ns/op there). The price is a
// fixed table per shard (~20 KB per Sublist), one more pointer per entry
// for writers to keep, and a slightly dearer miss.

const (
	// cacheMax bounds the number of cached subjects (as nats-server does).
	cacheMax = 1024
	// cacheShards must be a power of two; the low bits of the hash pick
	// the shard.
	cacheShards = 16
	shardBits   = 4
	shardMax    = cacheMax / cacheShards
	// shardKeep is what a full shard is cut back to: evicting a quarter at
	// a time amortises the eviction over many misses.
	shardKeep = shardMax * 3 / 4
	// shardSlots keeps the load factor at or below 1/2, so linear probes
	// stay short.
	shardSlots = 2 * shardMax
	slotMask   = shardSlots - 1
)

type cacheEntry[S comparable] struct {
	hash    uint64
	subject string
	r       *Result[S]
	pos     int // index in the shard's keys/ents; under mu, readers never look
	// res is where a miss builds its Result, so that the entry and the
	// Result are one allocation; r points here unless there was no
	// interest (then r is the Sublist's shared empty Result).
	res Result[S]
}

// home is the slot an entry's probe sequence starts at.
func home(h uint64) int { return int(h>>shardBits) & slotMask }

type cacheShard[S comparable] struct {
	// slots is read by every hit and written only under mu.
	slots [shardSlots]atomic.Pointer[cacheEntry[S]]
	// hits is written by every hit: its own cache line, so counting does
	// not invalidate the line other readers are loading slots from.
	_    [64]byte
	hits atomic.Uint64
	_    [64]byte
	mu   sync.Mutex
	// Under mu, the live entries again, densely: writers scan these
	// (invalidation, Stats, eviction) instead of 128 mostly empty slots,
	// and keys holds the subjects inline so most of a scan never follows
	// an entry pointer. This halved the cost of a wildcard Insert.
	keys   []string
	ents   []*cacheEntry[S]
	misses atomic.Uint64
	_      [64]byte
}

type matchCache[S comparable] struct {
	seed   maphash.Seed
	shards [cacheShards]cacheShard[S]
}

func newMatchCache[S comparable]() *matchCache[S] {
	return &matchCache[S]{seed: maphash.MakeSeed()}
}

func (c *matchCache[S]) shard(h uint64) *cacheShard[S] {
	return &c.shards[h&(cacheShards-1)]
}

// get is the hot path: lock-free, allocation-free.
func (sh *cacheShard[S]) get(h uint64, subject []byte) (*Result[S], bool) {
	for i := home(h); ; i = (i + 1) & slotMask {
		e := sh.slots[i].Load()
		if e == nil {
			return nil, false
		}
		if e.hash == h && e.subject == string(subject) {
			return e.r, true
		}
	}
}

// find returns the slot holding key, or -1. Called with mu held.
func (sh *cacheShard[S]) find(h uint64, key string) int {
	for i := home(h); ; i = (i + 1) & slotMask {
		e := sh.slots[i].Load()
		if e == nil {
			return -1
		}
		if e.hash == h && e.subject == key {
			return i
		}
	}
}

// put stores e (with e.r set), first evicting random entries when the
// shard is full (an LRU would need a write on every hit). Two concurrent
// misses on one subject both put; the second replaces the first's equal
// Result.
func (sh *cacheShard[S]) put(h uint64, subject []byte, e *cacheEntry[S]) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.ents) >= shardMax {
		for len(sh.ents) > shardKeep {
			sh.remove(sh.ents[rand.IntN(len(sh.ents))])
		}
	}
	e.hash, e.subject = h, string(subject)
	for i := home(h); ; i = (i + 1) & slotMask {
		old := sh.slots[i].Load()
		if old == nil {
			e.pos = len(sh.ents)
			sh.keys = append(sh.keys, e.subject)
			sh.ents = append(sh.ents, e)
			sh.slots[i].Store(e)
			return
		}
		if old.hash == h && old.subject == e.subject {
			e.pos = old.pos
			sh.ents[e.pos] = e
			sh.slots[i].Store(e)
			return
		}
	}
}

// remove drops a live entry. Called with mu held.
func (sh *cacheShard[S]) remove(e *cacheEntry[S]) {
	last := len(sh.ents) - 1
	if j := e.pos; j != last {
		sh.keys[j], sh.ents[j] = sh.keys[last], sh.ents[last]
		sh.ents[j].pos = j
	}
	sh.keys[last], sh.ents[last] = "", nil
	sh.keys, sh.ents = sh.keys[:last], sh.ents[:last]
	sh.clearSlot(sh.find(e.hash, e.subject))
}

// clearSlot empties slot i and shifts later entries of the probe run back
// (backward-shift deletion, so no tombstones accumulate). Each move stores
// the entry at its new slot before clearing the old one: a concurrent
// reader may see it twice or, briefly, not at all, never a removed entry.
// Called with mu held.
func (sh *cacheShard[S]) clearSlot(i int) {
	sh.slots[i].Store(nil)
	for j := (i + 1) & slotMask; ; j = (j + 1) & slotMask {
		e := sh.slots[j].Load()
		if e == nil {
			return
		}
		// e may fill the hole at i unless its home lies cyclically in (i, j].
		k := home(e.hash)
		if i <= j && i < k && k <= j || i > j && (i < k || k <= j) {
			continue
		}
		sh.slots[i].Store(e)
		sh.slots[j].Store(nil)
		i = j
	}
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
		h := maphash.String(c.seed, pattern)
		sh := c.shard(h)
		sh.mu.Lock()
		if i := sh.find(h, pattern); i >= 0 {
			sh.remove(sh.slots[i].Load())
		}
		sh.mu.Unlock()
		return
	}
	// The literal tokens before the first wildcard are a cheap filter:
	// most cached subjects fail it with one short compare.
	prefix := pattern[:literalPrefix(pattern)]
	rest := pattern[len(prefix):]
	for s := range c.shards {
		sh := &c.shards[s]
		sh.mu.Lock()
		for j := 0; j < len(sh.keys); {
			k := sh.keys[j]
			if strings.HasPrefix(k, prefix) && matchTokens(rest, k[len(prefix):]) {
				sh.remove(sh.ents[j]) // brings the last entry to j: look again
			} else {
				j++
			}
		}
		sh.mu.Unlock()
	}
}

// literalPrefix returns the length of the leading literal tokens of
// pattern, including their trailing '.'. Matching the rest against the
// rest of a subject that has this prefix is the same as matching the whole.
func literalPrefix(pattern string) int {
	n := 0
	for {
		tok, rest, more := nextToken(pattern[n:])
		if !more || isWild(tok, pwc) || isWild(tok, fwc) {
			return n
		}
		n = len(pattern) - len(rest)
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
		sh.mu.Lock()
		for _, e := range sh.ents {
			f := len(e.r.Plain) + len(e.r.Queues)
			st.NumCache++
			total += uint64(f)
			st.MaxFanout = max(st.MaxFanout, f)
		}
		sh.mu.Unlock()
	}
	if st.NumMatches > 0 {
		st.CacheHitRate = float64(hits) / float64(st.NumMatches)
	}
	if st.NumCache > 0 {
		st.AvgFanout = float64(total) / float64(st.NumCache)
	}
}
