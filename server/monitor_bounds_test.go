package server

import (
	"math"
	"runtime"
	"slices"
	"testing"
	"time"
)

// TestConnzOutOfRangePaging: offsets and limits anywhere in int's range give
// a page, never a panic (offset=-1 and limit=MaxInt with offset=1 used to
// slice out of range), and the page echoes what nats-server 2.15.2 echoes:
// a negative offset as 0, a limit of 0 or less as the default.
func TestConnzOutOfRangePaging(t *testing.T) {
	f := newConnzFixture(t)
	srv := f.srv
	_ = f.two.Close()
	waitFor(t, ioTimeout, "the closed client", func() bool { return srv.Connz(ConnzOptions{State: "closed"}).Total == 1 })
	one, two, three := f.cid[f.one], f.cid[f.two], f.cid[f.three]

	tests := []struct {
		name          string
		o             ConnzOptions
		offset, limit int
		total         int
		want          []uint64
	}{
		{"offset -1", ConnzOptions{Offset: -1}, 0, DefaultConnzLimit, 2, []uint64{one, three}},
		{"offset MinInt", ConnzOptions{Offset: math.MinInt}, 0, DefaultConnzLimit, 2, []uint64{one, three}},
		{"closed offset -1", ConnzOptions{State: "closed", Offset: -1}, 0, DefaultConnzLimit, 1, []uint64{two}},
		{"limit MaxInt offset 1", ConnzOptions{Limit: math.MaxInt, Offset: 1}, 1, math.MaxInt, 2, []uint64{three}},
		{"limit MaxInt offset MaxInt", ConnzOptions{Limit: math.MaxInt, Offset: math.MaxInt}, math.MaxInt, math.MaxInt, 2, []uint64{}},
		{"offset MaxInt", ConnzOptions{Offset: math.MaxInt}, math.MaxInt, DefaultConnzLimit, 2, []uint64{}},
		{"limit -1", ConnzOptions{Limit: -1}, 0, DefaultConnzLimit, 2, []uint64{one, three}},
		{"limit MinInt", ConnzOptions{Limit: math.MinInt}, 0, DefaultConnzLimit, 2, []uint64{one, three}},
		// A cid asks for one connection: limit 1, and total counts the
		// connections in the state asked for (recorded from nats-server).
		{"cid", ConnzOptions{CID: one, Limit: 5}, 0, 1, 2, []uint64{one}},
		{"cid offset -1", ConnzOptions{CID: one, Offset: -1}, 0, 1, 2, []uint64{one}},
		{"cid offset 1", ConnzOptions{CID: one, Offset: 1}, 1, 1, 2, []uint64{}},
		{"cid MaxUint64", ConnzOptions{CID: math.MaxUint64}, 0, 1, 2, []uint64{}},
		{"closed cid", ConnzOptions{State: "closed", CID: two}, 0, 1, 1, []uint64{two}},
		{"any cid", ConnzOptions{State: "any", CID: two}, 0, 1, 3, []uint64{two}},
		{"mqtt_client", ConnzOptions{MQTTClient: "x"}, 0, DefaultConnzLimit, 2, []uint64{}},
	}
	for _, tt := range tests {
		cz := srv.Connz(tt.o)
		if got := connCids(cz); !slices.Equal(got, tt.want) || cz.Conns == nil {
			t.Errorf("%s: cids %v (nil %v), want %v", tt.name, got, cz.Conns == nil, tt.want)
		}
		if cz.Offset != tt.offset || cz.Limit != tt.limit || cz.Total != tt.total || cz.NumConns != len(tt.want) || cz.ID != srv.ID() {
			t.Errorf("%s: offset %d limit %d total %d num %d id %q, want %d %d %d %d", tt.name, cz.Offset, cz.Limit, cz.Total, cz.NumConns, cz.ID, tt.offset, tt.limit, tt.total, len(tt.want))
		}
	}

	// An account natsd does not have: nats-server's empty page, without a
	// server id and with null connections.
	cz := srv.Connz(ConnzOptions{Account: "OTHER", Offset: -3})
	if cz.ID != "" || cz.Conns != nil || cz.Total != 0 || cz.NumConns != 0 || cz.Offset != 0 || cz.Limit != DefaultConnzLimit {
		t.Errorf("acc=OTHER: %+v", *cz)
	}
}

// TestSubszOutOfRangePaging is TestConnzOutOfRangePaging for /subsz.
func TestSubszOutOfRangePaging(t *testing.T) {
	f := newConnzFixture(t)
	srv := f.srv
	tests := []struct {
		name          string
		o             SubszOptions
		offset, limit int
		n             int
	}{
		{"offset -1", SubszOptions{Subs: true, Offset: -1}, 0, DefaultConnzLimit, 4},
		{"offset MinInt", SubszOptions{Subs: true, Offset: math.MinInt}, 0, DefaultConnzLimit, 4},
		{"limit MaxInt offset 1", SubszOptions{Subs: true, Limit: math.MaxInt, Offset: 1}, 1, math.MaxInt, 3},
		{"limit MaxInt offset MaxInt", SubszOptions{Subs: true, Limit: math.MaxInt, Offset: math.MaxInt}, math.MaxInt, math.MaxInt, 0},
		{"limit -1", SubszOptions{Subs: true, Limit: -1}, 0, DefaultConnzLimit, 4},
		{"no list, offset -1", SubszOptions{Offset: -1}, 0, DefaultConnzLimit, 0},
		{"test offset -1", SubszOptions{Subs: true, Test: "foo", Offset: -1}, 0, DefaultConnzLimit, 2},
	}
	for _, tt := range tests {
		sz := srv.Subsz(tt.o)
		if len(sz.Subs) != tt.n || sz.Offset != tt.offset || sz.Limit != tt.limit {
			t.Errorf("%s: %d subs offset %d limit %d, want %d %d %d", tt.name, len(sz.Subs), sz.Offset, sz.Limit, tt.n, tt.offset, tt.limit)
		}
	}
	// Another account than $G: empty, as nats-server shows an unknown one.
	sz := srv.Subsz(SubszOptions{Subs: true, Account: "OTHER"})
	if sz.ID != srv.ID() || sz.NumSubs != 0 || sz.Total != 0 || sz.Subs != nil {
		t.Errorf("acc=OTHER: %+v", *sz)
	}
	if sz := srv.Subsz(SubszOptions{Account: GlobalAccountName}); sz.NumSubs != 4 {
		t.Errorf("acc=$G: num_subscriptions %d", sz.NumSubs)
	}
}

// TestMonitorHugeLimitAllocatesLittle: the page is a window on the list,
// never sized by the limit asked for.
func TestMonitorHugeLimitAllocatesLittle(t *testing.T) {
	f := newConnzFixture(t)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f.srv.Connz(ConnzOptions{Limit: 1 << 40, Subs: true})
	f.srv.Subsz(SubszOptions{Subs: true, Limit: 1 << 40})
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n > 16<<20 {
		t.Errorf("a limit of 2^40 allocated %d bytes", n)
	}
}

func TestConnzValidate(t *testing.T) {
	tests := []struct {
		o   ConnzOptions
		err string
	}{
		{ConnzOptions{}, ""},
		{ConnzOptions{Sort: "cid", State: "open"}, ""},
		{ConnzOptions{Sort: "bogus"}, "invalid sorting option: bogus"},
		{ConnzOptions{Sort: "CID"}, "invalid sorting option: CID"},
		{ConnzOptions{Sort: "stop", State: "open"}, "sort by stop only valid on closed connections"},
		{ConnzOptions{Sort: "reason", State: "any"}, "sort by reason only valid on closed connections"},
		{ConnzOptions{Sort: "stop", State: "closed"}, ""},
		{ConnzOptions{Sort: "reason", State: "closed"}, ""},
	}
	for _, tt := range tests {
		err := tt.o.Validate()
		if got := ""; err != nil {
			got = err.Error()
			if got != tt.err {
				t.Errorf("%+v: %q, want %q", tt.o, got, tt.err)
			}
		} else if tt.err != "" {
			t.Errorf("%+v: no error, want %q", tt.o, tt.err)
		}
	}
}

func TestValidSubszTest(t *testing.T) {
	// Recorded from nats-server 2.15.2's /subsz?test=.
	for s, want := range map[string]bool{
		"foo": true, "foo.bar": true, "foo bar": true, "foo\tbar": true, "\x00": true, "é": true, "\xff": true,
		"foo*bar": true, "a.>b": true, " ": true,
		"": false, "foo.*": false, "foo.>": false, ">": false, "*": false, "a.*.b": false,
		"foo..bar": false, ".foo": false, "foo.": false, ".": false, "..": false,
	} {
		if got := ValidSubszTest(s); got != want {
			t.Errorf("ValidSubszTest(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestSortUptime: sort=uptime is shortest first, a closed connection's
// uptime ending at its stop (recorded from nats-server 2.15.2: a client
// that lived 2 s sorts after one that started later but closed at once).
func TestSortUptime(t *testing.T) {
	now := time.Now()
	at := func(d time.Duration) time.Time { return now.Add(d) }
	stop := func(d time.Duration) *time.Time { s := at(d); return &s }
	list := []*ConnInfo{
		{Cid: 1, Start: at(-10 * time.Second)},                                // open, 10 s
		{Cid: 2, Start: at(-9 * time.Second), Stop: stop(-7 * time.Second)},   // closed after 2 s
		{Cid: 3, Start: at(-8 * time.Second), Stop: stop(-8 * time.Second)},   // closed at once
		{Cid: 4, Start: at(-time.Second)},                                     // open, 1 s
		{Cid: 5, Start: at(-20 * time.Second), Stop: stop(-15 * time.Second)}, // closed after 5 s
	}
	sortConns(list, "uptime")
	var got []uint64
	for _, ci := range list {
		got = append(got, ci.Cid)
	}
	if want := []uint64{3, 4, 2, 5, 1}; !slices.Equal(got, want) {
		t.Errorf("sort=uptime: %v, want %v", got, want)
	}
}
