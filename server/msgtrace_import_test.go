package server

import (
	"slices"
	"strings"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
)

// importServer has account A exporting streams and services, with and
// without allow_trace, and B importing them; users a and b.
func importServer(t *testing.T) (*Server, string) {
	t.Helper()
	return startServer(t, Options{
		Accounts: []*AccountConfig{
			{Name: "A", Exports: []*Export{
				{Subject: "news.>"}, {Subject: "tnews.>"},
				{Service: true, Subject: "svc.>"}, {Service: true, Subject: "tsvc.>", AllowTrace: true},
			}},
			{Name: "B", Imports: []*Import{
				{Account: "A", Subject: "news.>"},
				{Account: "A", Subject: "tnews.>", AllowTrace: true},
				{Service: true, Account: "A", Subject: "svc.>", To: "bsvc.>"},
				{Service: true, Account: "A", Subject: "tsvc.>"},
			}},
		},
		Auth: AuthOptions{Users: []*User{{Username: "a", Password: "a", Account: "A"}, {Username: "b", Password: "b", Account: "B"}}},
	})
}

func connectAs(t *testing.T, addr, user, name string) *testutil.ProtoConn {
	return connectRaw(t, addr, `{"verbose":false,"headers":true,"user":"`+user+`","pass":"`+user+`","name":"`+name+`"}`)
}

// TestMsgTraceStreamImport: crossing a stream import is reported ("se");
// the deliveries in the importing account only with the import's
// allow_trace. The message is delivered in both accounts either way, as
// published.
func TestMsgTraceStreamImport(t *testing.T) {
	srv, addr := importServer(t)
	sink := sinkOn(t, srv.LookupAccount("A"), "tr")
	sa := connectAs(t, addr, "a", "subA")
	sb := connectAs(t, addr, "b", "subB")
	sa.Send("SUB *.x 1\r\n")
	sb.Send("SUB *.x 1\r\n")
	sa.Flush()
	sb.Flush()
	pub := connectAs(t, addr, "a", "pub")
	const hdr = "NATS/1.0\r\nNats-Trace-Dest: tr\r\n\r\n"
	for _, tt := range []struct {
		subj    string
		allowed bool
	}{{"news.x", false}, {"tnews.x", true}} {
		pub.Send(hpub(tt.subj, "", hdr, "x"))
		pub.Flush()
		for _, c := range []*testutil.ProtoConn{sa, sb} {
			if got := c.Flush(); len(got) != 1 || got[0].Payload != hdr+"x" {
				t.Errorf("%s: subscriber got %q", tt.subj, got)
			}
		}
		want := []gotTraceItem{
			{Type: "in", CID: cidOf(t, srv, pub), Name: "pub", Account: "A", Subject: tt.subj},
			{Type: "eg", CID: cidOf(t, srv, sa), Name: "subA", Sub: "*.x"},
			{Type: "se", Account: "B", To: tt.subj},
		}
		if tt.allowed {
			want = append(want, gotTraceItem{Type: "eg", CID: cidOf(t, srv, sb), Name: "subB", Account: "B", Sub: "*.x"})
		}
		got := briefs(sink.next(t))
		// The subject index orders A's subscriber and the import as it
		// will: compare as sets of events, the se before B's egress.
		if !sameEvents(got, want) {
			t.Errorf("%s: events %+v\nwant %+v", tt.subj, got, want)
		}
	}

	// Trace-only: nobody gets it, in either account.
	pub.Send(hpub("news.x", "", "NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Only: true\r\n\r\n", "x"))
	pub.Flush()
	for _, c := range []*testutil.ProtoConn{sa, sb} {
		if got := c.Flush(); len(got) != 0 {
			t.Errorf("trace-only: subscriber got %q", got)
		}
	}
	sink.next(t)
}

// sameEvents: got holds want's events, the ingress first and every other
// in want's relative order where want orders them (se before the egress
// past it).
func sameEvents(got, want []gotTraceItem) bool {
	if len(got) != len(want) || len(got) == 0 || got[0] != want[0] {
		return false
	}
	last := -1
	for _, w := range want[1:] {
		i := slices.Index(got, w)
		if i < 0 {
			return false
		}
		if w.Type == "se" || w.Account != "" {
			if i < last {
				return false
			}
			last = i
		}
	}
	return true
}

// TestMsgTraceServiceImport: a traced request crossing a service import
// is reported ("si"). Without the export's allow_trace the trace stops and
// the request goes on with Nats-Trace-Dest: trace disabled; with it, the
// deliveries in the exporting account are reported and the request names a
// reply subject there that leads back to the destination, where the other
// servers it reaches publish their events.
func TestMsgTraceServiceImport(t *testing.T) {
	srv, addr := importServer(t)
	sink := sinkOn(t, srv.LookupAccount("B"), "tr")
	svc := connectAs(t, addr, "a", "svc")
	svc.Send("SUB svc.> 1\r\nSUB tsvc.> 2\r\n")
	svc.Flush()
	pub := connectAs(t, addr, "b", "pub")
	pubCID, svcCID := cidOf(t, srv, pub), cidOf(t, srv, svc)
	const hdr = "NATS/1.0\r\nNats-Trace-Dest: tr\r\n\r\n"

	pub.Send(hpub("bsvc.x", "rep.1", hdr, "q"))
	pub.Flush()
	got := svc.Flush()
	if len(got) != 1 || got[0].Payload != "NATS/1.0\r\nNats-Trace-Dest: trace disabled\r\n\r\nq" || !strings.HasPrefix(got[0].Line, "HMSG svc.x 1 _R_.") {
		t.Errorf("service without allow_trace got %q", got)
	}
	want := []gotTraceItem{
		{Type: "in", CID: pubCID, Name: "pub", Account: "B", Subject: "bsvc.x"},
		{Type: "si", Account: "A", From: "bsvc.x", To: "svc.x"},
	}
	if got := briefs(sink.next(t)); !slices.Equal(got, want) {
		t.Errorf("events %+v, want %+v", got, want)
	}

	pub.Send(hpub("tsvc.x", "rep.1", hdr, "q"))
	pub.Flush()
	got = svc.Flush()
	if len(got) != 1 {
		t.Fatalf("service with allow_trace got %q", got)
	}
	dest, ok := traceHeader([]byte(got[0].Payload), keyDest)
	if !ok || !strings.HasPrefix(string(dest), "_R_.") {
		t.Fatalf("service with allow_trace got %q: Nats-Trace-Dest %q", got[0].Payload, dest)
	}
	want = []gotTraceItem{
		{Type: "in", CID: pubCID, Name: "pub", Account: "B", Subject: "tsvc.x"},
		{Type: "si", Account: "A", From: "tsvc.x", To: "tsvc.x"},
		{Type: "eg", CID: svcCID, Name: "svc", Account: "A", Sub: "tsvc.>"},
	}
	if got := briefs(sink.next(t)); !slices.Equal(got, want) {
		t.Errorf("events %+v, want %+v", got, want)
	}
	// Another server's event, published in A to that subject, reaches
	// the destination in B.
	if err := srv.LookupAccount("A").Publish(string(dest), "", nil, []byte(`{"events":[{"type":"in","kind":1}]}`)); err != nil {
		t.Fatal(err)
	}
	if ev := sink.next(t); len(ev.Events) != 1 || ev.Events[0].Kind != traceKindRouter {
		t.Errorf("remote event through the mapped destination: %+v", ev)
	}

	// Trace-only: the service does not get it, with or without
	// allow_trace.
	for _, subj := range []string{"bsvc.x", "tsvc.x"} {
		pub.Send(hpub(subj, "rep.1", "NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Only: true\r\n\r\n", "q"))
		pub.Flush()
		if got := svc.Flush(); len(got) != 0 {
			t.Errorf("trace-only %s: service got %q", subj, got)
		}
		sink.next(t)
	}
}

// TestMsgTraceSampled: an account with msg_trace traces messages whose
// traceparent is sampled, to its own destination (Nats-Trace-Dest still
// wins); from a route only when the origin traced it (Nats-Trace-Hop).
func TestMsgTraceSampled(t *testing.T) {
	srv, addr := startServer(t, Options{
		Accounts: []*AccountConfig{{Name: "A", MsgTrace: &MsgTraceConfig{Dest: "a.trace"}}},
		Auth:     AuthOptions{Users: []*User{{Username: "a", Password: "a", Account: "A"}}},
	})
	acc := srv.LookupAccount("A")
	sink := sinkOn(t, acc, "a.trace")
	other := sinkOn(t, acc, "tr")
	sub := connectAs(t, addr, "a", "sub")
	sub.Send("SUB foo 1\r\n")
	sub.Flush()
	pub := connectAs(t, addr, "a", "pub")
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-"

	for _, tt := range []struct {
		hdr    string
		traced bool
	}{
		{"NATS/1.0\r\ntraceparent: " + tp + "01\r\n\r\n", true},
		{"NATS/1.0\r\nTraceparent: " + tp + "03\r\nNats-Trace-Only: true\r\n\r\n", true}, // trace-only does not apply
		{"NATS/1.0\r\ntraceparent: " + tp + "00\r\n\r\n", false},
		{"NATS/1.0\r\nX: y\r\n\r\n", false},
	} {
		pub.Send(hpub("foo", "", tt.hdr, "x"))
		pub.Flush()
		if got := sub.Flush(); len(got) != 1 {
			t.Errorf("%q: subscriber got %q", tt.hdr, got)
		}
		if !tt.traced {
			sink.none(t)
			continue
		}
		if ev := sink.next(t); len(ev.Events) != 2 || ev.Events[1].Sub != "foo" {
			t.Errorf("%q: events %+v", tt.hdr, ev.Events)
		}
	}
	pub.Send(hpub("foo", "", "NATS/1.0\r\ntraceparent: "+tp+"01\r\nNats-Trace-Dest: tr\r\n\r\n", "x"))
	pub.Flush()
	sub.Flush()
	other.next(t)
	sink.none(t)

	// From a route: traced when the origin did.
	l := linkOf(srv, &fakeRoute{id: 3, name: "origin"})
	for hop, traced := range map[string]bool{"Nats-Trace-Hop: 1\r\n": true, "": false} {
		deliverRouted(l, "A", "foo", "NATS/1.0\r\ntraceparent: "+tp+"01\r\n"+hop+"\r\n", "x")
		sub.Flush()
		if traced {
			if ev := sink.next(t); ev.Events[0].Kind != traceKindRouter {
				t.Errorf("routed: %+v", ev)
			}
		} else {
			sink.none(t)
		}
	}
}
