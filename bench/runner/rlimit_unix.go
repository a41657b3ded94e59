//go:build unix

package main

import "syscall"

// raiseNoFile lifts RLIMIT_NOFILE for this process and so for every server
// and client it starts (the idle-clients scenario needs well over 10k
// descriptors on each side). Setting it explicitly also stops os/exec from
// restoring the original soft limit in children. As root the hard limit
// can be raised too.
func raiseNoFile(want uint64) uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		fatalf("getrlimit: %v", err)
	}
	if l.Max < want {
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: want, Max: want}); err == nil {
			return want
		}
	}
	l.Cur = max(l.Cur, min(want, l.Max))
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		fatalf("setrlimit: %v", err)
	}
	return l.Cur
}
