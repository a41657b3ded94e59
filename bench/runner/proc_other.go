//go:build !linux

package main

import "os/exec"

// dieWithRunner: only Linux has a parent-death signal; killAll is all there is.
func dieWithRunner(*exec.Cmd) {}
