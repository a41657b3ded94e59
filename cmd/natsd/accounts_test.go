package main

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// Accounts, as nats-server reads them: isolation, stream and service
// imports, limits, mappings — on one server, across a natsd cluster, and
// across a cluster of natsd and nats-server v2.15.2.

// accountsConf has two accounts: A exports a stream (events.>) and a
// service (svc.>), B imports both, under its own names.
const accountsConf = `
accounts {
  A {
    users [ {user: a, password: a} ]
    exports [
      {stream: "events.>"}
      {service: "svc.>"}
      {service: "feed.>", response_type: stream, response_threshold: "2s"}
    ]
  }
  B {
    users [ {user: b, password: b} ]
    imports [
      {stream: {account: A, subject: "events.>"}, prefix: "from_a"}
      {service: {account: A, subject: "svc.>"}, to: "a.svc.>"}
      {service: {account: A, subject: "feed.>"}}
    ]
  }
  C {
    users [ {user: c, password: c} ]
  }
}
`

// nextIs asserts that the next message sub gets is on subject with data,
// within the I/O bound.
func nextIs(t *testing.T, sub *nats.Subscription, subject, data string) {
	t.Helper()
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("waiting for %s %q: %v", subject, data, err)
	}
	if m.Subject != subject || string(m.Data) != data {
		t.Fatalf("got %s %q, want %s %q", m.Subject, m.Data, subject, data)
	}
}

// userConn connects as user (password = name).
func userConn(t *testing.T, url, user string) *nats.Conn {
	t.Helper()
	return connect(t, url, nats.UserInfo(user, user))
}

func TestAccountsIsolateAndImport(t *testing.T) {
	p := startNatsdConf(t, accountsConf)
	a, b, c := userConn(t, p.ClientURL(), "a"), userConn(t, p.ClientURL(), "b"), userConn(t, p.ClientURL(), "c")

	// The same subject in three accounts: each sees only its own.
	subs := map[string]*nats.Subscription{}
	for name, nc := range map[string]*nats.Conn{"a": a, "b": b, "c": c} {
		s, err := nc.SubscribeSync("news")
		if err != nil {
			t.Fatal(err)
		}
		_ = nc.Flush()
		subs[name] = s
	}
	for name, nc := range map[string]*nats.Conn{"a": a, "b": b, "c": c} {
		_ = nc.Publish("news", []byte("from "+name))
		_ = nc.Flush()
	}
	for name := range subs {
		nextIs(t, subs[name], "news", "from "+name)
	}

	// A stream export: A's events reach B under B's prefix, not C.
	fromA, _ := b.SubscribeSync("from_a.events.>")
	cAll, _ := c.SubscribeSync(">")
	_ = b.Flush()
	_ = c.Flush()
	_ = a.Publish("events.login", []byte("alice"))
	_ = a.Flush()
	nextIs(t, fromA, "from_a.events.login", "alice")
	_ = c.Publish("marker", []byte("c"))
	_ = c.Flush()
	nextIs(t, cAll, "marker", "c") // nothing of A's arrived before C's own marker

	// A service export: B's request on a.svc.echo reaches A's responder on
	// svc.echo, the reply comes back to B's inbox.
	if _, err := a.Subscribe("svc.>", func(m *nats.Msg) { _ = m.Respond(append([]byte("echo "), m.Data...)) }); err != nil {
		t.Fatal(err)
	}
	_ = a.Flush()
	rep, err := b.Request("a.svc.echo", []byte("hi"), 5*time.Second)
	if err != nil || string(rep.Data) != "echo hi" {
		t.Fatalf("B's request through the service import: %v %v", rep, err)
	}
	// C imports nothing: no responders.
	if _, err := c.Request("a.svc.echo", []byte("hi"), time.Second); err == nil {
		t.Fatal("C reached A's service without importing it")
	}

	// A streamed service: several replies to one request.
	if _, err := a.Subscribe("feed.prices", func(m *nats.Msg) {
		for i := range 3 {
			_ = a.Publish(m.Reply, fmt.Appendf(nil, "p%d", i))
		}
	}); err != nil {
		t.Fatal(err)
	}
	_ = a.Flush()
	inbox := nats.NewInbox()
	replies, _ := b.SubscribeSync(inbox)
	_ = b.PublishRequest("feed.prices", inbox, nil)
	_ = b.Flush()
	for i := range 3 {
		nextIs(t, replies, inbox, fmt.Sprintf("p%d", i))
	}
}

func TestAccountLimits(t *testing.T) {
	p := startNatsdConf(t, `
accounts {
  L { users [ {user: l, password: l} ], limits: {max_connections: 1, max_subscriptions: 2, max_payload: 10} }
}
`)
	// The INFO after CONNECT (protocol 1) gives the account's max_payload,
	// as nats-server's does (recorded: 10, where the greeting said 1 MiB).
	info := testutil.DialProto(t, p.ClientAddr())
	info.SetAsideInfo = true
	info.Send(`CONNECT {"verbose":false,"protocol":1,"user":"l","pass":"l"}` + "\r\n")
	info.Flush()
	info.Flush() // the INFO follows the first PONG
	if len(info.Infos) != 1 || !strings.Contains(info.Infos[0], `"max_payload":10,`) || !strings.Contains(info.Infos[0], `"remote_account":"L"`) {
		t.Errorf("INFO after CONNECT: %q, want the account's max_payload and name", info.Infos)
	}
	_ = info.Close()
	var first *nats.Conn
	testutil.Eventually(t, 5*time.Second, func() error { // once the raw client's slot is free
		nc, err := nats.Connect(p.ClientURL(), nats.UserInfo("l", "l"), nats.NoReconnect())
		first = nc
		return err
	})
	t.Cleanup(first.Close)
	if _, err := nats.Connect(p.ClientURL(), nats.UserInfo("l", "l"), nats.Timeout(3*time.Second), nats.NoReconnect()); err == nil ||
		!strings.Contains(err.Error(), "maximum account active connections exceeded") {
		t.Errorf("second client of a full account: %v", err)
	}
	first.Close()
	// The slot is free again once the first client is gone (the server
	// learns of the close a moment later).
	var raw *testutil.ProtoConn
	testutil.Eventually(t, 5*time.Second, func() error {
		nc, err := nats.Connect(p.ClientURL(), nats.UserInfo("l", "l"), nats.NoReconnect())
		if err != nil {
			return err
		}
		nc.Close()
		return nil
	})
	testutil.Eventually(t, 5*time.Second, func() error {
		c, err := net.DialTimeout("tcp", p.ClientAddr(), time.Second)
		if err != nil {
			return err
		}
		_ = c.Close()
		raw = testutil.DialProto(t, p.ClientAddr())
		raw.Send(`CONNECT {"verbose":false,"user":"l","pass":"l"}` + "\r\nPING\r\n")
		if l := raw.ReadLine(); l != "PONG" {
			return fmt.Errorf("CONNECT answered %q", l)
		}
		return nil
	})
	raw.Send("SUB a 1\r\nSUB b 2\r\nSUB c 3\r\nPUB x 11\r\nhello world\r\n")
	got := raw.ReadUntilClosed()
	want := []string{"-ERR 'maximum subscriptions exceeded'", "-ERR 'Maximum Payload Violation'"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("over the account's limits: %q, want %q", got, want)
	}
}

func TestAccountMappings(t *testing.T) {
	p := startNatsdConf(t, `
authorization { users [ {user: g, password: g} ] }
mappings {
  "orders.*": "shard.{{partition(7,1)}}.$1"
  "split": [ {destination: "left", weight: 50%}, {destination: "right", weight: 50%} ]
}
accounts {
  M { users [ {user: m, password: m} ], mappings { "old.>": "new.>" } }
}
`)
	g := userConn(t, p.ClientURL(), "g")
	shards, _ := g.SubscribeSync("shard.>")
	left, _ := g.SubscribeSync("left")
	right, _ := g.SubscribeSync("right")
	_ = g.Flush()
	// Partitions recorded from nats-server v2.15.2 (FNV-1a of the token, mod 7).
	for key, part := range map[string]int{"a": 5, "b": 6, "c": 1, "hello": 2, "world": 0, "12345": 4} {
		_ = g.Publish("orders."+key, nil)
		_ = g.Flush()
		nextIs(t, shards, fmt.Sprintf("shard.%d.%s", part, key), "")
	}
	const n = 400
	for range n {
		_ = g.Publish("split", nil)
	}
	_ = g.Flush()
	testutil.Eventually(t, 5*time.Second, func() error {
		l, _, _ := left.Pending()
		r, _, _ := right.Pending()
		if l+r != n {
			return fmt.Errorf("%d + %d of %d", l, r, n)
		}
		if l < n/4 || r < n/4 {
			return fmt.Errorf("a 50/50 split gave %d/%d", l, r)
		}
		return nil
	})

	// An account's own mappings apply in it only.
	m := userConn(t, p.ClientURL(), "m")
	got, _ := m.SubscribeSync("new.>")
	_ = m.Flush()
	_ = m.Publish("old.x.y", []byte("1"))
	_ = m.Flush()
	nextIs(t, got, "new.x.y", "1")
}

// A cluster of three natsd: accounts stay apart across routes, a stream
// import delivers what was published on another server, and a service
// request reaches a responder on another server and its reply comes back.
func TestAccountsAcrossCluster(t *testing.T) {
	bin := testutil.NatsdBin(t)
	conf := testutil.WriteFile(t, "accounts.conf", accountsConf)
	a := startNode(t, bin, "A", nil, "-c", conf)
	b := startNode(t, bin, "B", []int{a.clusterPort}, "-c", conf)
	c := startNode(t, bin, "C", []int{a.clusterPort}, "-c", conf)
	waitMesh(t, 10*time.Second, a, b, c)
	checkAccountsAcross(t, a.ClientURL(), b.ClientURL(), c.ClientURL())
}

// checkAccountsAcross runs the cross-server checks: publisher and responder
// on the first server, the importer on the second, a bystander of another
// account on the third.
func checkAccountsAcross(t *testing.T, url1, url2, url3 string) {
	t.Helper()
	pubA := userConn(t, url1, "a")
	subB := userConn(t, url2, "b")
	otherC := userConn(t, url3, "c")

	fromA, _ := subB.SubscribeSync("from_a.events.>")
	plainB, _ := subB.SubscribeSync("events.>") // B's own events.>, not A's
	cAll, _ := otherC.SubscribeSync(">")
	_ = subB.Flush()
	_ = otherC.Flush()
	testutil.Eventually(t, 10*time.Second, func() error {
		_ = pubA.Publish("events.probe", []byte("probe"))
		_ = pubA.Flush()
		if _, err := fromA.NextMsg(100 * time.Millisecond); err != nil {
			return fmt.Errorf("A's stream not across yet: %v", err)
		}
		return nil
	})
	for { // drain extra probes
		if _, err := fromA.NextMsg(200 * time.Millisecond); err != nil {
			break
		}
	}
	_ = pubA.Publish("events.x", []byte("1"))
	_ = pubA.Flush()
	nextIs(t, fromA, "from_a.events.x", "1")
	// Neither B's own events.> nor C saw A's messages: their markers come first.
	_ = subB.Publish("events.marker", []byte("b"))
	_ = subB.Flush()
	nextIs(t, plainB, "events.marker", "b")
	_ = otherC.Publish("marker", []byte("c"))
	_ = otherC.Flush()
	nextIs(t, cAll, "marker", "c")

	var mu sync.Mutex
	served := 0
	if _, err := pubA.Subscribe("svc.>", func(m *nats.Msg) {
		mu.Lock()
		served++
		mu.Unlock()
		_ = m.Respond(append([]byte("echo "), m.Data...))
	}); err != nil {
		t.Fatal(err)
	}
	_ = pubA.Flush()
	testutil.Eventually(t, 10*time.Second, func() error {
		rep, err := subB.Request("a.svc.echo", []byte("x"), 500*time.Millisecond)
		if err != nil {
			return err
		}
		if string(rep.Data) != "echo x" {
			return fmt.Errorf("reply %q", rep.Data)
		}
		return nil
	})
	mu.Lock()
	before := served
	mu.Unlock()
	rep, err := subB.Request("a.svc.echo", []byte("once"), 5*time.Second)
	if err != nil || string(rep.Data) != "echo once" {
		t.Fatalf("request across servers: %v %v", rep, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if served != before+1 {
		t.Errorf("one request was served %d times", served-before)
	}
}

// A cluster of natsd and nats-server — v2.15.2 and Debian's 2.9 — both
// ways: the accounts stay apart and the imports work across the two
// implementations, whichever server dialed the route.
func TestAccountsMixedCluster(t *testing.T) {
	bin := testutil.NatsdBin(t)
	conf := testutil.WriteFile(t, "accounts.conf", accountsConf)
	for _, peer := range []struct{ name, bin string }{
		{"v2.15.2", testutil.NatsServerBin(t)},
		{"v2.9", testutil.NatsServer29Bin(t)},
	} {
		t.Run(peer.name, func(t *testing.T) {
			for _, natsdSeed := range []bool{true, false} {
				dial := "peer-dials-natsd"
				if !natsdSeed {
					dial = "natsd-dials-peer"
				}
				t.Run(dial, func(t *testing.T) {
					var n, r *node
					if natsdSeed {
						n = startNode(t, bin, "natsd", nil, "-c", conf)
						r = startNode(t, peer.bin, "ref", []int{n.clusterPort}, "-c", conf)
					} else {
						r = startNode(t, peer.bin, "ref", nil, "-c", conf)
						n = startNode(t, bin, "natsd", []int{r.clusterPort}, "-c", conf)
					}
					waitMesh(t, 10*time.Second, n, r)
					t.Run("natsd to nats-server", func(t *testing.T) {
						checkAccountsAcross(t, n.ClientURL(), r.ClientURL(), r.ClientURL())
					})
					t.Run("nats-server to natsd", func(t *testing.T) {
						checkAccountsAcross(t, r.ClientURL(), n.ClientURL(), n.ClientURL())
					})
				})
			}
		})
	}
}

// A reload that tightens a permission removes the subscriptions it now
// denies and says so, as nats-server does; a user moved to another
// account is disconnected.
func TestReloadTightensLiveSubscriptions(t *testing.T) {
	path := testutil.WriteFile(t, "natsd.conf", "listen: 127.0.0.1:-1\n"+`
accounts {
  A { users [ {user: u, password: p, permissions: {subscribe: ">"}}, {user: v, password: p} ] }
  B { }
}
`)
	p := testutil.Start(t, testutil.NatsdBin(t), "-c", path)
	raw := testutil.DialProto(t, p.ClientAddr())
	raw.Send(`CONNECT {"verbose":false,"user":"u","pass":"p"}` + "\r\nSUB foo 1\r\nSUB bar 2\r\nSUB foo.x q 3\r\n")
	raw.Flush()
	moved := testutil.DialProto(t, p.ClientAddr())
	moved.Send(`CONNECT {"verbose":false,"user":"v","pass":"p"}` + "\r\n")
	moved.Flush()

	writeConf(t, path, "listen: 127.0.0.1:-1\n"+`
accounts {
  A { users [ {user: u, password: p, permissions: {subscribe: {allow: ">", deny: ["foo", "foo.*"]}}} ] }
  B { users [ {user: v, password: p} ] }
}
`)
	p.Signal(syscall.SIGHUP)
	want := []string{
		`-ERR 'Permissions Violation for Subscription to "foo" (sid "1")'`,
		`-ERR 'Permissions Violation for Subscription to "foo.x" using queue "q" (sid "3")'`,
	}
	var got []string
	for len(got) < len(want) {
		got = append(got, raw.ReadLine())
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("after the reload: %q, want %q", got, want)
	}
	if lines := moved.ReadUntilClosed(); len(lines) == 0 || lines[len(lines)-1] != "-ERR 'Authorization Violation'" {
		t.Errorf("the user moved to B: %q, want it disconnected", lines)
	}
	// bar is still served, foo no longer.
	pub := connect(t, p.ClientURL(), nats.UserInfo("u", "p"))
	_ = pub.Publish("foo", []byte("x"))
	_ = pub.Publish("bar", []byte("y"))
	_ = pub.Flush()
	if f := raw.Recv(1); len(f) != 1 || f[0].Line != "MSG bar 2 1" {
		t.Fatalf("after the reload the client got %q, want only bar", testutil.Lines(f))
	}
}

// writeConf rewrites a config file in place.
func writeConf(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The accounts and mapping configs of daemon/testdata/options are accepted
// or refused by natsd -t exactly as nats-server v2.15.2 -t does.
func TestAccountConfigVerdictsMatchReference(t *testing.T) {
	ref := testutil.NatsServerBin(t)
	bin := testutil.NatsdBin(t)
	dir := filepath.Join(testutil.RepoRoot(), "daemon", "testdata", "options")
	files, _ := filepath.Glob(filepath.Join(dir, "accounts_*.conf"))
	more, _ := filepath.Glob(filepath.Join(dir, "mapping*.conf"))
	files = append(files, more...)
	more, _ = filepath.Glob(filepath.Join(dir, "jetstream*.conf"))
	files = append(files, more...)
	// nkeys and operator mode (natsd reads the relative paths in them as
	// nats-server does: from the directory it runs in).
	more, _ = filepath.Glob(filepath.Join(dir, "auth_nkeys*.conf"))
	files = append(files, more...)
	more, _ = filepath.Glob(filepath.Join(dir, "operator_*.conf"))
	files = append(files, more...)
	if len(files) < 8 {
		t.Fatalf("%d account configs in %s", len(files), dir)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			refErr := exec.Command(ref, "-t", "-c", f).Run()
			out, err := exec.Command(bin, "-t", "-c", f).CombinedOutput()
			if (refErr == nil) != (err == nil) {
				t.Errorf("nats-server -t: %v; natsd -t: %v\n%s", refErr, err, out)
			}
		})
	}
}

// /accountz and /accstatz answer with nats-server's fields: the same
// config on both servers gives the same account details (nats-server's
// own $SYS account and imports aside: natsd has no system account yet).
func TestAccountzLikeReference(t *testing.T) {
	conf := testutil.WriteFile(t, "accounts.conf", "http: 127.0.0.1:-1\n"+accountsConf)
	n := testutil.Start(t, testutil.NatsdBin(t), "-a", "127.0.0.1", "-p", "-1", "-c", conf)
	r := testutil.Start(t, testutil.NatsServerBin(t), "-a", "127.0.0.1", "-p", "-1", "-c", conf)
	for _, p := range []*testutil.Proc{n, r} {
		nc := userConn(t, p.ClientURL(), "a")
		_ = nc.Publish("events.x", []byte("hello"))
		_ = nc.Flush()
	}
	withoutSys := func(m map[string]any) map[string]any {
		d, _ := m["account_detail"].(map[string]any)
		if imps, ok := d["imports"].([]any); ok {
			var keep []any
			for _, i := range imps {
				if i.(map[string]any)["account"] != "$SYS" {
					keep = append(keep, i)
				}
			}
			d["imports"] = keep
			if keep == nil {
				delete(d, "imports")
			}
		}
		for _, k := range []string{"update_time", "subscriptions", "sublist_stats"} {
			delete(d, k) // $SYS imports are subscriptions too
		}
		for _, k := range []string{"exports", "imports"} {
			if l, ok := d[k].([]any); ok {
				// nats-server lists them in no fixed order.
				slices.SortFunc(l, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
			}
		}
		delete(m, "now")
		delete(m, "server_id")
		delete(m, "system_account")
		return m
	}
	for _, acc := range []string{"A", "B", "C"} {
		got := withoutSys(httpGet(t, n.MonitorURL()+"/accountz?acc="+acc))
		want := withoutSys(httpGet(t, r.MonitorURL()+"/accountz?acc="+acc))
		if g, w := fmt.Sprint(got), fmt.Sprint(want); g != w {
			t.Errorf("/accountz?acc=%s\nnatsd:       %s\nnats-server: %s", acc, g, w)
		}
	}
	if code := httpStatus(t, n.MonitorURL()+"/accountz?acc=NOPE"); code != 400 {
		t.Errorf("/accountz of an unknown account: %d, want 400", code)
	}
	// The list, $SYS included (both create it when none is configured).
	// nats-server lists them in map order: compare sorted.
	sorted := func(v any) string {
		var s []string
		for _, x := range v.([]any) {
			s = append(s, x.(string))
		}
		slices.Sort(s)
		return fmt.Sprint(s)
	}
	names := httpGet(t, n.MonitorURL()+"/accountz")["accounts"]
	refNames := httpGet(t, r.MonitorURL()+"/accountz")["accounts"]
	if sorted(names) != sorted(refNames) {
		t.Errorf("/accountz accounts: natsd %v, nats-server %v", names, refNames)
	}
	stat := httpGet(t, n.MonitorURL()+"/accstatz?unused=1")["account_statz"].([]any)
	refStat := httpGet(t, r.MonitorURL()+"/accstatz?unused=1")["account_statz"].([]any)
	keys := func(v any) string {
		var ks []string
		for k := range v.(map[string]any) {
			ks = append(ks, k)
		}
		slices.Sort(ks)
		return strings.Join(ks, ",")
	}
	if keys(stat[0]) != keys(refStat[0]) {
		t.Errorf("/accstatz fields: natsd %s, nats-server %s", keys(stat[0]), keys(refStat[0]))
	}
	for _, s := range stat {
		m := s.(map[string]any)
		if m["acc"] == "A" && m["received"].(map[string]any)["msgs"] != float64(1) {
			t.Errorf("account A received %v, want 1 message", m["received"])
		}
	}
}
