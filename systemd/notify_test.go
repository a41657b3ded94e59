//go:build linux

package systemd

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"
	"unsafe"
)

// notifySocket is a fake service manager: a unixgram socket set as
// NOTIFY_SOCKET for the test, collecting every datagram.
type notifySocket struct {
	t     testing.TB
	name  string
	msgs  chan string
	marks int
}

// listenNotify binds a unixgram socket, at a path or (abstract) under a
// name starting with '@', and sets NOTIFY_SOCKET to it for the test.
func listenNotify(t testing.TB, abstract bool) *notifySocket {
	t.Helper()
	name := filepath.Join(t.TempDir(), "notify")
	if abstract {
		name = fmt.Sprintf("@natsd-systemd-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("NOTIFY_SOCKET", name)
	s := &notifySocket{t: t, name: name, msgs: make(chan string, 1000)}
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
	t.Cleanup(func() { conn.Close(); <-done })
	return s
}

// next returns the next datagram, failing the test after timeout.
func (s *notifySocket) next(timeout time.Duration) string {
	s.t.Helper()
	select {
	case m := <-s.msgs:
		return m
	case <-time.After(timeout):
		s.t.Fatalf("no notification within %v", timeout)
		return ""
	}
}

// expect asserts the next datagram is exactly want.
func (s *notifySocket) expect(want string) {
	s.t.Helper()
	if got := s.next(2 * time.Second); got != want {
		s.t.Errorf("datagram = %q, want %q", got, want)
	}
}

// sinceLast sends a marker datagram of its own to the socket and returns
// what arrived before it: every datagram sent before sinceLast was called
// (one socket's queue keeps the order of arrival), and nothing is left
// waiting. It replaces waiting a while to see that nothing comes.
func (s *notifySocket) sinceLast() []string {
	s.t.Helper()
	s.marks++
	mark := fmt.Sprintf("TEST-MARK=%d", s.marks)
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: s.name, Net: "unixgram"})
	if err != nil {
		s.t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(mark)); err != nil {
		s.t.Fatal(err)
	}
	var got []string
	for {
		m := s.next(5 * time.Second)
		if m == mark {
			return got
		}
		got = append(got, m)
	}
}

// none asserts that nothing was sent since the last datagram read.
func (s *notifySocket) none() {
	s.t.Helper()
	if got := s.sinceLast(); len(got) != 0 {
		s.t.Errorf("unexpected datagrams %q", got)
	}
}

// unsetenv unsets key for the rest of the test; t.Setenv restores it.
func unsetenv(t testing.TB, key string) {
	t.Setenv(key, "")
	os.Unsetenv(key)
}

func monotonicUsec(t *testing.T) int64 {
	var ts syscall.Timespec
	const clockMonotonic = 1
	if _, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, clockMonotonic, uintptr(unsafe.Pointer(&ts)), 0); e != 0 {
		t.Fatal(e)
	}
	return ts.Nano() / 1000
}

func TestNotifierMessages(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(map[bool]string{false: "path", true: "abstract"}[abstract], func(t *testing.T) {
			s := listenNotify(t, abstract)
			n := NewNotifier()
			if !n.Enabled() {
				t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
			}
			check := func(err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
			}

			check(n.Ready("Listening on 0.0.0.0:4222"))
			s.expect("READY=1\nSTATUS=Listening on 0.0.0.0:4222")
			check(n.Ready(""))
			s.expect("READY=1\nSTATUS=")
			check(n.Status("reload failed: seed.conf:4:3: bad\x00 value\r\nMAINPID=1"))
			s.expect("STATUS=reload failed: seed.conf:4:3: bad value MAINPID=1")
			check(n.Ready("ready\x00"))
			s.expect("READY=1\nSTATUS=ready")
			check(n.Stopping())
			s.expect("STOPPING=1")
			check(n.ExtendTimeout(90 * time.Second))
			s.expect("EXTEND_TIMEOUT_USEC=90000000")
			check(n.ExtendTimeout(1500 * time.Nanosecond)) // rounds up, never 0
			s.expect("EXTEND_TIMEOUT_USEC=2")
			for _, d := range []time.Duration{0, -time.Second} {
				if err := n.ExtendTimeout(d); err == nil {
					t.Errorf("ExtendTimeout(%v) = nil, want an error", d)
				}
			}
			s.none()

			before := monotonicUsec(t)
			check(n.Reloading())
			after := monotonicUsec(t)
			msg := s.next(2 * time.Second)
			lines := strings.Split(msg, "\n")
			if len(lines) != 2 || lines[0] != "RELOADING=1" || !strings.HasPrefix(lines[1], "MONOTONIC_USEC=") {
				t.Fatalf("Reloading sent %q, want \"RELOADING=1\\nMONOTONIC_USEC=<µs>\"", msg)
			}
			usec, err := strconv.ParseInt(strings.TrimPrefix(lines[1], "MONOTONIC_USEC="), 10, 64)
			if err != nil || usec < before || usec > after {
				t.Errorf("MONOTONIC_USEC=%d (%v), want CLOCK_MONOTONIC between %d and %d", usec, err, before, after)
			}
		})
	}
}

func TestNotifierConcurrent(t *testing.T) {
	s := listenNotify(t, false)
	n := NewNotifier()
	const N = 50
	errs := make(chan error, N)
	for i := range N {
		go func() { errs <- n.Status(fmt.Sprint("status ", i)) }()
	}
	seen := map[string]bool{}
	for range N {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		seen[s.next(2*time.Second)] = true
	}
	if len(seen) != N {
		t.Errorf("got %d distinct datagrams, want %d", len(seen), N)
	}
}

func TestNotifierOutsideSystemd(t *testing.T) {
	unsetenv(t, "NOTIFY_SOCKET")
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	for name, n := range map[string]*Notifier{"NewNotifier": NewNotifier(), "nil": nil} {
		t.Run(name, func(t *testing.T) {
			if n.Enabled() {
				t.Error("Enabled() = true without NOTIFY_SOCKET")
			}
			for what, err := range map[string]error{
				"Ready":            n.Ready("x"),
				"Reloading":        n.Reloading(),
				"Stopping":         n.Stopping(),
				"Status":           n.Status("x"),
				"ExtendTimeout":    n.ExtendTimeout(time.Second),
				"ExtendTimeout(0)": n.ExtendTimeout(0),
			} {
				if err != nil {
					t.Errorf("%s: %v, want nil", what, err)
				}
			}
			if d := n.WatchdogInterval(); d != 0 {
				t.Errorf("WatchdogInterval() = %v, want 0", d)
			}
			returnsAtOnce(t, n)
		})
	}
}

func TestNotifierUnreachable(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody-listens"))
	n := NewNotifier()
	err := n.Ready("x")
	if err == nil || !strings.Contains(err.Error(), "systemd: notify") {
		t.Errorf("Ready to a socket nobody listens on = %v, want a systemd: notify error", err)
	}
}

func TestCleanStatus(t *testing.T) {
	long := strings.Repeat("x", 300)
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Listening on 0.0.0.0:4222", "Listening on 0.0.0.0:4222"},
		{"nul\x00byte", "nulbyte"},
		{"line1\nline2\r\nline3", "line1 line2 line3"},
		{"tab\there", "tab here"},
		{"\n\nleading and trailing\n\n", "leading and trailing"},
		{"bell\a esc\x1b[31mred\x1b[0m del\x7f", "bell esc[31mred[0m del"},
		{"c1 \u0085nel \u009bcsi", "c1 nel csi"},
		{"bad utf8 \xff\xfe", "bad utf8 \uFFFD"},
		{"ünïcödé ✓ 日本", "ünïcödé ✓ 日本"},
		{long, strings.Repeat("x", MaxStatusLen-len("…")) + "…"},
		{strings.Repeat("x", MaxStatusLen), strings.Repeat("x", MaxStatusLen)},
	} {
		if got := CleanStatus(tc.in); got != tc.want {
			t.Errorf("CleanStatus(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}

	// Cut on a rune boundary: 2-, 3- and 4-byte runes at every offset.
	for _, r := range []string{"é", "✓", "🙂"} {
		for pad := range 4 {
			in := strings.Repeat("a", pad) + strings.Repeat(r, 200)
			got := CleanStatus(in)
			if len(got) > MaxStatusLen || !utf8.ValidString(got) || !strings.HasSuffix(got, "…") {
				t.Errorf("CleanStatus(%d×%q after %d bytes): %d bytes, valid %v, %q…",
					200, r, pad, len(got), utf8.ValidString(got), got[:20])
			}
			if len(got) < MaxStatusLen-len(r)-len("…")+1 {
				t.Errorf("CleanStatus cut %d×%q after %d bytes to %d bytes, too short", 200, r, pad, len(got))
			}
		}
	}

	// Whatever comes in, what goes out is clean.
	for i := range 256 {
		in := "a" + string([]byte{byte(i)}) + "b" + string(rune(i)) + "c"
		got := CleanStatus(in)
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
				t.Errorf("CleanStatus(%q) = %q keeps control character %U", in, got, r)
			}
		}
		if !utf8.ValidString(got) {
			t.Errorf("CleanStatus(%q) = %q is not UTF-8", in, got)
		}
	}
}
