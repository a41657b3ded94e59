package daemon

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
)

// controlTimeout bounds one control request: reading its line, and the
// client's wait for the answer (a reload binds listeners and opens files,
// but does not wait on peers).
const (
	controlReadTimeout = 5 * time.Second
	controlWaitTimeout = 90 * time.Second // systemd's default TimeoutSec for ExecReload
)

// startControl makes the control socket and serves it until shutdown.
// natsd runs without one (a warning) when it cannot make it.
func (d *Daemon) startControl(pidFile string) {
	path := controlSocketPath(pidFile)
	if path == "" {
		return
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			d.log.Warn("Control socket " + path + " is served by another process: natsd reload cannot reach this natsd")
			return
		}
		_ = os.Remove(path) // left by a natsd that was killed
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		d.log.Warn("Cannot make the control socket: natsd reload cannot reach this natsd", zap.Error(err))
		return
	}
	// The peer check below is the gate; the mode keeps others from even
	// connecting.
	_ = os.Chmod(path, 0o600)
	if !d.tasks.Go("control socket", func() { d.serveControl(ln) }) {
		_ = ln.Close()
		return
	}
	d.mu.Lock()
	d.control = ln
	d.mu.Unlock()
	d.log.Info("Control socket for natsd reload: " + path)
}

// stopControl closes the control socket (and removes its file).
func (d *Daemon) stopControl() {
	d.mu.Lock()
	ln := d.control
	d.control = nil
	d.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
}

func (d *Daemon) serveControl(ln *net.UnixListener) {
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			return // closed at shutdown
		}
		if !d.tasks.Go("control request", func() { d.controlRequest(c) }) {
			_ = c.Close()
		}
	}
}

// peerAllowed reports whether the peer is root or natsd's own user.
func peerAllowed(c *net.UnixConn) (*syscall.Ucred, bool) {
	cred, err := peerCred(c)
	if err != nil {
		return nil, false
	}
	return cred, cred.Uid == 0 || int(cred.Uid) == os.Geteuid()
}

func peerCred(c *net.UnixConn) (*syscall.Ucred, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, serr
}

func (d *Daemon) controlRequest(c *net.UnixConn) {
	defer c.Close()
	reply := controlReply{Pid: os.Getpid()}
	// The request is read first, whoever sent it: closing with unread
	// bytes would reset the connection before the answer arrives.
	_ = c.SetReadDeadline(time.Now().Add(controlReadTimeout))
	line, err := bufio.NewReader(io.LimitReader(c, 256)).ReadString('\n')
	if err != nil {
		return
	}
	cred, ok := peerAllowed(c)
	if !ok {
		uid := "unknown"
		if cred != nil {
			uid = fmt.Sprint(cred.Uid)
		}
		d.log.Warn("Control socket: refused a request from uid " + uid + " (only root and natsd's own user may reload)")
		reply.Error = "permission denied: only root and natsd's own user may reload natsd"
		writeReply(c, reply)
		return
	}
	switch strings.TrimSpace(line) {
	case "reload":
		changes, err := d.ReloadReport(triggerControl)
		reply.Changes = changes
		reply.OK = err == nil
		if err != nil {
			reply.Error = err.Error()
		}
	default:
		reply.Error = fmt.Sprintf("unknown request %q (natsd knows \"reload\")", strings.TrimSpace(line))
	}
	writeReply(c, reply)
}

func writeReply(c net.Conn, r controlReply) {
	b, _ := json.Marshal(r)
	_ = c.SetWriteDeadline(time.Now().Add(controlReadTimeout))
	_, _ = c.Write(append(b, '\n'))
}

// controlRequest asks the natsd at path for a reload; with pid > 0 only
// if that natsd is pid (else errOtherPid, with the other's pid).
func controlRequest(path string, pid int) (controlReply, error) {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return controlReply{}, err
	}
	defer conn.Close()
	c := conn.(*net.UnixConn)
	if pid > 0 {
		cred, err := peerCred(c)
		if err != nil {
			return controlReply{}, err
		}
		if int(cred.Pid) != pid {
			return controlReply{Pid: int(cred.Pid)}, errOtherPid
		}
	}
	_ = c.SetDeadline(time.Now().Add(controlWaitTimeout))
	if _, err := c.Write([]byte("reload\n")); err != nil {
		return controlReply{}, err
	}
	b, err := io.ReadAll(io.LimitReader(c, 1<<20))
	if err != nil {
		return controlReply{}, err
	}
	if len(b) == 0 {
		return controlReply{}, errors.New("natsd closed the control socket without an answer")
	}
	r, err := decodeReply(b)
	if err == nil && !r.OK && strings.HasPrefix(r.Error, "permission denied") {
		return r, errors.New(r.Error)
	}
	return r, err
}
