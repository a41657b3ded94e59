package daemon

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap/zapcore"

	"github.com/natsd/natsd/server"
)

// Where log lines go, as nats-server decides it: log_file, else
// remote_syslog, else syslog, else stderr.
//
//   - A file is rotated once it would pass log_size_limit: renamed to
//     FILE.YYYY.MM.DD.HH.MM.SS.NNNNNNNNN, a new FILE opened whose first line
//     says so, and only the newest log_max_num files (FILE included) are
//     kept — recorded with nats-server v2.15.2. SIGUSR1 reopens FILE.
//   - syslog lines carry their severity and no [pid], time or [LVL] of
//     their own (syslog adds them).
//   - stderr: when it is the journal (JOURNAL_STREAM names it), each line
//     starts with its syslog priority, "<4>", which journald strips and
//     records, so that `journalctl -p warning` filters.

// rotatedSuffix is the time format of a rotated file's suffix.
const rotatedSuffix = "2006.01.02.15.04.05.000000000"

// syslogOut is a connection to a syslog daemon (log_syslog_unix.go).
type syslogOut interface {
	write(lvl zapcore.Level, msg string) error
	Close() error
}

// logSink is where log lines go: stderr, a file, or syslog.
type logSink struct {
	mu      sync.Mutex
	stderr  io.Writer
	journal bool // stderr is the journal: lines start with <N>

	file   *os.File
	path   string
	size   int64 // bytes in file
	limit  int64 // log_size_limit; 0: no rotation
	maxNum int   // log_max_num; 0: keep every rotated file

	sys syslogOut

	note func(msg string) []byte // formats the rotation note as a log line
}

// set moves the sink to where o says; on an error nothing changes.
func (s *logSink) set(o LogOptions) error {
	var f *os.File
	var sys syslogOut
	var size int64
	switch {
	case o.File != "":
		var err error
		f, err = os.OpenFile(o.File, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("opening log file: %w", err)
		}
		if fi, err := f.Stat(); err == nil {
			size = fi.Size()
		}
	case o.RemoteSyslog != "":
		network, addr, err := syslogAddr(o.RemoteSyslog)
		if err == nil {
			sys, err = dialSyslog(network, addr)
		}
		if err != nil {
			return fmt.Errorf("remote_syslog %q: %w", o.RemoteSyslog, err)
		}
	case o.Syslog:
		var err error
		if sys, err = dialSyslog("", ""); err != nil {
			return fmt.Errorf("syslog: %w", err)
		}
	}
	s.mu.Lock()
	oldFile, oldSys := s.file, s.sys
	s.file, s.path, s.size, s.sys = f, o.File, size, sys
	s.limit, s.maxNum = o.SizeLimit, o.MaxNum
	s.mu.Unlock()
	if oldFile != nil {
		_ = oldFile.Close()
	}
	if oldSys != nil {
		_ = oldSys.Close()
	}
	return nil
}

// Write writes p as it is (zap's own errors).
func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.file != nil:
		n, err := s.file.Write(p)
		s.size += int64(n)
		return n, err
	case s.sys != nil:
		return len(p), s.sys.write(zapcore.ErrorLevel, string(p))
	}
	return s.stderr.Write(p)
}

// journalPriority is the syslog priority of each level, for journald.
var journalPriority = map[zapcore.Level]string{
	server.TraceLevel:   "<7>",
	zapcore.DebugLevel:  "<7>",
	zapcore.InfoLevel:   "<6>",
	zapcore.WarnLevel:   "<4>",
	zapcore.ErrorLevel:  "<3>",
	zapcore.DPanicLevel: "<3>",
	zapcore.PanicLevel:  "<2>",
	zapcore.FatalLevel:  "<2>",
}

// writeLine writes one formatted line at lvl; line[body:] is the line
// without its [pid], time and [LVL].
func (s *logSink) writeLine(lvl zapcore.Level, line []byte, body int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.file != nil:
		if s.limit > 0 && s.size > 0 && s.size+int64(len(line)) > s.limit {
			s.rotate()
		}
		n, err := s.file.Write(line)
		s.size += int64(n)
		return err
	case s.sys != nil:
		return s.sys.write(lvl, string(line[body:len(line)-1]))
	case s.journal:
		_, err := s.stderr.Write(append([]byte(journalPriority[lvl]), line...))
		return err
	}
	_, err := s.stderr.Write(line)
	return err
}

// rotate renames the file aside, opens a new one that says so, and
// removes the oldest rotated files past log_max_num. Under s.mu. If the
// rename fails, logging goes on in the same file.
func (s *logSink) rotate() {
	backup := s.path + "." + time.Now().Format(rotatedSuffix)
	if err := os.Rename(s.path, backup); err != nil {
		return
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return // keep writing to the renamed file rather than lose lines
	}
	_ = s.file.Close()
	s.file, s.size = f, 0
	n, _ := f.Write(s.note(fmt.Sprintf("Rotated log, backup saved as %q", backup)))
	s.size += int64(n)
	if s.maxNum > 0 {
		s.purge()
	}
}

// purge keeps the newest log_max_num-1 rotated files (the live file is
// the log_max_num-th).
func (s *logSink) purge() {
	pattern := s.path + ".????.??.??.??.??.??.?????????"
	old, _ := filepath.Glob(pattern)
	slices.Sort(old) // the suffix sorts by time
	for len(old) > s.maxNum-1 {
		_ = os.Remove(old[0])
		old = old[1:]
	}
}

func (s *logSink) Sync() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil {
		return s.file.Sync()
	}
	return nil
}

// reopen closes and reopens the log file (log rotation by logrotate). It
// reports whether there was a file to reopen.
func (s *logSink) reopen() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file == nil {
		return false, nil
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return true, err
	}
	_ = s.file.Close()
	s.file, s.size = f, 0
	if fi, err := f.Stat(); err == nil {
		s.size = fi.Size()
	}
	return true, nil
}

func (s *logSink) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.file != nil {
		_ = s.file.Close()
		s.file = nil
	}
	if s.sys != nil {
		_ = s.sys.Close()
		s.sys = nil
	}
}

// syslogAddr reads remote_syslog as nats-server does: udp://host:port,
// tcp://host:port or unix:///path; host:port alone is UDP; the port
// defaults to 514.
func syslogAddr(raw string) (network, addr string, err error) {
	network, rest, ok := strings.Cut(raw, "://")
	if !ok {
		network, rest = "udp", raw
	}
	switch network {
	case "unix", "unixgram":
		if rest == "" {
			return "", "", errors.New("no socket path")
		}
		return network, rest, nil
	case "udp", "tcp":
	default:
		return "", "", fmt.Errorf("unknown scheme %q (udp, tcp or unix)", network)
	}
	if rest == "" {
		return "", "", errors.New("no host")
	}
	if _, _, err := net.SplitHostPort(rest); err != nil {
		rest = net.JoinHostPort(rest, "514")
	}
	return network, rest, nil
}
