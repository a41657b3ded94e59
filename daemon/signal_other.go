//go:build !unix

package daemon

import (
	"errors"
	"os"
	"runtime"
)

// Off Unix (Windows) natsd builds and serves, for development, but only
// Ctrl-C and SIGTERM reach it: there is no SIGHUP, SIGUSR1 or SIGUSR2, and
// the config watcher needs Linux, so reloads, log reopening and lame duck
// mode are not available there.

// absentSignal is a signal this system does not have: it never arrives.
type absentSignal string

func (s absentSignal) String() string { return string(s) }
func (absentSignal) Signal()          {}

var (
	sigReopen   os.Signal = absentSignal("SIGUSR1")
	sigLameDuck os.Signal = absentSignal("SIGUSR2")
)

// notifySignals are the signals Run handles.
var notifySignals = []os.Signal{sigQuit, sigTerm}

func sendSignal(int, os.Signal) error {
	return errors.New("natsd --signal is not supported on " + runtime.GOOS)
}

// running reports whether a process pid exists.
func running(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	_ = p.Release()
	return true
}
