package server

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
	"github.com/natsd/natsd/server/wire"
)

// fakeRouter records the interest changes the server reports.
type fakeRouter struct {
	mu    sync.Mutex
	calls []interestCall
}

type interestCall struct {
	subject, queue string
	weight         int32
}

func (r *fakeRouter) InterestChanged(_, subject, queue string, weight int32) {
	r.mu.Lock()
	r.calls = append(r.calls, interestCall{subject, queue, weight})
	r.mu.Unlock()
}

// take returns the calls so far and forgets them.
func (r *fakeRouter) take() []interestCall {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.calls
	r.calls = nil
	return c
}

// fakeRoute collects what the server sends to one route peer.
type fakeRoute struct {
	mu      sync.Mutex
	msgs    []routedMsg
	flushes int

	// What TracePeer says: the peer's id and name, and whether it is
	// below route protocol 3 (noTrace).
	id      uint64
	name    string
	noTrace bool
}

type routedMsg struct {
	subject, reply string
	queues         []string
	hdrLen         int
	data           string
}

func (r *fakeRoute) SendMsg(_ string, m *wire.Msg, queues []string) (<-chan struct{}, bool) {
	r.mu.Lock()
	r.msgs = append(r.msgs, routedMsg{string(m.Subject), string(m.Reply), slices.Clone(queues), m.HdrLen, string(m.Data)})
	r.mu.Unlock()
	return nil, false
}

func (r *fakeRoute) TracePeer() (uint64, string, bool) { return r.id, r.name, !r.noTrace }

func (r *fakeRoute) Wake() {
	r.mu.Lock()
	r.flushes++
	r.mu.Unlock()
}

// linkOf is the server's link to the fake route rt (made on first use).
func linkOf(srv *Server, rt Route) *RouteLink {
	links.Lock()
	defer links.Unlock()
	if links.m == nil {
		links.m = map[Route]*RouteLink{}
	}
	l := links.m[rt]
	if l == nil || l.srv != srv {
		l = srv.NewRouteLink(rt)
		links.m[rt] = l
	}
	return l
}

var links struct {
	sync.Mutex
	m map[Route]*RouteLink
}

// take returns the messages so far and forgets them.
func (r *fakeRoute) take() []routedMsg {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := r.msgs
	r.msgs = nil
	return m
}

func TestRouterInterestChanged(t *testing.T) {
	srv, addr := startServer(t, Options{})
	rt := &fakeRouter{}
	srv.SetRouter(rt)
	c1 := connectRaw(t, addr, "")
	c2 := connectRaw(t, addr, "")

	steps := []struct {
		who  *testutil.ProtoConn
		ops  string
		want []interestCall
	}{
		{c1, "SUB foo 1\r\n", []interestCall{{"foo", "", 1}}},
		{c2, "SUB foo 7\r\n", nil},
		{c1, "UNSUB 1\r\n", nil},
		{c2, "UNSUB 7\r\n", []interestCall{{"foo", "", 0}}},
		{c2, "UNSUB 7\r\nUNSUB 99\r\n", nil},
		{c1, "SUB bar q 2\r\n", []interestCall{{"bar", "q", 1}}},
		{c2, "SUB bar q 3\r\n", []interestCall{{"bar", "q", 2}}},
		{c1, "SUB bar q 4\r\n", []interestCall{{"bar", "q", 3}}},
		{c1, "SUB bar q 4\r\n", nil}, // a reused sid is ignored
		{c1, "UNSUB 2\r\n", []interestCall{{"bar", "q", 2}}},
		{c2, "UNSUB 3\r\n", []interestCall{{"bar", "q", 1}}},
		{c1, "SUB bar 5\r\nSUB bar r 6\r\n", []interestCall{{"bar", "", 1}, {"bar", "r", 1}}},
		{c1, "SUB foo..bar 8\r\n", nil}, // invalid subject
		// Auto-unsubscribe: interest goes when the last message was delivered.
		{c2, "SUB baz 9\r\nUNSUB 9 1\r\n", []interestCall{{"baz", "", 1}}},
		{c1, "PUB baz 0\r\n\r\n", []interestCall{{"baz", "", 0}}},
	}
	for i, st := range steps {
		st.who.Send(st.ops)
		st.who.Flush()
		if got := rt.take(); !slices.Equal(got, st.want) {
			t.Fatalf("step %d %q: calls %v, want %v", i, st.ops, got, st.want)
		}
	}
	if got := c2.Flush(); len(got) != 1 || got[0].Line != "MSG baz 9 0" {
		t.Fatalf("auto-unsubscribed sub got %q", testutil.Lines(got))
	}

	// Closing c1 withdraws its interest: bar (plain), bar r, and one
	// member of bar q.
	_ = c1.Close()
	want := []interestCall{{"bar", "", 0}, {"bar", "q", 0}, {"bar", "r", 0}}
	var got []interestCall
	waitFor(t, ioTimeout, "interest of the closed client to go", func() bool {
		got = append(got, rt.take()...)
		return len(got) >= len(want)
	})
	slices.SortFunc(got, func(a, b interestCall) int { return strings.Compare(a.subject+" "+a.queue, b.subject+" "+b.queue) })
	if !slices.Equal(got, want) {
		t.Fatalf("after close: %v, want %v", got, want)
	}

	// Disconnected router: nothing is reported.
	srv.SetRouter(nil)
	c2.Send("SUB new 10\r\n")
	c2.Flush()
	if got := rt.take(); got != nil {
		t.Fatalf("calls after SetRouter(nil): %v", got)
	}
}

func TestLocalInterest(t *testing.T) {
	srv, addr := startServer(t, Options{})
	c1 := connectRaw(t, addr, "")
	c2 := connectRaw(t, addr, "")
	c1.Send("SUB foo 1\r\nSUB bar q 2\r\nSUB x.* 3\r\nSUB gone 4\r\nUNSUB 4\r\n")
	c2.Send("SUB foo 1\r\nSUB bar q 2\r\nSUB bar r 3\r\n")
	c1.Flush()
	c2.Flush()
	if _, err := linkOf(srv, &fakeRoute{}).AddInterest(GlobalAccountName, "remote", "", 0); err != nil {
		t.Fatal(err)
	}

	var got []interestCall
	thens := 0
	srv.LocalInterest(func(_, subject, queue string, weight int32) {
		if thens != 0 {
			t.Error("each called after then")
		}
		got = append(got, interestCall{subject, queue, weight})
	}, func() { thens++ })
	slices.SortFunc(got, func(a, b interestCall) int { return strings.Compare(a.subject+" "+a.queue, b.subject+" "+b.queue) })
	want := []interestCall{{"bar", "q", 2}, {"bar", "r", 1}, {"foo", "", 1}, {"x.*", "", 1}}
	if !slices.Equal(got, want) || thens != 1 {
		t.Fatalf("LocalInterest = %v (then %d×), want %v", got, thens, want)
	}
	srv.LocalInterest(func(string, string, string, int32) {}, nil) // a nil then is allowed
}

// TestPublishToRoutes: a client's message goes once to each route with
// matching interest, however many of its subscriptions match.
func TestPublishToRoutes(t *testing.T) {
	srv, addr := startServer(t, Options{})
	r1, r2, r3 := &fakeRoute{}, &fakeRoute{}, &fakeRoute{}
	add := func(rt Route, subj, queue string, w int32) *RemoteSub {
		t.Helper()
		s, err := linkOf(srv, rt).AddInterest(GlobalAccountName, subj, queue, w)
		if err != nil {
			t.Fatalf("AddRemoteSub(%q, %q): %v", subj, queue, err)
		}
		return s
	}
	s1 := add(r1, "foo.*", "", 0)
	s2 := add(r1, "foo.>", "", 0)
	add(r2, "foo.bar", "", 0)
	add(r3, "other", "", 0)
	if _, err := linkOf(srv, r3).AddInterest(GlobalAccountName, "bad..subject", "", 0); err == nil {
		t.Fatal("AddRemoteSub accepted an invalid subject")
	}

	pub := connectRaw(t, addr, "")
	pub.Send("PUB foo.bar reply.1 2\r\nhi\r\nPUB foo.bar.baz 0\r\n\r\nHPUB foo.x 12 14\r\nNATS/1.0\r\n\r\nyo\r\n")
	pub.Flush()
	want1 := []routedMsg{
		{"foo.bar", "reply.1", nil, 0, "hi"},
		{"foo.bar.baz", "", nil, 0, ""},
		{"foo.x", "", nil, 12, "NATS/1.0\r\n\r\nyo"},
	}
	if got := r1.take(); !slices.EqualFunc(got, want1, routedEqual) {
		t.Errorf("route with foo.* and foo.>: %+v, want %+v", got, want1)
	}
	if got := r2.take(); len(got) != 1 || got[0].subject != "foo.bar" || got[0].reply != "reply.1" {
		t.Errorf("route with foo.bar: %+v", got)
	}
	if got := r3.take(); len(got) != 0 {
		t.Errorf("route without interest: %+v", got)
	}
	if r1.flushes == 0 {
		t.Error("route writer never signalled")
	}

	s1.to.(*RouteLink).RemoveInterest(s1)
	pub.Send("PUB foo.bar 0\r\n\r\n")
	pub.Flush()
	if got := r1.take(); len(got) != 1 {
		t.Errorf("after removing foo.*: %d messages, want 1 (foo.>)", len(got))
	}
	s2.to.(*RouteLink).RemoveInterest(s2)
	s2.to.(*RouteLink).RemoveInterest(s2) // twice is harmless
	pub.Send("PUB foo.bar 0\r\n\r\n")
	pub.Flush()
	if got := r1.take(); len(got) != 0 {
		t.Errorf("after removing all interest: %+v", got)
	}
}

func routedEqual(a, b routedMsg) bool {
	return a.subject == b.subject && a.reply == b.reply && slices.Equal(a.queues, b.queues) && a.hdrLen == b.hdrLen && a.data == b.data
}

// countMsgs reads what c got and counts MSG lines.
func countMsgs(t *testing.T, c *testutil.ProtoConn) int {
	t.Helper()
	n := 0
	for _, f := range c.Flush() {
		if !strings.HasPrefix(f.Line, "MSG ") {
			t.Fatalf("unexpected %q", f.Line)
		}
		n++
	}
	return n
}

// TestQueueChoiceWithRemoteWeights: the origin server picks a queue member
// among local members and remote servers, each remote weighted by its
// member count, and names the group in that route's one message.
func TestQueueChoiceWithRemoteWeights(t *testing.T) {
	srv, addr := startServer(t, Options{})
	local := connectRaw(t, addr, "")
	local.Send("SUB work q 1\r\n")
	local.Flush()
	rt := &fakeRoute{}
	rq, err := linkOf(srv, rt).AddInterest(GlobalAccountName, "work", "q", 3)
	if err != nil {
		t.Fatal(err)
	}
	pub := connectRaw(t, addr, "")
	const n = 400
	batch := strings.Repeat("PUB work 1\r\nx\r\n", n)

	run := func(label string, wantLocal, tolerance int, wantPlain bool) {
		t.Helper()
		pub.Send(batch)
		pub.Flush()
		k := countMsgs(t, local)
		msgs := rt.take()
		queued := 0
		for _, m := range msgs {
			switch {
			case slices.Equal(m.queues, []string{"q"}):
				queued++
			case len(m.queues) == 0 && wantPlain:
			default:
				t.Fatalf("%s: route message with queues %q", label, m.queues)
			}
		}
		if k+queued != n {
			t.Fatalf("%s: %d local + %d remote queue deliveries, want exactly %d", label, k, queued, n)
		}
		if wantPlain && len(msgs) != n {
			t.Fatalf("%s: %d route messages with plain interest, want one per message (%d)", label, len(msgs), n)
		}
		if k < wantLocal-tolerance || k > wantLocal+tolerance {
			t.Errorf("%s: local member got %d of %d, want about %d", label, k, n, wantLocal)
		}
	}
	run("remote weight 3", n/4, n/8, false)
	rq.to.(*RouteLink).SetWeight(rq, 1)
	run("remote weight 1", n/2, n/8, false)

	// Plain interest on the same route: still one message per publish,
	// naming q when the route was chosen.
	if _, err := linkOf(srv, rt).AddInterest(GlobalAccountName, "work", "", 0); err != nil {
		t.Fatal(err)
	}
	run("plain + queue interest", n/2, n/8, true)

	// Only remote members: the route always gets the group.
	local.Send("UNSUB 1\r\n")
	local.Flush()
	run("no local member", 0, 0, true)
}

func TestInboundDeliver(t *testing.T) {
	srv, addr := startServer(t, Options{})
	plain := connectRaw(t, addr, "")
	m1 := connectRaw(t, addr, "")
	m2 := connectRaw(t, addr, "")
	plain.Send("SUB foo 1\r\n")
	m1.Send("SUB foo q 1\r\n")
	m2.Send("SUB foo q 1\r\n")
	for _, c := range []*testutil.ProtoConn{plain, m1, m2} {
		c.Flush()
	}
	from, other := &fakeRoute{}, &fakeRoute{}
	for _, s := range []struct {
		rt      Route
		subj, q string
		w       int32
	}{
		{from, "foo", "rq", 1}, {from, "solo", "g", 1},
		{other, "foo", "", 0}, {other, "foo", "rq", 2},
	} {
		if _, err := linkOf(srv, s.rt).AddInterest(GlobalAccountName, s.subj, s.q, s.w); err != nil {
			t.Fatal(err)
		}
	}
	in := linkOf(srv, from)
	msg := func(subj, reply string, queues ...string) *wire.Msg {
		m := &wire.Msg{Account: []byte(GlobalAccountName), Subject: []byte(subj), SizeField: []byte("2"), Data: []byte("hi")}
		if reply != "" {
			m.Reply = []byte(reply)
		}
		for _, q := range queues {
			m.Queues = append(m.Queues, []byte(q))
		}
		return m
	}
	deliver := func(m *wire.Msg) (p, q1, q2 int) {
		t.Helper()
		in.Deliver(m)
		in.Flush()
		return countMsgs(t, plain), countMsgs(t, m1), countMsgs(t, m2)
	}

	// No queue list: plain subscribers only, never forwarded (one hop).
	if p, a, b := deliver(msg("foo", "")); p != 1 || a != 0 || b != 0 {
		t.Errorf("RMSG foo: plain %d, members %d+%d; want 1, 0+0", p, a, b)
	}
	// A named local group: one local member, no forwarding.
	var n1, n2 int
	for range 40 {
		p, a, b := deliver(msg("foo", "", "q"))
		if p != 1 || a+b != 1 {
			t.Fatalf("RMSG foo | q: plain %d, members %d+%d; want 1, one member", p, a, b)
		}
		n1 += a
		n2 += b
	}
	if n1 == 0 || n2 == 0 {
		t.Errorf("RMSG foo | q: members got %d and %d of 40; both should be picked", n1, n2)
	}
	if got := other.take(); len(got) != 0 {
		t.Errorf("routed messages forwarded to another route: %+v", got)
	}

	// A group with no local member goes on to another route that has it
	// rather than back where it came from...
	if p, a, b := deliver(msg("foo", "_INBOX.r", "q", "rq", "nosuch")); p != 1 || a+b != 1 {
		t.Errorf("RMSG foo + _INBOX.r q rq nosuch: plain %d, members %d+%d", p, a, b)
	}
	want := []routedMsg{{"foo", "_INBOX.r", []string{"rq"}, 0, "hi"}}
	if got := other.take(); !slices.EqualFunc(got, want, routedEqual) {
		t.Errorf("forwarded: %+v, want %+v", got, want)
	}
	// ...and back there when no other route has it, rather than dropped,
	// as nats-server v2.15.2 does (cmd/natsd's
	// TestRoutedQueueMessageWithoutLocalMember records it).
	deliver(msg("solo", "", "g"))
	want = []routedMsg{{"solo", "", []string{"g"}, 0, "hi"}}
	if got := from.take(); !slices.EqualFunc(got, want, routedEqual) {
		t.Errorf("a group only the sender has: sent back %+v, want %+v", got, want)
	}
	if got := other.take(); len(got) != 0 {
		t.Errorf("group g forwarded to a route without it: %+v", got)
	}

	// Other accounts' messages never get here (the cluster drops them), and
	// subjects nobody wants are dropped.
	if p, a, b := deliver(msg("bar", "", "q")); p+a+b != 0 {
		t.Errorf("RMSG bar delivered %d", p+a+b)
	}
}

// TestRemoteOnlyInterest: with remote interest only, a request with
// no_responders counts as delivered (no 503).
func TestRemoteOnlyInterest(t *testing.T) {
	srv, addr := startServer(t, Options{})
	rt := &fakeRoute{}
	if _, err := linkOf(srv, rt).AddInterest(GlobalAccountName, "svc", "", 0); err != nil {
		t.Fatal(err)
	}
	c := connectRaw(t, addr, `{"verbose":false,"headers":true,"no_responders":true}`)
	c.Send("SUB _INBOX.1 1\r\nPUB svc _INBOX.1 0\r\n\r\nPUB none _INBOX.1 0\r\n\r\n")
	got := c.Flush()
	if len(got) != 1 || !strings.HasPrefix(got[0].Line, "HMSG _INBOX.1 1 ") || !strings.HasPrefix(got[0].Payload, "NATS/1.0 503\r\nNats-Subject: none\r\n") {
		t.Fatalf("got %q, want one 503 for the subject without interest", testutil.Lines(got))
	}
	if n := len(rt.take()); n != 1 {
		t.Fatalf("route got %d messages, want 1", n)
	}
}
