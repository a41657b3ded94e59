//go:build !windows

package jsclustertest

import "syscall"

// The signals that pause and resume a node (Stop, Cont).
const (
	sigStop = syscall.SIGSTOP
	sigCont = syscall.SIGCONT
)
