//go:build unix

package daemon

import (
	"io"
	"log/syslog"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"go.uber.org/zap/zapcore"

	"github.com/natsd/natsd/server"
)

// sysWriter sends lines to syslog with the severity nats-server gives
// them (recorded with v2.15.2: [INF] is notice, [DBG] and [TRC] debug).
// natsd's facility is daemon; nats-server's is 0 (kern), which is meant
// for the kernel's own messages.
type sysWriter struct{ w *syslog.Writer }

// dialSyslog connects to syslog: the local one (/dev/log) when network is
// "", else network ("udp", "tcp", "unix") and addr. The tag is the
// program's name, as nats-server's.
func dialSyslog(network, addr string) (syslogOut, error) {
	w, err := syslog.Dial(network, addr, syslog.LOG_DAEMON|syslog.LOG_NOTICE, filepath.Base(os.Args[0]))
	if err != nil {
		return nil, err
	}
	return &sysWriter{w: w}, nil
}

func (s *sysWriter) write(lvl zapcore.Level, msg string) error {
	switch lvl {
	case server.TraceLevel, zapcore.DebugLevel:
		return s.w.Debug(msg)
	case zapcore.InfoLevel:
		return s.w.Notice(msg)
	case zapcore.WarnLevel:
		return s.w.Warning(msg)
	case zapcore.ErrorLevel, zapcore.DPanicLevel:
		return s.w.Err(msg)
	}
	return s.w.Crit(msg)
}

func (s *sysWriter) Close() error { return s.w.Close() }

// stderrIsJournal reports whether w is the process's stderr connected to
// the journal: systemd sets JOURNAL_STREAM=DEV:INODE for the stream it
// gave, and a stderr redirected elsewhere (natsd 2>file) no longer matches.
func stderrIsJournal(w io.Writer) bool {
	f, ok := w.(*os.File)
	js := os.Getenv("JOURNAL_STREAM")
	if !ok || js == "" {
		return false
	}
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return js == strconv.FormatUint(uint64(st.Dev), 10)+":"+strconv.FormatUint(uint64(st.Ino), 10)
}
