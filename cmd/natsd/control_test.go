//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// runNatsdCmd runs natsd with args (and extra environment) to its end, and
// returns stdout, stderr and the exit code.
func runNatsdCmd(t *testing.T, env []string, cred *syscall.Credential, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(testutil.NatsdBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("natsd %s did not exit within 30s", strings.Join(args, " "))
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// `natsd reload` and `natsd --signal reload --wait` trigger the reload and
// report it: each change on stdout and exit 0, or the error with
// file:line:col on stderr and exit 1 — found by pid file, pid, socket and
// $RUNTIME_DIRECTORY.
func TestReloadVerbReports(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "natsd.pid")
	conf := filepath.Join(dir, "natsd.conf")
	writeConf(t, conf, "listen: 127.0.0.1:-1\nmax_payload: 1MB\n")
	n := testutil.Start(t, testutil.NatsdBin(t), "-c", conf, "-P", pidFile, "--no_config_watch")
	sock := filepath.Join(dir, "natsd.sock")
	testutil.Eventually(t, 5*time.Second, func() error {
		_, err := os.Stat(sock)
		return err
	})

	steps := []struct {
		name       string
		conf       string // written before the command
		args       []string
		env        []string
		code       int
		out, err   string
		logHas     string
		stdoutNone bool
	}{
		{name: "unchanged", args: []string{"reload", pidFile}, out: "Reloaded: no option changed"},
		{name: "change by pid file", conf: "listen: 127.0.0.1:-1\nmax_payload: 2MB\n", args: []string{"reload", pidFile},
			out: "Reloaded: max_payload: 1048576 -> 2097152", logHas: "Reloaded: max_payload: 1048576 -> 2097152"},
		{name: "broken, --signal reload --wait", conf: "listen: 127.0.0.1:-1\nmax_payload: 2MB\nmax_payload: [\n",
			args: []string{"--signal", "reload=" + pidFile, "--wait"}, code: 1, err: "natsd.conf:4:1: ", stdoutNone: true},
		{name: "fixed, by pid", conf: "listen: 127.0.0.1:-1\nmax_payload: 3MB\n", args: []string{"reload", strconv.Itoa(n.Pid())},
			out: "Reloaded: max_payload: 2097152 -> 3145728"},
		{name: "by socket", conf: "listen: 127.0.0.1:-1\nmax_payload: 4MB\n", args: []string{"reload", sock},
			out: "Reloaded: max_payload: 3145728 -> 4194304"},
		{name: "bad value", conf: "listen: 127.0.0.1:-1\nmax_payload: -4\n", args: []string{"reload", sock}, code: 1,
			err: "natsd.conf:2:14: max_payload", stdoutNone: true},
		{name: "no socket there", args: []string{"reload", "12345678"}, code: 1, err: "no natsd control socket found"},
		{name: "--wait without reload", args: []string{"--signal", "reopen", "--wait"}, code: 1, err: "--wait goes with --signal reload only"},
	}
	for _, s := range steps {
		if s.conf != "" {
			writeConf(t, conf, s.conf)
		}
		stdout, stderr, code := runNatsdCmd(t, s.env, nil, s.args...)
		t.Logf("%s: natsd %s -> %d\nstdout: %sstderr: %s", s.name, strings.Join(s.args, " "), code, stdout, stderr)
		if code != s.code {
			t.Fatalf("%s: exit %d, want %d", s.name, code, s.code)
		}
		if !strings.Contains(stdout, s.out) || (s.stdoutNone && stdout != "") {
			t.Fatalf("%s: stdout %q, want %q", s.name, stdout, s.out)
		}
		if !strings.Contains(stderr, s.err) {
			t.Fatalf("%s: stderr %q, want %q", s.name, stderr, s.err)
		}
		if s.logHas != "" && !strings.Contains(n.Log(), s.logHas) {
			t.Fatalf("%s: the log has no %q", s.name, s.logHas)
		}
	}
	// The socket goes with natsd.
	n.Stop()
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("the control socket is left after shutdown: %v", err)
	}
}

// Under systemd (RuntimeDirectory=) natsd makes its socket in
// $RUNTIME_DIRECTORY, where `natsd reload` without an argument finds it.
// natsd started without a config file answers that there is none.
func TestReloadVerbRuntimeDirectoryNoConfigFile(t *testing.T) {
	rt := t.TempDir()
	env := []string{"RUNTIME_DIRECTORY=" + rt}
	testutil.StartEnv(t, env, testutil.NatsdBin(t), "-p", "-1")
	testutil.Eventually(t, 10*time.Second, func() error {
		_, err := os.Stat(filepath.Join(rt, "natsd.sock"))
		return err
	})
	stdout, stderr, code := runNatsdCmd(t, env, nil, "reload")
	t.Logf("natsd reload -> %d: %s%s", code, stdout, stderr)
	if code != 1 || !strings.Contains(stderr, "can only reload config when a file is provided") {
		t.Fatalf("exit %d, stderr %q: want 1 and nats-server's no-config-file error", code, stderr)
	}
}

// Only root and natsd's own user may reload: a socket opened to everyone
// (by mistake) still refuses another user, by its peer credentials.
func TestReloadVerbRefusesOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("needs root, to run the client as another user (make test runs as root)")
	}
	// t.TempDir's parent is root's only; nobody must reach the socket.
	dir, err := os.MkdirTemp("", "natsd-control")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(dir, "natsd.pid")
	conf := filepath.Join(dir, "natsd.conf")
	writeConf(t, conf, "listen: 127.0.0.1:-1\n")
	n := testutil.Start(t, testutil.NatsdBin(t), "-c", conf, "-P", pidFile, "--no_config_watch")
	sock := filepath.Join(dir, "natsd.sock")
	testutil.Eventually(t, 5*time.Second, func() error {
		_, err := os.Stat(sock)
		return err
	})
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	// The test binary's directory is root's only: run a copy that nobody
	// may execute.
	b, err := os.ReadFile(testutil.NatsdBin(t))
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "natsd-copy")
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NATSD_BIN", bin)
	_, stderr, code := runNatsdCmd(t, nil, nobody, "reload", sock)
	if code != 1 || !strings.Contains(stderr, "permission denied") {
		t.Fatalf("mode 0600: exit %d, stderr %q; want a refusal", code, stderr)
	}
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = runNatsdCmd(t, nil, nobody, "reload", sock)
	t.Logf("as uid 65534 on a 0666 socket: exit %d: %s", code, stderr)
	if code != 1 || !strings.Contains(stderr, "only root and natsd's own user may reload") {
		t.Fatalf("exit %d, stderr %q; want natsd's refusal", code, stderr)
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(n.Log(), "Control socket: refused a request from uid 65534") {
			return os.ErrNotExist
		}
		return nil
	})
	if strings.Contains(n.Log(), "Config reload (natsd reload)") {
		t.Fatal("natsd reloaded for another user")
	}
}
