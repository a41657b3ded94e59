//go:build !linux

package daemon

import (
	"errors"
	"runtime"
)

// The control socket needs SO_PEERCRED (Linux): elsewhere natsd reload
// is not available, and natsd makes no socket.

func (d *Daemon) startControl(string) {}

func (d *Daemon) stopControl() {}

func controlRequest(string, int) (controlReply, error) {
	return controlReply{}, errors.New("natsd reload is not supported on " + runtime.GOOS)
}
