package monitor

import (
	"context"
	"math"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/internal/testutil"
	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/wire"
)

// The data behind /connz, /subsz and /varz, built from a real server's
// statistics (BuildConnz, BuildSubsz, BuildVarz).

const ioTimeout = 3 * time.Second

// startFixtureServer serves o on a loopback listener and shuts it down when
// the test ends. It returns the client address.
func startFixtureServer(t testing.TB, o server.Options) (*server.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o.Host = "127.0.0.1"
	srv := server.New(o, zap.NewNop(), "test")
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	})
	return srv, ln.Addr().String()
}

// connectProto dials addr, sends CONNECT (a quiet client with headers when
// connect is empty) and waits for the PONG that proves it was accepted.
func connectProto(t testing.TB, addr, connect string) *testutil.ProtoConn {
	t.Helper()
	c := testutil.DialProto(t, addr)
	if connect == "" {
		connect = `{"verbose":false,"pedantic":false,"headers":true,"protocol":0}`
	}
	c.Send("CONNECT " + connect + "\r\n")
	if got := c.Flush(); len(got) != 0 {
		t.Fatalf("after CONNECT: unexpected %v", got)
	}
	return c
}

func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, timeout, func() error {
		if !cond() {
			return errString("waiting for " + what)
		}
		return nil
	})
}

type errString string

func (e errString) Error() string { return string(e) }

// nopRoute is a route that drops what it is sent: enough to hold remote
// interest in a server's index.
type nopRoute struct{}

func (nopRoute) SendMsg(string, *wire.Msg, []string) (<-chan struct{}, bool) { return nil, false }
func (nopRoute) Wake()                                                       {}
func (nopRoute) TracePeer() (uint64, string, bool)                           { return 0, "", true }

// connzFixture is a server with three clients:
//
//	one   (alice): SUB foo 1, SUB bar q 2, SUB baz.* 3 — receives 3 msgs
//	two   (bob):   publishes 3 × 5 bytes on foo
//	three (alice): SUB foo 1 — receives 3 msgs
type connzFixture struct {
	srv             *server.Server
	addr            string
	one, two, three *testutil.ProtoConn
	cid             map[*testutil.ProtoConn]uint64
}

func newConnzFixture(t *testing.T) *connzFixture {
	t.Helper()
	users := []*server.User{{Username: "alice", Password: "a"}, {Username: "bob", Password: "b"}}
	srv, addr := startFixtureServer(t, server.Options{Auth: server.AuthOptions{Users: users}})
	f := &connzFixture{srv: srv, addr: addr, cid: map[*testutil.ProtoConn]uint64{}}
	f.one = connectProto(t, addr, `{"verbose":false,"user":"alice","pass":"a","name":"one","lang":"go","version":"1.2.3"}`)
	f.two = connectProto(t, addr, `{"verbose":false,"user":"bob","pass":"b","name":"two","lang":"python","version":"9"}`)
	f.three = connectProto(t, addr, `{"verbose":false,"user":"alice","pass":"a","name":"three"}`)
	f.one.Send("SUB foo 1\r\nSUB bar q 2\r\nSUB baz.* 3\r\n")
	f.three.Send("SUB foo 1\r\n")
	f.one.Flush()
	f.three.Flush()
	f.two.Send("PUB foo 5\r\nhello\r\nPUB foo 5\r\nhello\r\nPUB foo 5\r\nhello\r\n")
	f.two.Flush()
	for _, c := range []*testutil.ProtoConn{f.one, f.three} {
		if got := c.Flush(); len(got) != 3 {
			t.Fatalf("subscriber got %d messages, want 3", len(got))
		}
	}
	for _, ci := range BuildConnz(srv, ConnzOptions{}).Conns {
		for _, c := range []*testutil.ProtoConn{f.one, f.two, f.three} {
			if ci.Port == c.LocalPort() {
				f.cid[c] = ci.Cid
			}
		}
	}
	if len(f.cid) != 3 {
		t.Fatalf("found %d of the 3 clients in /connz", len(f.cid))
	}
	return f
}

func (f *connzFixture) cids(cs ...*testutil.ProtoConn) []uint64 {
	out := make([]uint64, len(cs))
	for i, c := range cs {
		out[i] = f.cid[c]
	}
	return out
}

// clockPast waits until time.Now() is after the last activity /connz
// shows for c.
func (f *connzFixture) clockPast(t *testing.T, c *testutil.ProtoConn) {
	t.Helper()
	var last time.Time
	for _, ci := range BuildConnz(f.srv, ConnzOptions{}).Conns {
		if ci.Cid == f.cid[c] {
			last = ci.LastActivity
		}
	}
	if last.IsZero() {
		t.Fatalf("no last activity for cid %d", f.cid[c])
	}
	waitFor(t, ioTimeout, "the clock to pass "+last.String(), func() bool { return time.Now().After(last) })
}

func connCids(cz *Connz) []uint64 {
	out := make([]uint64, len(cz.Conns))
	for i, ci := range cz.Conns {
		out[i] = ci.Cid
	}
	return out
}

func TestConnzFields(t *testing.T) {
	f := newConnzFixture(t)
	cz := BuildConnz(f.srv, ConnzOptions{})
	if cz.ID != f.srv.ID() || cz.NumConns != 3 || cz.Total != 3 || cz.Offset != 0 || cz.Limit != DefaultConnzLimit {
		t.Fatalf("connz header = id %q num %d total %d offset %d limit %d", cz.ID, cz.NumConns, cz.Total, cz.Offset, cz.Limit)
	}
	if got, want := connCids(cz), f.cids(f.one, f.two, f.three); !slices.Equal(got, want) {
		t.Fatalf("default order = %v, want cid order %v", got, want)
	}
	type want struct {
		port                int
		name, lang, version string
		subs                uint32
		inMsgs, outMsgs     int64
		inBytes, outBytes   int64
	}
	wants := []want{
		{f.one.LocalPort(), "one", "go", "1.2.3", 3, 0, 3, 0, 15},
		{f.two.LocalPort(), "two", "python", "9", 0, 3, 0, 15, 0},
		{f.three.LocalPort(), "three", "", "", 1, 0, 3, 0, 15},
	}
	for i, ci := range cz.Conns {
		w := wants[i]
		if ci.Kind != "Client" || ci.Type != "nats" || ci.IP != "127.0.0.1" || ci.Port != w.port || ci.Account != server.GlobalAccountName {
			t.Errorf("conn %d: kind %q type %q ip %q port %d account %q", i, ci.Kind, ci.Type, ci.IP, ci.Port, ci.Account)
		}
		if ci.Name != w.name || ci.Lang != w.lang || ci.Version != w.version {
			t.Errorf("conn %d: name %q lang %q version %q, want %q %q %q", i, ci.Name, ci.Lang, ci.Version, w.name, w.lang, w.version)
		}
		if ci.NumSubs != w.subs || ci.InMsgs != w.inMsgs || ci.OutMsgs != w.outMsgs || ci.InBytes != w.inBytes || ci.OutBytes != w.outBytes {
			t.Errorf("conn %d: subs %d in %d/%dB out %d/%dB, want %+v", i, ci.NumSubs, ci.InMsgs, ci.InBytes, ci.OutMsgs, ci.OutBytes, w)
		}
		if ci.Start.IsZero() || ci.LastActivity.Before(ci.Start) || ci.Uptime == "" || ci.Idle == "" || ci.Stop != nil || ci.Reason != "" {
			t.Errorf("conn %d: start %v last %v uptime %q idle %q stop %v reason %q", i, ci.Start, ci.LastActivity, ci.Uptime, ci.Idle, ci.Stop, ci.Reason)
		}
		if ci.AuthorizedUser != "" || ci.Subs != nil || ci.SubsDetail != nil {
			t.Errorf("conn %d: user %q subs %v detail %v without asking", i, ci.AuthorizedUser, ci.Subs, ci.SubsDetail)
		}
	}

	cz = BuildConnz(f.srv, ConnzOptions{Username: true, Subs: true})
	users := []string{cz.Conns[0].AuthorizedUser, cz.Conns[1].AuthorizedUser, cz.Conns[2].AuthorizedUser}
	if !slices.Equal(users, []string{"alice", "bob", "alice"}) {
		t.Errorf("authorized users = %q", users)
	}
	subs := slices.Sorted(slices.Values(cz.Conns[0].Subs))
	if !slices.Equal(subs, []string{"bar", "baz.*", "foo"}) || cz.Conns[1].Subs != nil {
		t.Errorf("subscriptions_list = %q, %q", cz.Conns[0].Subs, cz.Conns[1].Subs)
	}

	cz = BuildConnz(f.srv, ConnzOptions{SubsDetail: true, CID: f.cid[f.one]})
	// As in nats-server, total counts the open connections and a cid
	// pages one at most.
	if cz.Total != 3 || cz.Limit != 1 || len(cz.Conns) != 1 || cz.Conns[0].Cid != f.cid[f.one] {
		t.Fatalf("cid filter: total %d limit %d conns %v", cz.Total, cz.Limit, connCids(cz))
	}
	d := slices.Clone(cz.Conns[0].SubsDetail)
	slices.SortFunc(d, func(a, b SubDetail) int { return strings.Compare(a.Sid, b.Sid) })
	wantD := []SubDetail{
		{Account: server.GlobalAccountName, Subject: "foo", Sid: "1", Msgs: 3, Cid: f.cid[f.one]},
		{Account: server.GlobalAccountName, Subject: "bar", Queue: "q", Sid: "2", Cid: f.cid[f.one]},
		{Account: server.GlobalAccountName, Subject: "baz.*", Sid: "3", Cid: f.cid[f.one]},
	}
	if !slices.Equal(d, wantD) || cz.Conns[0].Subs != nil {
		t.Errorf("subscriptions_list_detail = %+v, want %+v", d, wantD)
	}

	if got := connCids(BuildConnz(f.srv, ConnzOptions{User: "alice"})); !slices.Equal(got, f.cids(f.one, f.three)) {
		t.Errorf("user=alice: %v", got)
	}
	if got := BuildConnz(f.srv, ConnzOptions{Account: server.GlobalAccountName}).Total; got != 3 {
		t.Errorf("acc=$G: total %d", got)
	}
	if got := BuildConnz(f.srv, ConnzOptions{Account: "OTHER"}).Total; got != 0 {
		t.Errorf("acc=OTHER: total %d", got)
	}
}

func TestConnzSortAndPaging(t *testing.T) {
	f := newConnzFixture(t)
	// Activity order: two, then three, then one most recently. Each next
	// flush waits until the clock has passed the activity /connz recorded
	// for the one before, so the three times differ however coarse the
	// clock or slow the machine.
	f.two.Flush()
	f.clockPast(t, f.two)
	f.three.Flush()
	f.clockPast(t, f.three)
	f.one.Flush()

	one, two, three := f.one, f.two, f.three
	tests := []struct {
		sort string
		want []*testutil.ProtoConn
	}{
		{"", []*testutil.ProtoConn{one, two, three}},
		{"cid", []*testutil.ProtoConn{one, two, three}},
		{"start", []*testutil.ProtoConn{one, two, three}},
		{"uptime", []*testutil.ProtoConn{three, two, one}}, // shortest first, as nats-server
		{"subs", []*testutil.ProtoConn{one, three, two}},
		{"msgs_from", []*testutil.ProtoConn{two, one, three}},
		{"bytes_from", []*testutil.ProtoConn{two, one, three}},
		{"msgs_to", []*testutil.ProtoConn{one, three, two}},
		{"bytes_to", []*testutil.ProtoConn{one, three, two}},
		{"pending", []*testutil.ProtoConn{one, two, three}},
		{"last", []*testutil.ProtoConn{one, three, two}},
		{"idle", []*testutil.ProtoConn{two, three, one}},
	}
	for _, tt := range tests {
		if got, want := connCids(BuildConnz(f.srv, ConnzOptions{Sort: tt.sort})), f.cids(tt.want...); !slices.Equal(got, want) {
			t.Errorf("sort=%q: %v, want %v", tt.sort, got, want)
		}
	}

	pages := []struct {
		offset, limit int
		want          []*testutil.ProtoConn
	}{
		{0, 2, []*testutil.ProtoConn{one, three}},
		{1, 1, []*testutil.ProtoConn{three}},
		{2, 5, []*testutil.ProtoConn{two}},
		{3, 5, nil},
		{10, 1, nil},
	}
	for _, p := range pages {
		cz := BuildConnz(f.srv, ConnzOptions{Sort: "subs", Offset: p.offset, Limit: p.limit})
		if got, want := connCids(cz), f.cids(p.want...); !slices.Equal(got, want) {
			t.Errorf("offset %d limit %d: %v, want %v", p.offset, p.limit, got, want)
		}
		if cz.Total != 3 || cz.NumConns != len(p.want) || cz.Offset != p.offset || cz.Limit != p.limit {
			t.Errorf("offset %d limit %d: total %d num %d offset %d limit %d", p.offset, p.limit, cz.Total, cz.NumConns, cz.Offset, cz.Limit)
		}
	}
}

// TestConnzSortRTT: sort=rtt orders by round-trip time, longest first,
// whatever the units the RTT strings use.
func TestConnzSortRTT(t *testing.T) {
	rtts := []time.Duration{900 * time.Microsecond, 200 * time.Millisecond, 30 * time.Millisecond, 1500 * time.Millisecond}
	var list []*server.ConnStats
	for i, rtt := range rtts {
		list = append(list, &server.ConnStats{Cid: uint64(i + 1), RTT: rtt})
	}
	now := time.Now()
	SortConns(list, "rtt", now)
	var got []string
	for _, c := range list {
		got = append(got, connInfo(c, &ConnzOptions{}, now).RTT)
	}
	want := []string{"1.5s", "200ms", "30ms", "900µs"}
	if !slices.Equal(got, want) {
		t.Errorf("sort=rtt: %q, want %q", got, want)
	}
}

// TestConnzRTTMeasured: a PONG answering the server's keepalive PING sets
// the RTT /connz shows.
func TestConnzRTTMeasured(t *testing.T) {
	srv, addr := startFixtureServer(t, server.Options{PingInterval: 50 * time.Millisecond, PingMax: 1000})
	c := connectProto(t, addr, "")
	if ci := BuildConnz(srv, ConnzOptions{}).Conns[0]; ci.RTT != "" {
		t.Fatalf("RTT %q before any PING", ci.RTT)
	}
	if line := c.ReadLine(); line != "PING" {
		t.Fatalf("got %q, want the keepalive PING", line)
	}
	c.Send("PONG\r\n")
	c.Flush()
	if ci := BuildConnz(srv, ConnzOptions{}).Conns[0]; ci.RTT == "" {
		t.Fatal("no RTT after the PONG")
	}
}

func TestConnzClosed(t *testing.T) {
	f := newConnzFixture(t)
	srv := f.srv
	twoCid := f.cid[f.two]
	_ = f.two.Close()
	waitFor(t, ioTimeout, "the closed client to go", func() bool { return srv.NumClients() == 2 })

	// A parse error, a payload over the limit and bad credentials.
	bad := testutil.DialProto(t, f.addr)
	bad.Send("CONNECT {\"verbose\":false,\"user\":\"bob\",\"pass\":\"b\"}\r\nBOGUS\r\n")
	if got := bad.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'Unknown Protocol Operation'"}) {
		t.Errorf("BOGUS: %q", got)
	}
	big := testutil.DialProto(t, f.addr)
	big.Send("CONNECT {\"verbose\":false,\"user\":\"bob\",\"pass\":\"b\"}\r\nPUB foo 2000000\r\n")
	if got := big.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'Maximum Payload Violation'"}) {
		t.Errorf("big PUB: %q", got)
	}
	auth := testutil.DialProto(t, f.addr)
	auth.Send("CONNECT {\"verbose\":false,\"user\":\"bob\",\"pass\":\"x\"}\r\n")
	if got := auth.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'Authorization Violation'"}) {
		t.Errorf("bad password: %q", got)
	}
	waitFor(t, ioTimeout, "4 closed connections", func() bool { return BuildConnz(srv, ConnzOptions{State: "closed"}).Total == 4 })

	cz := BuildConnz(srv, ConnzOptions{State: "closed", Username: true})
	first := cz.Conns[0]
	if first.Cid != twoCid || first.Reason != "Client Closed" || first.Stop == nil || first.Name != "two" || first.InMsgs != 3 || first.InBytes != 15 || first.AuthorizedUser != "bob" {
		t.Errorf("closed client = %+v", *first)
	}
	if first.Stop != nil && first.Stop.Before(first.Start) {
		t.Errorf("stop %v before start %v", first.Stop, first.Start)
	}
	var reasons []string
	for _, ci := range cz.Conns {
		if ci.Stop == nil {
			t.Errorf("closed cid %d without stop time", ci.Cid)
		}
		reasons = append(reasons, ci.Reason)
	}
	want := []string{"Client Closed", "Parse Error", "Maximum Message Payload Exceeded", "Authentication Failure"}
	if !slices.Equal(reasons, want) {
		t.Errorf("reasons in cid order = %q, want %q", reasons, want)
	}
	if cz.Conns[3].AuthorizedUser != "" {
		t.Errorf("a client that failed auth shows user %q", cz.Conns[3].AuthorizedUser)
	}

	cz = BuildConnz(srv, ConnzOptions{State: "closed", Sort: "reason"})
	reasons = reasons[:0]
	for _, ci := range cz.Conns {
		reasons = append(reasons, ci.Reason)
	}
	if !slices.IsSorted(reasons) {
		t.Errorf("sort=reason: %q", reasons)
	}
	cz = BuildConnz(srv, ConnzOptions{State: "closed", Sort: "stop"})
	for i := 1; i < len(cz.Conns); i++ {
		if cz.Conns[i].Stop.After(*cz.Conns[i-1].Stop) {
			t.Errorf("sort=stop: not most recent first at %d", i)
		}
	}
	if cz.Conns[len(cz.Conns)-1].Cid != twoCid {
		t.Errorf("sort=stop: the first closed is not last")
	}

	for _, st := range []string{"any", "all"} {
		if got := BuildConnz(srv, ConnzOptions{State: st}).Total; got != 6 {
			t.Errorf("state=%s: total %d, want 6", st, got)
		}
	}
	if got := connCids(BuildConnz(srv, ConnzOptions{State: "open"})); !slices.Equal(got, f.cids(f.one, f.three)) {
		t.Errorf("state=open: %v", got)
	}
	if cz := BuildConnz(srv, ConnzOptions{State: "closed", CID: twoCid}); !slices.Equal(connCids(cz), []uint64{twoCid}) || cz.Total != 4 {
		t.Errorf("state=closed cid=%d: %v total %d", twoCid, connCids(cz), cz.Total)
	}
	// A closed connection's snapshot is a copy: paging it twice is stable.
	a := BuildConnz(srv, ConnzOptions{State: "closed", Subs: true, Username: true})
	b := BuildConnz(srv, ConnzOptions{State: "closed", Subs: true, Username: true})
	if len(a.Conns) != len(b.Conns) || a.Conns[0] == b.Conns[0] {
		t.Error("closed connections are not copied per call")
	}
}

func TestSubsz(t *testing.T) {
	f := newConnzFixture(t)
	srv := f.srv
	sz := BuildSubsz(srv, SubszOptions{})
	if sz.ID != srv.ID() || sz.NumSubs != 4 || sz.NumInsert != 4 || sz.Subs != nil || sz.Total != 0 || sz.Limit != DefaultConnzLimit {
		t.Fatalf("subsz = %+v", *sz)
	}

	sz = BuildSubsz(srv, SubszOptions{Subs: true})
	one, three := f.cid[f.one], f.cid[f.three]
	want := []SubDetail{
		{Account: server.GlobalAccountName, Subject: "foo", Sid: "1", Msgs: 3, Cid: one},
		{Account: server.GlobalAccountName, Subject: "bar", Queue: "q", Sid: "2", Cid: one},
		{Account: server.GlobalAccountName, Subject: "baz.*", Sid: "3", Cid: one},
		{Account: server.GlobalAccountName, Subject: "foo", Sid: "1", Msgs: 3, Cid: three},
	}
	if sz.Total != 4 || !slices.Equal(sz.Subs, want) {
		t.Fatalf("subs=1: total %d\n got %+v\nwant %+v", sz.Total, sz.Subs, want)
	}

	// Remote interest counts in the totals but is not listed.
	if _, err := srv.NewRouteLink(nopRoute{}).AddInterest(server.GlobalAccountName, "foo", "", 0); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		test string
		want []SubDetail
	}{
		{"foo", []SubDetail{want[0], want[3]}},
		{"baz.x", []SubDetail{want[2]}},
		{"bar", []SubDetail{want[1]}},
		{"baz", nil},
		{"nothing.here", nil},
	}
	for _, tt := range tests {
		sz := BuildSubsz(srv, SubszOptions{Subs: true, Test: tt.test})
		if sz.Total != len(tt.want) || !slices.Equal(sz.Subs, tt.want) {
			t.Errorf("test=%s: total %d subs %+v, want %+v", tt.test, sz.Total, sz.Subs, tt.want)
		}
	}
	if sz := BuildSubsz(srv, SubszOptions{}); sz.NumSubs != 5 {
		t.Errorf("num_subscriptions with a remote sub = %d, want 5", sz.NumSubs)
	}

	sz = BuildSubsz(srv, SubszOptions{Subs: true, Offset: 1, Limit: 2})
	if sz.Total != 4 || !slices.Equal(sz.Subs, want[1:3]) || sz.Offset != 1 || sz.Limit != 2 {
		t.Errorf("offset 1 limit 2: total %d %+v", sz.Total, sz.Subs)
	}
	if sz := BuildSubsz(srv, SubszOptions{Subs: true, Offset: 9}); sz.Total != 4 || len(sz.Subs) != 0 {
		t.Errorf("offset 9: %+v", sz.Subs)
	}
}

func TestVarz(t *testing.T) {
	f := newConnzFixture(t)
	srv := f.srv
	waitFor(t, ioTimeout, "message counters", func() bool {
		v := BuildVarz(srv, nil, DaemonStats{})
		return v.InMsgs == 3 && v.OutMsgs == 6
	})
	v := BuildVarz(srv, nil, DaemonStats{})
	o := srv.Options()
	_, port, _ := net.SplitHostPort(f.addr)
	if v.ID != srv.ID() || v.Name != srv.ID() || v.Version != server.ProtocolVersion || v.NatsdVersion != "test" || v.Proto != 1 {
		t.Errorf("identity: %q %q %q %q %d", v.ID, v.Name, v.Version, v.NatsdVersion, v.Proto)
	}
	if v.Host != "127.0.0.1" || strconv.Itoa(v.Port) != port || v.Port != srv.ClientPort() {
		t.Errorf("host %q port %d, listener port %s", v.Host, v.Port, port)
	}
	if !v.AuthRequired || v.MaxConn != server.DefaultMaxConnections || v.MaxPayload != server.DefaultMaxPayload || v.MaxControlLine != server.DefaultMaxControlLine ||
		v.MaxPending != server.DefaultMaxPending || v.PingInterval != server.DefaultPingInterval || v.MaxPingsOut != server.DefaultPingMax ||
		v.AuthTimeout != 2 || v.WriteDeadline != server.DefaultWriteDeadline || v.MaxSubs != o.MaxSubs {
		t.Errorf("limits: %+v", *v)
	}
	if v.Connections != 3 || v.TotalConnections != 3 || v.Subscriptions != 4 {
		t.Errorf("connections %d total %d subscriptions %d", v.Connections, v.TotalConnections, v.Subscriptions)
	}
	if v.InMsgs != 3 || v.InBytes != 15 || v.OutMsgs != 6 || v.OutBytes != 30 || v.SlowConsumers != 0 || v.StaleConnections != 0 {
		t.Errorf("counters: in %d/%d out %d/%d slow %d stale %d", v.InMsgs, v.InBytes, v.OutMsgs, v.OutBytes, v.SlowConsumers, v.StaleConnections)
	}
	if !v.Start.Equal(srv.StartTime()) || v.Now.Before(v.Start) || v.Uptime == "" || v.Cores != runtime.NumCPU() || v.MaxProcs != runtime.GOMAXPROCS(0) ||
		v.Mem <= 0 || v.Goroutines <= 0 || v.GoVersion != runtime.Version() {
		t.Errorf("process: %+v", *v)
	}
	if v.ConnectURLs != nil {
		t.Errorf("connect_urls %q without peers", v.ConnectURLs)
	}

	srv.SetPeerURLs("NPEER", []string{"10.9.8.7:4222"})
	own := "127.0.0.1:" + strconv.Itoa(srv.ClientPort())
	if got := BuildVarz(srv, nil, DaemonStats{}).ConnectURLs; !slices.Equal(got, []string{own, "10.9.8.7:4222"}) {
		t.Errorf("connect_urls with a peer = %q", got)
	}
	srv.RemovePeerURLs("NPEER")
	if got := BuildVarz(srv, nil, DaemonStats{}).ConnectURLs; !slices.Equal(got, []string{own}) {
		t.Errorf("connect_urls after the peer left = %q, want only our own", got)
	}

	// One client goes: connections drop, total stays.
	_ = f.two.Close()
	waitFor(t, ioTimeout, "the client to go", func() bool { return BuildVarz(srv, nil, DaemonStats{}).Connections == 2 })
	if v := BuildVarz(srv, nil, DaemonStats{}); v.TotalConnections != 3 {
		t.Errorf("total_connections = %d after a close", v.TotalConnections)
	}
}

// TestConnzOutOfRangePaging: offsets and limits anywhere in int's range give
// a page, never a panic (offset=-1 and limit=MaxInt with offset=1 used to
// slice out of range), and the page echoes what nats-server 2.15.2 echoes:
// a negative offset as 0, a limit of 0 or less as the default.
func TestConnzOutOfRangePaging(t *testing.T) {
	f := newConnzFixture(t)
	srv := f.srv
	_ = f.two.Close()
	waitFor(t, ioTimeout, "the closed client", func() bool { return BuildConnz(srv, ConnzOptions{State: "closed"}).Total == 1 })
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
		cz := BuildConnz(srv, tt.o)
		if got := connCids(cz); !slices.Equal(got, tt.want) || cz.Conns == nil {
			t.Errorf("%s: cids %v (nil %v), want %v", tt.name, got, cz.Conns == nil, tt.want)
		}
		if cz.Offset != tt.offset || cz.Limit != tt.limit || cz.Total != tt.total || cz.NumConns != len(tt.want) || cz.ID != srv.ID() {
			t.Errorf("%s: offset %d limit %d total %d num %d id %q, want %d %d %d %d", tt.name, cz.Offset, cz.Limit, cz.Total, cz.NumConns, cz.ID, tt.offset, tt.limit, tt.total, len(tt.want))
		}
	}

	// An account natsd does not have: nats-server's empty page, without a
	// server id and with null connections.
	cz := BuildConnz(srv, ConnzOptions{Account: "OTHER", Offset: -3})
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
		sz := BuildSubsz(srv, tt.o)
		if len(sz.Subs) != tt.n || sz.Offset != tt.offset || sz.Limit != tt.limit {
			t.Errorf("%s: %d subs offset %d limit %d, want %d %d %d", tt.name, len(sz.Subs), sz.Offset, sz.Limit, tt.n, tt.offset, tt.limit)
		}
	}
	// Another account than $G: empty, as nats-server shows an unknown one.
	sz := BuildSubsz(srv, SubszOptions{Subs: true, Account: "OTHER"})
	if sz.ID != srv.ID() || sz.NumSubs != 0 || sz.Total != 0 || sz.Subs != nil {
		t.Errorf("acc=OTHER: %+v", *sz)
	}
	if sz := BuildSubsz(srv, SubszOptions{Account: server.GlobalAccountName}); sz.NumSubs != 4 {
		t.Errorf("acc=$G: num_subscriptions %d", sz.NumSubs)
	}
}

// TestMonitorHugeLimitAllocatesLittle: the page is a window on the list,
// never sized by the limit asked for.
func TestMonitorHugeLimitAllocatesLittle(t *testing.T) {
	f := newConnzFixture(t)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	BuildConnz(f.srv, ConnzOptions{Limit: 1 << 40, Subs: true})
	BuildSubsz(f.srv, SubszOptions{Subs: true, Limit: 1 << 40})
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
	list := []*server.ConnStats{
		{Cid: 1, Start: at(-10 * time.Second)},                              // open, 10 s
		{Cid: 2, Start: at(-9 * time.Second), Stop: at(-7 * time.Second)},   // closed after 2 s
		{Cid: 3, Start: at(-8 * time.Second), Stop: at(-8 * time.Second)},   // closed at once
		{Cid: 4, Start: at(-time.Second)},                                   // open, 1 s
		{Cid: 5, Start: at(-20 * time.Second), Stop: at(-15 * time.Second)}, // closed after 5 s
	}
	SortConns(list, "uptime", now)
	var got []uint64
	for _, c := range list {
		got = append(got, c.Cid)
	}
	if want := []uint64{3, 4, 2, 5, 1}; !slices.Equal(got, want) {
		t.Errorf("sort=uptime: %v, want %v", got, want)
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{999 * time.Millisecond, "0s"},
		{5 * time.Second, "5s"},
		{59*time.Second + 900*time.Millisecond, "59s"},
		{time.Minute, "1m0s"},
		{61 * time.Second, "1m1s"},
		{time.Hour, "1h0m0s"},
		{3*time.Hour + 25*time.Minute + 7*time.Second, "3h25m7s"},
		{26*time.Hour + 3*time.Minute + 4*time.Second, "1d2h3m4s"},
		{364 * 24 * time.Hour, "364d0h0m0s"},
		{365 * 24 * time.Hour, "1y0d0h0m0s"},
		{(2*365+10)*24*time.Hour + 5*time.Hour + 6*time.Minute + 7*time.Second, "2y10d5h6m7s"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.d); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestValidConnzSort(t *testing.T) {
	for _, s := range []string{"", "cid", "start", "subs", "pending", "msgs_to", "msgs_from", "bytes_to", "bytes_from", "last", "idle", "uptime", "stop", "reason", "rtt"} {
		if !ValidConnzSort(s) {
			t.Errorf("ValidConnzSort(%q) = false", s)
		}
	}
	for _, s := range []string{"CID", "foo", "msgs", "bytes", " cid", "subscriptions"} {
		if ValidConnzSort(s) {
			t.Errorf("ValidConnzSort(%q) = true", s)
		}
	}
}
