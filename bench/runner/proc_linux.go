package main

import (
	"os/exec"
	"syscall"
)

// dieWithRunner gives cmd SIGKILL if the runner dies without cleaning up
// (Pdeathsig), as a last resort behind killAll.
func dieWithRunner(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
