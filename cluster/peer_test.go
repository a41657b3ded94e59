package cluster

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
)

// TestFakePeerInterest plays a 2.9 peer by hand: its RS+/RS- shape the
// server's trie, seen through what a local client's publishes produce.
func TestFakePeerInterest(t *testing.T) {
	a := startNode(t, Options{Name: "test"})
	// Local interest before the peer connects arrives as its RS+ burst.
	ca := client(t, a)
	ca.Send("SUB local 1\r\nSUB work q 2\r\nSUB work q 3\r\n")
	ca.Flush()

	p := fakePeer(t, a, "NFAKE1")
	burst := testutil.Lines(p.Flush())
	slices.Sort(burst)
	if want := []string{"RS+ $G local", "RS+ $G work q 2"}; !slices.Equal(burst, want) {
		t.Fatalf("RS+ burst = %q, want %q", burst, want)
	}

	pub := client(t, a)
	// publish sends one message from a local client and returns what the
	// fake peer got for it.
	publish := func(subj string) []testutil.Frame {
		t.Helper()
		pub.Send("PUB " + subj + " 5\r\nhello\r\n")
		pub.Flush()
		return p.Flush()
	}
	steps := []struct {
		peerSends string
		subject   string
		want      []string
	}{
		{"", "foo", nil},
		{"RS+ $G foo\r\n", "foo", []string{"RMSG $G foo 5"}},
		{"RS+ $G foo\r\n", "foo", []string{"RMSG $G foo 5"}}, // a known plain RS+ is a no-op
		{"RS+ $G foo grp 2\r\n", "foo", []string{"RMSG $G foo | grp 5"}},
		{"RS- $G foo\r\n", "foo", []string{"RMSG $G foo | grp 5"}},
		{"RS- $G foo grp\r\n", "foo", nil},
		{"RS- $G foo grp\r\nRS- $G never\r\n", "foo", nil}, // unknown RS- ignored
		{"RS+ $SYS x\r\n", "x", nil},                       // other accounts are dropped
		{"RS+ $G wild.*\r\nRS+ $G wild.>\r\n", "wild.card", []string{"RMSG $G wild.card 5"}},
		{"rs+\t$G  tabbed\r\n", "tabbed", []string{"RMSG $G tabbed 5"}}, // case and separators as the client parser
		// The group has local members, and the peer's: one of them gets it.
		{"RS+ $G work q 1\r\n", "", nil},
	}
	for i, st := range steps {
		if st.peerSends != "" {
			p.Send(st.peerSends)
			if got := p.Flush(); len(got) != 0 {
				t.Fatalf("step %d: peer got %q after sending %q", i, testutil.Lines(got), st.peerSends)
			}
		}
		if st.subject == "" {
			continue
		}
		if got := testutil.Lines(publish(st.subject)); !slices.Equal(got, st.want) {
			t.Errorf("step %d (%q) then PUB %s: peer got %q, want %q", i, st.peerSends, st.subject, got, st.want)
		}
	}
	if got := ca.Flush(); len(got) != 0 {
		t.Fatalf("local client got %q", testutil.Lines(got))
	}

	// work q: 2 local members and the peer's with weight 1 (3 in all):
	// every message goes to exactly one of them.
	const n = 60
	pub.Send(strings.Repeat("PUB work 1\r\nx\r\n", n))
	pub.Flush()
	local := len(ca.Flush())
	remote := 0
	for _, f := range p.Flush() {
		if f.Line != "RMSG $G work | q 1" {
			t.Fatalf("peer got %q", f.Line)
		}
		remote++
	}
	if local+remote != n || local == 0 || remote == 0 {
		t.Errorf("queue group: %d local + %d remote, want %d with both used", local, remote, n)
	}

	// The RS+ weight replaces the old one: with 1000 remote members the
	// peer gets almost everything.
	p.Send("RS+ $G work q 1000\r\n")
	p.Flush()
	pub.Send(strings.Repeat("PUB work 1\r\nx\r\n", n))
	pub.Flush()
	if remote = len(p.Flush()); remote < n-10 {
		t.Errorf("with weight 1000: peer got %d of %d", remote, n)
	}
	ca.Flush()

	// A reply subject and headers travel in the RMSG/HMSG.
	p.Send("RS+ $G foo.r\r\n")
	p.Flush()
	hpub := "HPUB foo.r _INBOX.9 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
	pub.Send("PUB foo.r _INBOX.9 2\r\nhi\r\n" + hpub)
	pub.Flush()
	got := p.Flush()
	if len(got) != 2 || got[0].Line != "RMSG $G foo.r _INBOX.9 2" || got[1].Line != "HMSG $G foo.r _INBOX.9 12 14" || got[1].Payload != "NATS/1.0\r\n\r\nhi" {
		t.Errorf("with reply and headers: %q", testutil.Lines(got))
	}

	// When the route goes, so does its interest.
	subs := a.srv.NumSubscriptions()
	_ = p.Close()
	waitRoutes(t, a, 0)
	if got := a.srv.NumSubscriptions(); got != 3 {
		t.Errorf("%d subscriptions after the route closed (had %d), want the 3 local ones", got, subs)
	}
}

// TestFakePeerRoutedMessages: messages from a peer reach local
// subscribers only (one hop), except for a queue group with no local member.
func TestFakePeerRoutedMessages(t *testing.T) {
	a := startNode(t, Options{Name: "test"})
	p1 := fakePeer(t, a, "NFAKE1")
	p2 := fakePeer(t, a, "NFAKE2")
	// p1 heard about p2 by gossip: with p2's address to dial. The gossip
	// goes out after p2's registration (which fakePeer waited for), so
	// it is waited for too.
	var gossip map[string]any
	waitFor(t, ioTimeout, "gossip about NFAKE2", func() bool {
		p1.Flush()
		for _, l := range p1.Infos {
			var in map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "INFO ")), &in); err == nil && in["server_id"] == "NFAKE2" {
				gossip = in
			}
		}
		return gossip != nil
	})
	if gossip == nil || gossip["ip"] != "nats-route://127.0.0.1:16006/" || gossip["cluster"] != "test" {
		t.Errorf("gossip INFO about NFAKE2 = %v (all INFO: %q)", gossip, p1.Infos)
	}

	ca := client(t, a)
	ca.Send("SUB bar 1\r\nSUB bar q 2\r\n")
	ca.Flush()
	for _, p := range []*testutil.ProtoConn{p1, p2} {
		got := testutil.Lines(p.Flush())
		slices.Sort(got)
		if !slices.Equal(got, []string{"RS+ $G bar", "RS+ $G bar q 1"}) {
			t.Fatalf("peer got %q, want the RS+ for bar", got)
		}
	}
	// p2 also has interest in bar and in groups rq and both; p1 in groups
	// oq and both.
	p2.Send("RS+ $G bar\r\nRS+ $G bar rq 1\r\nRS+ $G bar both 1\r\n")
	p2.Flush()
	p1.Send("RS+ $G bar oq 1\r\nRS+ $G bar both 1\r\n")
	p1.Flush()

	steps := []struct {
		rmsg     string
		local    []string // lines the local client gets
		toSecond []string // lines the second peer gets
		toFirst  []string // lines the first (sending) peer gets back
	}{
		{"RMSG $G bar 2\r\nhi\r\n", []string{"MSG bar 1 2"}, nil, nil},
		{"RMSG $G bar r.1 2\r\nhi\r\n", []string{"MSG bar 1 r.1 2"}, nil, nil},
		{"RMSG $G bar | q 2\r\nhi\r\n", []string{"MSG bar 1 2", "MSG bar 2 2"}, nil, nil},
		{"RMSG $G bar + r.2 q 2\r\nhi\r\n", []string{"MSG bar 1 r.2 2", "MSG bar 2 r.2 2"}, nil, nil},
		// No local rq member: passed on to the peer that has one.
		{"RMSG $G bar | rq 2\r\nhi\r\n", []string{"MSG bar 1 2"}, []string{"RMSG $G bar | rq 2"}, nil},
		// Both peers have the group: another than the sender's.
		{"RMSG $G bar | both 2\r\nhi\r\n", []string{"MSG bar 1 2"}, []string{"RMSG $G bar | both 2"}, nil},
		// Only the sender has it: back to the sender, not dropped.
		{"RMSG $G bar | oq 2\r\nhi\r\n", []string{"MSG bar 1 2"}, nil, []string{"RMSG $G bar | oq 2"}},
		{"RMSG $SYS bar 2\r\nhi\r\n", nil, nil, nil},
		{"RMSG $G nobody 2\r\nhi\r\n", nil, nil, nil},
		{"HMSG $G bar 12 17\r\nNATS/1.0\r\n\r\nhello\r\n", []string{"HMSG bar 1 12 17"}, nil, nil},
	}
	for _, st := range steps {
		p1.Send(st.rmsg)
		if got := testutil.Lines(p1.Flush()); !slices.Equal(got, st.toFirst) {
			t.Fatalf("%q: first peer got %q, want %q", st.rmsg, got, st.toFirst)
		}
		got := testutil.Lines(recvQuiet(t, ca, len(st.local)))
		slices.Sort(got)
		if !slices.Equal(got, st.local) {
			t.Errorf("%q: local client got %q, want %q", st.rmsg, got, st.local)
		}
		if got := testutil.Lines(p2.Flush()); !slices.Equal(got, st.toSecond) {
			t.Errorf("%q: second peer got %q, want %q", st.rmsg, got, st.toSecond)
		}
	}
}

// recvQuiet returns n frames, then checks nothing else is pending.
func recvQuiet(t testing.TB, c *testutil.ProtoConn, n int) []testutil.Frame {
	t.Helper()
	got := c.Recv(n)
	if extra := c.Flush(); len(extra) != 0 {
		t.Fatalf("extra frames %q", testutil.Lines(extra))
	}
	return got
}

func TestFakePeerPingAndErr(t *testing.T) {
	a := startNode(t, Options{Name: "test"})
	p := fakePeer(t, a, "NFAKE1")
	p.Send("PING\r\n")
	if line := p.ReadLine(); line != "PONG" {
		t.Fatalf("PING got %q", line)
	}
	// The extra connection a 2.10+ peer opens for $SYS: CONNECT only, then
	// -ERR. It closes without touching the registered route.
	extra := dial(t, a.routeAddr)
	extra.Send(`CONNECT {"verbose":false,"name":"NFAKE1","cluster":"test"}` + "\r\n")
	extra.Send(`-ERR 'Not possible to have a dedicated route for account "$SYS" between those servers'` + "\r\n")
	if got := extra.ReadUntilClosed(); len(got) != 0 {
		t.Errorf("extra connection got %q", got)
	}
	// A has finished with the extra connection (it logs its close last)
	// and still holds the registered route, which still answers.
	waitLogged(t, a, 1, "Route connection closed before registering")
	if a.cl.NumRoutes() != 1 || numConns(a) != 1 {
		t.Fatalf("after the extra connection closed: %d routes, %d connections, want 1 and 1", a.cl.NumRoutes(), numConns(a))
	}
	if got := p.Flush(); len(got) != 0 {
		t.Errorf("registered peer got %q", testutil.Lines(got))
	}

	// -ERR on the registered route closes it.
	p.Send("-ERR 'Unknown Protocol Operation'\r\n")
	for _, l := range p.ReadUntilClosed() {
		if l != "PING" {
			t.Errorf("after -ERR got %q", l)
		}
	}
	waitRoutes(t, a, 0)
}

// TestFakePeerLameDuck: the peer's ldm INFO drops its client URLs; our own
// lame duck mode sends one.
func TestFakePeerLameDuck(t *testing.T) {
	a := startNode(t, Options{Name: "test"})
	p := fakePeer(t, a, "NFAKE1")
	peerURL := "127.0.0.1:16007" // peerInfo29's connect_urls
	if got := a.srv.ConnectURLs(); !slices.Contains(got, peerURL) {
		t.Fatalf("connect_urls %q lack the peer's %s", got, peerURL)
	}
	p.Send(`INFO {"server_id":"NFAKE1","ldm":true,"cluster":"test"}` + "\r\n")
	p.Flush()
	if got := a.srv.ConnectURLs(); slices.Contains(got, peerURL) {
		t.Errorf("connect_urls %q still have the lame duck peer", got)
	}
	if a.cl.NumRoutes() != 1 {
		t.Error("ldm INFO closed the route")
	}

	a.cl.EnterLameDuck()
	p.Infos = nil
	p.Flush()
	if len(p.Infos) != 1 || !strings.Contains(p.Infos[0], `"ldm":true`) || !strings.Contains(p.Infos[0], `"server_id":"`+a.srv.ID()+`"`) {
		t.Errorf("lame duck INFO = %q", p.Infos)
	}
}
