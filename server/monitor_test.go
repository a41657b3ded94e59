package server

import (
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// connzFixture is a server with three clients:
//
//	one   (alice): SUB foo 1, SUB bar q 2, SUB baz.* 3 — receives 3 msgs
//	two   (bob):   publishes 3 × 5 bytes on foo
//	three (alice): SUB foo 1 — receives 3 msgs
type connzFixture struct {
	srv             *Server
	addr            string
	one, two, three *testutil.ProtoConn
	cid             map[*testutil.ProtoConn]uint64
}

func newConnzFixture(t *testing.T) *connzFixture {
	t.Helper()
	users := []*User{{Username: "alice", Password: "a"}, {Username: "bob", Password: "b"}}
	srv, addr := startServer(t, Options{Auth: AuthOptions{Users: users}})
	f := &connzFixture{srv: srv, addr: addr, cid: map[*testutil.ProtoConn]uint64{}}
	f.one = connectRaw(t, addr, `{"verbose":false,"user":"alice","pass":"a","name":"one","lang":"go","version":"1.2.3"}`)
	f.two = connectRaw(t, addr, `{"verbose":false,"user":"bob","pass":"b","name":"two","lang":"python","version":"9"}`)
	f.three = connectRaw(t, addr, `{"verbose":false,"user":"alice","pass":"a","name":"three"}`)
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
	for _, ci := range srv.Connz(ConnzOptions{}).Conns {
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
	for _, ci := range f.srv.Connz(ConnzOptions{}).Conns {
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
	cz := f.srv.Connz(ConnzOptions{})
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
		if ci.Kind != "Client" || ci.Type != "nats" || ci.IP != "127.0.0.1" || ci.Port != w.port || ci.Account != GlobalAccountName {
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

	cz = f.srv.Connz(ConnzOptions{Username: true, Subs: true})
	users := []string{cz.Conns[0].AuthorizedUser, cz.Conns[1].AuthorizedUser, cz.Conns[2].AuthorizedUser}
	if !slices.Equal(users, []string{"alice", "bob", "alice"}) {
		t.Errorf("authorized users = %q", users)
	}
	subs := slices.Sorted(slices.Values(cz.Conns[0].Subs))
	if !slices.Equal(subs, []string{"bar", "baz.*", "foo"}) || cz.Conns[1].Subs != nil {
		t.Errorf("subscriptions_list = %q, %q", cz.Conns[0].Subs, cz.Conns[1].Subs)
	}

	cz = f.srv.Connz(ConnzOptions{SubsDetail: true, CID: f.cid[f.one]})
	// As in nats-server, total counts the open connections and a cid
	// pages one at most.
	if cz.Total != 3 || cz.Limit != 1 || len(cz.Conns) != 1 || cz.Conns[0].Cid != f.cid[f.one] {
		t.Fatalf("cid filter: total %d limit %d conns %v", cz.Total, cz.Limit, connCids(cz))
	}
	d := slices.Clone(cz.Conns[0].SubsDetail)
	slices.SortFunc(d, func(a, b SubDetail) int { return strings.Compare(a.Sid, b.Sid) })
	wantD := []SubDetail{
		{Account: GlobalAccountName, Subject: "foo", Sid: "1", Msgs: 3, Cid: f.cid[f.one]},
		{Account: GlobalAccountName, Subject: "bar", Queue: "q", Sid: "2", Cid: f.cid[f.one]},
		{Account: GlobalAccountName, Subject: "baz.*", Sid: "3", Cid: f.cid[f.one]},
	}
	if !slices.Equal(d, wantD) || cz.Conns[0].Subs != nil {
		t.Errorf("subscriptions_list_detail = %+v, want %+v", d, wantD)
	}

	if got := connCids(f.srv.Connz(ConnzOptions{User: "alice"})); !slices.Equal(got, f.cids(f.one, f.three)) {
		t.Errorf("user=alice: %v", got)
	}
	if got := f.srv.Connz(ConnzOptions{Account: GlobalAccountName}).Total; got != 3 {
		t.Errorf("acc=$G: total %d", got)
	}
	if got := f.srv.Connz(ConnzOptions{Account: "OTHER"}).Total; got != 0 {
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
		if got, want := connCids(f.srv.Connz(ConnzOptions{Sort: tt.sort})), f.cids(tt.want...); !slices.Equal(got, want) {
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
		cz := f.srv.Connz(ConnzOptions{Sort: "subs", Offset: p.offset, Limit: p.limit})
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
	srv, addr := startServer(t, Options{})
	rtts := []time.Duration{900 * time.Microsecond, 200 * time.Millisecond, 30 * time.Millisecond, 1500 * time.Millisecond}
	conns := make([]*testutil.ProtoConn, len(rtts))
	for i := range conns {
		conns[i] = connectRaw(t, addr, "")
	}
	srv.mu.Lock()
	clients := make([]*client, 0, len(srv.clients))
	for _, c := range srv.clients {
		clients = append(clients, c)
	}
	srv.mu.Unlock()
	slices.SortFunc(clients, func(a, b *client) int { return int(a.cid) - int(b.cid) })
	for i, c := range clients {
		c.Lock()
		c.SetRTTLocked(rtts[i])
		c.Unlock()
	}
	cz := srv.Connz(ConnzOptions{Sort: "rtt"})
	var got []string
	for _, ci := range cz.Conns {
		got = append(got, ci.RTT)
	}
	want := []string{"1.5s", "200ms", "30ms", "900µs"}
	if !slices.Equal(got, want) {
		t.Errorf("sort=rtt: %q, want %q", got, want)
	}
}

// TestConnzRTTMeasured: a PONG answering the server's keepalive PING sets
// the RTT /connz shows.
func TestConnzRTTMeasured(t *testing.T) {
	srv, addr := startServer(t, Options{PingInterval: 50 * time.Millisecond, PingMax: 1000})
	c := connectRaw(t, addr, "")
	if ci := srv.Connz(ConnzOptions{}).Conns[0]; ci.RTT != "" {
		t.Fatalf("RTT %q before any PING", ci.RTT)
	}
	if line := c.ReadLine(); line != "PING" {
		t.Fatalf("got %q, want the keepalive PING", line)
	}
	c.Send("PONG\r\n")
	c.Flush()
	if ci := srv.Connz(ConnzOptions{}).Conns[0]; ci.RTT == "" {
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
	waitFor(t, ioTimeout, "4 closed connections", func() bool { return srv.Connz(ConnzOptions{State: "closed"}).Total == 4 })

	cz := srv.Connz(ConnzOptions{State: "closed", Username: true})
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

	cz = srv.Connz(ConnzOptions{State: "closed", Sort: "reason"})
	reasons = reasons[:0]
	for _, ci := range cz.Conns {
		reasons = append(reasons, ci.Reason)
	}
	if !slices.IsSorted(reasons) {
		t.Errorf("sort=reason: %q", reasons)
	}
	cz = srv.Connz(ConnzOptions{State: "closed", Sort: "stop"})
	for i := 1; i < len(cz.Conns); i++ {
		if cz.Conns[i].Stop.After(*cz.Conns[i-1].Stop) {
			t.Errorf("sort=stop: not most recent first at %d", i)
		}
	}
	if cz.Conns[len(cz.Conns)-1].Cid != twoCid {
		t.Errorf("sort=stop: the first closed is not last")
	}

	for _, st := range []string{"any", "all"} {
		if got := srv.Connz(ConnzOptions{State: st}).Total; got != 6 {
			t.Errorf("state=%s: total %d, want 6", st, got)
		}
	}
	if got := connCids(srv.Connz(ConnzOptions{State: "open"})); !slices.Equal(got, f.cids(f.one, f.three)) {
		t.Errorf("state=open: %v", got)
	}
	if cz := srv.Connz(ConnzOptions{State: "closed", CID: twoCid}); !slices.Equal(connCids(cz), []uint64{twoCid}) || cz.Total != 4 {
		t.Errorf("state=closed cid=%d: %v total %d", twoCid, connCids(cz), cz.Total)
	}
	// A closed connection's snapshot is a copy: paging it twice is stable.
	a := srv.Connz(ConnzOptions{State: "closed", Subs: true, Username: true})
	b := srv.Connz(ConnzOptions{State: "closed", Subs: true, Username: true})
	if len(a.Conns) != len(b.Conns) || a.Conns[0] == b.Conns[0] {
		t.Error("closed connections are not copied per call")
	}
}

func TestSubsz(t *testing.T) {
	f := newConnzFixture(t)
	srv := f.srv
	sz := srv.Subsz(SubszOptions{})
	if sz.ID != srv.ID() || sz.NumSubs != 4 || sz.NumInsert != 4 || sz.Subs != nil || sz.Total != 0 || sz.Limit != DefaultConnzLimit {
		t.Fatalf("subsz = %+v", *sz)
	}

	sz = srv.Subsz(SubszOptions{Subs: true})
	one, three := f.cid[f.one], f.cid[f.three]
	want := []SubDetail{
		{Account: GlobalAccountName, Subject: "foo", Sid: "1", Msgs: 3, Cid: one},
		{Account: GlobalAccountName, Subject: "bar", Queue: "q", Sid: "2", Cid: one},
		{Account: GlobalAccountName, Subject: "baz.*", Sid: "3", Cid: one},
		{Account: GlobalAccountName, Subject: "foo", Sid: "1", Msgs: 3, Cid: three},
	}
	if sz.Total != 4 || !slices.Equal(sz.Subs, want) {
		t.Fatalf("subs=1: total %d\n got %+v\nwant %+v", sz.Total, sz.Subs, want)
	}

	// Remote interest counts in the totals but is not listed.
	rt := &fakeRoute{}
	if _, err := linkOf(srv, rt).AddInterest(GlobalAccountName, "foo", "", 0); err != nil {
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
		sz := srv.Subsz(SubszOptions{Subs: true, Test: tt.test})
		if sz.Total != len(tt.want) || !slices.Equal(sz.Subs, tt.want) {
			t.Errorf("test=%s: total %d subs %+v, want %+v", tt.test, sz.Total, sz.Subs, tt.want)
		}
	}
	if sz := srv.Subsz(SubszOptions{}); sz.NumSubs != 5 {
		t.Errorf("num_subscriptions with a remote sub = %d, want 5", sz.NumSubs)
	}

	sz = srv.Subsz(SubszOptions{Subs: true, Offset: 1, Limit: 2})
	if sz.Total != 4 || !slices.Equal(sz.Subs, want[1:3]) || sz.Offset != 1 || sz.Limit != 2 {
		t.Errorf("offset 1 limit 2: total %d %+v", sz.Total, sz.Subs)
	}
	if sz := srv.Subsz(SubszOptions{Subs: true, Offset: 9}); sz.Total != 4 || len(sz.Subs) != 0 {
		t.Errorf("offset 9: %+v", sz.Subs)
	}
}

func TestVarz(t *testing.T) {
	f := newConnzFixture(t)
	srv := f.srv
	waitFor(t, ioTimeout, "message counters", func() bool {
		v := srv.Varz()
		return v.InMsgs == 3 && v.OutMsgs == 6
	})
	v := srv.Varz()
	o := srv.Options()
	_, port, _ := net.SplitHostPort(f.addr)
	if v.ID != srv.ID() || v.Name != srv.ID() || v.Version != ProtocolVersion || v.NatsdVersion != "test" || v.Proto != 1 {
		t.Errorf("identity: %q %q %q %q %d", v.ID, v.Name, v.Version, v.NatsdVersion, v.Proto)
	}
	if v.Host != "127.0.0.1" || strconv.Itoa(v.Port) != port || v.Port != srv.ClientPort() {
		t.Errorf("host %q port %d, listener port %s", v.Host, v.Port, port)
	}
	if !v.AuthRequired || v.MaxConn != DefaultMaxConnections || v.MaxPayload != DefaultMaxPayload || v.MaxControlLine != DefaultMaxControlLine ||
		v.MaxPending != DefaultMaxPending || v.PingInterval != DefaultPingInterval || v.MaxPingsOut != DefaultPingMax ||
		v.AuthTimeout != 2 || v.WriteDeadline != DefaultWriteDeadline || v.MaxSubs != o.MaxSubs {
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
	if got := srv.Varz().ConnectURLs; !slices.Equal(got, []string{own, "10.9.8.7:4222"}) {
		t.Errorf("connect_urls with a peer = %q", got)
	}
	srv.RemovePeerURLs("NPEER")
	if got := srv.Varz().ConnectURLs; got != nil {
		t.Errorf("connect_urls after the peer left = %q", got)
	}

	// One client goes: connections drop, total stays.
	_ = f.two.Close()
	waitFor(t, ioTimeout, "the client to go", func() bool { return srv.Varz().Connections == 2 })
	if v := srv.Varz(); v.TotalConnections != 3 {
		t.Errorf("total_connections = %d after a close", v.TotalConnections)
	}
}
