package systemd

import (
	"context"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// WatchdogInterval returns how often Watchdog pings: half of WATCHDOG_USEC,
// or 0 when systemd does not watch this process (no NOTIFY_SOCKET, no or a
// malformed WATCHDOG_USEC, or WATCHDOG_PID naming another process).
func (n *Notifier) WatchdogInterval() time.Duration {
	if !n.Enabled() {
		return 0
	}
	// false: keep WATCHDOG_USEC/WATCHDOG_PID; natsd starts no children.
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0
	}
	return d / 2
}

// Watchdog sends WATCHDOG=1 every WATCHDOG_USEC/2 for as long as healthy
// says the server works, and returns when ctx ends. Run it in a goroutine
// of its own. If systemd does not watch this process (see
// WatchdogInterval) it returns at once.
//
// Each round runs healthy and pings only if it returns nil within a
// quarter of WATCHDOG_USEC (half the ping interval, so that a ping after a
// slow check and the next one are still less than WATCHDOG_USEC apart). A
// check that fails, or does not return in time, costs that round's ping: a
// server that stays wedged stops pinging and systemd kills and restarts it
// once WATCHDOG_USEC has passed since the last ping. A check that is still
// running when the next round starts is not started again, and its late
// answer is ignored; the round after it runs a fresh check. So a blocked
// health function holds one goroutine until it returns, never more.
//
// A nil healthy means always healthy. Watchdog logs nothing and ignores
// errors sending the ping: the daemon's health function is where problems
// are reported, and a missed ping is what systemd acts on.
func (n *Notifier) Watchdog(ctx context.Context, healthy func() error) {
	interval := n.WatchdogInterval()
	if interval <= 0 {
		return
	}
	if healthy == nil {
		healthy = func() error { return nil }
	}
	deadline := interval / 2

	var pending chan error    // result of a check that has not answered yet
	timer := time.NewTimer(0) // the first round runs at once
	defer timer.Stop()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		case <-timer.C: // only the first round
		}
		if pending != nil {
			select {
			case <-pending: // answered late: ignore, run a fresh check
				pending = nil
			default: // still blocked: no ping this round
				continue
			}
		}
		pending = make(chan error, 1)
		go func(res chan<- error) { res <- healthy() }(pending)
		check := time.NewTimer(deadline)
		select {
		case <-ctx.Done():
			check.Stop()
			return
		case err := <-pending:
			check.Stop()
			pending = nil
			if err == nil && ctx.Err() == nil {
				_ = n.ping()
			}
		case <-check.C: // too slow: no ping; the check stays pending
		}
	}
}
