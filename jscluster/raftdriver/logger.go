package raftdriver

import (
	"fmt"

	"go.etcd.io/raft/v3"
	"go.uber.org/zap"
)

// raftLogger is etcd/raft's logger on zap. Raft's Info lines (every
// election, every term, for every group) go to Debug: with a thousand
// groups they would drown a server's log at startup; warnings and errors
// keep their level.
type raftLogger struct{ s *zap.SugaredLogger }

func newRaftLogger(l *zap.Logger) raft.Logger {
	return raftLogger{s: l.WithOptions(zap.AddCallerSkip(1)).Sugar()}
}

func (l raftLogger) Debug(v ...interface{})                 { l.s.Debug(v...) }
func (l raftLogger) Debugf(format string, v ...interface{}) { l.s.Debugf(format, v...) }
func (l raftLogger) Info(v ...interface{})                  { l.s.Debug(v...) }
func (l raftLogger) Infof(format string, v ...interface{})  { l.s.Debugf(format, v...) }
func (l raftLogger) Warning(v ...interface{})               { l.s.Warn(v...) }
func (l raftLogger) Warningf(format string, v ...interface{}) {
	l.s.Warnf(format, v...)
}
func (l raftLogger) Error(v ...interface{})                 { l.s.Error(v...) }
func (l raftLogger) Errorf(format string, v ...interface{}) { l.s.Errorf(format, v...) }

// Fatal and Panic are raft's broken invariants: logged, then a panic (not
// os.Exit, which zap's Fatal would do: the server decides how to die).
func (l raftLogger) Fatal(v ...interface{}) { l.Panic(v...) }
func (l raftLogger) Fatalf(format string, v ...interface{}) {
	l.Panicf(format, v...)
}
func (l raftLogger) Panic(v ...interface{}) {
	msg := fmt.Sprint(v...)
	l.s.Error(msg)
	panic(msg)
}
func (l raftLogger) Panicf(format string, v ...interface{}) {
	msg := fmt.Sprintf(format, v...)
	l.s.Error(msg)
	panic(msg)
}

func zapError(err error) zap.Field { return zap.Error(err) }
