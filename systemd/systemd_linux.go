//go:build linux

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

// notifySocketName is where sd_notify messages go ("" outside systemd).
func notifySocketName() string { return os.Getenv("NOTIFY_SOCKET") }

// activatedListeners is Listeners on Linux.
func activatedListeners() (map[string]net.Listener, error) {
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
