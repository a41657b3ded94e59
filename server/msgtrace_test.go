package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
	"github.com/natsd/natsd/server/wire"
)

// The trace events these tests expect are v2.15.2's, recorded with
// nats.go clients against a two-server nats-server cluster (see
// cmd/natsd/msgtrace_test.go for the same against real processes).

// gotEvent is a trace event as a test reads it.
type gotEvent struct {
	Server struct {
		Name string `json:"name"`
		ID   string `json:"id"`
		Ver  string `json:"ver"`
		Seq  uint64 `json:"seq"`
	} `json:"server"`
	Request struct {
		Header  map[string][]string `json:"header"`
		MsgSize int                 `json:"msgsize"`
	} `json:"request"`
	Hops   int            `json:"hops"`
	Events []gotTraceItem `json:"events"`
}

type gotTraceItem struct {
	Type    string    `json:"type"`
	TS      time.Time `json:"ts"`
	Kind    int       `json:"kind"`
	CID     uint64    `json:"cid"`
	Name    string    `json:"name"`
	Account string    `json:"acc"`
	Subject string    `json:"subj"`
	Sub     string    `json:"sub"`
	Queue   string    `json:"queue"`
	Hop     string    `json:"hop"`
	To      string    `json:"to"`
	From    string    `json:"from"`
	Error   string    `json:"error"`
}

// brief is an event item without its timestamp, for comparisons.
func (e gotTraceItem) brief() gotTraceItem { e.TS = time.Time{}; return e }

func briefs(ev gotEvent) []gotTraceItem {
	var out []gotTraceItem
	for _, e := range ev.Events {
		out = append(out, e.brief())
	}
	return out
}

// traceSink collects the trace events published on dest in account acc.
type traceSink struct{ ch chan gotEvent }

func sinkOn(t *testing.T, acc *Account, dest string) *traceSink {
	t.Helper()
	s := &traceSink{ch: make(chan gotEvent, 16)}
	sub, err := acc.Subscribe(dest, "", func(m Msg) {
		data := m.Data
		if bytes.Contains(m.Header, []byte("Content-Encoding: gzip")) {
			zr, err := gzip.NewReader(bytes.NewReader(m.Data))
			if err != nil {
				t.Errorf("gzip: %v", err)
				return
			}
			if data, err = io.ReadAll(zr); err != nil {
				t.Errorf("gunzip: %v", err)
				return
			}
		}
		var ev gotEvent
		if err := json.Unmarshal(data, &ev); err != nil {
			t.Errorf("trace event %q: %v", data, err)
			return
		}
		s.ch <- ev
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sub.Unsubscribe)
	return s
}

// next is the next event (published on the publisher's goroutine, so it
// is there once the publisher's PING was answered).
func (s *traceSink) next(t *testing.T) gotEvent {
	t.Helper()
	select {
	case ev := <-s.ch:
		return ev
	case <-time.After(ioTimeout):
		t.Fatal("no trace event")
		return gotEvent{}
	}
}

// none checks that no event arrived.
func (s *traceSink) none(t *testing.T) {
	t.Helper()
	select {
	case ev := <-s.ch:
		t.Fatalf("unexpected trace event %+v", ev)
	default:
	}
}

// cidOf is the server's id for the raw client c.
func cidOf(t *testing.T, srv *Server, c *testutil.ProtoConn) uint64 {
	t.Helper()
	return clientOn(t, srv, c.LocalPort()).cid
}

const named = `{"verbose":false,"headers":true,"name":"%s"}`

func connectNamed(t *testing.T, addr, name string) *testutil.ProtoConn {
	return connectRaw(t, addr, strings.Replace(named, "%s", name, 1))
}

func TestMsgTraceLocal(t *testing.T) {
	srv, addr := startServer(t, Options{})
	sink := sinkOn(t, srv.GlobalAccount(), "tr")
	sub := connectNamed(t, addr, "sub")
	sub.Send("SUB foo 1\r\nSUB foo grp 2\r\n")
	sub.Flush()
	pub := connectNamed(t, addr, "pub")
	hdr := "NATS/1.0\r\nX-Other: 1\r\nNats-Trace-Dest: tr\r\n\r\n"
	pub.Send(hpub("foo", "", hdr, "hello"))
	pub.Flush()

	// The subscriber gets the message as published, headers and all.
	want := []testutil.Frame{
		{Line: fmt.Sprintf("HMSG foo 1 %d %d", len(hdr), len(hdr)+5), Payload: hdr + "hello"},
		{Line: fmt.Sprintf("HMSG foo 2 %d %d", len(hdr), len(hdr)+5), Payload: hdr + "hello"},
	}
	if got := sub.Flush(); !slices.Equal(got, want) {
		t.Fatalf("subscriber got %q, want %q", got, want)
	}
	ev := sink.next(t)
	if ev.Server.Name != srv.Name() || ev.Server.ID != srv.ID() || ev.Server.Ver != ProtocolVersion || ev.Server.Seq == 0 {
		t.Errorf("server = %+v", ev.Server)
	}
	wantHdr := map[string][]string{"X-Other": {"1"}, "Nats-Trace-Dest": {"tr"}}
	if len(ev.Request.Header) != 2 || !slices.Equal(ev.Request.Header["X-Other"], wantHdr["X-Other"]) ||
		!slices.Equal(ev.Request.Header["Nats-Trace-Dest"], wantHdr["Nats-Trace-Dest"]) || ev.Request.MsgSize != len(hdr)+5 || ev.Hops != 0 {
		t.Errorf("request = %+v, hops %d", ev.Request, ev.Hops)
	}
	subCID, pubCID := cidOf(t, srv, sub), cidOf(t, srv, pub)
	wantEv := []gotTraceItem{
		{Type: "in", Kind: 0, CID: pubCID, Name: "pub", Account: "$G", Subject: "foo"},
		{Type: "eg", Kind: 0, CID: subCID, Name: "sub", Sub: "foo"},
		{Type: "eg", Kind: 0, CID: subCID, Name: "sub", Sub: "foo", Queue: "grp"},
	}
	if got := briefs(ev); !slices.Equal(got, wantEv) {
		t.Errorf("events %+v\nwant %+v", got, wantEv)
	}
	for _, e := range ev.Events {
		if e.TS.IsZero() || e.TS.Location() != time.UTC {
			t.Errorf("event %s: ts %v", e.Type, e.TS)
		}
	}
	sink.none(t)
}

// TestMsgTraceOnly: Nats-Trace-Only keeps the message from subscribers
// for the values v2.15.2 takes, and the event lists the egresses anyway.
func TestMsgTraceOnly(t *testing.T) {
	srv, addr := startServer(t, Options{})
	sink := sinkOn(t, srv.GlobalAccount(), "tr")
	sub := connectNamed(t, addr, "sub")
	sub.Send("SUB foo 1\r\n")
	sub.Flush()
	pub := connectNamed(t, addr, "pub")
	for v, only := range map[string]bool{"true": true, "ON": true, "1": true, "yes": false, "0": false} {
		pub.Send(hpub("foo", "", "NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Only: "+v+"\r\n\r\n", "x"))
		pub.Flush()
		got := sub.Flush()
		if delivered := len(got) == 1; delivered == only {
			t.Errorf("Nats-Trace-Only: %s: subscriber got %q", v, got)
		}
		ev := sink.next(t)
		if len(ev.Events) != 2 || ev.Events[1].Type != "eg" || ev.Events[1].Sub != "foo" {
			t.Errorf("Nats-Trace-Only: %s: events %+v", v, ev.Events)
		}
	}
}

// TestMsgTraceNotTraced: destinations that do not trace. An invalid one
// is logged and the message delivered — unless trace-only, then it goes
// nowhere; an empty one (or "trace disabled") is no trace at all, trace-only
// included. None publishes an event.
func TestMsgTraceNotTraced(t *testing.T) {
	_, addr := startServer(t, Options{})
	all := connectNamed(t, addr, "all")
	all.Send("SUB > 1\r\n")
	all.Flush()
	pub := connectNamed(t, addr, "pub")
	tests := []struct {
		dest, only string
		delivered  bool
	}{
		{"foo.*", "", true}, {"foo.>", "", true}, {"foo..bar", "", true}, {"a b", "", true},
		{"foo.*", "true", false},
		{"", "true", true}, {traceDisabled, "true", true}, {"", "", true},
	}
	for _, tt := range tests {
		hdr := "NATS/1.0\r\nNats-Trace-Dest: " + tt.dest + "\r\n"
		if tt.only != "" {
			hdr += "Nats-Trace-Only: " + tt.only + "\r\n"
		}
		hdr += "\r\n"
		pub.Send(hpub("foo", "", hdr, "x"))
		if got := pub.Flush(); len(got) != 0 {
			t.Errorf("dest %q: publisher got %q", tt.dest, got)
		}
		got := all.Flush()
		if tt.delivered != (len(got) == 1) {
			t.Errorf("dest %q only %q: got %q", tt.dest, tt.only, testutil.Lines(got))
		}
		for _, f := range got {
			if f.Payload != hdr+"x" {
				t.Errorf("dest %q: delivered %q, want it unchanged", tt.dest, f.Payload)
			}
		}
	}
}

// TestMsgTraceErrors: what the events say of deliveries that did not
// happen, with v2.15.2's texts.
func TestMsgTraceErrors(t *testing.T) {
	srv, addr := startServer(t, Options{Auth: AuthOptions{Users: []*User{
		{Username: "pub", Password: "p", Permissions: &Permissions{Publish: &SubjectPermission{Deny: []string{"deny.>"}}}},
		{Username: "sub", Password: "s", Permissions: &Permissions{Subscribe: &SubjectPermission{Deny: []string{"foo.secret"}}}},
	}}})
	sink := sinkOn(t, srv.GlobalAccount(), "tr")
	sub := connectRaw(t, addr, `{"verbose":false,"headers":true,"user":"sub","pass":"s","name":"sub"}`)
	sub.Send("SUB foo.* 1\r\n")
	sub.Flush()
	pub := connectRaw(t, addr, `{"verbose":false,"headers":true,"echo":false,"user":"pub","pass":"p","name":"pub"}`)
	pub.Send("SUB foo.x 9\r\n")
	pub.Flush()
	const hdr = "NATS/1.0\r\nNats-Trace-Dest: tr\r\n\r\n"
	subCID, pubCID := cidOf(t, srv, sub), cidOf(t, srv, pub)

	pub.Send(hpub("deny.x", "", hdr, "x"))
	if got := pub.Flush(); len(got) != 1 || got[0].Line != `-ERR 'Permissions Violation for Publish to "deny.x"'` {
		t.Errorf("publisher got %q", testutil.Lines(got))
	}
	want := []gotTraceItem{{Type: "in", CID: pubCID, Name: "pub", Account: "$G", Subject: "deny.x", Error: `Permissions Violation for Publish to "deny.x"`}}
	if got := briefs(sink.next(t)); !slices.Equal(got, want) {
		t.Errorf("denied publish: %+v, want %+v", got, want)
	}

	pub.Send(hpub("foo.secret", "", hdr, "x"))
	pub.Flush()
	want = []gotTraceItem{
		{Type: "in", CID: pubCID, Name: "pub", Account: "$G", Subject: "foo.secret"},
		{Type: "eg", CID: subCID, Name: "sub", Sub: "foo.*", Error: traceErrSubDeny},
	}
	if got := briefs(sink.next(t)); !slices.Equal(got, want) {
		t.Errorf("denied delivery: %+v, want %+v", got, want)
	}

	pub.Send(hpub("foo.x", "", hdr, "x"))
	pub.Flush()
	want = []gotTraceItem{
		{Type: "in", CID: pubCID, Name: "pub", Account: "$G", Subject: "foo.x"},
		{Type: "eg", CID: subCID, Name: "sub", Sub: "foo.*"},
		{Type: "eg", CID: pubCID, Name: "pub", Sub: "foo.x", Error: traceErrNoEcho},
	}
	got := briefs(sink.next(t))
	slices.SortFunc(got[1:], func(a, b gotTraceItem) int { return strings.Compare(a.Sub, b.Sub) })
	if !slices.Equal(got, want) {
		t.Errorf("no echo: %+v, want %+v", got, want)
	}
}

// TestMsgTraceOriginAccountFromClient: Nats-Trace-Origin-Account is for
// servers; from a client it turns tracing off, in the message itself
// (v2.15.2 rewrites Nats-Trace-Dest to "trace disabled": recorded).
func TestMsgTraceOriginAccountFromClient(t *testing.T) {
	srv, addr := startServer(t, Options{})
	sink := sinkOn(t, srv.GlobalAccount(), "tr")
	sub := connectNamed(t, addr, "sub")
	sub.Send("SUB foo 1\r\n")
	sub.Flush()
	pub := connectNamed(t, addr, "pub")
	pub.Send(hpub("foo", "", "NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Origin-Account: $G\r\n\r\n", "x"))
	pub.Flush()
	const want = "NATS/1.0\r\nNats-Trace-Origin-Account: $G\r\nNats-Trace-Dest: trace disabled\r\n\r\nx"
	if got := sub.Flush(); len(got) != 1 || got[0].Payload != want || got[0].Line != fmt.Sprintf("HMSG foo 1 %d %d", len(want)-1, len(want)) {
		t.Errorf("subscriber got %q, want %q", got, want)
	}
	sink.none(t)
	// Trace-only as well: then it goes nowhere.
	pub.Send(hpub("foo", "", "NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Origin-Account: $G\r\nNats-Trace-Only: true\r\n\r\n", "x"))
	pub.Flush()
	if got := sub.Flush(); len(got) != 0 {
		t.Errorf("trace-only: subscriber got %q", got)
	}
	sink.none(t)
}

func TestMsgTraceMappingGzip(t *testing.T) {
	srv, addr := startServer(t, Options{Accounts: []*AccountConfig{{Name: GlobalAccountName}}})
	srv.GlobalAccount().cfg.Store(&accountConfig{mappings: compileMappings([]*Mapping{{Source: "map.*", Dests: []MapDest{{Subject: "mapped.$1"}}}})})
	sink := sinkOn(t, srv.GlobalAccount(), "tr")
	sub := connectNamed(t, addr, "sub")
	sub.Send("SUB mapped.> 1\r\n")
	sub.Flush()
	pub := connectNamed(t, addr, "pub")
	pub.Send(hpub("map.q", "", "NATS/1.0\r\nNats-Trace-Dest: tr\r\nAccept-Encoding: br, gzip\r\n\r\n", "x"))
	pub.Flush()
	if got := sub.Flush(); len(got) != 1 || !strings.HasPrefix(got[0].Line, "HMSG mapped.q 1 ") {
		t.Errorf("subscriber got %q", testutil.Lines(got))
	}
	got := briefs(sink.next(t)) // gunzipped by the sink
	want := []gotTraceItem{
		{Type: "in", CID: cidOf(t, srv, pub), Name: "pub", Account: "$G", Subject: "map.q"},
		{Type: "sm", To: "mapped.q"},
		{Type: "eg", CID: cidOf(t, srv, sub), Name: "sub", Sub: "mapped.>"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("events %+v, want %+v", got, want)
	}
}

// TestMsgTraceToRoutes: a traced message goes to each route with
// Nats-Trace-Hop naming its hop, each reported as an egress; a peer that
// does not trace gets it untraced, or, trace-only, not at all.
func TestMsgTraceToRoutes(t *testing.T) {
	srv, addr := startServer(t, Options{})
	sink := sinkOn(t, srv.GlobalAccount(), "tr")
	r1 := &fakeRoute{id: 11, name: "peer1"}
	r2 := &fakeRoute{id: 12, name: "old", noTrace: true}
	for _, rt := range []*fakeRoute{r1, r2} {
		if _, err := linkOf(srv, rt).AddInterest(GlobalAccountName, "foo", "", 0); err != nil {
			t.Fatal(err)
		}
	}
	pub := connectNamed(t, addr, "pub")
	const hdr = "NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Hop: 7\r\n\r\n"
	pub.Send(hpub("foo", "", hdr, "hi"))
	pub.Flush()
	ev := sink.next(t)
	if ev.Hops != 2 {
		t.Errorf("hops = %d, want 2", ev.Hops)
	}
	hops := map[string]string{}
	for _, e := range ev.Events[1:] {
		if e.Type != "eg" || e.Kind != traceKindRouter || e.Hop == "" {
			t.Fatalf("egress %+v", e)
		}
		hops[e.Name] = e.Hop
		want := ""
		if e.Name == "old" {
			want = traceErrNoSupport
		}
		if e.Error != want || e.CID != map[string]uint64{"peer1": 11, "old": 12}[e.Name] {
			t.Errorf("egress %+v", e)
		}
	}
	// The client's own Nats-Trace-Hop is replaced: the origin numbers
	// from 1.
	for _, rt := range []*fakeRoute{r1, r2} {
		got := rt.take()
		want := "NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Hop: " + hops[rt.name] + "\r\n\r\nhi"
		if len(got) != 1 || got[0].data != want || got[0].hdrLen != len(want)-2 {
			t.Errorf("route %s got %+v, want %q", rt.name, got, want)
		}
	}
	if !slices.Contains([]string{"1", "2"}, hops["peer1"]) || hops["peer1"] == hops["old"] {
		t.Errorf("hops %v", hops)
	}

	pub.Send(hpub("foo", "", "NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Only: true\r\n\r\n", "hi"))
	pub.Flush()
	ev = sink.next(t)
	if got := r1.take(); len(got) != 1 || !strings.Contains(got[0].data, "Nats-Trace-Only: true\r\n") {
		t.Errorf("trace-only to a tracing peer: %+v", got)
	}
	if got := r2.take(); len(got) != 0 {
		t.Errorf("trace-only to a peer that does not trace: %+v", got)
	}
	for _, e := range ev.Events[1:] {
		if e.Name == "old" && e.Error != traceErrOnlyNoSupport {
			t.Errorf("trace-only egress to the old peer: %+v", e)
		}
	}
}

// TestMsgTraceFromRoute: a server that gets a traced message from a route
// reports it with the route as ingress and the hop it was given, delivers
// it (or, trace-only, does not) and publishes its own event.
func TestMsgTraceFromRoute(t *testing.T) {
	srv, addr := startServer(t, Options{})
	sink := sinkOn(t, srv.GlobalAccount(), "tr")
	sub := connectNamed(t, addr, "sub")
	sub.Send("SUB foo 1\r\n")
	sub.Flush()
	rt := &fakeRoute{id: 5, name: "origin"}
	l := linkOf(srv, rt)
	routed := func(hdr string) { deliverRouted(l, "$G", "foo", hdr, "hi") }
	const hdr = "NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Hop: 1\r\n\r\n"
	routed(hdr)
	if got := sub.Flush(); len(got) != 1 || got[0].Payload != hdr+"hi" {
		t.Errorf("subscriber got %q", got)
	}
	ev := sink.next(t)
	want := []gotTraceItem{
		{Type: "in", Kind: traceKindRouter, CID: 5, Name: "origin", Account: "$G", Subject: "foo"},
		{Type: "eg", CID: cidOf(t, srv, sub), Name: "sub", Sub: "foo"},
	}
	if got := briefs(ev); !slices.Equal(got, want) || ev.Hops != 0 || !slices.Equal(ev.Request.Header["Nats-Trace-Hop"], []string{"1"}) {
		t.Errorf("event %+v, want events %+v", ev, want)
	}
	routed("NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Hop: 1\r\nNats-Trace-Only: true\r\n\r\n")
	if got := sub.Flush(); len(got) != 0 {
		t.Errorf("trace-only: subscriber got %q", got)
	}
	if got := briefs(sink.next(t)); len(got) != 2 {
		t.Errorf("trace-only: events %+v", got)
	}
}

// deliverRouted delivers an HMSG as if route link l read it.
func deliverRouted(l *RouteLink, acc, subj, hdr, payload string) {
	data := []byte(hdr + payload)
	m := wire.Msg{Account: []byte(acc), Subject: []byte(subj), Data: data, HdrLen: len(hdr),
		HdrField: []byte(strconv.Itoa(len(hdr))), SizeField: []byte(strconv.Itoa(len(data)))}
	l.Deliver(&m)
	l.Flush()
}
