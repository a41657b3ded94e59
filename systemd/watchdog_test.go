//go:build linux

package systemd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// returnsAtOnce asserts that Watchdog returns without waiting for ctx.
func returnsAtOnce(t *testing.T, n *Notifier) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.Watchdog(context.Background(), func() error { t.Error("health checked"); return nil })
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Watchdog did not return at once with the watchdog off")
	}
}

func TestWatchdogOff(t *testing.T) {
	listenNotify(t, false)
	pid := strconv.Itoa(os.Getpid())
	for _, tc := range []struct{ name, usec, pid string }{
		{"no WATCHDOG_USEC", "", pid},
		{"WATCHDOG_PID of another process", "100000", strconv.Itoa(os.Getpid() + 1)},
		{"malformed WATCHDOG_USEC", "soon", pid},
		{"zero WATCHDOG_USEC", "0", pid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tc.usec)
			t.Setenv("WATCHDOG_PID", tc.pid)
			n := NewNotifier()
			if d := n.WatchdogInterval(); d != 0 {
				t.Errorf("WatchdogInterval() = %v, want 0", d)
			}
			returnsAtOnce(t, n)
		})
	}
}

// TestWatchdog walks the health function through healthy → failing →
// healthy → blocked → healthy → ctx cancelled, with WATCHDOG_USEC=100ms
// (pings every 50ms, checks must answer within 25ms).
func TestWatchdog(t *testing.T) {
	s := listenNotify(t, false)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid())) // also fine unset
	n := NewNotifier()
	if d := n.WatchdogInterval(); d != 50*time.Millisecond {
		t.Fatalf("WatchdogInterval() = %v, want 50ms", d)
	}

	const (
		healthy = iota
		failing
		blocked
	)
	var state atomic.Int32
	var calls, running atomic.Int32
	release := make(chan struct{})
	health := func() error {
		calls.Add(1)
		running.Add(1)
		defer running.Add(-1)
		switch state.Load() {
		case failing:
			return errors.New("accept loop stuck")
		case blocked:
			<-release
		}
		return nil
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); n.Watchdog(ctx, health) }()

	pings := func(k int) { // k pings arrive (how soon is BenchmarkWatchdog's)
		t.Helper()
		for range k {
			if m := s.next(5 * time.Second); m != "WATCHDOG=1" {
				t.Fatalf("datagram %q, want WATCHDOG=1", m)
			}
		}
	}
	// checks waits until k more health checks have started.
	checks := func(k int32) {
		t.Helper()
		c := calls.Load()
		waitFor(t, fmt.Sprintf("%d more health checks", k), func() bool { return calls.Load() >= c+k })
	}
	// silent: the checks fail, and no ping comes. Once a check has started
	// after the switch, every ping of an earlier (healthy) round has been
	// sent — a round pings before the next one checks — and is dropped.
	// Then three more checks run, and nothing may have been sent before
	// the third started.
	silent := func() {
		t.Helper()
		checks(1)
		s.sinceLast()
		checks(3)
		if got := s.sinceLast(); len(got) != 0 {
			t.Fatalf("%q sent while the health check fails", got)
		}
	}

	pings(4)

	state.Store(failing)
	silent()

	state.Store(healthy)
	pings(3)

	// Blocked: the check does not return, so no round starts another and
	// there is no per-round event to wait for. The check blocks for 300 ms
	// (six rounds): that is the condition under test, not a wait for an
	// outcome; nothing may be sent meanwhile.
	state.Store(blocked)
	checks(1)
	waitFor(t, "the blocked check", func() bool { return running.Load() == 1 })
	s.sinceLast()
	time.Sleep(300 * time.Millisecond)
	if got := s.sinceLast(); len(got) != 0 {
		t.Errorf("%q sent while the health check is blocked", got)
	}
	if c := running.Load(); c != 1 {
		t.Errorf("%d health checks running while blocked, want 1 (a blocked check is not started again)", c)
	}

	// Released, the late answer is ignored: the first ping follows a
	// fresh check.
	state.Store(healthy)
	blockedCalls := calls.Load()
	close(release)
	pings(1)
	if calls.Load() == blockedCalls {
		t.Error("a ping for the late answer of the blocked check")
	}
	pings(2)

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watchdog did not return after ctx ended")
	}
	// Nothing of Watchdog is left running that could check or ping again.
	waitFor(t, "Watchdog's goroutines to end", func() bool { return !watchdogRunning() })
	before := calls.Load()
	s.sinceLast()
	if calls.Load() != before {
		t.Error("health checked after Watchdog returned")
	}
}

// watchdogRunning reports whether a goroutine is in Watchdog or a health
// check it started.
func watchdogRunning() bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Contains(string(buf), "systemd.(*Notifier).Watchdog")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestWatchdogSlowCheck: a check that answers, but later than a quarter of
// WATCHDOG_USEC, is not good enough.
func TestWatchdogSlowCheck(t *testing.T) {
	s := listenNotify(t, false)
	t.Setenv("WATCHDOG_USEC", "100000")
	unsetenv(t, "WATCHDOG_PID")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var answered atomic.Int32
	go func() {
		defer close(done)
		NewNotifier().Watchdog(ctx, func() error { time.Sleep(60 * time.Millisecond); answered.Add(1); return nil })
	}()
	// Three checks answered (each too late): a ping for any of them would
	// have been sent before the test's marker.
	waitFor(t, "three slow checks", func() bool { return answered.Load() >= 3 })
	if got := s.sinceLast(); len(got) != 0 {
		t.Errorf("%q sent for checks that answered too late", got)
	}
	cancel()
	<-done
}

// BenchmarkWatchdog measures the time between pings with WATCHDOG_USEC of
// 100 ms (a ping every 50 ms) and a health check that answers at once: a
// slow or late watchdog loop shows here, not as a failing test.
//
//	go test -run '^$' -bench Watchdog ./systemd/
func BenchmarkWatchdog(b *testing.B) {
	s := listenNotify(b, false)
	b.Setenv("WATCHDOG_USEC", "100000")
	unsetenv(b, "WATCHDOG_PID")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); NewNotifier().Watchdog(ctx, nil) }()
	s.next(5 * time.Second) // the first ping, at once
	for b.Loop() {
		if m := s.next(5 * time.Second); m != "WATCHDOG=1" {
			b.Fatalf("datagram %q", m)
		}
	}
	cancel()
	<-done
}

// TestWatchdogNilHealth: no health function means always healthy.
func TestWatchdogNilHealth(t *testing.T) {
	s := listenNotify(t, true)
	t.Setenv("WATCHDOG_USEC", "100000")
	unsetenv(t, "WATCHDOG_PID")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); NewNotifier().Watchdog(ctx, nil) }()
	for range 2 {
		s.expect("WATCHDOG=1")
	}
	cancel()
	<-done
}

func drain(s *notifySocket) {
	for {
		select {
		case <-s.msgs:
		default:
			return
		}
	}
}
