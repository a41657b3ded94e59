package testutil

import "syscall"

// dieWithParent makes a child process get SIGKILL when the test binary dies
// without its cleanups (a panic), instead of living on.
func dieWithParent() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
