package daemon

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// dirWatch reports what happens to the files of some directories, through
// inotify. natsd uses inotify itself rather than a portable library because
// it needs opens and closes (IN_OPEN, IN_CLOSE_*): a file modified and still
// open may be half written, and must not be read as a config.
type dirWatch struct {
	fd     int
	f      *os.File // fd, read through Go's poller so that close ends a read
	mu     sync.Mutex
	byWD   map[int32]string // watch descriptor → directory
	byDir  map[string]int32
	closed bool
}

const dirWatchMask = syscall.IN_MODIFY | syscall.IN_OPEN | syscall.IN_CLOSE_WRITE | syscall.IN_CLOSE_NOWRITE |
	syscall.IN_CREATE | syscall.IN_MOVED_TO | syscall.IN_MOVED_FROM | syscall.IN_DELETE | syscall.IN_ONLYDIR

func newDirWatch() (*dirWatch, error) {
	fd, err := syscall.InotifyInit1(syscall.IN_CLOEXEC | syscall.IN_NONBLOCK)
	if err != nil {
		return nil, os.NewSyscallError("inotify_init1", err)
	}
	return &dirWatch{fd: fd, f: os.NewFile(uintptr(fd), "inotify"), byWD: map[int32]string{}, byDir: map[string]int32{}}, nil
}

func (w *dirWatch) add(dir string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return os.ErrClosed
	}
	wd, err := syscall.InotifyAddWatch(w.fd, dir, dirWatchMask)
	if err != nil {
		return os.NewSyscallError("inotify_add_watch", err)
	}
	w.byWD[int32(wd)], w.byDir[dir] = dir, int32(wd)
	return nil
}

func (w *dirWatch) remove(dir string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if wd, ok := w.byDir[dir]; ok && !w.closed {
		_, _ = syscall.InotifyRmWatch(w.fd, uint32(wd))
		delete(w.byDir, dir)
		delete(w.byWD, wd)
	}
}

// run calls fn for each event until close.
func (w *dirWatch) run(fn func(fsEvent)) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := w.f.Read(buf)
		if errors.Is(err, os.ErrClosed) {
			return nil
		}
		if err != nil {
			return err
		}
		for off := 0; off+syscall.SizeofInotifyEvent <= n; {
			wd := int32(binary.NativeEndian.Uint32(buf[off:]))
			mask := binary.NativeEndian.Uint32(buf[off+4:])
			size := int(binary.NativeEndian.Uint32(buf[off+12:]))
			name := strings.TrimRight(string(buf[off+syscall.SizeofInotifyEvent:off+syscall.SizeofInotifyEvent+size]), "\x00")
			off += syscall.SizeofInotifyEvent + size
			if mask&syscall.IN_Q_OVERFLOW != 0 {
				fn(fsEvent{op: opOverflow})
				continue
			}
			w.mu.Lock()
			dir, ok := w.byWD[wd]
			w.mu.Unlock()
			if !ok || name == "" {
				continue
			}
			fn(fsEvent{path: filepath.Join(dir, name), op: opOf(mask)})
		}
	}
}

func opOf(mask uint32) fsOp {
	switch {
	case mask&syscall.IN_MODIFY != 0:
		return opWrite
	case mask&syscall.IN_OPEN != 0:
		return opOpen
	case mask&syscall.IN_CLOSE_WRITE != 0:
		return opClosed
	case mask&syscall.IN_CLOSE_NOWRITE != 0:
		return opClosedRead
	case mask&(syscall.IN_CREATE|syscall.IN_MOVED_TO) != 0:
		return opReplaced
	}
	return opRemoved
}

func (w *dirWatch) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	_ = w.f.Close()
}
