//go:build linux

package systemd

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The Listeners tests run Listeners in a child process, the test binary
// run again with childEnv set, because socket activation hands over fds 3,
// 4, … and LISTEN_PID must be the pid of the process that calls Listeners.
const (
	childEnv       = "NATSD_SYSTEMD_TEST_CHILD" // "listeners": report what Listeners returned
	childPIDEnv    = "NATSD_SYSTEMD_TEST_LISTEN_PID"
	childDialsEnv  = "NATSD_SYSTEMD_TEST_DIALS" // number of connections to accept per listener
	childTimeoutMS = 10000

	// noRaceSleep spares a child built with -race the race runtime's
	// 1s sleep at exit.
	noRaceSleep = "GORACE=atexit_sleep_ms=0"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "listeners" {
		os.Exit(listenersChild())
	}
	os.Exit(m.Run())
}

// childReport is what the child prints as JSON on stdout.
type childReport struct {
	Err       string            // error from Listeners
	Addrs     map[string]string // name → network:address
	Read      map[string]string // name → first line read from an accepted connection
	EnvLeft   []string          // LISTEN_* still set after Listeners
	FDsOpen   []int             // passed fds still open after Listeners
	Activated bool              // LISTEN_PID was this process when Listeners ran
}

// listenersChild sets LISTEN_PID to its own pid (it cannot be known before
// exec) unless told otherwise or already set (systemd-socket-activate sets
// it), calls Listeners, and, per listener, accepts connections, reads a
// line and writes it back.
func listenersChild() int {
	switch v := os.Getenv(childPIDEnv); v {
	case "self":
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	case "":
	default:
		os.Setenv("LISTEN_PID", v)
	}
	rep := childReport{Addrs: map[string]string{}, Read: map[string]string{}}
	rep.Activated = os.Getenv("LISTEN_PID") == strconv.Itoa(os.Getpid())
	nfds, _ := strconv.Atoi(os.Getenv("LISTEN_FDS"))
	ls, err := Listeners()
	if err != nil {
		rep.Err = err.Error()
	}
	for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		if _, ok := os.LookupEnv(k); ok {
			rep.EnvLeft = append(rep.EnvLeft, k)
		}
	}
	for fd := 3; fd < 3+nfds; fd++ { // not later ones: the runtime's epoll
		if _, err := fcntl(fd, syscall.F_GETFD); err == nil {
			rep.FDsOpen = append(rep.FDsOpen, fd)
		}
	}
	dials, _ := strconv.Atoi(os.Getenv(childDialsEnv))
	for name, l := range ls {
		rep.Addrs[name] = l.Addr().Network() + ":" + l.Addr().String()
		for range dials {
			if d, ok := l.(interface{ SetDeadline(time.Time) error }); ok {
				d.SetDeadline(time.Now().Add(childTimeoutMS * time.Millisecond))
			}
			c, err := l.Accept()
			if err != nil {
				rep.Read[name] = "accept: " + err.Error()
				break
			}
			c.SetDeadline(time.Now().Add(childTimeoutMS * time.Millisecond))
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				line = "read: " + err.Error()
			}
			rep.Read[name] = strings.TrimSuffix(line, "\n")
			fmt.Fprintf(c, "%s got %s", name, line)
			c.Close()
		}
	}
	json.NewEncoder(os.Stdout).Encode(rep)
	return 0
}

func fcntl(fd, cmd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), uintptr(cmd), 0)
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}

// passed is a socket the parent hands to the child as fd 3, 4, …
type passed struct {
	file *os.File
	addr net.Addr // where to connect, nil if the child should not be dialled
}

func tcpListener(t *testing.T) passed {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return passed{f, l.Addr()}
}

func unixListener(t *testing.T) passed {
	t.Helper()
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f, err := l.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return passed{f, l.Addr()}
}

func udpSocket(t *testing.T) passed {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f, err := c.(*net.UDPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return passed{f, nil}
}

// connectedSocket is what Accept=yes passes: a connection, not a listener.
func connectedSocket(t *testing.T) passed {
	t.Helper()
	l := tcpListener(t)
	c, err := net.Dial("tcp", l.addr.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return passed{f, nil}
}

// runChild runs the test binary as the child with socks as fds 3, 4, …
// and the given environment, after connecting to each dialable socket and
// sending its expected name.
func runChild(t *testing.T, socks []passed, names []string, env ...string) childReport {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=listeners", childDialsEnv+"=1", noRaceSleep,
		"LISTEN_FDS="+strconv.Itoa(len(socks)))
	cmd.Env = append(cmd.Env, env...)
	var conns []net.Conn
	for i, s := range socks {
		cmd.ExtraFiles = append(cmd.ExtraFiles, s.file)
		if s.addr == nil || i >= len(names) {
			continue
		}
		// Connect before the child runs: the connection waits in the
		// listen queue of the socket the child inherits.
		c, err := net.Dial(s.addr.Network(), s.addr.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "%s\n", names[i])
		conns = append(conns, c)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	var rep childReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("child output %q: %v\n%s", out, err, stderr.String())
	}
	return rep
}

func keys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func TestListeners(t *testing.T) {
	self := childPIDEnv + "=self"
	for _, tc := range []struct {
		name    string
		socks   func(t *testing.T) []passed
		fdnames string // LISTEN_FDNAMES; "-" leaves it unset
		env     string
		want    []string // names returned, each accepting its own connection
		wantErr string
	}{
		{
			name:    "client cluster monitor",
			socks:   func(t *testing.T) []passed { return []passed{tcpListener(t), tcpListener(t), unixListener(t)} },
			fdnames: "client:cluster:monitor",
			want:    []string{"client", "cluster", "monitor"},
		},
		{
			name: "all four",
			socks: func(t *testing.T) []passed {
				return []passed{tcpListener(t), tcpListener(t), tcpListener(t), tcpListener(t)}
			},
			fdnames: "websocket:client:cluster:monitor",
			want:    []string{"client", "cluster", "monitor", "websocket"},
		},
		{
			name:    "any order",
			socks:   func(t *testing.T) []passed { return []passed{tcpListener(t), tcpListener(t)} },
			fdnames: "monitor:client",
			want:    []string{"client", "monitor"},
		},
		{
			name:    "single unnamed",
			socks:   func(t *testing.T) []passed { return []passed{tcpListener(t)} },
			fdnames: "-",
			want:    []string{"client"},
		},
		{
			name:    "single unknown",
			socks:   func(t *testing.T) []passed { return []passed{tcpListener(t)} },
			fdnames: "unknown",
			want:    []string{"client"},
		},
		{
			name:    "not activated: LISTEN_PID of another process",
			socks:   func(t *testing.T) []passed { return []passed{tcpListener(t)} },
			fdnames: "client",
			env:     childPIDEnv + "=1",
			want:    nil,
		},
		{
			name:    "unit name, no FileDescriptorName",
			socks:   func(t *testing.T) []passed { return []passed{tcpListener(t)} },
			fdnames: "natsd.socket",
			wantErr: `is named "natsd.socket"; natsd takes "client", "cluster", "monitor", "websocket" (set FileDescriptorName=)`,
		},
		{
			name:    "two unnamed",
			socks:   func(t *testing.T) []passed { return []passed{tcpListener(t), tcpListener(t)} },
			fdnames: "-",
			wantErr: "has no name; set FileDescriptorName=client|cluster|monitor",
		},
		{
			name:    "name twice",
			socks:   func(t *testing.T) []passed { return []passed{tcpListener(t), tcpListener(t)} },
			fdnames: "client:client",
			wantErr: `is a second "client" listener`,
		},
		{
			name:    "datagram socket",
			socks:   func(t *testing.T) []passed { return []passed{tcpListener(t), udpSocket(t)} },
			fdnames: "client:cluster",
			wantErr: "not a stream socket",
		},
		{
			name:    "Accept=yes",
			socks:   func(t *testing.T) []passed { return []passed{connectedSocket(t)} },
			fdnames: "client",
			wantErr: "not a listening socket; Accept=yes is not supported",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			socks := tc.socks(t)
			env := []string{self}
			if tc.env != "" {
				env = []string{tc.env}
			}
			if tc.fdnames != "-" {
				env = append(env, "LISTEN_FDNAMES="+tc.fdnames)
			}
			names := strings.Split(tc.fdnames, ":")
			if tc.fdnames == "-" || tc.fdnames == "unknown" {
				names = []string{"client"}
			}
			if tc.wantErr != "" || tc.want == nil {
				names = nil // nobody accepts: do not dial
			}
			rep := runChild(t, socks, names, env...)

			if len(rep.EnvLeft) > 0 {
				t.Errorf("still set after Listeners: %v", rep.EnvLeft)
			}
			if tc.wantErr != "" {
				if !strings.Contains(rep.Err, tc.wantErr) || !strings.HasPrefix(rep.Err, "systemd: socket activation: ") {
					t.Errorf("error %q, want one containing %q", rep.Err, tc.wantErr)
				}
				if len(rep.Addrs) != 0 {
					t.Errorf("listeners %v returned with an error", rep.Addrs)
				}
				if len(rep.FDsOpen) != 0 {
					t.Errorf("fds %v left open after an error; want all passed fds closed", rep.FDsOpen)
				}
				return
			}
			if rep.Err != "" {
				t.Fatalf("Listeners: %s", rep.Err)
			}
			if got := keys(rep.Addrs); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("names %v, want %v", got, tc.want)
			}
			for i, name := range names {
				if rep.Read[name] != name {
					t.Errorf("%s listener read %q, want %q (the connection made to fd %d)", name, rep.Read[name], name, 3+i)
				}
				if want := socks[i].addr.Network() + ":" + socks[i].addr.String(); rep.Addrs[name] != want {
					t.Errorf("%s listener on %s, want %s", name, rep.Addrs[name], want)
				}
			}
			if tc.want == nil && len(rep.FDsOpen) == 0 {
				t.Error("not activated, but the fds were closed")
			}
		})
	}
}

// TestListenersNotActivated: outside socket activation, an empty map.
func TestListenersNotActivated(t *testing.T) {
	for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		unsetenv(t, k)
	}
	ls, err := Listeners()
	if err != nil || ls == nil || len(ls) != 0 {
		t.Errorf("Listeners() = %v, %v; want an empty map and nil", ls, err)
	}
}

// TestListenersSocketActivate runs the child under Debian's
// systemd-socket-activate, which binds the sockets, waits for the first
// connection and then execs the child with LISTEN_FDS, LISTEN_PID and
// LISTEN_FDNAMES, as systemd does.
func TestListenersSocketActivate(t *testing.T) {
	bin, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Fatalf("systemd-socket-activate not found (Debian package systemd); run make test-deps: %v", err)
	}
	for _, tc := range []struct {
		name   string
		fdname string // --fdname; "" for none
		want   []string
	}{
		{"named", "client:monitor", []string{"client", "monitor"}},
		{"unnamed", "", []string{"client"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// TCP on a port that was free a moment ago, and a Unix socket.
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			addrs := []net.Addr{l.Addr(), &net.UnixAddr{Name: filepath.Join(t.TempDir(), "monitor.sock"), Net: "unix"}}
			addrs = addrs[:len(tc.want)]

			args := []string{"-E", childEnv + "=listeners", "-E", childDialsEnv + "=1", "-E", noRaceSleep}
			for _, a := range addrs {
				args = append(args, "-l", a.String())
			}
			if tc.fdname != "" {
				args = append(args, "--fdname="+tc.fdname)
			}
			args = append(args, os.Args[0], "-test.run=^$")
			cmd := exec.Command(bin, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() {
				cmd.Process.Kill()
				<-exited
			})

			// The first connection makes systemd-socket-activate exec the
			// child; the others wait in their listen queues. Connect to
			// all before reading: the child accepts in any order.
			var conns []net.Conn
			for i, a := range addrs {
				var c net.Conn
				deadline := time.Now().Add(10 * time.Second)
				for {
					c, err = net.Dial(a.Network(), a.String())
					if err == nil || time.Now().After(deadline) {
						break
					}
					time.Sleep(20 * time.Millisecond)
				}
				if err != nil {
					t.Fatalf("dial %s: %v\n%s", a, err, stderr.String())
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				fmt.Fprintf(c, "%s\n", tc.want[i])
				conns = append(conns, c)
			}
			replies := make([]string, len(addrs))
			for i, c := range conns {
				b, err := bufio.NewReader(c).ReadString('\n')
				if err != nil && b == "" {
					t.Fatalf("%s: read reply: %v\n%s", addrs[i], err, stderr.String())
				}
				replies[i] = strings.TrimSpace(b)
			}
			select {
			case err := <-exited:
				exited <- err
				if err != nil {
					t.Fatalf("child: %v\n%s", err, stderr.String())
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("child did not exit\n%s", stderr.String())
			}
			var rep childReport
			if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
				t.Fatalf("child output %q: %v\n%s", stdout.String(), err, stderr.String())
			}
			if rep.Err != "" || !rep.Activated || len(rep.EnvLeft) > 0 {
				t.Fatalf("child: err %q, activated %v, env left %v", rep.Err, rep.Activated, rep.EnvLeft)
			}
			if got := keys(rep.Addrs); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("names %v, want %v", got, tc.want)
			}
			for i, name := range tc.want {
				if want := name + " got " + name; replies[i] != want {
					t.Errorf("reply on %s = %q, want %q", addrs[i], replies[i], want)
				}
				if want := addrs[i].Network() + ":" + addrs[i].String(); rep.Addrs[name] != want {
					t.Errorf("%s listener on %s, want %s", name, rep.Addrs[name], want)
				}
			}
		})
	}
}
