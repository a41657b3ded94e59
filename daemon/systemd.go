package daemon

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/systemd"
)

// What natsd tells systemd (all no-ops outside systemd, where NOTIFY_SOCKET
// is unset):
//   - READY=1 once the client, cluster and monitor listeners accept;
//   - RELOADING=1 at the start of a reload that changes something, then
//     READY=1 with STATUS= saying how it went;
//   - STATUS= every few seconds: clients, routes, last reload;
//   - STOPPING=1 first thing at shutdown; EXTEND_TIMEOUT_USEC while lame duck
//     mode drains;
//   - WATCHDOG=1 at half of WATCHDOG_USEC, only while health() passes.

// statusEvery is how often STATUS= is refreshed.
const statusEvery = 5 * time.Second

// healthTimeout bounds one health check: a wedged loop fails it.
const healthTimeout = time.Second

// takeActivated takes the listeners systemd passed (socket activation).
func (d *Daemon) takeActivated() error {
	lns, err := systemd.Listeners()
	if err != nil {
		return fmt.Errorf("socket activation: %w", err)
	}
	for name, ln := range lns {
		d.activated[name] = ln
		d.log.Info(fmt.Sprintf("Using the %s listener from systemd socket activation: %s", name, ln.Addr()))
	}
	return nil
}

// statusText is the live summary systemctl status shows.
func (d *Daemon) statusText() string {
	nconn := d.srv.NumClients()
	d.mu.Lock()
	cl, lr, ts := d.cl, d.lastReload, d.tls
	d.mu.Unlock()
	s := fmt.Sprintf("%d clients", nconn)
	if cl != nil {
		s += fmt.Sprintf(", %d routes", cl.NumRoutes())
	}
	switch {
	case lr.Time.IsZero():
	case lr.Err != nil:
		if h, ok := isHeld(lr.Err); ok {
			s += "; reload held back (" + strings.Join(h.reasons, "; ") + "): SIGHUP applies it"
			break
		}
		s += "; reload failed: " + firstDiagnostic(lr.Err)
	default:
		s += "; reloaded " + lr.Time.Format(time.TimeOnly)
	}
	return s + ts.status()
}

// firstDiagnostic is the first line of an error list.
func firstDiagnostic(err error) string {
	s := err.Error()
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// statusLoop refreshes STATUS= until shutdown.
func (d *Daemon) statusLoop() {
	t := time.NewTicker(statusEvery)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			_ = d.notify.Status(d.statusText())
		case <-d.stopping:
			return
		}
	}
}

// health answers the watchdog: the server's shared state and the reload
// loop must both respond within healthTimeout. A wedged server (a lock
// held forever, a stuck reload) fails it and stops the pings.
func (d *Daemon) health() error {
	done := make(chan error, 1)
	if !d.tasks.Go("health check", func() {
		if err := d.srv.Healthz(); err != nil {
			done <- err
			return
		}
		req := reloadReq{trigger: "", done: make(chan error, 1)}
		select {
		case d.reloads <- req:
			done <- <-req.done
		case <-d.stopping:
			done <- errStopping
		}
	}) {
		return errStopping
	}
	select {
	case err := <-done:
		return err
	case <-time.After(healthTimeout):
		return errors.New("health check did not answer within 1s")
	}
}

// startWatchdog pings systemd's watchdog while health passes.
func (d *Daemon) startWatchdog() {
	if d.notify.WatchdogInterval() <= 0 {
		return
	}
	d.tasks.Go("systemd watchdog", func() {
		d.notify.Watchdog(d.stopCtx, func() error {
			err := d.health()
			if err != nil {
				d.log.Error("Health check failed: not pinging the systemd watchdog", zap.Error(err))
			}
			return err
		})
	})
	d.log.Info(fmt.Sprintf("systemd watchdog: pinging every %v while healthy", d.notify.WatchdogInterval()))
}
