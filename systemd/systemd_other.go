//go:build !linux

package systemd

import "net"

// systemd runs only on Linux. Elsewhere (a developer's Mac, Windows) the
// package builds and does nothing: the Notifier is disabled, so every
// notification and the watchdog are no-ops, and no listener was passed in.

// notifySocketName is "": there is no service manager to notify.
func notifySocketName() string { return "" }

// activatedListeners is Listeners off Linux: nothing was passed in.
func activatedListeners() (map[string]net.Listener, error) {
	return map[string]net.Listener{}, nil
}
