//go:build !linux

package systemd

import (
	"context"
	"testing"
)

// Off Linux the package is a no-op even when the environment looks like
// systemd's: natsd started by hand on a Mac with NOTIFY_SOCKET set must not
// try to notify, and there is nothing to take over.
func TestNoOpOffLinux(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "/nonexistent/notify")
	t.Setenv("WATCHDOG_USEC", "1000000")
	n := NewNotifier()
	if n.Enabled() || n.WatchdogInterval() != 0 {
		t.Fatalf("notifier enabled off Linux")
	}
	if err := n.Ready("x"); err != nil {
		t.Fatal(err)
	}
	n.Watchdog(context.Background(), nil) // returns at once
	lns, err := Listeners()
	if err != nil || len(lns) != 0 {
		t.Fatalf("Listeners() = %v, %v", lns, err)
	}
}
