package systemd

import "net"

// Names of the listeners natsd takes from socket activation, as set with
// FileDescriptorName= in the socket units.
const (
	ClientListener    = "client"
	ClusterListener   = "cluster"
	MonitorListener   = "monitor"
	WebSocketListener = "websocket"
)

var listenerNames = []string{ClientListener, ClusterListener, MonitorListener, WebSocketListener}

// Listeners returns the listening sockets passed by socket activation,
// keyed by their FileDescriptorName=: "client", "cluster", "monitor",
// "websocket". Each
// name may be passed once; put one ListenStream= in each socket unit. A
// single descriptor without a name (LISTEN_FDNAMES empty or "unknown", as
// from systemd-socket-activate without --fdname) is the client listener.
//
// It unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES, so children do not
// inherit them, and marks the descriptors close-on-exec. Outside socket
// activation (no LISTEN_FDS, or LISTEN_PID naming another process) it
// returns an empty map and a nil error.
//
// Anything natsd cannot serve is an error, and then every passed descriptor
// is closed: an unknown or repeated name (a socket unit without
// FileDescriptorName= passes its unit name, "natsd.socket"), several
// descriptors without names, and a descriptor that is not a listening
// stream socket (ListenDatagram=, or Accept=yes, which passes connections).
// Binding the port itself instead would only fail later with "address
// already in use", since systemd holds it.
//
// The returned listeners are the process's only copies of the sockets:
// closing one closes systemd's socket for natsd until the service
// restarts. The daemon keeps them open for the life of the process.
//
// Socket activation is systemd's, so Linux's: elsewhere Listeners always
// returns an empty map (systemd_other.go).
func Listeners() (map[string]net.Listener, error) {
	return activatedListeners()
}
