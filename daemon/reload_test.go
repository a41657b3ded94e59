package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// One test per row of docs/reload.md that cmd/natsd's process tests do not
// cover (those are named in the row's test below), plus the rules of "What
// one reload does": a value-free edit does nothing, a listener that cannot
// be bound stops the reload with nothing applied, a failed reload counts no
// change.

// addr is host:port of the live endpoint named name.
func (td *testDaemon) addr(name string) string {
	td.t.Helper()
	ln := td.listener(name)
	if ln == nil {
		td.t.Fatalf("no %s listener", name)
	}
	return ln.Addr().String()
}

// client connects to the client port and sends CONNECT.
func (td *testDaemon) client(connect string) *testutil.ProtoConn {
	td.t.Helper()
	c := testutil.DialProto(td.t, td.addr("client"))
	if connect == "" {
		connect = `{"verbose":false}`
	}
	c.Send("CONNECT " + connect + "\r\n")
	if got := c.Flush(); len(got) != 0 {
		td.t.Fatalf("after CONNECT: %q", testutil.Lines(got))
	}
	return c
}

func getJSON(url string) (map[string]any, int, error) {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m, resp.StatusCode, nil
}

const base = "listen: 127.0.0.1:-1\n"

// "An edit that changes no value (a comment, a reformat) does nothing": no
// reload is recorded (/varz last_reload), nothing is logged at info level,
// systemd is not told RELOADING=1 (systemd_test.go checks that part).
func TestEditChangingNoValueDoesNothing(t *testing.T) {
	td := startDaemon(t, base+"max_payload: 2048\n")
	if err := td.reloadWith("# a comment\n" + base + "max_payload:   2048 # reformatted\n"); err != nil {
		t.Fatal(err)
	}
	d := td.Daemon
	d.mu.Lock()
	lr := d.lastReload
	d.mu.Unlock()
	if !lr.Time.IsZero() {
		t.Errorf("a reload was recorded for an edit that changes no value: %+v", lr)
	}
	if n := td.logCount("Reloaded server configuration"); n != 0 {
		t.Errorf("%d reloads logged for an edit that changes no value", n)
	}
	// A real change after it is applied (the test can see a reload).
	td.mustReload(base + "max_payload: 4096\n")
	if got := d.srv.Options().MaxPayload; got != 4096 {
		t.Fatalf("max_payload %d after a real change", got)
	}
}

// A reload that fails changes nothing, and says so: no change is counted
// against it (it used to be counted against empty options).
func TestFailedReloadCountsNoChange(t *testing.T) {
	td := startDaemon(t, base+"max_payload: 2048\n")
	err := td.reloadWith(base + "max_payload: 4096\ncluster {\n  port: 70000\n}\n")
	if err == nil {
		t.Fatal("a config with cluster.port 70000 reloaded")
	}
	d := td.Daemon
	d.mu.Lock()
	lr := d.lastReload
	d.mu.Unlock()
	if lr.Err == nil || lr.Changes != 0 {
		t.Errorf("last reload %+v: want the error and 0 changes", lr)
	}
	if got := d.srv.Options().MaxPayload; got != 2048 {
		t.Errorf("max_payload %d: part of a failed reload was applied", got)
	}
}

// Step 5: a listener that cannot be bound stops the reload before anything
// is applied — not the other changes, not the other listeners — and the
// running listeners stay.
func TestReloadBindFailureAppliesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	httpPort := testutil.FreePort(t)
	td := startDaemon(t, base+"max_payload: 2048\n")
	clientAddr := td.addr("client")

	// The monitor would start on a free port, but the client port is taken.
	err = td.reloadWith(fmt.Sprintf("listen: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\nmax_payload: 4096\n", busyPort, httpPort))
	if err == nil || !strings.Contains(err.Error(), "client connections") {
		t.Fatalf("reload error %v, want one naming the client listener", err)
	}
	if got := td.srv.Options().MaxPayload; got != 2048 {
		t.Errorf("max_payload %d: applied despite the failed bind", got)
	}
	if td.listener("monitor") != nil {
		t.Error("the monitor started despite the failed bind")
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", httpPort), time.Second); err == nil {
		c.Close()
		t.Error("the monitor port bound for the failed reload is still open")
	}
	if td.addr("client") != clientAddr {
		t.Errorf("client listener %s, want it still on %s", td.addr("client"), clientAddr)
	}
	td.client("") // still serving
}

// client_advertise: new clients' INFO carries it.
func TestReloadClientAdvertise(t *testing.T) {
	td := startDaemon(t, base)
	td.mustReload(base + "client_advertise: \"nats.example.com:4333\"\n")
	info := testutil.DialProto(t, td.addr("client")).Info
	if info["host"] != "nats.example.com" || info["port"] != float64(4333) {
		t.Fatalf("INFO host %v port %v, want the advertised nats.example.com:4333", info["host"], info["port"])
	}
}

// max_control_line: enforced for connected clients from their next read.
func TestReloadMaxControlLine(t *testing.T) {
	td := startDaemon(t, base)
	c := td.client("")
	td.mustReload(base + "max_control_line: 64\n")
	c.Send("SUB " + strings.Repeat("a", 100) + " 1\r\n")
	got := c.ReadUntilClosed()
	if !slices.Contains(got, "-ERR 'maximum control line exceeded'") {
		t.Fatalf("a connected client's long line after the reload got %q", got)
	}
}

// max_connections: lowered below the clients connected, the newest go.
// The daemon's diff must tell the server (server.Changes): the server does
// not compare options itself.
func TestReloadMaxConnections(t *testing.T) {
	td := startDaemon(t, base)
	old, newest := td.client(""), td.client("")
	td.mustReload(base + "max_connections: 1\n")
	if got := newest.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'maximum connections exceeded'"}) {
		t.Fatalf("the newest client got %q", got)
	}
	if got := old.Flush(); len(got) != 0 {
		t.Fatalf("the oldest client got %q", testutil.Lines(got))
	}
}

// max_subscriptions: checked at each client's next SUB.
func TestReloadMaxSubscriptions(t *testing.T) {
	td := startDaemon(t, base)
	c := td.client("")
	c.Send("SUB a 1\r\n")
	td.mustReload(base + "max_subscriptions: 1\n")
	c.Send("SUB b 2\r\n")
	if got := testutil.Lines(c.Flush()); !slices.Equal(got, []string{"-ERR 'maximum subscriptions exceeded'"}) {
		t.Fatalf("a second SUB after the reload got %q", got)
	}
}

// no_header_support: new clients see headers false; a connected client
// keeps what it negotiated.
func TestReloadNoHeaderSupport(t *testing.T) {
	td := startDaemon(t, base)
	c := td.client(`{"verbose":false,"headers":true}`)
	td.mustReload(base + "no_header_support: true\n")
	if h := testutil.DialProto(t, td.addr("client")).Info["headers"]; h != false {
		t.Fatalf("new client's INFO headers = %v", h)
	}
	c.Send("SUB h 1\r\nHPUB h 12 14\r\nNATS/1.0\r\n\r\nhi\r\n")
	if got := c.Flush(); len(got) != 1 || !strings.HasPrefix(got[0].Line, "HMSG h 1 ") {
		t.Fatalf("a connected client that negotiated headers got %q", testutil.Lines(got))
	}
}

// The options the server reads where it uses them (each connection's next
// read, write, tick, SUB, lame duck mode): the reload hands them over.
// Their effect on connections is tested in package server.
func TestReloadServerLimitsReachTheServer(t *testing.T) {
	td := startDaemon(t, base)
	td.mustReload(base + "max_pending: 1MB\nping_interval: \"7s\"\nping_max: 5\nwrite_deadline: \"3s\"\n" +
		"lame_duck_duration: \"40s\"\nlame_duck_grace_period: \"4s\"\n")
	o := td.srv.Options()
	if o.MaxPending != 1<<20 || o.PingInterval != 7*time.Second || o.PingMax != 5 || o.WriteDeadline != 3*time.Second ||
		o.LameDuckDuration != 40*time.Second || o.LameDuckGracePeriod != 4*time.Second {
		t.Fatalf("server options after the reload: %+v", o)
	}
	if n := td.logCount("Reloaded: "); n != 6 {
		t.Errorf("%d change lines logged, want 6:\n%s", n, td.log)
	}
}

// authorization: a token added closes the clients without it; the daemon
// tells the server to check them (server.Changes.Auth).
func TestReloadAuthorizationChecksClients(t *testing.T) {
	td := startDaemon(t, base)
	anon := td.client("")
	good := td.client(`{"verbose":false,"auth_token":"s3cret"}`)
	td.mustReload(base + "authorization { token: s3cret }\n")
	if got := anon.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'Authorization Violation'"}) {
		t.Fatalf("the client without the token got %q", got)
	}
	if got := good.Flush(); len(got) != 0 {
		t.Fatalf("the client with the token got %q", testutil.Lines(got))
	}
	if strings.Contains(td.log.String(), "s3cret") {
		t.Error("the token is in the log")
	}
}

// trace (and debug): log levels switch at once.
func TestReloadTrace(t *testing.T) {
	td := startDaemon(t, base)
	c := td.client("")
	c.Send("PUB before 0\r\n\r\n")
	c.Flush()
	td.mustReload(base + "trace: true\n")
	c.Send("PUB after.trace 0\r\n\r\n")
	c.Flush()
	waitFor(t, 3*time.Second, "a [TRC] line for the PUB", func() bool {
		return strings.Contains(td.log.String(), "after.trace")
	})
	if strings.Contains(td.log.String(), "PUB before") {
		t.Fatal("traced before trace was on")
	}
}

// logtime: timestamps switch at once.
func TestReloadLogtime(t *testing.T) {
	td := startDaemon(t, base+"logtime: false\n")
	td.mustReload(base + "logtime: true\n")
	td.mustReload(base + "logtime: true\nmax_payload: 4096\n")
	var line string
	for _, l := range strings.Split(td.log.String(), "\n") {
		if strings.Contains(l, "Reloaded: max_payload") {
			line = l
		}
	}
	// "[pid] 2006/01/02 15:04:05.000000 [INF] …"
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[1], strconv.Itoa(time.Now().Year())+"/") {
		t.Fatalf("no timestamp after logtime was switched on: %q", line)
	}
}

// log_file: logging moves to the new file.
func TestReloadLogFile(t *testing.T) {
	td := startDaemon(t, base)
	path := filepath.Join(t.TempDir(), "natsd.log")
	td.mustReload(fmt.Sprintf("%slog_file: %q\nmax_payload: 4096\n", base, path))
	td.mustReload(fmt.Sprintf("%slog_file: %q\nmax_payload: 8192\n", base, path))
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "Reloaded: max_payload: 4096 -> 8192") {
		t.Fatalf("the new log file lacks the next reload's line:\n%s", b)
	}
}

// pid_file, ports_file_dir: rewritten, the old pid file removed.
func TestReloadPidAndPortsFiles(t *testing.T) {
	dir1, dir2 := t.TempDir(), t.TempDir()
	pid1, pid2 := filepath.Join(dir1, "natsd.pid"), filepath.Join(dir2, "natsd.pid")
	conf := func(pid, ports string) string {
		return fmt.Sprintf("%spid_file: %q\nports_file_dir: %q\n", base, pid, ports)
	}
	td := startDaemon(t, conf(pid1, dir1))
	td.mustReload(conf(pid2, dir2))
	if _, err := os.Stat(pid1); err == nil {
		t.Error("the old pid file is still there")
	}
	if b, err := os.ReadFile(pid2); err != nil || string(b) != strconv.Itoa(os.Getpid()) {
		t.Errorf("new pid file: %q, %v", b, err)
	}
	old, _ := filepath.Glob(filepath.Join(dir1, "*.ports"))
	now, _ := filepath.Glob(filepath.Join(dir2, "*.ports"))
	if len(old) != 0 || len(now) != 1 {
		t.Fatalf("ports files: old dir %q, new dir %q", old, now)
	}
	b, _ := os.ReadFile(now[0])
	if !strings.Contains(string(b), td.addr("client")) {
		t.Errorf("ports file %s does not name the client listener %s", b, td.addr("client"))
	}
}

// Blocks natsd does not serve yet: warned about and ignored, as at startup.
func TestReloadNotServedBlockWarnsAndIgnores(t *testing.T) {
	td := startDaemon(t, base)
	td.mustReload(base + "leafnodes {\n  port: 7422\n}\n")
	if !strings.Contains(td.log.String(), "natsd does not serve leaf nodes yet; ignored") {
		t.Errorf("no warning for the leafnodes block:\n%s", td.log)
	}
	if !strings.Contains(td.log.String(), "no option changed") {
		t.Errorf("the reload did not say that no option changed:\n%s", td.log)
	}
}

// http_base_path alone: the monitor answers under the new path at once,
// on the same listener.
func TestReloadMonitorBasePath(t *testing.T) {
	httpPort := testutil.FreePort(t)
	conf := fmt.Sprintf("%shttp: 127.0.0.1:%d\n", base, httpPort)
	td := startDaemon(t, conf)
	mon := "http://" + td.addr("monitor")
	if _, code, err := getJSON(mon + "/varz"); err != nil || code != 200 {
		t.Fatalf("/varz: %d %v", code, err)
	}
	td.mustReload(conf + "http_base_path: /mon\n")
	if got := "http://" + td.addr("monitor"); got != mon {
		t.Errorf("the monitor moved to %s for a base path change", got)
	}
	v, code, err := getJSON(mon + "/mon/varz")
	if err != nil || code != 200 || v["http_base_path"] != "/mon" {
		t.Fatalf("/mon/varz: %d %v base path %v", code, err, v["http_base_path"])
	}
	if _, code, _ := getJSON(mon + "/varz"); code != http.StatusNotFound {
		t.Errorf("/varz answered %d after the base path moved", code)
	}
}

// http removed, then added: the monitor stops, then starts.
func TestReloadMonitorStopsAndStarts(t *testing.T) {
	httpPort := testutil.FreePort(t)
	with := fmt.Sprintf("%shttp: 127.0.0.1:%d\n", base, httpPort)
	td := startDaemon(t, with)
	td.mustReload(base)
	if td.listener("monitor") != nil {
		t.Fatal("monitor listener still live")
	}
	if _, _, err := getJSON(fmt.Sprintf("http://127.0.0.1:%d/varz", httpPort)); err == nil {
		t.Fatal("the monitor still answers after http was removed")
	}
	td.mustReload(with)
	if _, code, err := getJSON(fmt.Sprintf("http://127.0.0.1:%d/varz", httpPort)); err != nil || code != 200 {
		t.Fatalf("monitor back: %d %v", code, err)
	}
}

// clusterConfig is a clustered config with the given routes.
func clusterConfig(name string, port int, routes ...int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%scluster {\n  name: %s\n  listen: 127.0.0.1:%d\n", base, name, port)
	for _, r := range routes {
		fmt.Fprintf(&b, "  routes: [ nats-route://127.0.0.1:%d ]\n", r)
	}
	b.WriteString("}\n")
	return b.String()
}

func numRoutes(d *Daemon) int {
	if cl := d.cluster(); cl != nil {
		return cl.NumRoutes()
	}
	return 0
}

// cluster { … } removed: routes close on both sides, the route listener
// closes, and the clients of the server that stays are told the new
// connect_urls.
func TestReloadClusterRemoved(t *testing.T) {
	cpA, cpB := testutil.FreePort(t), testutil.FreePort(t)
	a := startDaemon(t, clusterConfig("c", cpA))
	b := startDaemon(t, clusterConfig("c", cpB, cpA))
	waitFor(t, 5*time.Second, "the route A–B", func() bool { return numRoutes(a.Daemon) == 1 && numRoutes(b.Daemon) == 1 })
	// A client of A that takes async INFO, told B's URL once the route is up.
	c := a.client(`{"verbose":false,"protocol":1}`)
	c.SetAsideInfo = true
	bURL := b.addr("client")
	waitFor(t, 5*time.Second, "A's client told B's URL", func() bool {
		c.Flush()
		return len(c.Infos) > 0 && strings.Contains(c.Infos[len(c.Infos)-1], bURL)
	})

	b.mustReload(base)
	waitFor(t, 5*time.Second, "no routes", func() bool { return numRoutes(a.Daemon) == 0 && numRoutes(b.Daemon) == 0 })
	if b.cluster() != nil || b.listener("cluster") != nil {
		t.Fatal("B still has a cluster or a route listener")
	}
	if cn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", cpB), time.Second); err == nil {
		cn.Close()
		t.Fatal("B's route port still accepts")
	}
	waitFor(t, 5*time.Second, "A's client told B is gone", func() bool {
		c.Flush()
		return !strings.Contains(c.Infos[len(c.Infos)-1], bURL)
	})
	if !strings.Contains(b.log.String(), "Clustering stopped") {
		t.Error("B's log does not say clustering stopped")
	}
}

// cluster.name: used from then on; the existing route is not re-checked.
// cluster.advertise, cluster.no_advertise: the next route INFO carries them
// (as the other cluster options, the cluster reads them where it uses them).
func TestReloadClusterNameAndAdvertise(t *testing.T) {
	cpA, cpB := testutil.FreePort(t), testutil.FreePort(t)
	a := startDaemon(t, clusterConfig("one", cpA))
	b := startDaemon(t, clusterConfig("one", cpB, cpA))
	waitFor(t, 5*time.Second, "the route A–B", func() bool { return numRoutes(a.Daemon) == 1 })

	conf := strings.Replace(clusterConfig("two", cpA), "  name: two\n",
		"  name: two\n  advertise: \"routes.example.com:7777\"\n  no_advertise: true\n", 1)
	a.mustReload(conf)
	if got := a.cluster().Name(); got != "two" {
		t.Fatalf("cluster name %q after the reload", got)
	}
	if numRoutes(a.Daemon) != 1 || numRoutes(b.Daemon) != 1 {
		t.Fatal("the existing route was dropped by a name change")
	}
	info := testutil.DialProto(t, fmt.Sprintf("127.0.0.1:%d", cpA)).Info
	if info["cluster"] != "two" || info["ip"] != "nats-route://routes.example.com:7777/" || info["connect_urls"] != nil {
		t.Fatalf("route INFO after the reload: cluster %v ip %v connect_urls %v", info["cluster"], info["ip"], info["connect_urls"])
	}
}

// cluster.routes as a set: the same routes in another order change
// nothing, and the route stays up.
func TestReloadRoutesReorderedIsNoChange(t *testing.T) {
	cpA, cpB, cpC := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	startDaemon(t, clusterConfig("c", cpA))
	startDaemon(t, clusterConfig("c", cpB))
	routes := func(ports ...int) string {
		var us []string
		for _, p := range ports {
			us = append(us, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
		}
		return fmt.Sprintf("%scluster {\n  name: c\n  listen: 127.0.0.1:%d\n  routes: [ %s ]\n}\n", base, cpC, strings.Join(us, ", "))
	}
	c := startDaemon(t, routes(cpA, cpB))
	waitFor(t, 5*time.Second, "C routed to A and B", func() bool { return numRoutes(c.Daemon) == 2 })
	c.mustReload(routes(cpB, cpA) + "# reordered\n")
	if strings.Contains(c.log.String(), "Reloaded: cluster.routes") || strings.Contains(c.log.String(), "Removed route") {
		t.Fatalf("reordering the routes was taken as a change:\n%s", c.log)
	}
	if numRoutes(c.Daemon) != 2 {
		t.Fatal("a route went down")
	}
}

// Reload during shutdown is refused, not applied.
func TestReloadAfterShutdownRefused(t *testing.T) {
	td := startDaemon(t, base)
	td.Shutdown()
	if err := td.reloadWith(base + "max_payload: 4096\n"); !errors.Is(err, errStopping) {
		t.Fatalf("reload after Shutdown: %v", err)
	}
}
