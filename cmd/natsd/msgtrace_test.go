package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// Message tracing (Nats-Trace-Dest), as nats-server 2.11+ does it: each
// server a traced message passes through publishes a trace event to the
// destination. The expectations are what nats-server v2.15.2 does, in a
// cluster of its own (recorded), and the same tests run against natsd, a
// cluster of natsd, and natsd mixed with nats-server both ways.

// traceEvent is a trace event as nats-server publishes it.
type traceEvent struct {
	Server struct {
		Name    string `json:"name"`
		ID      string `json:"id"`
		Cluster string `json:"cluster"`
	} `json:"server"`
	Request struct {
		Header  map[string][]string `json:"header"`
		MsgSize int                 `json:"msgsize"`
	} `json:"request"`
	Hops   int `json:"hops"`
	Events []struct {
		Type    string `json:"type"`
		Kind    int    `json:"kind"`
		CID     uint64 `json:"cid"`
		Name    string `json:"name"`
		Account string `json:"acc"`
		Subject string `json:"subj"`
		Sub     string `json:"sub"`
		Queue   string `json:"queue"`
		Hop     string `json:"hop"`
		To      string `json:"to"`
		From    string `json:"from"`
		Error   string `json:"error"`
	} `json:"events"`
}

// summary is an event in one line, without ids and times: "in 0 pub $G
// foo | eg 1 n2 hop=1".
func (e traceEvent) summary() string {
	var parts []string
	for _, x := range e.Events {
		s := fmt.Sprintf("%s %d %s", x.Type, x.Kind, x.Name)
		for _, kv := range [][2]string{{"acc", x.Account}, {"subj", x.Subject}, {"sub", x.Sub}, {"queue", x.Queue}, {"hop", x.Hop}, {"to", x.To}, {"from", x.From}, {"error", x.Error}} {
			if kv[1] != "" {
				s += " " + kv[0] + "=" + kv[1]
			}
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " | ")
}

// traceEvents reads the events on sub until n arrived (bounded), by
// server name.
func traceEvents(t *testing.T, sub *nats.Subscription, n int) map[string]traceEvent {
	t.Helper()
	got := map[string]traceEvent{}
	for len(got) < n {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("trace events: got %d (%v), want %d: %v", len(got), names(got), n, err)
		}
		var ev traceEvent
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatalf("trace event %q: %v", m.Data, err)
		}
		if _, dup := got[ev.Server.Name]; dup {
			t.Fatalf("two events from %s", ev.Server.Name)
		}
		got[ev.Server.Name] = ev
	}
	return got
}

func names(m map[string]traceEvent) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// noMore checks that sub gets nothing more for a moment (what it could
// still get would come from a server that already answered).
func noMore(t *testing.T, sub *nats.Subscription) {
	t.Helper()
	if m, err := sub.NextMsg(300 * time.Millisecond); err == nil {
		t.Fatalf("unexpected message on %s: %s %q", sub.Subject, m.Header, m.Data)
	}
}

// twoNodes starts origin (bin o) and remote (bin r) routed together, each
// with conf (may be "") and a server name.
func twoNodes(t *testing.T, o, r, conf string) (*node, *node) {
	t.Helper()
	var extra []string
	if conf != "" {
		extra = []string{"-c", testutil.WriteFile(t, "trace.conf", conf)}
	}
	a := startNode(t, o, "origin", nil, extra...)
	b := startNode(t, r, "remote", []int{a.clusterPort}, extra...)
	waitMesh(t, 15*time.Second, a, b)
	return a, b
}

// clusters are the clusters each tracing test runs in: natsd alone, and
// natsd with nats-server v2.15.2 either side of the route.
func clusters(t *testing.T) []struct{ name, origin, remote string } {
	natsd, ref := testutil.NatsdBin(t), testutil.NatsServerBin(t)
	return []struct{ name, origin, remote string }{
		{"natsd", natsd, natsd},
		{"natsd to nats-server", natsd, ref},
		{"nats-server to natsd", ref, natsd},
	}
}

// TestMsgTraceAcrossRoute: a traced publish on one server with a
// subscriber on the other yields two events — the origin's (ingress from
// the client, egress to the route with hop 1) and the remote's (ingress
// from the route, egress to its client) — and the subscriber gets the
// message with Nats-Trace-Hop added. Trace-only: the same events, nothing
// delivered.
func TestMsgTraceAcrossRoute(t *testing.T) {
	for _, cl := range clusters(t) {
		t.Run(cl.name, func(t *testing.T) {
			a, b := twoNodes(t, cl.origin, cl.remote, "")
			sub := connect(t, b.ClientURL(), nats.Name("sub"))
			msgs, err := sub.SubscribeSync("orders.>")
			if err != nil {
				t.Fatal(err)
			}
			sub.Flush()
			pub := connect(t, a.ClientURL(), nats.Name("pub"))
			traces, err := pub.SubscribeSync("trace.inbox")
			if err != nil {
				t.Fatal(err)
			}
			waitInterest(t, pub, "orders.ping", msgs)

			m := nats.NewMsg("orders.new")
			m.Header.Set("Nats-Trace-Dest", "trace.inbox")
			m.Header.Set("X-Order", "42")
			m.Data = []byte("hello")
			if err := pub.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
			got := nextMsg(t, msgs)
			if string(got.Data) != "hello" || got.Header.Get("X-Order") != "42" ||
				got.Header.Get("Nats-Trace-Dest") != "trace.inbox" || got.Header.Get("Nats-Trace-Hop") != "1" {
				t.Errorf("subscriber got %v %q", got.Header, got.Data)
			}
			evs := traceEvents(t, traces, 2)
			origin, remote := evs["origin"], evs["remote"]
			if want := "in 0 pub acc=$G subj=orders.new | eg 1 remote hop=1"; origin.summary() != want {
				t.Errorf("origin's event: %s\nwant %s", origin.summary(), want)
			}
			if want := "in 1 origin acc=$G subj=orders.new | eg 0 sub sub=orders.>"; remote.summary() != want {
				t.Errorf("remote's event: %s\nwant %s", remote.summary(), want)
			}
			if origin.Hops != 1 || remote.Hops != 0 {
				t.Errorf("hops %d and %d, want 1 and 0", origin.Hops, remote.Hops)
			}
			if h := remote.Request.Header; !slices.Equal(h["Nats-Trace-Hop"], []string{"1"}) || !slices.Equal(h["X-Order"], []string{"42"}) ||
				remote.Request.MsgSize != origin.Request.MsgSize+len("Nats-Trace-Hop: 1\r\n") {
				t.Errorf("remote's request %+v (origin's %+v)", remote.Request, origin.Request)
			}
			if origin.Server.Cluster != "test" || origin.Server.ID == "" {
				t.Errorf("origin's server %+v", origin.Server)
			}

			m.Header.Set("Nats-Trace-Only", "true")
			if err := pub.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
			evs = traceEvents(t, traces, 2)
			if want := "in 1 origin acc=$G subj=orders.new | eg 0 sub sub=orders.>"; evs["remote"].summary() != want {
				t.Errorf("trace-only, remote's event: %s\nwant %s", evs["remote"].summary(), want)
			}
			noMore(t, msgs)
		})
	}
}

// TestMsgTraceNatsCLI: `nats trace` (nats CLI v0.5.0) draws the path of a
// message through a natsd cluster, and with --deliver the message arrives.
func TestMsgTraceNatsCLI(t *testing.T) {
	natsd := testutil.NatsdBin(t)
	a, b := twoNodes(t, natsd, natsd, "")
	sub := connect(t, b.ClientURL(), nats.Name("audit"))
	msgs, err := sub.SubscribeSync("orders.new")
	if err != nil {
		t.Fatal(err)
	}
	sub.Flush()
	waitInterest(t, connect(t, a.ClientURL()), "orders.new", msgs)
	cli := newNatsCLI(t, a.ClientURL())

	out := cli.mustRun(t, "trace", "orders.new", "hello")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`Client "NATS CLI Version v0\.5\.0" cid:\d+ cluster:"test" server:"origin" version:"2\.15\.2"`),
		regexp.MustCompile(`--> Router "remote" rid:\d+`),
		regexp.MustCompile(`Router "origin" rid:\d+ server:"remote" version:"2\.15\.2"`),
		regexp.MustCompile(`--C Client "audit" cid:\d+ subject:"orders\.new"`),
		regexp.MustCompile(`Router: 1`),
		regexp.MustCompile(`Client: 1`),
	} {
		if !want.MatchString(out) {
			t.Errorf("nats trace: no %q in\n%s", want, out)
		}
	}
	if regexp.MustCompile(`(?m)^\s*--X`).MatchString(out) || strings.Contains(out, "missing") {
		t.Errorf("nats trace reports an error:\n%s", out)
	}
	noMore(t, msgs) // not delivered without --deliver

	out = cli.mustRun(t, "trace", "--deliver", "orders.new", "hello")
	if !strings.Contains(out, `--C Client "audit"`) {
		t.Errorf("nats trace --deliver:\n%s", out)
	}
	if got := nextMsg(t, msgs); string(got.Data) != "hello" {
		t.Errorf("delivered %q", got.Data)
	}
}

// TestMsgTraceBadDestination: a Nats-Trace-Dest that is not a valid
// subject traces nothing and is logged; the message is delivered as
// published — unless it is trace-only, then it goes nowhere. An empty one
// is no trace at all. natsd and nats-server alike.
func TestMsgTraceBadDestination(t *testing.T) {
	for _, bin := range []string{testutil.NatsdBin(t), testutil.NatsServerBin(t)} {
		name := "natsd"
		if bin != testutil.NatsdBin(t) {
			name = "nats-server"
		}
		t.Run(name, func(t *testing.T) {
			p := startNatsdLike(t, bin)
			nc := connect(t, p.ClientURL())
			all, err := nc.SubscribeSync(">")
			if err != nil {
				t.Fatal(err)
			}
			nc.Flush()
			for _, tt := range []struct {
				dest, only string
				delivered  bool
				logged     bool
			}{
				{"trace.*", "", true, true},
				{"trace..x", "", true, true},
				{"trace.>", "true", false, true},
				{"", "true", true, false},
			} {
				m := nats.NewMsg("orders.new")
				m.Header.Set("Nats-Trace-Dest", tt.dest)
				if tt.only != "" {
					m.Header.Set("Nats-Trace-Only", tt.only)
				}
				m.Data = []byte("x")
				if err := nc.PublishMsg(m); err != nil {
					t.Fatal(err)
				}
				nc.Flush()
				if tt.delivered {
					got := nextMsg(t, all)
					if got.Subject != "orders.new" || got.Header.Get("Nats-Trace-Dest") != tt.dest {
						t.Errorf("dest %q: got %s %v", tt.dest, got.Subject, got.Header)
					}
				}
				noMore(t, all)
				line := `Destination "` + tt.dest + `" is not valid, won't be able to trace events`
				if tt.logged {
					testutil.Eventually(t, syncWait, func() error {
						if !strings.Contains(p.Log(), line) {
							return fmt.Errorf("no %q in the log", line)
						}
						return nil
					})
				} else if strings.Contains(p.Log(), line) {
					t.Errorf("logged %q", line)
				}
			}
		})
	}
}

// startNatsdLike starts bin (natsd or nats-server) alone.
func startNatsdLike(t *testing.T, bin string) *testutil.Proc {
	t.Helper()
	return testutil.Start(t, bin, "-a", "127.0.0.1", "-p", "-1", "-m", "-1")
}

// traceAccountsConf: A exports a service with allow_trace; B imports it.
const traceAccountsConf = `
accounts {
  A {
    users [ {user: a, password: a} ]
    exports [ {service: "svc.>", allow_trace: true}, {service: "quiet.>"} ]
  }
  B {
    users [ {user: b, password: b} ]
    imports [
      {service: {account: A, subject: "svc.>"}}
      {service: {account: A, subject: "quiet.>"}}
    ]
  }
}
`

// TestMsgTraceServiceImportAcrossRoute: a traced request from account B
// through a service import (allow_trace) to a responder in A on the other
// server: the origin reports the import and the route, the responder's
// server reports its delivery — its event, published in A, finds its way
// back to B's destination. Without allow_trace the trace stops at the
// import and the request arrives with Nats-Trace-Dest: trace disabled.
func TestMsgTraceServiceImportAcrossRoute(t *testing.T) {
	for _, cl := range clusters(t) {
		t.Run(cl.name, func(t *testing.T) {
			a, b := twoNodes(t, cl.origin, cl.remote, traceAccountsConf)
			svc := connect(t, b.ClientURL(), nats.UserInfo("a", "a"), nats.Name("svc"))
			// Not "*.>": the remote's event goes to a reply subject of A
			// ("_R_.…"), which such a subscriber would get too.
			reqs, err := svc.SubscribeSync("svc.>")
			if err != nil {
				t.Fatal(err)
			}
			quiet, err := svc.SubscribeSync("quiet.>")
			if err != nil {
				t.Fatal(err)
			}
			svc.Flush()
			pub := connect(t, a.ClientURL(), nats.UserInfo("b", "b"), nats.Name("pub"))
			traces, err := pub.SubscribeSync("trace.inbox")
			if err != nil {
				t.Fatal(err)
			}
			waitInterest(t, pub, "svc.ping", reqs)
			waitInterest(t, pub, "quiet.ping", quiet)

			m := nats.NewMsg("svc.add")
			m.Reply = "reply.1"
			m.Header.Set("Nats-Trace-Dest", "trace.inbox")
			if err := pub.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
			got := nextMsg(t, reqs)
			if d := got.Header.Get("Nats-Trace-Dest"); !strings.HasPrefix(d, "_R_.") {
				t.Errorf("request arrived with Nats-Trace-Dest %q, want a reply subject of A", d)
			}
			evs := traceEvents(t, traces, 2)
			if want := "in 0 pub acc=B subj=svc.add | si 0  acc=A to=svc.add from=svc.add | eg 1 remote hop=1"; evs["origin"].summary() != want {
				t.Errorf("origin's event: %s\nwant %s", evs["origin"].summary(), want)
			}
			if want := "in 1 origin acc=A subj=svc.add | eg 0 svc sub=svc.>"; evs["remote"].summary() != want {
				t.Errorf("remote's event: %s\nwant %s", evs["remote"].summary(), want)
			}

			m.Subject = "quiet.add"
			if err := pub.PublishMsg(m); err != nil {
				t.Fatal(err)
			}
			if got := nextMsg(t, quiet); got.Header.Get("Nats-Trace-Dest") != "trace disabled" {
				t.Errorf("request without allow_trace arrived with Nats-Trace-Dest %q", got.Header.Get("Nats-Trace-Dest"))
			}
			evs = traceEvents(t, traces, 1)
			if want := "in 0 pub acc=B subj=quiet.add | si 0  acc=A to=quiet.add from=quiet.add"; evs["origin"].summary() != want {
				t.Errorf("origin's event: %s\nwant %s", evs["origin"].summary(), want)
			}
			noMore(t, traces)
		})
	}
}

// TestMsgTraceOldPeer: a peer below route protocol 3 (Debian's
// nats-server 2.9) does not trace: natsd sends it a traced message
// untraced and a trace-only one not at all, and its egress says so in
// nats-server's words.
func TestMsgTraceOldPeer(t *testing.T) {
	a, b := twoNodes(t, testutil.NatsdBin(t), testutil.NatsServer29Bin(t), "")
	sub := connect(t, b.ClientURL(), nats.Name("sub"))
	msgs, err := sub.SubscribeSync("orders.>")
	if err != nil {
		t.Fatal(err)
	}
	sub.Flush()
	pub := connect(t, a.ClientURL(), nats.Name("pub"))
	traces, err := pub.SubscribeSync("trace.inbox")
	if err != nil {
		t.Fatal(err)
	}
	waitInterest(t, pub, "orders.ping", msgs)

	m := nats.NewMsg("orders.new")
	m.Header.Set("Nats-Trace-Dest", "trace.inbox")
	if err := pub.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	if got := nextMsg(t, msgs); got.Header.Get("Nats-Trace-Hop") != "1" {
		t.Errorf("2.9 subscriber got %v", got.Header)
	}
	want := "in 0 pub acc=$G subj=orders.new | eg 1 remote hop=1 error=Message delivered but remote does not support message tracing so no trace event generated from there"
	if got := traceEvents(t, traces, 1)["origin"].summary(); got != want {
		t.Errorf("origin's event: %s\nwant %s", got, want)
	}
	m.Header.Set("Nats-Trace-Only", "true")
	if err := pub.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	want = "in 0 pub acc=$G subj=orders.new | eg 1 remote hop=1 error=Not delivered because remote does not support message tracing"
	if got := traceEvents(t, traces, 1)["origin"].summary(); got != want {
		t.Errorf("trace-only, origin's event: %s\nwant %s", got, want)
	}
	noMore(t, msgs)
	noMore(t, traces)
}
