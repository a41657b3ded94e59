package systemd

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/coreos/go-systemd/v22/daemon"
)

// MaxStatusLen is the longest STATUS= text sent, in bytes. Longer texts are
// cut on a UTF-8 boundary and end in "…".
const MaxStatusLen = 200

// Notifier sends sd_notify messages to the service manager. It is safe for
// concurrent use: it holds only the socket address, read once by
// NewNotifier, and every message is one datagram on a socket of its own.
//
// A nil *Notifier, like one made outside systemd, does nothing.
type Notifier struct {
	addr *net.UnixAddr // nil outside systemd
}

// NewNotifier returns a Notifier for the socket named by NOTIFY_SOCKET, a
// path or, with a leading '@', a Linux abstract socket. Without
// NOTIFY_SOCKET, or off Linux, every method is a no-op returning nil. NOTIFY_SOCKET stays
// set; natsd starts no children.
func NewNotifier() *Notifier {
	name := notifySocketName()
	if name == "" {
		return &Notifier{}
	}
	// The net package maps a leading '@' to the abstract namespace.
	return &Notifier{addr: &net.UnixAddr{Name: name, Net: "unixgram"}}
}

// Enabled reports whether natsd runs under a service manager that listens
// for notifications.
func (n *Notifier) Enabled() bool { return n != nil && n.addr != nil }

// Ready tells systemd that start-up or a reload is finished, and sets the
// status text ("READY=1\nSTATUS=…"). An empty status clears the previous
// one, so a failed reload's message does not outlive the next good one.
func (n *Notifier) Ready(status string) error {
	if !n.Enabled() {
		return nil
	}
	return n.send(daemon.SdNotifyReady + "\nSTATUS=" + CleanStatus(status))
}

// Reloading tells systemd that a reload has started
// ("RELOADING=1\nMONOTONIC_USEC=…", the CLOCK_MONOTONIC time in µs that
// systemd 253 and later require with RELOADING=1). The reload must end with
// Ready, whether it succeeded or not.
func (n *Notifier) Reloading() error {
	if !n.Enabled() {
		return nil
	}
	msg := daemon.SdNotifyReloading
	// SdNotifyMonotonicUsec returns "MONOTONIC_USEC=<µs>\n", or "" when the
	// clock cannot be read.
	if m := strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n"); m != "" {
		msg += "\n" + m
	}
	return n.send(msg)
}

// Stopping tells systemd that shutdown has begun ("STOPPING=1").
func (n *Notifier) Stopping() error {
	if !n.Enabled() {
		return nil
	}
	return n.send(daemon.SdNotifyStopping)
}

// Status sets the status text that systemctl status shows ("STATUS=…").
// See CleanStatus for what is sent.
func (n *Notifier) Status(s string) error {
	if !n.Enabled() {
		return nil
	}
	return n.send("STATUS=" + CleanStatus(s))
}

// ExtendTimeout asks systemd for d more time, counted from now, in the
// current start, stop or reload ("EXTEND_TIMEOUT_USEC=…"). Send it again
// before d runs out to extend further. d must be positive: systemd reads 0
// as "the time is up now". d is rounded up to whole microseconds.
func (n *Notifier) ExtendTimeout(d time.Duration) error {
	if !n.Enabled() {
		return nil
	}
	if d <= 0 {
		return fmt.Errorf("systemd: extend timeout by %v: must be positive", d)
	}
	usec := (d + time.Microsecond - 1) / time.Microsecond
	return n.send("EXTEND_TIMEOUT_USEC=" + strconv.FormatInt(int64(usec), 10))
}

// ping sends one WATCHDOG=1.
func (n *Notifier) ping() error {
	return n.send(daemon.SdNotifyWatchdog)
}

// send writes msg as one datagram. It dials per message, as sd_notify(3)
// does, so a service manager that re-created its socket (systemctl
// daemon-reexec) still gets the next message.
func (n *Notifier) send(msg string) error {
	conn, err := net.DialUnix("unixgram", nil, n.addr)
	if err != nil {
		return fmt.Errorf("systemd: notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("systemd: notify %s: %w", firstLine(msg), err)
	}
	return nil
}

// firstLine names a message in errors ("READY=1").
func firstLine(msg string) string {
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		return msg[:i]
	}
	return msg
}

// CleanStatus returns s as it is sent in STATUS=: tabs, CR, LF and the other
// line breaks of C0 (VT, FF) become a space; every other control character
// (C0 including NUL, DEL, and C1 U+0080–U+009F) is removed; invalid UTF-8
// becomes U+FFFD; runs of spaces made this way collapse to one, leading and
// trailing spaces go; and the result is cut to at most MaxStatusLen bytes on
// a rune boundary, ending in "…" when cut.
func CleanStatus(s string) string {
	var b strings.Builder
	b.Grow(min(len(s), MaxStatusLen))
	space := false // last byte written is a space made from a control char
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r':
			if b.Len() > 0 && !space {
				b.WriteByte(' ')
				space = true
			}
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			// dropped
		default:
			b.WriteRune(r)
			space = false
		}
	}
	out := strings.TrimRight(b.String(), " ")
	if len(out) <= MaxStatusLen {
		return out
	}
	const ell = "…"
	cut := MaxStatusLen - len(ell)
	for cut > 0 && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return strings.TrimRight(out[:cut], " ") + ell
}
