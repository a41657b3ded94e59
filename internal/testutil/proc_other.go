//go:build !linux

package testutil

import "syscall"

// dieWithParent: only Linux has a parent-death signal; elsewhere a test
// binary that dies without its cleanups leaves its servers running.
func dieWithParent() *syscall.SysProcAttr { return nil }
