package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// notifySocket is a unixgram socket standing in for systemd's NOTIFY_SOCKET.
type notifySocket struct {
	path string
	conn *net.UnixConn
	msgs chan string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	ns := &notifySocket{path: path, conn: conn, msgs: make(chan string, 1000)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(ns.msgs)
				return
			}
			ns.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return ns
}

// nextAny returns the next datagram, whatever it is.
func (ns *notifySocket) nextAny(t *testing.T, within time.Duration) string {
	t.Helper()
	select {
	case m, ok := <-ns.msgs:
		if !ok {
			t.Fatal("notify socket closed")
		}
		return m
	case <-time.After(within):
		t.Fatalf("no notification within %v", within)
		return ""
	}
}

// sinceLast sends the socket a marker datagram of the test's own and
// returns what arrived before it: everything natsd sent before sinceLast
// was called (the socket's queue keeps the order of arrival).
func (ns *notifySocket) sinceLast(t *testing.T) []string {
	t.Helper()
	mark := unique("TEST-MARK=")
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: ns.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(mark)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		m := ns.nextAny(t, syncWait)
		if m == mark {
			return got
		}
		got = append(got, m)
	}
}

// next returns the next datagram that is not a periodic STATUS= refresh.
func (ns *notifySocket) next(t *testing.T, within time.Duration) string {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case m, ok := <-ns.msgs:
			if !ok {
				t.Fatal("notify socket closed")
			}
			if strings.HasPrefix(m, "STATUS=") || strings.HasPrefix(m, "WATCHDOG=1") {
				continue
			}
			return m
		case <-deadline:
			t.Fatalf("no notify message within %v", within)
			return ""
		}
	}
}

func field(msg, key string) (string, bool) {
	for _, l := range strings.Split(msg, "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// The exact sequence natsd sends systemd: READY=1 once the listeners accept;
// RELOADING=1 with MONOTONIC_USEC then READY=1 around a good reload and a
// broken one (whose STATUS= carries the positioned error); STOPPING=1 on
// SIGTERM, then exit 0.
func TestSystemdNotifySequence(t *testing.T) {
	ns := newNotifySocket(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "natsd.conf")
	port := testutil.FreePort(t)
	base := fmt.Sprintf("listen: 127.0.0.1:%d\n", port)
	if err := os.WriteFile(conf, []byte(base), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testutil.StartEnv(t, []string{"NOTIFY_SOCKET=" + ns.path}, testutil.NatsdBin(t), "-c", conf)

	m := ns.next(t, 10*time.Second)
	if _, ok := field(m, "READY"); !ok {
		t.Fatalf("first message %q, want READY=1", m)
	}
	if s, _ := field(m, "STATUS"); !strings.Contains(s, "clients") {
		t.Fatalf("READY without a status summary: %q", m)
	}
	// READY=1 means the listener accepts now.
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		t.Fatalf("READY=1 was sent but the client port does not accept: %v", err)
	}
	c.Close()

	saveAtomically(t, conf, base+"max_payload: 2KB\n")
	m = ns.next(t, 3*time.Second)
	usec, ok := field(m, "MONOTONIC_USEC")
	if _, r := field(m, "RELOADING"); !r || !ok {
		t.Fatalf("reload started with %q, want RELOADING=1 and MONOTONIC_USEC", m)
	}
	if v, err := strconv.ParseInt(usec, 10, 64); err != nil || v <= 0 {
		t.Fatalf("MONOTONIC_USEC=%q", usec)
	}
	m = ns.next(t, 3*time.Second)
	if _, ok := field(m, "READY"); !ok {
		t.Fatalf("reload ended with %q, want READY=1", m)
	}

	saveAtomically(t, conf, base+"max_payload: 2KB\ncluster {\n  port: 70000\n}\n")
	if m = ns.next(t, 3*time.Second); !strings.HasPrefix(m, "RELOADING=1") {
		t.Fatalf("broken reload started with %q", m)
	}
	m = ns.next(t, 3*time.Second)
	status, _ := field(m, "STATUS")
	if _, ok := field(m, "READY"); !ok || !strings.Contains(status, "reload failed: "+conf+":4:") {
		t.Fatalf("broken reload ended with %q, want READY=1 and STATUS naming %s:4", m, conf)
	}
	if strings.ContainsAny(m, "\x00") {
		t.Fatal("NUL in a notify message")
	}

	p.Signal(syscall.SIGTERM)
	if m = ns.next(t, 3*time.Second); m != "STOPPING=1" {
		t.Fatalf("shutdown began with %q, want STOPPING=1", m)
	}
	if code := p.ExitCode(10 * time.Second); code != 0 {
		t.Fatalf("exit status %d", code)
	}
}

// WATCHDOG=1 keeps arriving while natsd is healthy and stops when it is
// wedged (a test hook takes its lock for good). How often it arrives is
// systemd.BenchmarkWatchdog's.
func TestSystemdWatchdogStopsWhenWedged(t *testing.T) {
	ns := newNotifySocket(t)
	wedge := filepath.Join(t.TempDir(), "wedge")
	p := testutil.StartEnv(t, []string{"NOTIFY_SOCKET=" + ns.path, "WATCHDOG_USEC=400000", "NATSD_TEST_WEDGE_FILE=" + wedge},
		testutil.NatsdBin(t), "-a", "127.0.0.1", "-p", "-1")
	for n := 0; n < 5; {
		if m := ns.nextAny(t, syncWait); m == "WATCHDOG=1" {
			n++
		}
	}
	if err := os.WriteFile(wedge, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Each failed health check is logged (about one a second: the check's
	// own timeout). Checks never overlap, so after the first failure no
	// check can pass: the pings sent before it are set aside, and none
	// may come while two more checks fail.
	failed := func(k int) {
		t.Helper()
		testutil.Eventually(t, syncWait, func() error {
			if n := strings.Count(p.Log(), "Health check failed"); n < k {
				return fmt.Errorf("%d health checks failed, want %d", n, k)
			}
			return nil
		})
	}
	failed(1)
	ns.sinceLast(t)
	failed(strings.Count(p.Log(), "Health check failed") + 2)
	for _, m := range ns.sinceLast(t) {
		if m == "WATCHDOG=1" {
			t.Fatal("a watchdog ping after the server wedged")
		}
	}
	if !strings.Contains(p.Log(), "Test hook: wedging the server") {
		t.Fatal("the wedge hook did not run")
	}
	p.Kill()
}

// Under systemd-socket-activate (Debian's systemd package) natsd takes the
// named client and cluster sockets instead of binding, serves pub/sub on the
// client one, and a route forms through the cluster one.
func TestSocketActivation(t *testing.T) {
	activate := "/usr/bin/systemd-socket-activate"
	if _, err := os.Stat(activate); err != nil {
		t.Fatalf("%s not found (package systemd): run make test-deps", activate)
	}
	clientPort, clusterPort := testutil.FreePort(t), testutil.FreePort(t)
	conf := testutil.WriteFile(t, "natsd.conf", "listen: 127.0.0.1:1\ncluster {\n  name: act\n  listen: 127.0.0.1:2\n}\n")
	act := testutil.StartNoWait(t, activate,
		"-l", fmt.Sprintf("127.0.0.1:%d", clientPort), "-l", fmt.Sprintf("127.0.0.1:%d", clusterPort),
		"--fdname=client:cluster", testutil.NatsdBin(t), "-c", conf)
	url := fmt.Sprintf("nats://127.0.0.1:%d", clientPort)
	// The first connection starts natsd (the configured ports 1 and 2
	// cannot be bound by a test: natsd must be using the passed sockets).
	var nc = connectRetry(t, url)
	sub, _ := nc.SubscribeSync("act")
	_ = nc.Flush()

	peer := startNode(t, testutil.NatsdBin(t), "peer", []int{clusterPort}, "--cluster_name", "act")
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := peer.numRoutes(t); n != 1 {
			return fmt.Errorf("peer has %d routes", n)
		}
		return nil
	})
	pub := connect(t, peer.ClientURL())
	waitInterest(t, pub, "act", sub)
	for _, name := range []string{"client", "cluster"} {
		if !strings.Contains(act.Log(), "Using the "+name+" listener from systemd socket activation") {
			t.Errorf("natsd did not say it took the %s socket:\n%s", name, act.Log())
		}
	}
}

// Sockets from systemd are kept for the life of the process: a reload that
// would move the client listener keeps the passed socket (and says so), and
// clustering stopped and started again by reloads serves the passed cluster
// socket again — it was not closed when clustering stopped.
func TestSocketActivatedListenersKeptAcrossReloads(t *testing.T) {
	activate := "/usr/bin/systemd-socket-activate"
	if _, err := os.Stat(activate); err != nil {
		t.Fatalf("%s not found (package systemd): run make test-deps", activate)
	}
	clientPort, clusterPort := testutil.FreePort(t), testutil.FreePort(t)
	clustered := "listen: 127.0.0.1:1\nhttp: 127.0.0.1:-1\ncluster {\n  name: act\n  listen: 127.0.0.1:2\n}\n"
	conf := testutil.WriteFile(t, "natsd.conf", clustered)
	act := testutil.StartNoWait(t, activate,
		"-l", fmt.Sprintf("127.0.0.1:%d", clientPort), "-l", fmt.Sprintf("127.0.0.1:%d", clusterPort),
		"--fdname=client:cluster", testutil.NatsdBin(t), "-c", conf)
	url := fmt.Sprintf("nats://127.0.0.1:%d", clientPort)
	nc := connectRetry(t, url)
	peer := startNode(t, testutil.NatsdBin(t), "peer", []int{clusterPort}, "--cluster_name", "act")
	waitRoutes(t, peer, 1, 5*time.Second)

	// Clustering off, the client listener "moved" to port 3: the route
	// goes, the client socket stays.
	saveAtomically(t, conf, "listen: 127.0.0.1:3\nhttp: 127.0.0.1:-1\nmax_payload: 4096\n")
	testutil.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(act.Log(), "Clustering stopped") {
			return errors.New("clustering not stopped yet")
		}
		return nil
	})
	waitRoutes(t, peer, 0, 5*time.Second)
	if !strings.Contains(act.Log(), "The client listener came from systemd socket activation: keeping it") {
		t.Errorf("natsd did not say it keeps the client socket:\n%s", act.Log())
	}
	if mp := testutil.DialProto(t, fmt.Sprintf("127.0.0.1:%d", clientPort)).Info["max_payload"]; mp != float64(4096) {
		t.Fatalf("INFO max_payload %v on the kept client socket after the reload", mp)
	}
	if !nc.IsConnected() {
		t.Fatal("the connected client was dropped")
	}

	// Clustering back on: the cluster socket serves again, the peer's
	// route forms through it.
	saveAtomically(t, conf, clustered)
	waitRoutes(t, peer, 1, 15*time.Second)
}
