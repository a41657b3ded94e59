package daemon

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/natsd/natsd/server"
)

// Logging looks like nats-server's, so that operators' greps and log
// shippers keep working:
//
//	[4242] 2026/11/27 07:44:47.655456 [INF] Listening for client connections on 0.0.0.0:4222
//
// -D adds [DBG], -V adds [TRC] (protocol trace) without [DBG], as in
// nats-server; levels are therefore flags, not a threshold.

// levels is the switchable part of the log level; reload flips it.
type levels struct{ debug, trace atomic.Bool }

func (l *levels) Enabled(lvl zapcore.Level) bool {
	switch lvl {
	case server.TraceLevel:
		return l.trace.Load()
	case zapcore.DebugLevel:
		return l.debug.Load()
	}
	return lvl >= zapcore.InfoLevel
}

func (l *levels) set(o LogOptions) {
	l.debug.Store(o.Debug)
	l.trace.Store(o.Trace)
}

// natsCore is a zapcore.Core that writes nats-server's line format. A
// "client" field becomes the line's connection prefix; other fields follow
// the message as key=value.
type natsCore struct {
	lv      zapcore.LevelEnabler
	out     *logSink
	pre     string // "[pid] "
	logtime *atomic.Bool
	utc     *atomic.Bool
	fields  []zapcore.Field
}

func (c *natsCore) Enabled(l zapcore.Level) bool { return c.lv.Enabled(l) }

func (c *natsCore) With(fs []zapcore.Field) zapcore.Core {
	cp := *c
	cp.fields = append(append([]zapcore.Field(nil), c.fields...), fs...)
	return &cp
}

func (c *natsCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

var levelTag = map[zapcore.Level]string{
	server.TraceLevel:   "[TRC] ",
	zapcore.DebugLevel:  "[DBG] ",
	zapcore.InfoLevel:   "[INF] ",
	zapcore.WarnLevel:   "[WRN] ",
	zapcore.ErrorLevel:  "[ERR] ",
	zapcore.DPanicLevel: "[ERR] ",
	zapcore.PanicLevel:  "[FTL] ",
	zapcore.FatalLevel:  "[FTL] ",
}

func (c *natsCore) Write(e zapcore.Entry, fs []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	all := append(append([]zapcore.Field(nil), c.fields...), fs...)
	for _, f := range all {
		f.AddTo(enc)
	}
	b := make([]byte, 0, 128)
	b = append(b, c.pre...)
	if c.logtime.Load() {
		t := e.Time
		if c.utc.Load() {
			t = t.UTC()
		}
		b = t.AppendFormat(b, "2006/01/02 15:04:05.000000 ")
	}
	b = append(b, levelTag[e.Level]...)
	body := len(b) // syslog gets the line from here: it has its own pid, time and level
	if cl, ok := enc.Fields["client"].(string); ok {
		b = append(b, cl...)
		b = append(b, " - "...)
		delete(enc.Fields, "client")
	}
	b = append(b, e.Message...)
	for _, f := range all {
		v, ok := enc.Fields[f.Key]
		if !ok {
			continue
		}
		delete(enc.Fields, f.Key) // each key once
		b = append(b, ' ')
		b = append(b, f.Key...)
		b = append(b, '=')
		b = fmt.Appendf(b, "%v", v)
	}
	b = append(b, '\n')
	return c.out.writeLine(e.Level, b, body)
}

// format is the line natsCore writes for msg at level: the rotation note.
func (c *natsCore) format(lvl zapcore.Level, msg string) []byte {
	b := append([]byte(nil), c.pre...)
	if c.logtime.Load() {
		t := time.Now()
		if c.utc.Load() {
			t = t.UTC()
		}
		b = t.AppendFormat(b, "2006/01/02 15:04:05.000000 ")
	}
	b = append(b, levelTag[lvl]...)
	return append(append(b, msg...), '\n')
}

func (c *natsCore) Sync() error { return c.out.Sync() }

// logger is the daemon's logging: the zap logger and the switches a reload
// turns.
type logger struct {
	*zap.Logger
	lv      *levels
	sink    *logSink
	logtime atomic.Bool
	utc     atomic.Bool
	stderr  io.Writer
}

func newLogger(o LogOptions, stderr io.Writer) (*logger, error) {
	sink := &logSink{stderr: stderr, journal: stderrIsJournal(stderr)}
	l := &logger{lv: &levels{}, sink: sink, stderr: stderr}
	core := &natsCore{lv: l.lv, out: sink, pre: "[" + strconv.Itoa(os.Getpid()) + "] ", logtime: &l.logtime, utc: &l.utc}
	sink.note = func(msg string) []byte { return core.format(zapcore.InfoLevel, msg) }
	if err := sink.set(o); err != nil {
		return nil, err
	}
	l.apply(o)
	l.Logger = zap.New(core)
	return l, nil
}

// apply switches level and timestamps (a reload); the file is handled by
// setFile.
func (l *logger) apply(o LogOptions) {
	l.lv.set(o)
	l.logtime.Store(o.Logtime)
	l.utc.Store(o.LogtimeUTC)
}

// setOutput moves logging to where o says: log_file, else remote_syslog,
// else syslog, else stderr (nats-server's order).
func (l *logger) setOutput(o LogOptions) error { return l.sink.set(o) }
