package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The control socket is how `natsd reload` (and `natsd --signal reload
// --wait`, and the unit's ExecReload) asks the running natsd for a reload
// and learns how it went: a signal cannot carry an answer back, so
// `systemctl reload` used to succeed on a broken config.
//
// It is a unix socket, not the monitoring port: only the service user and
// root may reload, and a unix socket says who is calling (SO_PEERCRED).
// natsd makes it, mode 0600, at
//   - $RUNTIME_DIRECTORY/natsd.sock under systemd (RuntimeDirectory=nats:
//     /run/nats/natsd.sock), else
//   - next to the pid file (natsd.pid -> natsd.sock) when there is one,
// and nowhere otherwise. It accepts a peer whose uid is root's or natsd's
// own, and refuses every other. One request per connection: the line
// "reload", answered with one JSON object (controlReply), then closed.
// See docs/reload.md.

// triggerControl names reloads asked for on the control socket in logs.
const triggerControl = "natsd reload"

// controlSocketName is the socket's name in $RUNTIME_DIRECTORY.
const controlSocketName = "natsd.sock"

// defaultRuntimeDir is the packaged unit's RuntimeDirectory=, where
// `natsd reload` looks when it is run from a shell (no $RUNTIME_DIRECTORY).
const defaultRuntimeDir = "/run/nats"

// controlReply is the control socket's answer to "reload".
type controlReply struct {
	Pid     int      `json:"pid"`
	OK      bool     `json:"ok"`
	Changes []string `json:"changes,omitempty"`
	Error   string   `json:"error,omitempty"`
}

// runtimeDir is the first directory of $RUNTIME_DIRECTORY (systemd may
// list several, colon-separated), or "".
func runtimeDir() string {
	d, _, _ := strings.Cut(os.Getenv("RUNTIME_DIRECTORY"), ":")
	return d
}

// controlSocketPath is where a natsd with pid file pidFile makes its
// control socket; "" for none.
func controlSocketPath(pidFile string) string {
	if d := runtimeDir(); d != "" {
		return filepath.Join(d, controlSocketName)
	}
	if pidFile != "" {
		return socketBesidePidFile(pidFile)
	}
	return ""
}

// socketBesidePidFile is /run/natsd.pid -> /run/natsd.sock.
func socketBesidePidFile(pidFile string) string {
	return strings.TrimSuffix(pidFile, ".pid") + ".sock"
}

// ErrNoControlSocket is RequestReload's error when it finds no socket.
var ErrNoControlSocket = errors.New("no natsd control socket found")

// controlCandidates are the sockets `natsd reload` tries for target: "" or
// a pid (the usual places), a socket, or a pid file (the socket beside it).
func controlCandidates(target string) ([]string, int, error) {
	pid := 0
	if target != "" {
		if n, err := strconv.Atoi(target); err == nil {
			pid = n
		} else {
			fi, err := os.Stat(target)
			if err != nil {
				return nil, 0, fmt.Errorf("invalid pid, pid file or socket %q: %v", target, err)
			}
			if fi.Mode()&os.ModeSocket != 0 {
				return []string{target}, 0, nil
			}
			return []string{socketBesidePidFile(target)}, 0, nil
		}
	}
	var c []string
	if pid > 0 {
		c = append(c, socketsOf(pid)...)
	}
	if d := runtimeDir(); d != "" {
		c = append(c, filepath.Join(d, controlSocketName))
	}
	if p := filepath.Join(defaultRuntimeDir, controlSocketName); !contains(c, p) {
		c = append(c, p)
	}
	return c, pid, nil
}

// socketsOf lists the control sockets process pid listens on: the unix
// sockets of /proc/net/unix named *.sock whose inode is one of pid's
// descriptors (reading them takes root or natsd's user, as reloading does).
func socketsOf(pid int) []string {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return nil
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if ino, ok := strings.CutPrefix(l, "socket:["); ok && err == nil {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	b, err := os.ReadFile("/proc/net/unix")
	if err != nil {
		return nil
	}
	var out []string
	// Num RefCount Protocol Flags Type St Inode Path
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 8 && inodes[f[6]] && strings.HasSuffix(f[7], ".sock") && !contains(out, f[7]) {
			out = append(out, f[7])
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ReloadFailed is RequestReload's error when natsd answered that the
// reload failed: Msg is natsd's error, one "file:line:col: what" per line.
type ReloadFailed struct{ Msg string }

func (e *ReloadFailed) Error() string { return e.Msg }

// RequestReload asks the running natsd named by target ("" for the one of
// this service, a pid, a pid file or a control socket) to reload its
// config, and waits for the result: the changes it applied (one line
// each), or a *ReloadFailed with natsd's error, or an error reaching it.
func RequestReload(target string) ([]string, error) {
	cands, pid, err := controlCandidates(target)
	if err != nil {
		return nil, err
	}
	var tried []string
	for _, path := range cands {
		if _, err := os.Stat(path); err != nil {
			tried = append(tried, path)
			continue
		}
		r, err := controlRequest(path, pid)
		if errors.Is(err, errOtherPid) {
			tried = append(tried, path+" (pid "+strconv.Itoa(r.Pid)+")")
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if !r.OK {
			return r.Changes, &ReloadFailed{Msg: r.Error}
		}
		return r.Changes, nil
	}
	return nil, fmt.Errorf("%w (tried %s): natsd makes it in $RUNTIME_DIRECTORY or next to its pid file; give the pid file, e.g. natsd reload /run/natsd.pid", ErrNoControlSocket, strings.Join(tried, ", "))
}

// errOtherPid: the socket belongs to another natsd than the pid asked for.
var errOtherPid = errors.New("another natsd")

// decodeReply reads one controlReply.
func decodeReply(b []byte) (controlReply, error) {
	var r controlReply
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("bad answer from natsd: %v", err)
	}
	return r, nil
}
