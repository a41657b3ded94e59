// Package systemd is natsd's side of the systemd service protocols: the
// sd_notify readiness protocol, the watchdog, and socket activation. It is
// built on github.com/coreos/go-systemd/v22 (packages daemon and activation)
// and is used only by package daemon.
//
// # Notifications
//
// NewNotifier reads NOTIFY_SOCKET once. Outside systemd (no NOTIFY_SOCKET)
// every method of the Notifier is a cheap no-op that returns nil, so the
// daemon calls them unconditionally. Inside systemd each call sends one
// datagram, and the daemon tells systemd the truth and nothing more:
//
//   - Ready after the client, cluster and monitor listeners accept, and at
//     the end of every reload, successful or not ("READY=1", "STATUS=…");
//   - Reloading when a reload starts ("RELOADING=1", "MONOTONIC_USEC=…");
//   - Stopping as the first step of shutdown ("STOPPING=1");
//   - ExtendTimeout while lame-duck draining outlasts TimeoutStopSec=
//     ("EXTEND_TIMEOUT_USEC=…");
//   - Status for anything else worth showing in systemctl status.
//
// Status texts are cleaned before they are sent: control characters (C0,
// DEL and C1, including NUL, CR and LF) are removed — tabs and line breaks
// become spaces — invalid UTF-8 is replaced, and the text is cut to
// MaxStatusLen bytes on a UTF-8 boundary. This matters: systemd drops a
// whole notification datagram that holds a NUL byte (so a READY=1 in the
// same datagram would be lost and a reload would hang in "reloading"), and a
// line break in a status would let the text add assignments of its own.
//
// # Watchdog
//
// Watchdog pings systemd (WATCHDOG=1) every WATCHDOG_USEC/2 for as long as a
// health function says the server works. A health check that fails or does
// not answer in time costs that round's ping, so a wedged server stops
// pinging and systemd restarts it (WatchdogSec= in the unit).
//
// # Socket activation
//
// Listeners returns the listening sockets systemd passed in (LISTEN_FDS,
// LISTEN_FDNAMES, LISTEN_PID) by their FileDescriptorName=: "client",
// "cluster" and "monitor". The daemon uses them instead of binding its own,
// and binds the rest itself. The unit files are in packaging/systemd.
//
// This package knows nothing of natsd's configuration and logs nothing; the
// daemon decides what to say and logs what fails.
//
// Off Linux (a developer's macOS or Windows) it builds and does nothing:
// NewNotifier returns a disabled Notifier and Listeners an empty map
// (systemd_other.go).
package systemd
