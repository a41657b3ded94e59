package systemd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/coreos/go-systemd/v22/activation"
)

// Names of the listeners natsd takes from socket activation, as set with
// FileDescriptorName= in the socket units.
const (
	ClientListener  = "client"
	ClusterListener = "cluster"
	MonitorListener = "monitor"
)

var listenerNames = []string{ClientListener, ClusterListener, MonitorListener}

// Listeners returns the listening sockets passed by socket activation,
// keyed by their FileDescriptorName=: "client", "cluster", "monitor". Each
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
func Listeners() (map[string]net.Listener, error) {
	rawNames := os.Getenv("LISTEN_FDNAMES") // Files unsets it
	files := activation.Files(true)
	out := make(map[string]net.Listener, len(files))
	if len(files) == 0 {
		return out, nil
	}
	var names []string
	if rawNames != "" {
		names = strings.Split(rawNames, ":")
	}

	var errs []error
	for i, f := range files {
		fd := 3 + i // SD_LISTEN_FDS_START
		name := ""
		if i < len(names) {
			name = names[i]
		}
		if len(files) == 1 && (name == "" || name == "unknown") {
			name = ClientListener
		}
		l, err := fileListener(f)
		f.Close() // net.FileListener made its own descriptor
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("descriptor %d (%q): %w", fd, name, err))
		case name == "":
			errs = append(errs, fmt.Errorf("descriptor %d (%s) has no name; set FileDescriptorName=%s in its socket unit",
				fd, l.Addr(), strings.Join(listenerNames, "|")))
		case !slices.Contains(listenerNames, name):
			errs = append(errs, fmt.Errorf("descriptor %d (%s) is named %q; natsd takes %s (set FileDescriptorName=)",
				fd, l.Addr(), name, quoteAll(listenerNames)))
		case out[name] != nil:
			errs = append(errs, fmt.Errorf("descriptor %d (%s) is a second %q listener (first: %s); use one ListenStream= per socket unit",
				fd, l.Addr(), name, out[name].Addr()))
		default:
			out[name] = l
			continue
		}
		if l != nil {
			l.Close()
		}
	}
	if len(errs) > 0 {
		for _, l := range out {
			l.Close()
		}
		return map[string]net.Listener{}, fmt.Errorf("systemd: socket activation: %w", errors.Join(errs...))
	}
	return out, nil
}

// fileListener turns a passed descriptor into a net.Listener if it is a
// listening stream socket (TCP or Unix).
func fileListener(f *os.File) (net.Listener, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, err
	}
	var typ, acc int
	var serr error
	if err := rc.Control(func(fd uintptr) {
		typ, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TYPE)
		if serr == nil {
			acc, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_ACCEPTCONN)
		}
	}); err != nil {
		return nil, err
	}
	switch {
	case serr != nil:
		return nil, fmt.Errorf("not a socket: %w", serr)
	case typ != syscall.SOCK_STREAM:
		return nil, fmt.Errorf("not a stream socket (SO_TYPE %d); use ListenStream=", typ)
	case acc == 0:
		return nil, errors.New("not a listening socket; Accept=yes is not supported")
	}
	return net.FileListener(f)
}

func quoteAll(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}
