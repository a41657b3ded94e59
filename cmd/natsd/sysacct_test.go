package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// The system account: what `nats server …` and monitoring tools ask of it,
// answered by every server of a cluster — natsd, and natsd mixed with
// nats-server v2.15.2 — and the events it publishes.

const sysConf = `
system_account: SYS
accounts {
  SYS { users [ {user: sys, password: sys} ] }
  APP { users [ {user: app, password: app} ] }
}
`

// sysCluster starts n nodes (bins[i] for node i) that route to the first,
// each with sysConf plus a server name, and waits for the full mesh. The
// nodes do not watch their config files: only a request reloads them.
func sysCluster(t *testing.T, bins ...string) (nodes []*node, confs []string) {
	t.Helper()
	for i, bin := range bins {
		name := fmt.Sprintf("srv%d", i)
		conf := testutil.WriteFile(t, name+".conf", "server_name: "+name+"\n"+sysConf)
		confs = append(confs, conf)
		watch := []string{"--no_config_watch"}
		if bin != testutil.NatsdBin(t) {
			watch = nil // nats-server does not watch files anyway
		}
		var routes []int
		if i > 0 {
			routes = []int{nodes[0].clusterPort}
		}
		nodes = append(nodes, startNode(t, bin, name, routes, append(watch, "-c", conf)...))
	}
	waitMesh(t, 15*time.Second, nodes...)
	return nodes, confs
}

// serverList is `nats server list --json`'s server names, sorted, once it
// sees want servers.
func serverNames(t *testing.T, cli *natsCLI, want int) []string {
	t.Helper()
	var names []string
	testutil.Eventually(t, 15*time.Second, func() error {
		out, err := cli.run(t, "server", "list", "--json", fmt.Sprint(want))
		if err != nil {
			return fmt.Errorf("nats server list: %v\n%s", err, out)
		}
		var list []struct {
			Server struct {
				Name string `json:"name"`
			} `json:"server"`
		}
		if err := json.Unmarshal([]byte(out[strings.IndexByte(out, '['):]), &list); err != nil {
			return fmt.Errorf("nats server list --json: %v\n%s", err, out)
		}
		names = names[:0]
		for _, s := range list {
			names = append(names, s.Server.Name)
		}
		slices.Sort(names)
		if len(names) != want {
			return fmt.Errorf("servers %q, want %d", names, want)
		}
		return nil
	})
	return names
}

func TestSystemAccountNatsServerCommands(t *testing.T) {
	bin := testutil.NatsdBin(t)
	nodes, confs := sysCluster(t, bin, bin, bin)
	cli := newNatsCLI(t, nodes[1].ClientURL(), "--user", "sys", "--password", "sys")

	if got := serverNames(t, cli, 3); !slices.Equal(got, []string{"srv0", "srv1", "srv2"}) {
		t.Fatalf("nats server list: %q", got)
	}
	out := cli.mustRun(t, "server", "info", "srv2")
	if !strings.Contains(out, "Server information for srv2") || !strings.Contains(out, "2.15.2") {
		t.Errorf("nats server info srv2:\n%s", out)
	}
	out = cli.mustRun(t, "server", "ping", "3")
	for _, n := range []string{"srv0", "srv1", "srv2"} {
		if !strings.Contains(out, n) {
			t.Errorf("nats server ping does not list %s:\n%s", n, out)
		}
	}
	app := connect(t, nodes[2].ClientURL(), nats.UserInfo("app", "app"), nats.Name("the-app"))
	_ = app.Flush()
	testutil.Eventually(t, 10*time.Second, func() error {
		out := cli.mustRun(t, "server", "report", "connections")
		if !strings.Contains(out, "the-app") {
			return fmt.Errorf("nats server report connections lacks the app client:\n%s", out)
		}
		return nil
	})

	// A reload of one server by id, answered with what changed.
	id := httpGet(t, nodes[0].MonitorURL()+"/varz")["server_id"].(string)
	sysc := connect(t, nodes[1].ClientURL(), nats.UserInfo("sys", "sys"))
	reload := func() (changes []string, errText string) {
		t.Helper()
		rep, err := sysc.Request("$SYS.REQ.SERVER."+id+".RELOAD", nil, 10*time.Second)
		if err != nil {
			t.Fatalf("reload request: %v", err)
		}
		var rr struct {
			Server struct{ ID string } `json:"server"`
			Data   *struct {
				Changes []string `json:"changes"`
			} `json:"data"`
			Error *struct {
				Code        int
				Description string
			} `json:"error"`
		}
		if err := json.Unmarshal(rep.Data, &rr); err != nil || rr.Server.ID != id {
			t.Fatalf("reload reply %s (%v)", rep.Data, err)
		}
		if rr.Error != nil {
			if rr.Error.Code != 500 {
				t.Errorf("reload error code %d, want nats-server's 500", rr.Error.Code)
			}
			return nil, rr.Error.Description
		}
		return rr.Data.Changes, ""
	}
	conf, err := os.ReadFile(confs[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(confs[0], append(conf, "max_payload: 2MB\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if changes, e := reload(); e != "" || !slices.Equal(changes, []string{"max_payload: 1048576 -> 2097152"}) {
		t.Errorf("reload: changes %q, error %q", changes, e)
	}
	if err := os.WriteFile(confs[0], append(conf, "max_payload: [\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if changes, e := reload(); !strings.Contains(e, "srv0.conf:") || changes != nil {
		t.Errorf("reload of a broken file: changes %q, error %q, want file:line:col", changes, e)
	}
	if err := os.WriteFile(confs[0], append(conf, "max_payload: 2MB\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	// The CLI's reload: the request above, then the server's info.
	out = cli.mustRun(t, "server", "config", "reload", id, "--force")
	if !strings.Contains(out, "Server information for srv0") || !strings.Contains(out, "2.0 MiB") {
		t.Errorf("nats server config reload:\n%s", out)
	}
}

// natsd and nats-server in one cluster: `nats server list` shows both, and
// each answers the other's clients.
func TestSystemAccountMixedCluster(t *testing.T) {
	nodes, _ := sysCluster(t, testutil.NatsdBin(t), testutil.NatsServerBin(t))
	for _, n := range nodes {
		cli := newNatsCLI(t, n.ClientURL(), "--user", "sys", "--password", "sys")
		if got := serverNames(t, cli, 2); !slices.Equal(got, []string{"srv0", "srv1"}) {
			t.Fatalf("nats server list through %s: %q", n.ClientURL(), got)
		}
	}
}

// CONNECT and DISCONNECT events, with nats-server's JSON (the recorded
// corpus, ../shared/testdata/jsapi/sys_events_connect_disconnect.json:
// the same keys at every level).
func TestSystemAccountClientEvents(t *testing.T) {
	p := startNatsdConf(t, sysConf)
	sys := connect(t, p.ClientURL(), nats.UserInfo("sys", "sys"))
	events, _ := sys.SubscribeSync("$SYS.ACCOUNT.*.>")
	_ = sys.Flush()
	app := connect(t, p.ClientURL(), nats.UserInfo("app", "app"), nats.Name("apirecord-event-client"))
	_ = app.Publish("x", []byte("hi"))
	_ = app.Flush()
	app.Close()

	byType := map[string]map[string]any{}
	deadline := time.Now().Add(10 * time.Second)
	for len(byType) < 2 && time.Now().Before(deadline) {
		m, err := events.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		var ev map[string]any
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatalf("%s: %v", m.Subject, err)
		}
		if m.Subject == "$SYS.ACCOUNT.APP.CONNECT" || m.Subject == "$SYS.ACCOUNT.APP.DISCONNECT" {
			byType[m.Subject] = ev
		}
	}
	rec := recordedEvents(t)
	for subj, want := range rec {
		got := byType[subj]
		if got == nil {
			t.Errorf("no %s event", subj)
			continue
		}
		if g, w := keysDeep(got), keysDeep(want); g != w {
			t.Errorf("%s keys\n natsd:       %s\n nats-server: %s", subj, g, w)
		}
	}
	if d := byType["$SYS.ACCOUNT.APP.DISCONNECT"]; d != nil {
		if d["reason"] != "Client Closed" || d["received"].(map[string]any)["msgs"] != float64(1) {
			t.Errorf("disconnect event %v", d)
		}
	}

	// A client of another account asking the system account: no responders.
	app2 := connect(t, p.ClientURL(), nats.UserInfo("app", "app"))
	if _, err := app2.Request("$SYS.REQ.SERVER.PING", nil, 2*time.Second); err != nats.ErrNoResponders {
		t.Errorf("a non-system request: %v, want no responders (nats-server's 503)", err)
	}
}

// recordedEvents are the CONNECT and DISCONNECT events of the reference
// corpus, by subject.
func recordedEvents(t *testing.T) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.SharedDir(), "testdata", "jsapi", "sys_events_connect_disconnect.json"))
	if err != nil {
		t.Fatalf("the recorded corpus: %v", err)
	}
	var c struct {
		Steps []struct {
			Received []struct {
				Subject     string         `json:"subject"`
				PayloadJSON map[string]any `json:"payload_json"`
			} `json:"received"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, st := range c.Steps {
		for _, r := range st.Received {
			out[r.Subject] = r.PayloadJSON
		}
	}
	if len(out) != 2 {
		t.Fatalf("the corpus has %d events, want CONNECT and DISCONNECT", len(out))
	}
	return out
}

// keysDeep lists the keys of a JSON object and its nested objects, sorted
// ("client.acc", "server.id", …), leaving out nats-server's JetStream
// feature flags, which natsd has no JetStream for.
func keysDeep(m map[string]any) string {
	var keys []string
	var walk func(prefix string, v map[string]any)
	walk = func(prefix string, v map[string]any) {
		for k, x := range v {
			if k == "feature_flags" {
				continue
			}
			keys = append(keys, prefix+k)
			if sub, ok := x.(map[string]any); ok {
				walk(prefix+k+".", sub)
			}
		}
	}
	walk("", m)
	slices.Sort(keys)
	return strings.Join(keys, " ")
}

// KICK closes a client and LDM moves one to another server; replies and
// errors as recorded from nats-server v2.15.2 (a bad payload, which
// nats-server leaves unanswered, gets a 400).
func TestSystemAccountKickAndLDM(t *testing.T) {
	p := startNatsdConf(t, sysConf+"http: 127.0.0.1:-1\n")
	sys := connect(t, p.ClientURL(), nats.UserInfo("sys", "sys"))
	id := httpGet(t, p.MonitorURL()+"/varz")["server_id"].(string)
	closed := make(chan struct{})
	kicked := connect(t, p.ClientURL(), nats.UserInfo("app", "app"), nats.Name("kicked"), nats.NoReconnect(),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }))
	ldm := make(chan struct{}, 1)
	moved := connect(t, p.ClientURL(), nats.UserInfo("app", "app"), nats.Name("moved"),
		nats.LameDuckModeHandler(func(*nats.Conn) { ldm <- struct{}{} }))
	cid := func(nc *nats.Conn) uint64 {
		id, err := nc.GetClientID()
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	ask := func(endpoint, payload string) (errCode int, desc string) {
		t.Helper()
		rep, err := sys.Request("$SYS.REQ.SERVER."+id+"."+endpoint, []byte(payload), 5*time.Second)
		if err != nil {
			t.Fatalf("%s %s: %v", endpoint, payload, err)
		}
		var r struct {
			Server *struct{ ID string } `json:"server"`
			Error  *struct {
				Code        int    `json:"code"`
				Description string `json:"description"`
			} `json:"error"`
		}
		if err := json.Unmarshal(rep.Data, &r); err != nil || r.Server == nil || r.Server.ID != id {
			t.Fatalf("%s reply %s (%v)", endpoint, rep.Data, err)
		}
		if r.Error == nil {
			return 0, ""
		}
		return r.Error.Code, r.Error.Description
	}

	if code, desc := ask("KICK", fmt.Sprintf(`{"cid":%d}`, cid(kicked))); code != 0 {
		t.Fatalf("KICK: %d %s", code, desc)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the kicked client is still connected")
	}
	testutil.Eventually(t, syncWait, func() error {
		for _, c := range httpGet(t, p.MonitorURL()+"/connz?state=closed")["connections"].([]any) {
			if c := c.(map[string]any); c["name"] == "kicked" && c["reason"] == "Kicked" {
				return nil
			}
		}
		return errors.New(`/connz?state=closed has no client "kicked" closed with reason "Kicked"`)
	})
	for _, c := range []struct {
		endpoint, payload string
		code              int
		desc              string
	}{
		{"KICK", `{"cid":999}`, 500, "no such client or leafnode id"},
		{"KICK", `{}`, 500, "no such client or leafnode id"},
		{"LDM", `{"cid":999}`, 500, "no such client id"},
		{"KICK", `garbage`, 400, "invalid character"},
		{"LDM", `{"cid":"x"}`, 400, "cannot unmarshal"},
	} {
		if code, desc := ask(c.endpoint, c.payload); code != c.code || !strings.Contains(desc, c.desc) {
			t.Errorf("%s %s: %d %q, want %d %q", c.endpoint, c.payload, code, desc, c.code, c.desc)
		}
	}
	if code, desc := ask("LDM", fmt.Sprintf(`{"cid":%d}`, cid(moved))); code != 0 {
		t.Fatalf("LDM: %d %s", code, desc)
	}
	select {
	case <-ldm:
	case <-time.After(5 * time.Second):
		t.Fatal("the client was not told of lame duck mode")
	}
	if !moved.IsConnected() {
		t.Error("LDM closed the client: it should only be told to move")
	}
	// A KICK or LDM is asked of one server: no PING subscription.
	if _, err := sys.Request("$SYS.REQ.SERVER.PING.KICK", []byte(`{"cid":1}`), 2*time.Second); err != nats.ErrNoResponders {
		t.Errorf("PING.KICK: %v, want no responders", err)
	}

}

// A reload that names another system account moves the requests and
// events to it (nats-server refuses such a reload: "config reload not
// supported for SystemAccount").
func TestSystemAccountReloadMovesIt(t *testing.T) {
	conf := "listen: 127.0.0.1:-1\naccounts {\n  OPS { users [ {user: ops, password: ops} ] }\n  NEW { users [ {user: new, password: new} ] }\n}\nsystem_account: %s\n"
	n := startConfNode(t, fmt.Sprintf(conf, "OPS"), 0, "--no_config_watch")
	ops := connect(t, n.ClientURL(), nats.UserInfo("ops", "ops"))
	answered := func(nc *nats.Conn) bool {
		_, err := nc.Request("$SYS.REQ.SERVER.PING.IDZ", nil, 2*time.Second)
		return err == nil
	}
	if !answered(ops) {
		t.Fatal("the system account OPS gets no answer")
	}
	if err := os.WriteFile(n.path, []byte(fmt.Sprintf(conf, "NEW")), 0o644); err != nil {
		t.Fatal(err)
	}
	n.Signal(syscall.SIGHUP)
	testutil.Eventually(t, syncWait, func() error {
		if !strings.Contains(n.Log(), `Reloaded: system_account: OPS -> NEW`) {
			return errors.New("no reload of system_account logged")
		}
		return nil
	})
	neu := connect(t, n.ClientURL(), nats.UserInfo("new", "new"))
	if !answered(neu) {
		t.Error("the new system account NEW gets no answer")
	}
	if answered(ops) {
		t.Error("the old system account OPS is still answered")
	}
	events, _ := neu.SubscribeSync("$SYS.ACCOUNT.OPS.CONNECT")
	_ = neu.Flush()
	connect(t, n.ClientURL(), nats.UserInfo("ops", "ops"))
	if _, err := events.NextMsg(5 * time.Second); err != nil {
		t.Errorf("no CONNECT event in the new system account: %v", err)
	}
}
