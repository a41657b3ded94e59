//go:build linux

package daemon

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

// next returns the next message that is not a WATCHDOG=1 ping or a
// periodic STATUS= (those come on their own clock).
func (s *fakeSystemd) next() string {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m := <-s.msgs:
			if m == "WATCHDOG=1" || strings.HasPrefix(m, "STATUS=") {
				continue
			}
			return m
		case <-deadline:
			s.t.Fatal("no notification within 5s")
			return ""
		}
	}
}

// expect checks that the next message starts with each of the lines of
// want, in order.
func (s *fakeSystemd) expect(want ...string) string {
	s.t.Helper()
	m := s.next()
	lines := strings.Split(m, "\n")
	for i, w := range want {
		if i >= len(lines) || !strings.HasPrefix(lines[i], w) {
			s.t.Fatalf("got %q, want lines starting %q", m, want)
		}
	}
	return m
}

// What the daemon tells systemd: READY=1 once serving; RELOADING=1 then
// READY=1 with a status for a reload that changes something, and for one
// asked for by hand that changes nothing (Type=notify-reload waits for the
// answer); nothing at all when the watcher sees an edit that changes no
// value; the failed reload's status; STOPPING=1 first thing at shutdown.
func TestSystemdNotifications(t *testing.T) {
	sd := listenSystemd(t, 0)
	td := startDaemon(t, base)
	sd.expect("READY=1", "STATUS=0 clients")

	td.mustReload(base + "max_payload: 4096\n")
	sd.expect("RELOADING=1", "MONOTONIC_USEC=")
	sd.expect("READY=1", "STATUS=0 clients; reloaded ")

	// No value changes, asked for by hand: answered all the same.
	td.mustReload("# only a comment\n" + base + "max_payload: 4096\n")
	sd.expect("RELOADING=1", "MONOTONIC_USEC=")
	sd.expect("READY=1", "STATUS=0 clients; reloaded ")
	// No value changes, seen by the watcher: nothing is sent. The next
	// reload's RELOADING=1 is the next message (a reload sends before it
	// returns, in order).
	td.rewrite("# another comment\n" + base + "max_payload: 4096\n")
	if err := td.Reload(triggerFileChange); err != nil {
		t.Fatal(err)
	}
	if err := td.reloadWith(base + "max_payload: {{{\n"); err == nil {
		t.Fatal("a broken config reloaded")
	}
	sd.expect("RELOADING=1")
	m := sd.expect("READY=1", "STATUS=0 clients; reload failed: "+td.path+":2:")
	if strings.Contains(m, "\n\n") {
		t.Errorf("status %q has an empty line", m)
	}

	go td.Shutdown()
	sd.expect("STOPPING=1")
	<-td.done
}

// The watchdog pings while the daemon is healthy; the health check fails
// while the reload loop does not answer (a reload stuck mid-way), which
// costs the pings (systemd/watchdog_test.go); once it answers, pings resume.
func TestWatchdogFollowsHealth(t *testing.T) {
	sd := listenSystemd(t, 400*time.Millisecond)
	td := startDaemon(t, base)
	waitPing := func() {
		t.Helper()
		deadline := time.After(5 * time.Second)
		for {
			select {
			case m := <-sd.msgs:
				if m == "WATCHDOG=1" {
					return
				}
			case <-deadline:
				t.Fatal("no WATCHDOG=1 within 5s")
			}
		}
	}
	waitPing()

	entered, release := make(chan struct{}), make(chan struct{})
	td.hooks.beforeApply = func() {
		close(entered)
		<-release
	}
	td.rewrite(base + "max_payload: 4096\n")
	reloaded := make(chan error, 1)
	go func() { reloaded <- td.Reload("SIGHUP") }()
	<-entered
	waitFor(t, 5*time.Second, "the health check to fail", func() bool {
		return strings.Contains(td.log.String(), "Health check failed: not pinging the systemd watchdog")
	})
	for len(sd.msgs) > 0 {
		<-sd.msgs // pings from before the reload stuck
	}
	td.hooks.beforeApply = nil
	close(release)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	waitPing()
}

// health answers within its bound; it fails once shutdown began.
func TestHealth(t *testing.T) {
	td := startDaemon(t, base)
	if err := td.health(); err != nil {
		t.Fatalf("health of a running daemon: %v", err)
	}
	td.Shutdown()
	if err := td.health(); !errors.Is(err, errStopping) {
		t.Fatalf("health after Shutdown: %v", err)
	}
}

// statusText: clients, routes, and how the last reload went.
func TestStatusText(t *testing.T) {
	td := startDaemon(t, base)
	if got := td.statusText(); got != "0 clients" {
		t.Fatalf("status %q", got)
	}
	td.client("")
	td.recordReload(0, &heldError{reasons: []string{"client authorization would be removed"}})
	if got := td.statusText(); got != "1 clients; reload held back (client authorization would be removed): SIGHUP applies it" {
		t.Fatalf("status %q", got)
	}
	td.recordReload(0, errors.New("a.conf:1:2: bad\nb.conf:3:4: worse"))
	if got := td.statusText(); got != "1 clients; reload failed: a.conf:1:2: bad" {
		t.Fatalf("status %q", got)
	}
}

// SIGHUP to a natsd started without a config file is refused as in
// nats-server, but still answered (RELOADING=1, then READY=1 with a status
// that says why), so that a Type=notify-reload `systemctl reload` returns.
func TestSystemdReloadWithoutConfigFile(t *testing.T) {
	sd := listenSystemd(t, 0)
	log := &logBuffer{}
	d, err := Start(&Flags{Port: -1, Set: map[string]bool{"port": true}}, Env{Stderr: log, Signals: make(chan os.Signal)})
	if err != nil {
		t.Fatal(err)
	}
	defer shutdownWithin(t, d, 10*time.Second)
	sd.expect("READY=1")
	if err := d.Reload("SIGHUP"); !errors.Is(err, errNoConfigFile) {
		t.Fatalf("Reload: %v, want %v", err, errNoConfigFile)
	}
	sd.expect("RELOADING=1", "MONOTONIC_USEC=")
	m := sd.expect("READY=1", "STATUS=0 clients")
	if !strings.Contains(m, "no config file to reload") {
		t.Fatalf("READY=1 without the reason: %q", m)
	}
}
