package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// A pid file belongs to the process it names. (nats-server v2.15.2, for
// the record: a second instance overwrites the pid file with its own pid
// before it fails to bind, and leaves that dead pid behind; it also starts
// over a live pid file on another port, and never removes its pid file.)

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("pid file: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file holds %q", b)
	}
	return pid
}

// A second natsd given a running one's pid file refuses to start, whether
// or not its port is free, and leaves the file alone: --signal reload=FILE
// still reaches the first.
func TestPidFileOfRunningInstanceKept(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "natsd.pid")
	port := testutil.FreePort(t)
	a := testutil.Start(t, testutil.NatsdBin(t), "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-P", pidFile)
	if got := readPid(t, pidFile); got != a.Pid() {
		t.Fatalf("pid file holds %d, want %d", got, a.Pid())
	}
	for _, p := range []string{strconv.Itoa(port), "-1"} { // port in use, and a free one
		b := testutil.StartNoWait(t, testutil.NatsdBin(t), "-a", "127.0.0.1", "-p", p, "-P", pidFile)
		code := b.ExitCode(10 * time.Second)
		if got := readPid(t, pidFile); got != a.Pid() {
			t.Fatalf("-p %s: after the second natsd the pid file holds %d, want %d", p, got, a.Pid())
		}
		if code == 0 {
			t.Fatalf("-p %s: a second natsd started over a live pid file", p)
		}
		if want := "pid file " + pidFile + " names process " + strconv.Itoa(a.Pid()); !strings.Contains(b.Log(), want) {
			t.Fatalf("-p %s: the refusal does not say %q:\n%s", p, want, b.Log())
		}
	}
	if out, err := runNatsd(t, "--signal", "reload="+pidFile); err != nil {
		t.Fatalf("--signal reload=%s: %v\n%s", pidFile, err, out)
	}
	testutil.Eventually(t, 3*time.Second, func() error {
		if !strings.Contains(a.Log(), `Trapped "hangup" signal`) {
			return os.ErrNotExist
		}
		return nil
	})
	a.Stop()
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("the pid file outlived its process: %v", err)
	}
}

// A pid file left by a process that is gone is replaced, with a log line,
// and removed at exit.
func TestStalePidFileReplaced(t *testing.T) {
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "natsd.pid")
	stale := strconv.Itoa(gone.Process.Pid)
	if err := os.WriteFile(pidFile, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	p := testutil.Start(t, testutil.NatsdBin(t), "-a", "127.0.0.1", "-p", "-1", "-P", pidFile)
	if got := readPid(t, pidFile); got != p.Pid() {
		t.Fatalf("pid file holds %d, want %d", got, p.Pid())
	}
	if !strings.Contains(p.Log(), "names process "+stale+", which is not running") {
		t.Fatalf("no log line about the stale pid file:\n%s", p.Log())
	}
	p.Stop()
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Fatalf("the pid file outlived its process: %v", err)
	}
}
