package daemon

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
)

// A pid file belongs to the process it names: natsd refuses to start over
// the pid file of a running process, replaces one left by a process that is
// gone, and removes only a pid file that still holds its own pid. Without
// this, a second natsd started by mistake (same -P, port already in use)
// deleted the running one's pid file on its way out, and
// `natsd --signal reload=PIDFILE` stopped working. (nats-server v2.15.2
// overwrites the file before it binds and never removes it.)

// checkPidFile returns an error when path names a running process other
// than this one; stale says what a pid file left behind held ("" when there
// is none, or it is ours).
func checkPidFile(path string) (stale string, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("reading pid file: %w", err)
	}
	s := strings.TrimSpace(string(b))
	pid, err := strconv.Atoi(s)
	switch {
	case err != nil || pid <= 0:
		return fmt.Sprintf("pid file %s holds no pid (%.20q): replacing it", path, s), nil
	case pid == os.Getpid():
		return "", nil
	case running(pid):
		return "", fmt.Errorf("pid file %s names process %d, which is running: is another natsd using it? "+
			"Stop that one, give this one another pid file, or remove the file if the process is not natsd", path, pid)
	}
	return fmt.Sprintf("pid file %s names process %d, which is not running: replacing it", path, pid), nil
}

// claimPidFile writes this process's pid to path, unless a running
// process owns it.
func (d *Daemon) claimPidFile(path string) error {
	stale, err := checkPidFile(path)
	if err != nil {
		return err
	}
	if stale != "" {
		d.log.Warn("Stale " + stale)
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fmt.Errorf("writing pid file: %w", err)
	}
	return nil
}

// removePidFile removes path if it still holds this process's pid.
func removePidFile(path string) {
	b, err := os.ReadFile(path)
	if err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		_ = os.Remove(path)
	}
}
