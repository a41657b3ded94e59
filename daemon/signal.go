package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The signals natsd acts on, as nats-server (docs/reload.md, Signals).
// SIGUSR1 and SIGUSR2 exist only on Unix; signal_unix.go and
// signal_other.go say what they are on each system.
var (
	sigReload = syscall.SIGHUP
	sigQuit   = syscall.SIGINT
	sigTerm   = syscall.SIGTERM
)

// signalCommands are nats-server's --signal commands.
var signalCommands = map[string]os.Signal{
	"stop":   syscall.SIGKILL,
	"quit":   sigQuit,
	"term":   sigTerm,
	"reopen": sigReopen,
	"reload": sigReload,
	"ldm":    sigLameDuck,
}

// SendSignal implements --signal CMD[=PID|PIDFILE]: without a pid it finds the
// one natsd process running (and refuses if there are several).
func SendSignal(arg string) error {
	cmd, target, _ := strings.Cut(arg, "=")
	sig, ok := signalCommands[cmd]
	if !ok {
		return fmt.Errorf("unknown signal %q", cmd)
	}
	var pids []int
	switch {
	case target == "":
		pids = findProcesses(filepath.Base(os.Args[0]))
		switch len(pids) {
		case 0:
			return fmt.Errorf("no %s process running", filepath.Base(os.Args[0]))
		case 1:
		default:
			return fmt.Errorf("multiple %s processes running (%v): give one as --signal %s=PID", filepath.Base(os.Args[0]), pids, cmd)
		}
	default:
		pid, err := strconv.Atoi(target)
		if err != nil {
			// A pid file.
			b, rerr := os.ReadFile(target)
			if rerr != nil {
				return fmt.Errorf("invalid pid or pid file %q: %v", target, rerr)
			}
			if pid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
				return fmt.Errorf("pid file %q does not hold a pid", target)
			}
		}
		pids = []int{pid}
	}
	return sendSignal(pids[0], sig)
}

// findProcesses lists the pids of other processes named name (from /proc).
func findProcesses(name string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	self := os.Getpid()
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(comm)) == name {
			pids = append(pids, pid)
		}
	}
	return pids
}
