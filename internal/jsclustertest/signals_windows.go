//go:build windows

package jsclustertest

import "syscall"

// Windows has no SIGSTOP: the harness builds there (the cross-build
// checks), and Stop/Cont are not used on it.
const (
	sigStop = syscall.Signal(0x13)
	sigCont = syscall.Signal(0x12)
)
