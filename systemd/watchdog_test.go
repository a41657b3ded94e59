//go:build linux

package systemd

import (
	"context"
	"errors"
	"os"
	"strconv"
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

	pings := func(k int) { // k pings arrive in good time
		t.Helper()
		start := time.Now()
		for range k {
			if m := s.next(2 * time.Second); m != "WATCHDOG=1" {
				t.Fatalf("datagram %q, want WATCHDOG=1", m)
			}
		}
		// k pings need (k-1) intervals; allow for a slow, raced machine.
		if el := time.Since(start); el > time.Duration(k)*200*time.Millisecond {
			t.Errorf("%d pings took %v", k, el)
		}
	}
	silent := func() { // no pings, after one that may be in flight
		t.Helper()
		time.Sleep(100 * time.Millisecond)
		drain(s)
		s.none(300 * time.Millisecond)
	}

	pings(4)

	state.Store(failing)
	silent()

	state.Store(healthy)
	pings(3)

	state.Store(blocked)
	silent()
	if c := running.Load(); c != 1 {
		t.Errorf("%d health checks running while blocked, want 1 (a blocked check is not started again)", c)
	}

	state.Store(healthy)
	close(release)
	pings(3)

	cancel()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Watchdog did not return after ctx ended")
	}
	drain(s)
	before := calls.Load()
	s.none(200 * time.Millisecond)
	if calls.Load() != before {
		t.Error("health checked after Watchdog returned")
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
	go func() {
		defer close(done)
		NewNotifier().Watchdog(ctx, func() error { time.Sleep(60 * time.Millisecond); return nil })
	}()
	s.none(400 * time.Millisecond)
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
