//go:build unix

package daemon

import (
	"errors"
	"os"
	"syscall"
)

var (
	sigReopen   os.Signal = syscall.SIGUSR1 // reopen the log file
	sigLameDuck os.Signal = syscall.SIGUSR2 // lame duck mode
)

// notifySignals are the signals Run handles.
var notifySignals = []os.Signal{sigQuit, sigTerm, sigReload, sigReopen, sigLameDuck}

// sendSignal is kill(2).
func sendSignal(pid int, sig os.Signal) error {
	return syscall.Kill(pid, sig.(syscall.Signal))
}

// running reports whether a process pid exists (EPERM: it does, as
// another user's).
func running(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
