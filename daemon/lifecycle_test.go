package daemon

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// Shutdown waits for a reload in progress and stops what that reload
// started: a reload that adds clustering, caught half-way by Shutdown,
// leaves no route listener (nor cluster) behind. Before one owner
// serialised them, Shutdown read "no cluster" and returned, and the reload
// then started a cluster nobody would stop.
func TestShutdownWaitsForReloadInProgress(t *testing.T) {
	td := startDaemon(t, "listen: 127.0.0.1:-1\n")
	cport := testutil.FreePort(t)
	entered, release := make(chan struct{}), make(chan struct{})
	td.hooks.beforeApply = func() {
		close(entered)
		<-release
	}
	td.rewrite(fmt.Sprintf("listen: 127.0.0.1:-1\ncluster {\n  name: c\n  listen: 127.0.0.1:%d\n}\n", cport))
	reloaded := make(chan error, 1)
	go func() { reloaded <- td.Reload("SIGHUP") }()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the reload did not reach its apply step")
	}

	shutDown := make(chan struct{})
	go func() {
		td.Shutdown()
		close(shutDown)
	}()
	// Let the reload go on once Shutdown has either returned (it did not
	// wait) or says that it waits.
	waitFor(t, 5*time.Second, "Shutdown to return or to wait for the reload", func() bool {
		select {
		case <-shutDown:
			return true
		default:
		}
		return strings.Contains(td.log.String(), "Waiting for the reload in progress")
	})
	close(release)
	for _, ch := range []<-chan struct{}{shutDown} {
		select {
		case <-ch:
		case <-time.After(10 * time.Second):
			t.Fatal("Shutdown did not return after the reload was let go")
		}
	}
	select {
	case <-reloaded:
	case <-time.After(10 * time.Second):
		t.Fatal("the reload did not return")
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", cport), time.Second); err == nil {
		c.Close()
		t.Fatal("the route listener the reload bound still accepts after Shutdown returned")
	}
}

// The tracker runs work until stop, refuses it after, and wait returns once
// every goroutine it ran is done, or says which are still running.
func TestTasks(t *testing.T) {
	var ts tasks
	release := make(chan struct{})
	if !ts.Go("blocked", func() { <-release }) {
		t.Fatal("Go refused before stop")
	}
	ts.stop()
	if ts.Go("late", func() { t.Error("ran after stop") }) {
		t.Fatal("Go accepted work after stop")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	err := ts.wait(ctx)
	cancel()
	if err == nil || !strings.Contains(err.Error(), "blocked") {
		t.Fatalf("wait with a goroutine running: %v", err)
	}
	close(release)
	if err := ts.wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := ts.names(); len(n) != 0 {
		t.Fatalf("still running: %q", n)
	}
}

// Shutdown waits for every goroutine the daemon started: when it returns,
// none runs (the listeners, the reload loop, the status loop, the config
// watcher).
func TestShutdownWaitsForEveryGoroutine(t *testing.T) {
	listenSystemd(t, 0) // so that the status loop runs too (on Linux)
	td, err := tryStartDaemonFlags(t, base+"http: 127.0.0.1:-1\ncluster {\n  listen: 127.0.0.1:-1\n}\n", Flags{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"client listener", "route listener", "monitor listener", "reload loop"}
	if td.notify.Enabled() {
		want = append(want, "systemd status")
	}
	if td.watch != nil {
		want = append(want, "config watcher")
	}
	if n := td.tasks.names(); slices.ContainsFunc(want, func(w string) bool { return !slices.Contains(n, w) }) {
		t.Fatalf("tracked goroutines while running: %q", n)
	}
	td.Shutdown()
	if n := td.tasks.names(); len(n) != 0 {
		t.Fatalf("still running after Shutdown: %q", n)
	}
	if strings.Contains(td.log.String(), "did not wait") {
		t.Fatalf("Shutdown gave up waiting:\n%s", td.log)
	}
}

// A start that fails half-way leaves nothing behind: the listeners it had
// bound or served are closed and its goroutines are gone, whichever step
// failed (the one deferred clean-up in Start).
func TestStartFailureLeavesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for name, tail := range map[string]string{
		// Fails binding the monitor, after the client port was bound.
		"bind": fmt.Sprintf("http: %q\n", busy.Addr().String()),
		// Fails writing the ports file, after every listener serves.
		"ports file": fmt.Sprintf("ports_file_dir: %q\n", "/nonexistent/natsd-test"),
	} {
		t.Run(name, func(t *testing.T) {
			cport := testutil.FreePort(t)
			td, err := tryStartDaemon(t, fmt.Sprintf("listen: 127.0.0.1:%d\n%s", cport, tail))
			if err == nil {
				t.Fatal("Start succeeded")
			}
			if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", cport), time.Second); err == nil {
				c.Close()
				t.Fatalf("the client port is still open after the failed start:\n%s", td.log)
			}
			if !strings.Contains(td.log.String(), "Server Exiting") {
				t.Fatalf("the failed start did not shut down:\n%s", td.log)
			}
		})
	}
}
