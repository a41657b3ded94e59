package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// confNode is a natsd started from a config file that the test edits.
type confNode struct {
	*node
	path    string
	signals int // reload signals sent so far
}

// saveAtomically writes the config as editors do: a new file renamed over
// the old one.
func saveAtomically(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func clusterConf(clusterPort int, routes ...int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\ncluster {\n  name: reload\n  listen: 127.0.0.1:%d\n", clusterPort)
	if len(routes) > 0 {
		b.WriteString("  routes: [\n")
		for _, r := range routes {
			fmt.Fprintf(&b, "    nats-route://127.0.0.1:%d\n", r)
		}
		b.WriteString("  ]\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func startConfNode(t *testing.T, conf string, clusterPort int, args ...string) *confNode {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "natsd.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testutil.Start(t, testutil.NatsdBin(t), append([]string{"-c", path}, args...)...)
	return &confNode{node: &node{Proc: p, clusterPort: clusterPort}, path: path}
}

func waitRoutes(t *testing.T, n *node, want int, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		if got := n.numRoutes(t); got != want {
			return fmt.Errorf("%d routes, want %d", got, want)
		}
		return nil
	})
}

// How a test asks for a reload after editing the file. The signal variants
// run natsd with --no_config_watch, so only the signal can cause the reload.
type trigger struct {
	args []string
	fire func(t *testing.T, n *confNode)
}

var triggers = map[string]trigger{
	"file-watch": {fire: func(t *testing.T, n *confNode) { // the rename is enough
		if !watching(t, n.Pid()) {
			t.Fatal("natsd has no inotify instance: it cannot see the edit")
		}
	}},
	"SIGHUP": {args: []string{"--no_config_watch"}, fire: func(t *testing.T, n *confNode) {
		requireNoWatcher(t, n)
		n.signals++
		n.Signal(syscall.SIGHUP)
		waitSignalReload(t, n)
	}},
	"signal-reload": {args: []string{"--no_config_watch"}, fire: func(t *testing.T, n *confNode) {
		requireNoWatcher(t, n)
		n.signals++
		out, err := runNatsd(t, "--signal", "reload="+strconv.Itoa(n.Pid()))
		if err != nil {
			t.Fatalf("natsd --signal reload: %v\n%s", err, out)
		}
		waitSignalReload(t, n)
	}},
}

// requireNoWatcher checks that natsd, run with --no_config_watch, watches
// nothing (it holds no inotify instance), so that an edit alone cannot
// reload it and the signal is what the test measures. No waiting is needed
// to know that an edit will not be noticed.
func requireNoWatcher(t *testing.T, n *confNode) {
	t.Helper()
	if watching(t, n.Pid()) {
		t.Fatal("natsd holds an inotify instance with --no_config_watch")
	}
}

// watching reports whether process pid holds an inotify instance (the
// config watcher's; natsd opens no other).
func watching(t *testing.T, pid int) bool {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	fds, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join(dir, fd.Name())); err == nil && l == "anon_inode:inotify" {
			return true
		}
	}
	return false
}

// waitSignalReload waits until natsd has logged as many reloads as
// signals were sent, each one by SIGHUP (the log names the trigger), and
// none on a file change.
func waitSignalReload(t *testing.T, n *confNode) {
	t.Helper()
	testutil.Eventually(t, syncWait, func() error {
		if got := strings.Count(n.Log(), "Reloaded server configuration (SIGHUP)"); got < n.signals {
			return fmt.Errorf("%d reloads after %d signals", got, n.signals)
		}
		return nil
	})
	if got := strings.Count(n.Log(), "Reloaded server configuration ("); got != n.signals {
		t.Fatalf("%d reloads after %d signals: natsd reloaded on something else", got, n.signals)
	}
}

func runNatsd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	p := testutil.StartNoWait(t, testutil.NatsdBin(t), args...)
	if code := p.ExitCode(10 * time.Second); code != 0 {
		return p.Log(), fmt.Errorf("exit status %d", code)
	}
	return p.Log(), nil
}

// Adding a route to B's file forms A–B and messages flow; removing it closes
// the route on both sides and it stays closed. With each trigger.
//
// "Stays closed" is measured on B's own clock: B also has a route to a port
// where nothing listens (the witness), which it redials every second, and
// logs each dial (-D). Once B dialed the witness twice after the removal,
// a redial of A would have happened too; neither A nor B may have dialed
// the other by then.
func TestReloadAddRemoveRoute(t *testing.T) {
	for name, trig := range triggers {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cpA, cpB, witness := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
			a := startConfNode(t, clusterConf(cpA), cpA, "-D")
			b := startConfNode(t, clusterConf(cpB, witness), cpB, append([]string{"-D"}, trig.args...)...)
			subA := connect(t, a.ClientURL())
			sub, _ := subA.SubscribeSync("r.>")
			_ = subA.Flush()
			pubB := connect(t, b.ClientURL())

			saveAtomically(t, b.path, clusterConf(cpB, cpA, witness))
			trig.fire(t, b)
			waitRoutes(t, b.node, 1, syncWait)
			waitInterest(t, pubB, "r.probe", sub)
			waitRoutes(t, a.node, 1, syncWait)

			saveAtomically(t, b.path, clusterConf(cpB, witness))
			trig.fire(t, b)
			waitRoutes(t, b.node, 0, syncWait)
			waitRoutes(t, a.node, 0, syncWait)
			dialsOfA := strings.Count(b.Log(), dialing(cpA))
			dialsOfB := strings.Count(a.Log(), dialing(cpB))
			w := strings.Count(b.Log(), dialing(witness))
			testutil.Eventually(t, syncWait, func() error {
				if n := strings.Count(b.Log(), dialing(witness)); n < w+2 {
					return fmt.Errorf("B dialed the witness %d times since the removal, want 2", n-w)
				}
				return nil
			})
			if n := strings.Count(b.Log(), dialing(cpA)) - dialsOfA; n != 0 {
				t.Errorf("B dialed the removed route %d times", n)
			}
			if n := strings.Count(a.Log(), dialing(cpB)) - dialsOfB; n != 0 {
				t.Errorf("A dialed B %d times after B removed the route", n)
			}
			if a.numRoutes(t) != 0 || b.numRoutes(t) != 0 {
				t.Fatal("the removed route came back")
			}
			if !strings.Contains(b.Log(), "Removed route") {
				t.Error("B's log does not say it removed the route")
			}
		})
	}
}

// dialing is what natsd logs (at debug level) each time it dials the route
// port port.
func dialing(port int) string {
	return fmt.Sprintf("Trying to connect to route on 127.0.0.1:%d", port)
}

// A broken file keeps the old config serving, and the error names the file
// and line; fixing it applies the fix.
func TestReloadBrokenFileKeepsServing(t *testing.T) {
	n := startConfNode(t, "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\nmax_payload: 1MB\n", 0)
	nc := connect(t, n.ClientURL())
	sub, _ := nc.SubscribeSync("still")
	_ = nc.Flush()

	saveAtomically(t, n.path, "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\nmax_payload: 2KB\ncluster {\n  port: 70000\n}\n")
	var varz map[string]any
	testutil.Eventually(t, 3*time.Second, func() error {
		varz = httpGet(t, n.MonitorURL()+"/varz")
		if varz["last_reload_error"] == nil {
			return errors.New("no reload error yet")
		}
		return nil
	})
	msg := varz["last_reload_error"].(string)
	if !strings.Contains(msg, n.path+":5:") || !strings.Contains(msg, "cluster.port") {
		t.Fatalf("reload error %q does not name file:line and the option", msg)
	}
	if !strings.Contains(n.Log(), "Failed to reload server configuration: "+n.path+":5:") {
		t.Fatalf("the log does not carry the positioned error:\n%s", n.Log())
	}
	if varz["max_payload"].(float64) != 1<<20 {
		t.Fatal("part of a broken config was applied")
	}
	_ = nc.Publish("still", []byte("flowing"))
	if m := nextMsg(t, sub); string(m.Data) != "flowing" {
		t.Fatalf("got %q", m.Data)
	}
	saveAtomically(t, n.path, "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\nmax_payload: 2KB\n")
	testutil.Eventually(t, 3*time.Second, func() error {
		if v := httpGet(t, n.MonitorURL()+"/varz"); v["max_payload"].(float64) != 2048 {
			return errors.New("fix not applied yet")
		}
		return nil
	})
}

// Changing the client port moves the listener; existing clients and routes
// stay connected.
func TestReloadMovesClientListener(t *testing.T) {
	cpA, cpB := testutil.FreePort(t), testutil.FreePort(t)
	a := startConfNode(t, clusterConf(cpA), cpA)
	port1, port2 := testutil.FreePort(t), testutil.FreePort(t)
	confB := func(port int) string {
		return strings.Replace(clusterConf(cpB, cpA), "listen: 127.0.0.1:-1", "listen: 127.0.0.1:"+strconv.Itoa(port), 1)
	}
	b := startConfNode(t, confB(port1), cpB)
	waitRoutes(t, b.node, 1, 3*time.Second)
	old := connect(t, fmt.Sprintf("nats://127.0.0.1:%d", port1), nats.NoReconnect())
	sub, _ := old.SubscribeSync("moved")
	_ = old.Flush()

	saveAtomically(t, b.path, confB(port2))
	testutil.Eventually(t, 3*time.Second, func() error {
		nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port2), nats.Timeout(time.Second))
		if err != nil {
			return err
		}
		nc.Close()
		return nil
	})
	if _, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", port1), nats.Timeout(time.Second)); err == nil {
		t.Fatal("the old port still accepts clients")
	}
	// A new client is told the new port (the daemon's TestPortMoveAnnouncesNewListener
	// checks it while the old listener is still open too).
	if p := testutil.DialProto(t, fmt.Sprintf("127.0.0.1:%d", port2)).Info["port"]; p != float64(port2) {
		t.Errorf("INFO after the move announces port %v, want %d", p, port2)
	}
	if !old.IsConnected() {
		t.Fatal("the existing client was disconnected")
	}
	if n := b.numRoutes(t); n != 1 {
		t.Fatalf("routes after the move: %d", n)
	}
	pubA := connect(t, a.ClientURL())
	waitInterest(t, pubA, "moved", sub)
}

// Removing a user disconnects that user only.
func TestReloadRemovedUserDisconnected(t *testing.T) {
	users := func(names ...string) string {
		var b strings.Builder
		b.WriteString("listen: 127.0.0.1:-1\nauthorization { users = [\n")
		for _, n := range names {
			fmt.Fprintf(&b, "  { user: %s, password: pw }\n", n)
		}
		b.WriteString("] }\n")
		return b.String()
	}
	n := startConfNode(t, users("alice", "bob"), 0)
	errs := make(chan error, 4)
	alice := connect(t, n.ClientURL(), nats.UserInfo("alice", "pw"), nats.NoReconnect())
	bob := connect(t, n.ClientURL(), nats.UserInfo("bob", "pw"), nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	saveAtomically(t, n.path, users("alice"))
	testutil.Eventually(t, 3*time.Second, func() error {
		if !bob.IsClosed() {
			return errors.New("bob is still connected")
		}
		return nil
	})
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrAuthorization) {
			t.Fatalf("bob was told %v, want an authorization violation", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("bob got no -ERR with the close (last error %v)", bob.LastError())
	}
	if !alice.IsConnected() {
		t.Fatal("alice was disconnected too")
	}
	if _, err := nats.Connect(n.ClientURL(), nats.UserInfo("bob", "pw"), nats.Timeout(time.Second)); err == nil {
		t.Fatal("bob can still connect")
	}
}

// No message is lost by reloads for subscribers whose config did not change:
// a publisher and a subscriber on the route A–C publish continuously while
// B's routes are added and removed, and every message is counted.
func TestReloadLosesNoMessages(t *testing.T) {
	cpA, cpB, cpC := testutil.FreePort(t), testutil.FreePort(t), testutil.FreePort(t)
	a := startConfNode(t, clusterConf(cpA), cpA)
	b := startConfNode(t, clusterConf(cpB), cpB)
	c := startConfNode(t, clusterConf(cpC, cpA), cpC)
	waitRoutes(t, a.node, 1, 3*time.Second)

	subC := connect(t, c.ClientURL())
	var got atomic.Int64
	var mu sync.Mutex
	seen := map[int]bool{}
	var dups atomic.Int64
	if _, err := subC.Subscribe("steady", func(m *nats.Msg) {
		i, _ := strconv.Atoi(string(m.Data))
		mu.Lock()
		if seen[i] {
			dups.Add(1)
		}
		seen[i] = true
		mu.Unlock()
		got.Add(1)
	}); err != nil {
		t.Fatal(err)
	}
	_ = subC.Flush()
	pubA := connect(t, a.ClientURL())
	probe, _ := subC.SubscribeSync("steady.probe")
	waitInterest(t, pubA, "steady.probe", probe)

	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		i := 0
		for {
			select {
			case <-stop:
				_ = pubA.Flush()
				done <- i
				return
			default:
			}
			if pubA.Publish("steady", []byte(strconv.Itoa(i))) == nil {
				i++
			}
			if i%500 == 0 {
				_ = pubA.Flush()
				time.Sleep(time.Millisecond) // a steady stream, not a flood
			}
		}
	}()
	for range 3 {
		// Generous waits: under CI load with -race a reload and a handshake
		// take longer; what is measured is the message count.
		saveAtomically(t, b.path, clusterConf(cpB, cpA, cpC))
		waitRoutes(t, b.node, 2, 10*time.Second)
		saveAtomically(t, b.path, clusterConf(cpB))
		waitRoutes(t, b.node, 0, 10*time.Second)
	}
	close(stop)
	sent := <-done
	testutil.Eventually(t, 10*time.Second, func() error {
		if got.Load() != int64(sent) {
			return fmt.Errorf("received %d of %d", got.Load(), sent)
		}
		return nil
	})
	if dups.Load() != 0 {
		t.Fatalf("%d duplicates", dups.Load())
	}
	t.Logf("%d messages published across 6 reloads, all received once", sent)
}

// A cluster block added to a running standalone server starts clustering;
// its port moved later keeps the routes; the monitoring port moves; debug
// logging and the server name switch — all without a restart, and the
// client connected from the start stays connected throughout.
func TestReloadListenersAndClusteringLive(t *testing.T) {
	cpA := testutil.FreePort(t)
	a := startConfNode(t, clusterConf(cpA), cpA)
	httpB1, httpB2 := testutil.FreePort(t), testutil.FreePort(t)
	cpB1, cpB2 := testutil.FreePort(t), testutil.FreePort(t)
	standalone := fmt.Sprintf("listen: 127.0.0.1:-1\nhttp: 127.0.0.1:%d\nserver_name: before\n", httpB1)
	b := startConfNode(t, standalone, 0)
	nc := connect(t, b.ClientURL(), nats.NoReconnect())
	sub, _ := nc.SubscribeSync("live")
	_ = nc.Flush()

	// Add clustering (and debug logging, a new name, a new monitor port).
	clustered := func(cport, httpPort int) string {
		return fmt.Sprintf("listen: 127.0.0.1:-1\nhttp: 127.0.0.1:%d\nserver_name: after\ndebug: true\n"+
			"cluster {\n  name: reload\n  listen: 127.0.0.1:%d\n  routes: [ nats-route://127.0.0.1:%d ]\n}\n", httpPort, cport, cpA)
	}
	saveAtomically(t, b.path, clustered(cpB1, httpB2))
	monitor2 := fmt.Sprintf("http://127.0.0.1:%d", httpB2)
	testutil.Eventually(t, 5*time.Second, func() error {
		v, err := tryGet(monitor2 + "/varz")
		if err != nil {
			return err
		}
		if v["server_name"] != "after" {
			return fmt.Errorf("server_name %v", v["server_name"])
		}
		rz, err := tryGet(monitor2 + "/routez")
		if err != nil {
			return err
		}
		if r := rz["num_routes"].(float64); r != 1 {
			return fmt.Errorf("%v routes", r)
		}
		return nil
	})
	if httpStatusErr(fmt.Sprintf("http://127.0.0.1:%d/varz", httpB1)) == nil {
		t.Fatal("the old monitoring port still answers")
	}
	if !strings.Contains(b.Log(), "Clustering started") {
		t.Fatal("the log does not say clustering started")
	}
	pubA := connect(t, a.ClientURL())
	waitInterest(t, pubA, "live", sub)
	if !strings.Contains(b.Log(), "[DBG]") {
		t.Fatal("debug logging did not switch on")
	}

	// Move the cluster port: the route to A stays up.
	saveAtomically(t, b.path, clustered(cpB2, httpB2))
	testutil.Eventually(t, 5*time.Second, func() error {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", cpB2), time.Second)
		if err != nil {
			return err
		}
		c.Close()
		return nil
	})
	if r := httpGet(t, monitor2+"/routez")["num_routes"].(float64); r != 1 {
		t.Fatalf("routes after moving the cluster port: %v", r)
	}
	waitInterest(t, pubA, "live", sub)
	if !nc.IsConnected() {
		t.Fatal("the client was disconnected by the reloads")
	}
}

func tryGet(url string) (map[string]any, error) {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var m map[string]any
	return m, json.NewDecoder(resp.Body).Decode(&m)
}

func httpStatusErr(url string) error {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// Changing cluster authorization closes the accepted routes whose
// credentials no longer pass.
func TestReloadClusterAuthClosesRoutes(t *testing.T) {
	cpA, cpB := testutil.FreePort(t), testutil.FreePort(t)
	authConf := func(cport int, user string, routes ...int) string {
		return strings.Replace(clusterConf(cport, routes...), "  name: reload\n",
			"  name: reload\n  authorization { user: "+user+", password: pw }\n", 1)
	}
	a := startConfNode(t, authConf(cpA, "ruser"), cpA)
	// B dials A with the credentials in the route URL.
	b := startConfNode(t, strings.Replace(authConf(cpB, "ruser", cpA), "nats-route://", "nats-route://ruser:pw@", 1), cpB)
	waitRoutes(t, a.node, 1, 5*time.Second)
	saveAtomically(t, a.path, authConf(cpA, "other"))
	waitRoutes(t, a.node, 0, 5*time.Second)
	// B keeps redialing with the old credentials and is refused: twice
	// more, a second apart, and A never registers it again.
	refusals := strings.Count(a.Log(), "Route authorization error")
	testutil.Eventually(t, syncWait, func() error {
		if n := strings.Count(a.Log(), "Registering remote route"); n != 1 {
			t.Fatalf("A registered a route %d times: B came back with revoked credentials", n)
		}
		if n := strings.Count(a.Log(), "Route authorization error"); n < refusals+2 {
			return fmt.Errorf("A refused B %d times since the reload", n-refusals)
		}
		return nil
	})
	if n := a.numRoutes(t); n != 0 {
		t.Fatalf("A accepted %d routes with revoked credentials", n)
	}
	if n := strings.Count(a.Log(), "Registering remote route"); n != 1 {
		t.Fatalf("A registered a route %d times: B came back with revoked credentials", n)
	}
	_ = b
}
