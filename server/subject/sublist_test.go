package subject

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// tsub is a test subscriber handle.
type tsub struct {
	id             int
	subject, queue string
}

func (s *tsub) String() string { return fmt.Sprintf("%d:%s/%s", s.id, s.subject, s.queue) }

// bothCaches runs body against a Sublist with and without the match cache,
// as nats' sublist tests do: every behaviour must be identical either way.
func bothCaches(t *testing.T, body func(t *testing.T, l *Sublist[*tsub])) {
	t.Helper()
	for _, cache := range []bool{true, false} {
		name := map[bool]string{true: "cache", false: "nocache"}[cache]
		t.Run(name, func(t *testing.T) { body(t, NewSublist[*tsub](cache)) })
	}
}

// fixture inserts subs and fails the test on error.
type fixture struct {
	t    *testing.T
	l    *Sublist[*tsub]
	next int
}

func (f *fixture) add(subject, queue string) *tsub {
	f.t.Helper()
	f.next++
	s := &tsub{f.next, subject, queue}
	if err := f.l.Insert(subject, queue, s); err != nil {
		f.t.Fatalf("Insert(%q, %q): %v", subject, queue, err)
	}
	return s
}

func (f *fixture) del(s *tsub) {
	f.t.Helper()
	if err := f.l.Remove(s.subject, s.queue, s); err != nil {
		f.t.Fatalf("Remove(%v): %v", s, err)
	}
}

// canon renders a Result deterministically: sorted plain ids, then each
// queue group's sorted ids.
func canon(r *Result[*tsub]) string {
	var b strings.Builder
	ids := func(ss []*tsub) []int {
		out := make([]int, 0, len(ss))
		for _, s := range ss {
			out = append(out, s.id)
		}
		slices.Sort(out)
		return out
	}
	fmt.Fprint(&b, ids(r.Plain))
	qs := slices.Clone(r.Queues)
	slices.SortFunc(qs, func(a, b QueueGroup[*tsub]) int { return strings.Compare(a.Name, b.Name) })
	for _, q := range qs {
		fmt.Fprintf(&b, " %s%v", q.Name, ids(q.Members))
	}
	return b.String()
}

// brute computes the expected Result by checking every live sub with
// Matches.
func brute(subs []*tsub, literal string) string {
	r := &Result[*tsub]{}
	for _, s := range subs {
		if !Matches(s.subject, literal) {
			continue
		}
		if s.queue == "" {
			r.Plain = append(r.Plain, s)
			continue
		}
		j := slices.IndexFunc(r.Queues, func(g QueueGroup[*tsub]) bool { return g.Name == s.queue })
		if j < 0 {
			r.Queues = append(r.Queues, QueueGroup[*tsub]{Name: s.queue})
			j = len(r.Queues) - 1
		}
		r.Queues[j].Members = append(r.Queues[j].Members, s)
	}
	return canon(r)
}

func expectMatch(t *testing.T, l *Sublist[*tsub], subject string, want ...*tsub) {
	t.Helper()
	r := l.Match([]byte(subject))
	if got, exp := canon(r), brute(want, subject); got != exp {
		t.Errorf("Match(%q) = %s, want %s", subject, got, exp)
	}
	if got, exp := l.HasInterest([]byte(subject)), len(want) > 0; got != exp {
		t.Errorf("HasInterest(%q) = %v, want %v", subject, got, exp)
	}
}

func TestSublistLiteral(t *testing.T) {
	bothCaches(t, func(t *testing.T, l *Sublist[*tsub]) {
		f := &fixture{t: t, l: l}
		a := f.add("foo", "")
		b := f.add("foo.bar", "")
		c := f.add("foo.bar", "")
		expectMatch(t, l, "foo", a)
		expectMatch(t, l, "foo.bar", b, c)
		expectMatch(t, l, "foo.baz")
		expectMatch(t, l, "Foo")
		expectMatch(t, l, "foo.bar.baz")
		if l.Count() != 3 {
			t.Fatalf("Count = %d, want 3", l.Count())
		}
		f.del(b)
		expectMatch(t, l, "foo.bar", c)
		f.del(a)
		expectMatch(t, l, "foo")
		expectMatch(t, l, "foo.bar", c)
	})
}

func TestSublistWildcards(t *testing.T) {
	bothCaches(t, func(t *testing.T, l *Sublist[*tsub]) {
		f := &fixture{t: t, l: l}
		star := f.add("foo.*", "")
		gt := f.add("foo.>", "")
		all := f.add(">", "")
		one := f.add("*", "")
		mid := f.add("foo.*.baz", "")
		lit := f.add("foo.bar", "")
		odd := f.add("foo*.b", "")
		expectMatch(t, l, "foo", all, one)
		expectMatch(t, l, "foo.bar", star, gt, all, lit)
		expectMatch(t, l, "foo.bar.baz", gt, all, mid)
		expectMatch(t, l, "foo.x.y.z", gt, all)
		expectMatch(t, l, "foox.b", all)
		expectMatch(t, l, "foo*.b", all, odd)
		// A '*' token in a published subject is matched by wildcards only.
		expectMatch(t, l, "foo.*", star, gt, all)
		expectMatch(t, l, "a.>.b", all)
		// Malformed subjects match nothing, not even '>'.
		expectMatch(t, l, "a..b")
		expectMatch(t, l, ".foo")
		expectMatch(t, l, "")
		f.del(gt)
		expectMatch(t, l, "foo.bar", star, all, lit)
		f.del(all)
		expectMatch(t, l, "foo.bar.baz", mid)
		f.del(mid)
		expectMatch(t, l, "foo.bar.baz")
	})
}

func TestSublistQueues(t *testing.T) {
	bothCaches(t, func(t *testing.T, l *Sublist[*tsub]) {
		f := &fixture{t: t, l: l}
		plain := f.add("orders.eu.1", "")
		q1 := f.add("orders.eu.1", "workers")
		q2 := f.add("orders.*.1", "workers")
		q3 := f.add("orders.>", "workers")
		q4 := f.add("orders.>", "audit")
		q5 := f.add("orders.us.1", "workers")
		q6 := f.add("orders.eu.1", "q.*") // queue names are not validated
		r := l.Match([]byte("orders.eu.1"))
		if len(r.Queues) != 3 {
			t.Fatalf("Queues = %d groups, want 3 (workers, audit, q.*): %s", len(r.Queues), canon(r))
		}
		expectMatch(t, l, "orders.eu.1", plain, q1, q2, q3, q4, q6)
		expectMatch(t, l, "orders.us.1", q2, q3, q4, q5)
		expectMatch(t, l, "orders.eu", q3, q4)
		f.del(q4)
		expectMatch(t, l, "orders.eu.1", plain, q1, q2, q3, q6)
		if r := l.Match([]byte("orders.eu.2")); len(r.Queues) != 1 || r.Queues[0].Name != "workers" {
			t.Fatalf("after removing the last audit member: %s", canon(r))
		}
		f.del(q1)
		f.del(q2)
		f.del(q3)
		f.del(q6)
		expectMatch(t, l, "orders.eu.1", plain)
		expectMatch(t, l, "orders.us.1", q5)
	})
}

func TestSublistInvalid(t *testing.T) {
	bothCaches(t, func(t *testing.T, l *Sublist[*tsub]) {
		for _, s := range []string{"", "a..b", "a.>.b", ">.a", "foo.", "a b", "a\tb", "a\fb"} {
			if err := l.Insert(s, "", &tsub{}); !errors.Is(err, ErrInvalidSubject) {
				t.Errorf("Insert(%q) = %v, want ErrInvalidSubject", s, err)
			}
		}
		for _, q := range []string{"a b", "a\nb"} {
			if err := l.Insert("foo", q, &tsub{}); !errors.Is(err, ErrInvalidQueue) {
				t.Errorf("Insert(foo, %q) = %v, want ErrInvalidQueue", q, err)
			}
		}
		if err := l.Insert("a..b", "", &tsub{}); err == nil || !strings.HasPrefix(err.Error(), "subject: ") {
			t.Errorf("error %q lacks the package prefix", err)
		}
		if l.Count() != 0 {
			t.Fatalf("Count = %d after failed inserts", l.Count())
		}
	})
}

func TestSublistRemoveNotFound(t *testing.T) {
	bothCaches(t, func(t *testing.T, l *Sublist[*tsub]) {
		f := &fixture{t: t, l: l}
		a := f.add("foo.bar", "")
		q := f.add("foo.bar", "q")
		other := &tsub{id: 99}
		for _, c := range []struct {
			subject, queue string
			s              *tsub
		}{
			{"foo.bar", "", other},  // unknown handle
			{"foo.baz", "", a},      // unknown subject
			{"foo", "", a},          // prefix of a subject
			{"foo.bar.baz", "", a},  // beyond a subject
			{"foo.*", "", a},        // wildcard is not literal
			{"foo.bar", "q", a},     // plain sub named as queue member
			{"foo.bar", "", q},      // queue member named as plain
			{"foo.bar", "other", q}, // wrong queue
		} {
			if err := l.Remove(c.subject, c.queue, c.s); !errors.Is(err, ErrNotFound) {
				t.Errorf("Remove(%q, %q, %v) = %v, want ErrNotFound", c.subject, c.queue, c.s, err)
			}
		}
		if err := l.Remove("a..b", "", a); !errors.Is(err, ErrInvalidSubject) {
			t.Errorf("Remove(a..b) = %v, want ErrInvalidSubject", err)
		}
		expectMatch(t, l, "foo.bar", a, q)
		f.del(a)
		if err := l.Remove("foo.bar", "", a); !errors.Is(err, ErrNotFound) {
			t.Errorf("second Remove = %v, want ErrNotFound", err)
		}
		if l.Count() != 1 {
			t.Fatalf("Count = %d, want 1", l.Count())
		}
	})
}

// TestSublistDuplicateInsert pins the documented behaviour: a handle is a
// set member per (subject, queue), so a repeated Insert is a no-op and one
// Remove undoes it.
func TestSublistDuplicateInsert(t *testing.T) {
	bothCaches(t, func(t *testing.T, l *Sublist[*tsub]) {
		s := &tsub{id: 1, subject: "foo.*"}
		q := &tsub{id: 2, subject: "foo.*", queue: "g"}
		for range 3 {
			if err := l.Insert(s.subject, "", s); err != nil {
				t.Fatal(err)
			}
			if err := l.Insert(q.subject, q.queue, q); err != nil {
				t.Fatal(err)
			}
		}
		r := l.Match([]byte("foo.x"))
		if len(r.Plain) != 1 || len(r.Queues) != 1 || len(r.Queues[0].Members) != 1 {
			t.Fatalf("duplicate inserts delivered twice: %s", canon(r))
		}
		if st := l.Stats(); l.Count() != 2 || st.NumInserts != 2 {
			t.Fatalf("Count = %d, NumInserts = %d, want 2, 2", l.Count(), st.NumInserts)
		}
		if err := l.Remove(s.subject, "", s); err != nil {
			t.Fatal(err)
		}
		if err := l.Remove(q.subject, q.queue, q); err != nil {
			t.Fatal(err)
		}
		expectMatch(t, l, "foo.x")
		// One handle under two overlapping subjects appears once per subject.
		l.Insert("foo.*", "", s)
		l.Insert("foo.>", "", s)
		if r := l.Match([]byte("foo.x")); len(r.Plain) != 2 {
			t.Fatalf("handle under foo.* and foo.> appears %d times, want 2", len(r.Plain))
		}
	})
}

func TestSublistHighFanout(t *testing.T) {
	bothCaches(t, func(t *testing.T, l *Sublist[*tsub]) {
		f := &fixture{t: t, l: l}
		var subs []*tsub
		for i := range 500 {
			subs = append(subs, f.add("fan.out", ""), f.add("fan.*", fmt.Sprint("q", i%3)))
		}
		expectMatch(t, l, "fan.out", subs...)
		rng := rand.New(rand.NewPCG(1, 2))
		rng.Shuffle(len(subs), func(i, j int) { subs[i], subs[j] = subs[j], subs[i] })
		for len(subs) > 3 {
			f.del(subs[len(subs)-1])
			subs = subs[:len(subs)-1]
			if len(subs)%97 == 0 {
				expectMatch(t, l, "fan.out", subs...)
			}
		}
		expectMatch(t, l, "fan.out", subs...)
	})
}

// countTrie counts the levels and nodes reachable from the root, to show
// that Remove prunes what it empties.
func countTrie[S comparable](l *Sublist[S]) (levels, nodes int) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	var walk func(lv *level[S])
	walk = func(lv *level[S]) {
		levels++
		visit := func(n *node[S]) {
			nodes++
			if n.next != nil {
				walk(n.next)
			}
		}
		for _, n := range lv.nodes {
			visit(n)
		}
		if lv.pwc != nil {
			visit(lv.pwc)
		}
		if lv.fwc != nil {
			visit(lv.fwc)
		}
	}
	walk(&l.root)
	return levels, nodes
}

func TestSublistPrune(t *testing.T) {
	bothCaches(t, func(t *testing.T, l *Sublist[*tsub]) {
		f := &fixture{t: t, l: l}
		keep := []*tsub{f.add("keep.me", ""), f.add("keep.*.deep.>", "g")}
		baseLevels, baseNodes := countTrie(l)
		rng := rand.New(rand.NewPCG(3, 4))
		var live []*tsub
		for i := range 20000 {
			if len(live) < 200 && rng.IntN(2) == 0 || len(live) == 0 {
				live = append(live, f.add(randSubject(rng, true), randQueue(rng)))
			} else {
				j := rng.IntN(len(live))
				f.del(live[j])
				live[j] = live[len(live)-1]
				live = live[:len(live)-1]
			}
			if i%5000 == 0 {
				l.Match([]byte("keep.me"))
			}
		}
		for _, s := range live {
			f.del(s)
		}
		levels, nodes := countTrie(l)
		if levels != baseLevels || nodes != baseNodes {
			t.Fatalf("after churn: %d levels, %d nodes; before: %d, %d", levels, nodes, baseLevels, baseNodes)
		}
		for _, s := range keep {
			f.del(s)
		}
		if levels, nodes := countTrie(l); levels != 1 || nodes != 0 || l.root.nodes != nil {
			t.Fatalf("empty list still has %d levels, %d nodes", levels, nodes)
		}
		if l.Count() != 0 {
			t.Fatalf("Count = %d", l.Count())
		}
	})
}

var (
	testKinds   = []string{"orders", "payments", "users", "Orders", "日本"}
	testRegions = []string{"eu", "us", "ap", "*", ">"}
)

// randSubject returns a subject over a small alphabet so that patterns and
// published subjects collide often. With wild set it may hold wildcards.
func randSubject(rng *rand.Rand, wild bool) string {
	n := 1 + rng.IntN(4)
	toks := make([]string, 0, n)
	for i := range n {
		var tok string
		switch rng.IntN(3) {
		case 0:
			tok = testKinds[rng.IntN(len(testKinds))]
		case 1:
			tok = testRegions[rng.IntN(len(testRegions))]
		default:
			tok = fmt.Sprint(rng.IntN(4))
		}
		if tok == ">" && (!wild || i != n-1) || tok == "*" && !wild && rng.IntN(2) == 0 {
			tok = "x"
		}
		toks = append(toks, tok)
	}
	return strings.Join(toks, ".")
}

func randQueue(rng *rand.Rand) string {
	if rng.IntN(3) > 0 {
		return ""
	}
	return []string{"q1", "q2", "q.*"}[rng.IntN(3)]
}

// TestSublistRandomConsistency interleaves inserts, removes and matches
// over a small subject space and checks every Match against a brute-force
// scan with Matches. With the cache on this catches any invalidation that
// misses an entry; the 40 published subjects keep most Matches cache hits.
func TestSublistRandomConsistency(t *testing.T) {
	t.Run("hot40", func(t *testing.T) { randomConsistency(t, 40) })
	// More subjects than the cache holds: eviction runs between the
	// invalidations.
	t.Run("wide3000", func(t *testing.T) { randomConsistency(t, 3000) })
}

func randomConsistency(t *testing.T, npubs int) {
	bothCaches(t, func(t *testing.T, l *Sublist[*tsub]) {
		rng := rand.New(rand.NewPCG(5, 6))
		f := &fixture{t: t, l: l}
		var pubs []string
		for range npubs {
			pubs = append(pubs, randSubject(rng, false))
		}
		pubs = append(pubs, "a..b", "orders.>.x")
		var live []*tsub
		for i := range 30000 {
			switch op := rng.IntN(10); {
			case op < 2 || len(live) == 0:
				live = append(live, f.add(randSubject(rng, true), randQueue(rng)))
			case op < 4:
				j := rng.IntN(len(live))
				f.del(live[j])
				live[j] = live[len(live)-1]
				live = live[:len(live)-1]
			default:
				p := pubs[rng.IntN(len(pubs))]
				if got, want := canon(l.Match([]byte(p))), brute(live, p); got != want {
					t.Fatalf("op %d: Match(%q) = %s, want %s", i, p, got, want)
				}
				if got, want := l.HasInterest([]byte(p)), brute(live, p) != "[]"; got != want {
					t.Fatalf("op %d: HasInterest(%q) = %v, want %v", i, p, got, want)
				}
			}
		}
		if l.Count() != len(live) {
			t.Fatalf("Count = %d, want %d", l.Count(), len(live))
		}
		st := l.Stats()
		if l.cache != nil && npubs <= 100 && st.CacheHitRate < 0.5 {
			t.Errorf("cache hit rate %.2f; churn is dropping too much", st.CacheHitRate)
		}
		if st.NumCache > cacheMax {
			t.Errorf("NumCache = %d", st.NumCache)
		}
	})
}

func TestSublistCacheHitAndSelectiveInvalidation(t *testing.T) {
	l := NewSublist[*tsub](true)
	f := &fixture{t: t, l: l}
	a := f.add("orders.eu.1", "")
	f.add("metrics.>", "")
	r1 := l.Match([]byte("orders.eu.1"))
	m1 := l.Match([]byte("metrics.cpu"))
	none := l.Match([]byte("nobody.here"))
	if l.Match([]byte("orders.eu.1")) != r1 {
		t.Fatal("second Match is not a cache hit")
	}
	if n := testing.AllocsPerRun(100, func() { l.Match([]byte("orders.eu.1")) }); n != 0 {
		t.Fatalf("cached Match allocates %v times", n)
	}
	// A change under orders.* drops only the orders entries.
	b := f.add("orders.*.1", "")
	if l.Match([]byte("metrics.cpu")) != m1 || l.Match([]byte("nobody.here")) != none {
		t.Fatal("inserting orders.*.1 dropped unrelated cache entries")
	}
	expectMatch(t, l, "orders.eu.1", a, b)
	if r1.Plain[0] != a || len(r1.Plain) != 1 {
		t.Fatal("a cached Result was modified in place")
	}
	// "no interest" is cached too, and dropped when interest appears.
	c := f.add("nobody.here", "")
	expectMatch(t, l, "nobody.here", c)
	f.del(c)
	expectMatch(t, l, "nobody.here")
	if l.Match([]byte("metrics.cpu")) != m1 {
		t.Fatal("removing nobody.here dropped metrics.cpu")
	}
	// Malformed subjects are never cached.
	l.Match([]byte("a..b"))
	if l.Stats().NumCache != 3 {
		t.Fatal("a malformed subject was cached")
	}
}

func TestSublistCacheBounded(t *testing.T) {
	l := NewSublist[*tsub](true)
	f := &fixture{t: t, l: l}
	f.add("orders.>", "")
	for i := range 10000 {
		l.Match(fmt.Appendf(nil, "orders.eu.%d", i))
	}
	st := l.Stats()
	if st.NumCache > cacheMax || st.NumCache < cacheMax/2 {
		t.Fatalf("NumCache = %d, want in [%d, %d]", st.NumCache, cacheMax/2, cacheMax)
	}
	if st.NumMatches != 10000 || st.CacheHitRate != 0 {
		t.Fatalf("NumMatches = %d, hit rate %v", st.NumMatches, st.CacheHitRate)
	}
}

func TestSublistStats(t *testing.T) {
	bothCaches(t, func(t *testing.T, l *Sublist[*tsub]) {
		f := &fixture{t: t, l: l}
		a := f.add("foo", "")
		f.add("foo", "")
		f.add("*", "q")
		f.add("*", "q")
		f.add("bar", "")
		f.del(a)
		for range 4 {
			l.Match([]byte("foo"))
		}
		l.Match([]byte("bar"))
		st := l.Stats()
		want := Stats{NumSubs: 4, NumInserts: 5, NumRemoves: 1, NumMatches: 5}
		if l.cache != nil {
			// foo: 1 plain + 1 group; bar: 1 plain + 1 group.
			want.NumCache, want.CacheHitRate, want.MaxFanout, want.AvgFanout = 2, 3.0/5, 2, 2
		}
		if st != want {
			t.Fatalf("Stats = %+v, want %+v", st, want)
		}
	})
}

func TestSublistAll(t *testing.T) {
	bothCaches(t, func(t *testing.T, l *Sublist[*tsub]) {
		f := &fixture{t: t, l: l}
		want := map[*tsub]bool{}
		for _, s := range []struct{ subj, q string }{
			{"foo", ""}, {"foo", ""}, {"foo.bar", "q"}, {"foo.*", ""}, {"foo.>", "q"},
			{">", ""}, {"*.*", "r"}, {"日本.x", ""}, {"foo*.b", ""}, {"a.b.c.d.e.f", ""},
		} {
			want[f.add(s.subj, s.q)] = true
		}
		got := map[*tsub]bool{}
		l.All(func(subject, queue string, s *tsub) bool {
			if subject != s.subject || queue != s.queue {
				t.Errorf("All gave (%q, %q) for %v", subject, queue, s)
			}
			if got[s] {
				t.Errorf("All gave %v twice", s)
			}
			got[s] = true
			// fn may call back into the list.
			l.Match([]byte(subject))
			return true
		})
		if len(got) != len(want) {
			t.Fatalf("All gave %d subs, want %d", len(got), len(want))
		}
		n := 0
		l.All(func(string, string, *tsub) bool { n++; return n < 3 })
		if n != 3 {
			t.Fatalf("All continued after false: %d calls", n)
		}
	})
}

// TestSublistConcurrent runs Match, HasInterest, Insert and Remove from
// several goroutines (meant for -race). Each writer checks its own changes
// are visible to a Match that starts after Insert returns and gone from one
// that starts after Remove returns, which a stale cache entry would break.
func TestSublistConcurrent(t *testing.T) {
	bothCaches(t, func(t *testing.T, l *Sublist[*tsub]) {
		const writers, readers, rounds = 4, 4, 1000
		stable := &tsub{id: -1, subject: "stable.>"}
		if err := l.Insert(stable.subject, "", stable); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errc := make(chan error, writers+readers)
		for w := range writers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for i := range rounds {
					pub := fmt.Sprintf("stable.w%d.%d", w, rng.IntN(5))
					patterns := []string{pub, fmt.Sprintf("stable.w%d.*", w), "stable.*.>", "*.*.*"}
					s := &tsub{id: w*rounds + i, subject: patterns[rng.IntN(len(patterns))], queue: randQueue(rng)}
					if err := l.Insert(s.subject, s.queue, s); err != nil {
						errc <- err
						return
					}
					if !resultHas(l.Match([]byte(pub)), s) {
						errc <- fmt.Errorf("Match(%q) misses %v after Insert", pub, s)
						return
					}
					if err := l.Remove(s.subject, s.queue, s); err != nil {
						errc <- err
						return
					}
					if resultHas(l.Match([]byte(pub)), s) {
						errc <- fmt.Errorf("Match(%q) still has %v after Remove", pub, s)
						return
					}
				}
			})
		}
		for rd := range readers {
			wg.Go(func() {
				for i := range rounds * 4 {
					subj := fmt.Appendf(nil, "stable.w%d.%d", (rd+i)%writers, i%5)
					if !resultHas(l.Match(subj), stable) || !l.HasInterest(subj) {
						errc <- fmt.Errorf("Match(%q) lost the stable subscription", subj)
						return
					}
					if i%100 == 0 {
						l.Stats()
						l.All(func(string, string, *tsub) bool { return true })
					}
				}
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			t.Error(err)
		}
		if l.Count() != 1 {
			t.Fatalf("Count = %d, want 1", l.Count())
		}
	})
}

func resultHas(r *Result[*tsub], s *tsub) bool {
	if slices.Contains(r.Plain, s) {
		return true
	}
	for _, q := range r.Queues {
		if slices.Contains(q.Members, s) {
			return true
		}
	}
	return false
}

// TestSetShrinks checks that a subscriber set gives memory back after a
// burst: a subject that once had 10,000 subscribers and now has 10 must
// not keep a 10,000-slot slice and index.
func TestSetShrinks(t *testing.T) {
	var st set[int]
	for i := range 10000 {
		st.add(i)
	}
	if st.idx == nil {
		t.Fatal("no index past indexAt members")
	}
	for i := range 9990 {
		if !st.remove(i) {
			t.Fatalf("remove(%d) failed", i)
		}
	}
	// (The index, if kept, was rebuilt along with the slice: Go maps never
	// shrink by themselves.)
	if cap(st.items) > 64 {
		t.Fatalf("10 members left in a slice of cap %d", cap(st.items))
	}
	for i := 9990; i < 10000; i++ {
		if st.find(i) < 0 || st.add(i) {
			t.Fatalf("member %d lost or added twice", i)
		}
	}
	for i := 9990; i < 9995; i++ {
		st.remove(i)
	}
	if st.idx != nil {
		t.Fatal("5 members still indexed")
	}
	for i := 9995; i < 10000; i++ {
		st.remove(i)
	}
	if st.items != nil {
		t.Fatal("empty set keeps its slice")
	}
}
