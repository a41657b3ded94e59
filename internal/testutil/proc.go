package testutil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RepoRoot is the module root (the directory holding go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// SharedDir is ../shared next to the repository (shared test data and docs).
func SharedDir() string { return filepath.Join(RepoRoot(), "..", "shared") }

// TestHooksTag is the build tag that compiles natsd's test hooks in.
const TestHooksTag = "natsd_testhooks"

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// NatsdBin builds natsd once per test process (the go build cache makes it
// quick) and returns its path. It is built with the test hooks
// (-tags natsd_testhooks, see daemon/testhooks.go), which the production
// build (make bin/natsd) leaves out. NATSD_BIN overrides it; the tests that
// use a hook (the wedged watchdog) fail with a binary built without them.
func NatsdBin(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("NATSD_BIN"); p != "" {
		return p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "natsd-test-bin")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "natsd")
		args := []string{"build", "-tags", TestHooksTag, "-o", buildPath}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/natsd")...)
		cmd.Dir = RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildPath
}

// NatsServerBin is nats-server v2.15.2, installed by `make test-deps`.
func NatsServerBin(t testing.TB) string {
	return peerBin(t, "NATS_SERVER_BIN", filepath.Join(RepoRoot(), ".tools", "bin", "nats-server-v2.15.2"))
}

// NatsServer29Bin is Debian's nats-server (2.9.x), installed by `make test-deps`.
func NatsServer29Bin(t testing.TB) string {
	return peerBin(t, "NATS_SERVER_29_BIN", "/usr/sbin/nats-server")
}

// NatsCLIBin is natscli v0.5.0, the `nats` CLI, installed by `make
// test-deps` (and used by `make bench`).
func NatsCLIBin(t testing.TB) string {
	return peerBin(t, "NATS_CLI_BIN", filepath.Join(RepoRoot(), ".tools", "bin", "nats-v0.5.0"))
}

// NscBin is nsc v2.11.0, the tool that makes operators, accounts and
// users, installed by `make test-deps`.
func NscBin(t testing.TB) string {
	return peerBin(t, "NSC_BIN", filepath.Join(RepoRoot(), ".tools", "bin", "nsc-v2.11.0"))
}

func peerBin(t testing.TB, env, def string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		p = def
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s not found (%v): run `make test-deps` (make test does it)", p, err)
	}
	return p
}

// Proc is a server process started for a test.
type Proc struct {
	t      testing.TB
	cmd    *exec.Cmd
	log    *syncBuffer
	done   chan struct{}
	Ports  Ports
	Config string // path of the config file, if any
}

// Ports is the ports file a server wrote.
type Ports struct {
	Nats       []string `json:"nats"`
	Monitoring []string `json:"monitoring"`
	Cluster    []string `json:"cluster"`
	WebSocket  []string `json:"websocket"`
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start runs bin with args plus "--ports_file_dir DIR", waits for the
// ports file, and stops the process when the test ends (printing its log if
// the test failed). Give "-p -1" (or a config with port -1) for a free port.
func Start(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return StartEnvReady(t, nil, bin, args...)
}

// StartEnvReady is Start with extra environment variables ("K=V").
func StartEnvReady(t testing.TB, env []string, bin string, args ...string) *Proc {
	t.Helper()
	dir := t.TempDir()
	args = append(args, "--ports_file_dir", dir)
	p := StartEnv(t, env, bin, args...)
	deadline := time.Now().Add(10 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.ports"))
		if len(files) > 0 {
			b, err := os.ReadFile(files[0])
			if err == nil && json.Unmarshal(b, &p.Ports) == nil && len(p.Ports.Nats) > 0 {
				return p
			}
		}
		select {
		case <-p.done:
			t.Fatalf("%s exited before it was ready: %s\n%s", filepath.Base(bin), p.cmd.ProcessState, p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s wrote no ports file within 10s\n%s", filepath.Base(bin), p.log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// StartNoWait runs bin with args and returns at once.
func StartNoWait(t testing.TB, bin string, args ...string) *Proc {
	t.Helper()
	return StartEnv(t, nil, bin, args...)
}

// StartEnv is StartNoWait with extra environment variables ("K=V").
func StartEnv(t testing.TB, env []string, bin string, args ...string) *Proc {
	t.Helper()
	p := &Proc{t: t, log: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.SysProcAttr = dieWithParent()
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.Stop()
		if strings.Contains(p.log.String(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race", filepath.Base(bin))
		}
		if t.Failed() {
			t.Logf("log of %s %s:\n%s", filepath.Base(bin), strings.Join(args, " "), p.log.String())
		}
	})
	return p
}

// ClientURL is the first loopback client URL of the ports file.
func (p *Proc) ClientURL() string { return pickLoopback(p.Ports.Nats) }

// WebSocketURL is the first loopback WebSocket URL (ws:// or wss://).
func (p *Proc) WebSocketURL() string { return pickLoopback(p.Ports.WebSocket) }

// WebSocketAddr is host:port of WebSocketURL.
func (p *Proc) WebSocketAddr() string {
	u, err := url.Parse(p.WebSocketURL())
	if err != nil {
		return ""
	}
	return u.Host
}

// MonitorURL is the first loopback monitoring URL.
func (p *Proc) MonitorURL() string { return pickLoopback(p.Ports.Monitoring) }

// ClientAddr is host:port of ClientURL.
func (p *Proc) ClientAddr() string {
	u, err := url.Parse(p.ClientURL())
	if err != nil {
		return ""
	}
	return u.Host
}

func pickLoopback(urls []string) string {
	for _, u := range urls {
		if strings.Contains(u, "127.0.0.1") {
			return u
		}
	}
	if len(urls) > 0 {
		return urls[0]
	}
	return ""
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Log is what the process wrote so far.
func (p *Proc) Log() string { return p.log.String() }

// Pid is the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

// ExitCode waits for the process (up to timeout) and returns its exit code.
func (p *Proc) ExitCode(timeout time.Duration) int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		p.t.Fatalf("process did not exit within %v", timeout)
		return -1
	}
}

// Stop sends SIGTERM, then SIGKILL after 5 s, and waits.
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill sends SIGKILL and waits.
func (p *Proc) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// WriteFile writes content to a file in a test temp dir and returns its path.
func WriteFile(t testing.TB, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// FreePort returns a loopback port that is free now, for a test that must
// know a port before it starts a server on it (a cluster port other nodes
// route to). It is picked below the kernel's ephemeral range, so that no
// random port (-1, or a client's source port) can take it before the server
// binds it, and never twice in one test process.
func FreePort(t testing.TB) int {
	t.Helper()
	lo, hi := 20000, ephemeralLow()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		p := lo + rand.IntN(hi-lo)
		if portsGiven[p] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		_ = ln.Close()
		portsGiven[p] = true
		return p
	}
	t.Fatal("no free port below the ephemeral range")
	return 0
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// ephemeralLow is the start of the kernel's ephemeral port range.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 21000 {
				return n
			}
		}
	}
	return 32768
}

// Eventually polls cond every 10 ms until it returns nil or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for {
		if err = cond(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true within %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
