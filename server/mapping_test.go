package server

import (
	"testing"
)

func TestMappings(t *testing.T) {
	ms := compileMappings([]*Mapping{
		{Source: "orders.*", Dests: []MapDest{{Subject: "shard.{{partition(7,1)}}.$1", Weight: 100}}},
		{Source: "part.*.*", Dests: []MapDest{{Subject: "p.{{partition(10,1,2)}}.{{wildcard(1)}}.{{wildcard(2)}}", Weight: 100}}},
		{Source: "swap.*.*", Dests: []MapDest{{Subject: "s.$2.$1", Weight: 100}}},
		{Source: "old.>", Dests: []MapDest{{Subject: "new.>", Weight: 100}}},
		{Source: "exact", Dests: []MapDest{{Subject: "other", Weight: 100}}},
	})
	tests := []struct{ in, want string }{
		// Partitions recorded from nats-server v2.15.2.
		{"orders.a", "shard.5.a"}, {"orders.b", "shard.6.b"}, {"orders.hello", "shard.2.hello"},
		{"orders.world", "shard.0.world"}, {"orders.12345", "shard.4.12345"},
		{"part.aa.bb", "p.3.aa.bb"}, {"part.x.y", "p.2.x.y"},
		{"swap.a.b", "s.b.a"},
		{"old.x", "new.x"}, {"old.x.y.z", "new.x.y.z"},
		{"exact", "other"},
		{"orders", "orders"}, {"orders.a.b", "orders.a.b"}, {"old", "old"}, {"unmapped", "unmapped"},
	}
	for _, tt := range tests {
		got, _ := ms.apply([]byte(tt.in))
		if string(got) != tt.want {
			t.Errorf("%s → %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestWeightedMapping(t *testing.T) {
	ms := compileMappings([]*Mapping{{Source: "w", Dests: []MapDest{{Subject: "a", Weight: 20}, {Subject: "b", Weight: 30}}}})
	counts := map[string]int{}
	const n = 10000
	for range n {
		got, _ := ms.apply([]byte("w"))
		counts[string(got)]++
	}
	// 20% a, 30% b, the other 50% unmapped; generous bounds for chance.
	for subj, want := range map[string]int{"a": 2000, "b": 3000, "w": 5000} {
		if d := counts[subj] - want; d < -500 || d > 500 {
			t.Errorf("%s: %d of %d, want about %d", subj, counts[subj], n, want)
		}
	}
}

func TestCheckMappingRefuses(t *testing.T) {
	for _, m := range []*Mapping{
		{Source: "a.*.b", Dests: []MapDest{{Subject: "c.*.d", Weight: 100}}}, // nats-server: invalid subject
		{Source: "a.*", Dests: []MapDest{{Subject: "c.$2", Weight: 100}}},
		{Source: "a.*", Dests: []MapDest{{Subject: "c.{{partition(0,1)}}", Weight: 100}}},
		{Source: "a.*", Dests: []MapDest{{Subject: "c.{{bogus(1)}}", Weight: 100}}},
		{Source: "a..b", Dests: []MapDest{{Subject: "c", Weight: 100}}},
		{Source: "w", Dests: []MapDest{{Subject: "a", Weight: 60}, {Subject: "b", Weight: 50}}},
		{Source: "w"},
	} {
		if err := CheckMapping(m); err == nil {
			t.Errorf("%s → %v accepted", m.Source, m.Dests)
		}
	}
}

func TestWildMap(t *testing.T) {
	tests := []struct{ from, to, prefix, in, want string }{
		{"events.>", "events.>", "", "events.a.b", "events.a.b"},
		{"events.>", "events.>", "pa", "events.a.b", "pa.events.a.b"},
		{"events.>", "ev.>", "", "events.a.b", "ev.a.b"},
		{"a.b.>", "c.>", "", "a.b.x.y", "c.x.y"},
		{"a.*.c.>", "x.*.y.z.>", "", "a.1.c.2.3", "x.1.y.z.2.3"},
		{"svc.>", "a.svc.>", "", "svc.echo", "a.svc.echo"},
		{"a.svc.>", "svc.>", "", "a.svc.echo", "svc.echo"},
	}
	for _, tt := range tests {
		if got := newWildMap(tt.from, tt.to, tt.prefix).apply([]byte(tt.in)); string(got) != tt.want {
			t.Errorf("%s→%s (prefix %q): %s → %s, want %s", tt.from, tt.to, tt.prefix, tt.in, got, tt.want)
		}
	}
}

// An import cycle the config did not catch is bounded at runtime: a
// message crosses at most maxImportDepth imports.
func TestImportCycleIsBounded(t *testing.T) {
	srv, addr := startServer(t, Options{Accounts: []*AccountConfig{
		{Name: "A", Exports: []*Export{{Subject: "loop.>"}}, Imports: []*Import{{Account: "B", Subject: "loop.>"}}},
		{Name: "B", Exports: []*Export{{Subject: "loop.>"}}, Imports: []*Import{{Account: "A", Subject: "loop.>"}}},
	}})
	_ = addr
	var got int
	sub, err := srv.LookupAccount("B").Subscribe("loop.>", "", func(Msg) { got++ })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := srv.LookupAccount("A").Publish("loop.x", "", nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	// A → B → A → … : B's subscriber sees it once per visit to B, and the
	// visits stop at the depth bound.
	if got == 0 || got > maxImportDepth {
		t.Fatalf("B's subscriber got %d messages, want 1..%d", got, maxImportDepth)
	}
}
