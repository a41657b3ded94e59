package cluster

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFakePeerInterest plays a 2.9 peer by hand: its RS+/RS- shape the
// server's trie, seen through what a local client's publishes produce.
func TestFakePeerInterest(t *testing.T) {
	a := startNode(t, Options{Name: "test"})
	// Local interest before the peer connects arrives as its RS+ burst.
	ca := client(t, a)
	ca.send("SUB local 1\r\nSUB work q 2\r\nSUB work q 3\r\n")
	ca.flush()

	p := fakePeer(t, a, "NFAKE1")
	burst := lines(p.flush())
	slices.Sort(burst)
	if want := []string{"RS+ $G local", "RS+ $G work q 2"}; !slices.Equal(burst, want) {
		t.Fatalf("RS+ burst = %q, want %q", burst, want)
	}

	pub := client(t, a)
	// publish sends one message from a local client and returns what the
	// fake peer got for it.
	publish := func(subj string) []frame {
		t.Helper()
		pub.send("PUB " + subj + " 5\r\nhello\r\n")
		pub.flush()
		return p.flush()
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
			p.send(st.peerSends)
			if got := p.flush(); len(got) != 0 {
				t.Fatalf("step %d: peer got %q after sending %q", i, lines(got), st.peerSends)
			}
		}
		if st.subject == "" {
			continue
		}
		if got := lines(publish(st.subject)); !slices.Equal(got, st.want) {
			t.Errorf("step %d (%q) then PUB %s: peer got %q, want %q", i, st.peerSends, st.subject, got, st.want)
		}
	}
	if got := ca.flush(); len(got) != 0 {
		t.Fatalf("local client got %q", lines(got))
	}

	// work q: 2 local members and the peer's with weight 1 (3 in all):
	// every message goes to exactly one of them.
	const n = 60
	pub.send(strings.Repeat("PUB work 1\r\nx\r\n", n))
	pub.flush()
	local := len(ca.flush())
	remote := 0
	for _, f := range p.flush() {
		if f.line != "RMSG $G work | q 1" {
			t.Fatalf("peer got %q", f.line)
		}
		remote++
	}
	if local+remote != n || local == 0 || remote == 0 {
		t.Errorf("queue group: %d local + %d remote, want %d with both used", local, remote, n)
	}

	// The RS+ weight replaces the old one: with 1000 remote members the
	// peer gets almost everything.
	p.send("RS+ $G work q 1000\r\n")
	p.flush()
	pub.send(strings.Repeat("PUB work 1\r\nx\r\n", n))
	pub.flush()
	if remote = len(p.flush()); remote < n-10 {
		t.Errorf("with weight 1000: peer got %d of %d", remote, n)
	}
	ca.flush()

	// A reply subject and headers travel in the RMSG/HMSG.
	p.send("RS+ $G foo.r\r\n")
	p.flush()
	hpub := "HPUB foo.r _INBOX.9 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"
	pub.send("PUB foo.r _INBOX.9 2\r\nhi\r\n" + hpub)
	pub.flush()
	got := p.flush()
	if len(got) != 2 || got[0].line != "RMSG $G foo.r _INBOX.9 2" || got[1].line != "HMSG $G foo.r _INBOX.9 12 14" || got[1].payload != "NATS/1.0\r\n\r\nhi" {
		t.Errorf("with reply and headers: %q", lines(got))
	}

	// When the route goes, so does its interest.
	subs := a.srv.NumSubscriptions()
	_ = p.nc.Close()
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
	// p1 heard about p2 by gossip: with p2's address to dial.
	p1.flush()
	var gossip map[string]any
	for _, l := range p1.infos {
		var in map[string]any
		if err := json.Unmarshal([]byte(strings.TrimPrefix(l, "INFO ")), &in); err == nil && in["server_id"] == "NFAKE2" {
			gossip = in
		}
	}
	if gossip == nil || gossip["ip"] != "nats-route://127.0.0.1:16006/" || gossip["cluster"] != "test" {
		t.Errorf("gossip INFO about NFAKE2 = %v (all INFO: %q)", gossip, p1.infos)
	}

	ca := client(t, a)
	ca.send("SUB bar 1\r\nSUB bar q 2\r\n")
	ca.flush()
	for _, p := range []*conn{p1, p2} {
		got := lines(p.flush())
		slices.Sort(got)
		if !slices.Equal(got, []string{"RS+ $G bar", "RS+ $G bar q 1"}) {
			t.Fatalf("peer got %q, want the RS+ for bar", got)
		}
	}
	// p2 also has interest in bar and in group rq.
	p2.send("RS+ $G bar\r\nRS+ $G bar rq 1\r\n")
	p2.flush()

	steps := []struct {
		rmsg     string
		local    []string // lines the local client gets
		toSecond []string // lines the second peer gets
	}{
		{"RMSG $G bar 2\r\nhi\r\n", []string{"MSG bar 1 2"}, nil},
		{"RMSG $G bar r.1 2\r\nhi\r\n", []string{"MSG bar 1 r.1 2"}, nil},
		{"RMSG $G bar | q 2\r\nhi\r\n", []string{"MSG bar 1 2", "MSG bar 2 2"}, nil},
		{"RMSG $G bar + r.2 q 2\r\nhi\r\n", []string{"MSG bar 1 r.2 2", "MSG bar 2 r.2 2"}, nil},
		// No local rq member: passed on to the peer that has one.
		{"RMSG $G bar | rq 2\r\nhi\r\n", []string{"MSG bar 1 2"}, []string{"RMSG $G bar | rq 2"}},
		{"RMSG $SYS bar 2\r\nhi\r\n", nil, nil},
		{"RMSG $G nobody 2\r\nhi\r\n", nil, nil},
		{"HMSG $G bar 12 17\r\nNATS/1.0\r\n\r\nhello\r\n", []string{"HMSG bar 1 12 17"}, nil},
	}
	for _, st := range steps {
		p1.send(st.rmsg)
		if got := p1.flush(); len(got) != 0 {
			t.Fatalf("%q: first peer got %q", st.rmsg, lines(got))
		}
		got := lines(ca.recvQuiet(len(st.local)))
		slices.Sort(got)
		if !slices.Equal(got, st.local) {
			t.Errorf("%q: local client got %q, want %q", st.rmsg, got, st.local)
		}
		if got := lines(p2.flush()); !slices.Equal(got, st.toSecond) {
			t.Errorf("%q: second peer got %q, want %q", st.rmsg, got, st.toSecond)
		}
	}
}

// recvQuiet returns n frames, then checks nothing else is pending.
func (c *conn) recvQuiet(n int) []frame {
	c.t.Helper()
	got := c.recv(n)
	if extra := c.flush(); len(extra) != 0 {
		c.t.Fatalf("extra frames %q", lines(extra))
	}
	return got
}

func TestFakePeerPingAndErr(t *testing.T) {
	a := startNode(t, Options{Name: "test"})
	p := fakePeer(t, a, "NFAKE1")
	p.send("PING\r\n")
	if line := p.readLine(); line != "PONG" {
		t.Fatalf("PING got %q", line)
	}
	// The extra connection a 2.10+ peer opens for $SYS: CONNECT only, then
	// -ERR. It closes without touching the registered route.
	extra := dial(t, a.routeAddr)
	extra.send(`CONNECT {"verbose":false,"name":"NFAKE1","cluster":"test"}` + "\r\n")
	extra.send(`-ERR 'Not possible to have a dedicated route for account "$SYS" between those servers'` + "\r\n")
	if got := extra.readUntilClosed(); len(got) != 0 {
		t.Errorf("extra connection got %q", got)
	}
	stays(t, 50*time.Millisecond, "the registered route", func() bool { return a.cl.NumRoutes() == 1 })
	if got := p.flush(); len(got) != 0 {
		t.Errorf("registered peer got %q", lines(got))
	}

	// -ERR on the registered route closes it.
	p.send("-ERR 'Unknown Protocol Operation'\r\n")
	for _, l := range p.readUntilClosed() {
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
	p.send(`INFO {"server_id":"NFAKE1","ldm":true,"cluster":"test"}` + "\r\n")
	p.flush()
	if got := a.srv.ConnectURLs(); slices.Contains(got, peerURL) {
		t.Errorf("connect_urls %q still have the lame duck peer", got)
	}
	if a.cl.NumRoutes() != 1 {
		t.Error("ldm INFO closed the route")
	}

	a.cl.EnterLameDuck()
	p.infos = nil
	p.flush()
	if len(p.infos) != 1 || !strings.Contains(p.infos[0], `"ldm":true`) || !strings.Contains(p.infos[0], `"server_id":"`+a.srv.ID()+`"`) {
		t.Errorf("lame duck INFO = %q", p.infos)
	}
}
