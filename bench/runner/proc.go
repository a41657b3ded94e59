package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Every process the runner starts is in this registry until it has been
// waited for, so that a signal or an early exit can kill them all.
var (
	procsMu sync.Mutex
	procs   = map[*exec.Cmd]struct{}{}
)

// startCmd starts cmd and registers it. Children get SIGKILL if the runner
// dies without cleaning up (Pdeathsig), as a last resort behind killAll.
func startCmd(cmd *exec.Cmd) error {
	dieWithRunner(cmd)
	procsMu.Lock()
	defer procsMu.Unlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	procs[cmd] = struct{}{}
	return nil
}

// waitCmd waits for a command started with startCmd and unregisters it.
func waitCmd(cmd *exec.Cmd) error {
	err := cmd.Wait()
	procsMu.Lock()
	delete(procs, cmd)
	procsMu.Unlock()
	return err
}

// killAll kills every registered process that is still running; only the
// processes this runner started, by their pid.
func killAll() {
	procsMu.Lock()
	defer procsMu.Unlock()
	for cmd := range procs {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	}
}

// serverKind is one of the two servers under test.
type serverKind struct {
	Name    string // "natsd" or "nats-server"
	Bin     string
	Version string
}

// server is one running server process.
type server struct {
	kind     serverKind
	cmd      *exec.Cmd
	port     int
	httpPort int  // 0 when started without monitoring
	tls      bool // clients must use TLS
	wsPort   int  // the clients use this WebSocket port (0: the client port)
	logPath  string
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

func (s *server) URL() string {
	if s.wsPort != 0 {
		return fmt.Sprintf("ws://127.0.0.1:%d", s.wsPort)
	}
	if s.tls {
		return fmt.Sprintf("tls://127.0.0.1:%d", s.port)
	}
	return fmt.Sprintf("nats://127.0.0.1:%d", s.port)
}
func (s *server) Addr() string { return fmt.Sprintf("127.0.0.1:%d", s.port) }
func (s *server) PID() int     { return s.cmd.Process.Pid }

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// serverOpts are the extra pieces of a server's command line.
type serverOpts struct {
	monitor bool     // -m on a free port, for /connz and /routez
	extra   []string // e.g. cluster flags
	env     []string // extra environment, e.g. GODEBUG=gctrace=1
	tls     bool     // the extra flags put the client port on TLS
	wsPort  int      // the extra flags give a WebSocket listener on this port, for the clients
	avoid   []int    // ports the extra flags use (e.g. a cluster's route ports), not to be picked again
}

// freePortAvoiding is freePort, never one of avoid: a port the kernel
// handed out and that was closed again (to be given to a server's config)
// may come back from the next bind to port 0.
func freePortAvoiding(avoid []int) (int, error) {
	for range 100 {
		p, err := freePort()
		if err != nil || !slices.Contains(avoid, p) {
			return p, err
		}
	}
	return 0, errors.New("no free port outside the reserved ones")
}

// startServer starts k on loopback with a free client port, the same
// command line for both servers, and waits until it accepts clients.
func startServer(k serverKind, dir string, o serverOpts) (*server, error) {
	port, err := freePortAvoiding(o.avoid)
	if err != nil {
		return nil, err
	}
	args := []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}
	s := &server{kind: k, port: port, exited: make(chan struct{}), tls: o.tls, wsPort: o.wsPort}
	if o.monitor {
		if s.httpPort, err = freePortAvoiding(append(o.avoid, port)); err != nil {
			return nil, err
		}
		args = append(args, "-m", strconv.Itoa(s.httpPort))
	}
	args = append(args, o.extra...)
	f, err := os.CreateTemp(dir, k.Name+"-*.log")
	if err != nil {
		return nil, err
	}
	s.logPath = f.Name()
	s.cmd = exec.Command(k.Bin, args...)
	if len(o.env) > 0 {
		s.cmd.Env = append(os.Environ(), o.env...)
	}
	s.cmd.Stdout, s.cmd.Stderr = f, f
	if err := startCmd(s.cmd); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", k.Name, err)
	}
	go func() {
		s.waitErr = waitCmd(s.cmd)
		f.Close()
		close(s.exited)
	}()
	if err := s.waitReady(15 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func (s *server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("%s exited at startup (%v): %s", s.kind.Name, s.waitErr, s.logTail())
		default:
		}
		ok := false
		if c, err := net.DialTimeout("tcp", s.Addr(), time.Second); err == nil {
			c.Close()
			ok = true
		}
		if ok && s.wsPort != 0 {
			ok = false
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.wsPort), time.Second); err == nil {
				c.Close()
				ok = true
			}
		}
		if ok && s.httpPort != 0 {
			var v struct{}
			ok = s.getJSON("/varz", &v) == nil
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready on %s after %v: %s", s.kind.Name, s.Addr(), timeout, s.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var httpClient = &http.Client{Timeout: 5 * time.Second}

func (s *server) getJSON(path string, v any) error {
	if s.httpPort == 0 {
		return errors.New("started without monitoring")
	}
	resp, err := httpClient.Get(fmt.Sprintf("http://127.0.0.1:%d%s", s.httpPort, path))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// clientSubs is the number of subscriptions held by client connections,
// from /connz (the same field in both servers).
func (s *server) clientSubs() (int, error) {
	var cz struct {
		Conns []struct {
			Subs int `json:"subscriptions"`
		} `json:"connections"`
	}
	if err := s.getJSON("/connz?limit=4096", &cz); err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cz.Conns {
		n += c.Subs
	}
	return n, nil
}

// routeInterest reports whether a route of s lists subject in its
// subscriptions (/routez?subs=1, the same fields in both servers).
func (s *server) routeInterest(subject string) (bool, error) {
	var rz struct {
		Routes []struct {
			Subs []string `json:"subscriptions_list"`
		} `json:"routes"`
	}
	if err := s.getJSON("/routez?subs=1", &rz); err != nil {
		return false, err
	}
	for _, r := range rz.Routes {
		if slices.Contains(r.Subs, subject) {
			return true, nil
		}
	}
	return false, nil
}

// numRoutes is the number of routes from /routez.
func (s *server) numRoutes() (int, error) {
	var rz struct {
		NumRoutes int `json:"num_routes"`
	}
	err := s.getJSON("/routez", &rz)
	return rz.NumRoutes, err
}

// Stop sends SIGTERM, waits up to 5 s, then SIGKILLs.
func (s *server) Stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	})
}

func (s *server) logTail() string {
	b, _ := os.ReadFile(s.logPath)
	return tail(string(b), 800)
}

func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "…" + s[len(s)-n:]
	}
	return s
}

// vmRSS reads VmRSS (bytes) from /proc/PID/status.
func vmRSS(pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0, err
	}
	for line := range bytes.Lines(b) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := strings.Fields(string(rest))
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("unexpected VmRSS line %q", line)
			}
			kb, err := strconv.ParseUint(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// cpuTime is the CPU time (user + system) process pid has used so far,
// from /proc/PID/stat.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("unexpected /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc stat times: %v %v", err1, err2)
	}
	return time.Duration(ut+st) * time.Second / time.Duration(clockTicks()), nil
}

var (
	ticksOnce sync.Once
	ticks     int64
)

// clockTicks is the kernel's USER_HZ (getconf CLK_TCK), 100 if unknown.
func clockTicks() int64 {
	ticksOnce.Do(func() {
		ticks = 100
		if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
			if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
				ticks = n
			}
		}
	})
	return ticks
}

// gcCycles counts the garbage collections a server started with
// GODEBUG=gctrace=1 has logged so far (one "gc N @…" line each, on its
// stderr, which is its log file).
func (s *server) gcCycles() (int, error) {
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		return 0, err
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "gc" && strings.HasPrefix(f[2], "@") {
			if _, err := strconv.Atoi(f[1]); err == nil {
				n++
			}
		}
	}
	return n, nil
}

// runCmd runs a command to completion under ctx, registered for cleanup,
// and returns its combined output.
func runCmd(ctx context.Context, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := startCmd(cmd); err != nil {
		return "", err
	}
	err := waitCmd(cmd)
	if ctx.Err() != nil {
		err = fmt.Errorf("%w (%v)", ctx.Err(), err)
	}
	return out.String(), err
}
