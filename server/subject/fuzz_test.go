package subject

import (
	"strings"
	"testing"
)

// FuzzSubject checks, for a random pattern a and subject b, that the
// validators agree with each other, that Matches agrees with what a
// Sublist holding a delivers for b (with and without the cache, hit and
// miss), and that IsSubsetMatch is consistent with Matches. Nothing may
// panic.
func FuzzSubject(f *testing.F) {
	for _, s := range [][2]string{
		{"foo", "foo"}, {"foo.*", "foo.bar"}, {"foo.>", "foo"}, {">", "a.>.b"},
		{"*", "*"}, {"foo*.b", "foox.b"}, {"a.>.b", "a.x.b"}, {"a..b", "a..b"},
		{"a\rb", "a"}, {"q.*", "q.x"}, {"Foo", "foo"}, {"héllo.*", "héllo.wörld"},
		{"*.*.>", "a.b.c.d"}, {"foo.*.baz", "foo.*.baz"}, {".", ""}, {"a.b.", "a.b"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		checkValidators(t, a)
		checkValidators(t, b)
		want := Matches(a, b)
		if want && (!ValidSubject(a) || !wellFormed(b)) {
			t.Fatalf("Matches(%q, %q) with an invalid pattern or malformed subject", a, b)
		}
		for _, cache := range []bool{true, false} {
			checkSublist(t, cache, a, b, want)
		}
		checkSubset(t, a, b)
		checkSubset(t, b, a)
	})
}

func checkValidators(t *testing.T, s string) {
	valid, literal := ValidSubject(s), ValidLiteral(s)
	if literal != (valid && !HasWildcard(s)) {
		t.Fatalf("%q: ValidLiteral %v, ValidSubject %v, HasWildcard %v", s, literal, valid, HasWildcard(s))
	}
	if ValidLiteralBytes([]byte(s)) != literal {
		t.Fatalf("%q: ValidLiteralBytes disagrees with ValidLiteral", s)
	}
	if valid && (strings.ContainsAny(s, " \t\r\n\f") || !wellFormed(s)) {
		t.Fatalf("%q: accepted with whitespace or an empty token", s)
	}
	if ValidQueue(s) && (s == "" || strings.ContainsAny(s, " \t\r\n")) {
		t.Fatalf("%q: accepted as a queue name", s)
	}
	if valid && !Matches(s, instantiate(s, "x", "x.y")) {
		t.Fatalf("%q does not match its own instance", s)
	}
}

// instantiate replaces the wildcard tokens of pattern with concrete ones,
// giving a subject that pattern matches.
func instantiate(pattern, star, gt string) string {
	toks := strings.Split(pattern, ".")
	for i, tok := range toks {
		switch tok {
		case "*":
			toks[i] = star
		case ">":
			toks[i] = gt
		}
	}
	return strings.Join(toks, ".")
}

// The fuzz target reuses one Sublist per cache mode: each input leaves it
// empty (that is checked), and building a fresh cache table per input
// cost most of the exec rate. It also lets cache entries from earlier
// inputs meet later ones.
var fuzzLists = map[bool]*Sublist[int]{true: NewSublist[int](true), false: NewSublist[int](false)}

func checkSublist(t *testing.T, cache bool, a, b string, want bool) {
	l := fuzzLists[cache]
	err := l.Insert(a, "", 1)
	if (err == nil) != ValidSubject(a) {
		t.Fatalf("Insert(%q) = %v, ValidSubject %v", a, err, ValidSubject(a))
	}
	if err != nil {
		if l.Match([]byte(b)) != l.empty || l.Count() != 0 {
			t.Fatalf("failed Insert(%q) left something behind", a)
		}
		return
	}
	if err := l.Insert(a, "g", 2); err != nil {
		t.Fatal(err)
	}
	for range 2 { // a miss, then (with the cache) a hit
		r := l.Match([]byte(b))
		got := len(r.Plain) == 1 && r.Plain[0] == 1 && len(r.Queues) == 1 && r.Queues[0].Name == "g"
		if got != want || !want && (len(r.Plain) > 0 || len(r.Queues) > 0) {
			t.Fatalf("cache=%v: Match(%q) with %q inserted = %+v, Matches says %v", cache, b, a, r, want)
		}
		if l.HasInterest([]byte(b)) != want {
			t.Fatalf("cache=%v: HasInterest(%q) with %q inserted != %v", cache, b, a, want)
		}
	}
	if l.Remove(a, "", 1) != nil || l.Remove(a, "g", 2) != nil {
		t.Fatalf("Remove(%q) failed", a)
	}
	if r := l.Match([]byte(b)); len(r.Plain) > 0 || len(r.Queues) > 0 || l.Count() != 0 {
		t.Fatalf("cache=%v: Match(%q) after removing %q = %+v", cache, b, a, r)
	}
	if levels, nodes := countTrie(l); levels != 1 || nodes != 0 {
		t.Fatalf("removing %q left %d levels, %d nodes", a, levels, nodes)
	}
}

func checkSubset(t *testing.T, sub, pattern string) {
	subset := IsSubsetMatch(sub, pattern)
	if !ValidSubject(sub) {
		if subset {
			t.Fatalf("IsSubsetMatch(%q, %q) with an invalid sub", sub, pattern)
		}
		return
	}
	if !IsSubsetMatch(sub, sub) {
		t.Fatalf("IsSubsetMatch(%q, itself) = false", sub)
	}
	if subset {
		// Whatever sub matches, pattern must match.
		for _, inst := range []string{instantiate(sub, "x", "x.y"), instantiate(sub, "*", ">")} {
			if !Matches(pattern, inst) {
				t.Fatalf("IsSubsetMatch(%q, %q) but %q matches only the first", sub, pattern, inst)
			}
		}
	}
	if ValidLiteral(sub) && subset != Matches(pattern, sub) {
		t.Fatalf("literal %q: IsSubsetMatch(%q) = %v, Matches = %v", sub, pattern, subset, !subset)
	}
}
