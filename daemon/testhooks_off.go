//go:build !natsd_testhooks

package daemon

// startTestHooks: a production build has no test hooks (testhooks.go).
func (d *Daemon) startTestHooks() {}
