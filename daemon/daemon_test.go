package daemon

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The tests of this file and of reload_test.go, lifecycle_test.go and
// systemd_test.go run natsd in the test process (Start, Reload, Shutdown)
// on loopback and free ports: what they check is the daemon's own logic —
// reload, endpoints, lifecycle — with real sockets and real components.
// Process-level behaviour (signals, exit codes) is tested in cmd/natsd.

// logBuffer collects a daemon's log; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// testDaemon is a natsd started in-process from a config file the test
// rewrites. The file watcher is off: the test reloads explicitly.
type testDaemon struct {
	*Daemon
	t    *testing.T
	path string
	log  *logBuffer
}

// startDaemon writes conf to a temporary natsd.conf and starts natsd on it.
// It is shut down when the test ends.
func startDaemon(t *testing.T, conf string) *testDaemon {
	t.Helper()
	td, err := tryStartDaemon(t, conf)
	if err != nil {
		t.Fatalf("Start: %v\n%s", err, td.log)
	}
	return td
}

func tryStartDaemon(t *testing.T, conf string) (*testDaemon, error) {
	t.Helper()
	return tryStartDaemonFlags(t, conf, Flags{NoConfigWatch: true})
}

// tryStartDaemonFlags starts natsd with flags (ConfigFile set here).
func tryStartDaemonFlags(t *testing.T, conf string, flags Flags) (*testDaemon, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "natsd.conf")
	writeTestFile(t, path, conf)
	td := &testDaemon{t: t, path: path, log: &logBuffer{}}
	flags.ConfigFile = path
	d, err := Start(&flags, Env{Stderr: td.log, Signals: make(chan os.Signal)})
	if err != nil {
		return td, err
	}
	td.Daemon = d
	t.Cleanup(func() {
		shutdownWithin(t, d, 10*time.Second)
		if t.Failed() {
			t.Logf("natsd log:\n%s", td.log)
		}
	})
	return td, nil
}

// rewrite replaces the config file.
func (td *testDaemon) rewrite(conf string) {
	td.t.Helper()
	writeTestFile(td.t, td.path, conf)
}

// reloadWith rewrites the config and reloads it as SIGHUP would.
func (td *testDaemon) reloadWith(conf string) error {
	td.t.Helper()
	td.rewrite(conf)
	return td.Reload("SIGHUP")
}

// mustReload is reloadWith that fails the test on an error.
func (td *testDaemon) mustReload(conf string) {
	td.t.Helper()
	if err := td.reloadWith(conf); err != nil {
		td.t.Fatalf("reload: %v", err)
	}
}

// logCount counts the log lines that contain s.
func (td *testDaemon) logCount(s string) int {
	return strings.Count(td.log.String(), s)
}

// shutdownWithin calls Shutdown and fails the test if it does not return
// within d.
func shutdownWithin(t *testing.T, d *Daemon, within time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		d.Shutdown()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(within):
		t.Fatalf("Shutdown did not return within %v", within)
	}
}

// waitFor polls cond every 10 ms for at most within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fakeSystemd is a service manager's notification socket: NOTIFY_SOCKET
// for the daemons the test starts.
type fakeSystemd struct {
	t    *testing.T
	msgs chan string
}

func listenSystemd(t *testing.T, watchdog time.Duration) *fakeSystemd {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", path)
	if watchdog > 0 {
		t.Setenv("WATCHDOG_USEC", strconv.Itoa(int(watchdog/time.Microsecond)))
	}
	s := &fakeSystemd{t: t, msgs: make(chan string, 1000)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			s.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		<-done
	})
	return s
}
