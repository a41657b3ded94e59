//go:build natsd_testhooks

package daemon

import (
	"os"
	"time"
)

// Test hooks: built only with -tags natsd_testhooks, into the natsd that
// process tests run (internal/testutil.NatsdBin) and the systemd test's
// bin/natsd-testhooks. The production build (make bin/natsd, the packages)
// has none of this: TestProductionBinaryHasNoTestHooks checks it.

// startTestHooks starts the hooks the environment asks for.
func (d *Daemon) startTestHooks() {
	d.wedgeHook()
}

// wedgeHook: when the file named by NATSD_TEST_WEDGE_FILE appears, the
// server's shared lock is taken and never released, as a deadlock would.
// Tests use it to see the watchdog stop. It polls: a wedged process must
// be wedged by something outside it.
func (d *Daemon) wedgeHook() {
	path := os.Getenv("NATSD_TEST_WEDGE_FILE")
	if path == "" {
		return
	}
	d.tasks.Go("test hook: wedge", func() {
		for {
			select {
			case <-d.stopping:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := os.Stat(path); err == nil {
				d.log.Warn("Test hook: wedging the server")
				d.srv.WedgeForTest()
				return
			}
		}
	})
}
