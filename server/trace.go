package server

import (
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// TraceLevel is the protocol trace (-V): below debug, and switched on its
// own, as nats-server's -V shows [TRC] lines without [DBG] ones.
const TraceLevel = zapcore.Level(-2)

// SetTrace turns protocol tracing on or off. Checked once per op, so that a
// server that does not trace pays one atomic load.
func (s *Server) SetTrace(on bool) { s.tracing.Store(on) }

// trace logs one protocol line: dir is "<<-" (received) or "->>" (sent).
func (c *client) trace(dir, op string, arg []byte) {
	if !c.srv.tracing.Load() {
		return
	}
	line := dir + " [" + op
	if len(arg) > 0 {
		line += " " + string(arg)
	}
	line += "]"
	c.srv.log.Log(TraceLevel, line, zap.String("client", c.traceTag()))
}

// traceTag is nats-server's connection tag for trace lines, with the
// client's version, language and name once CONNECT told them.
func (c *client) traceTag() string {
	c.Lock()
	o := c.opts
	c.Unlock()
	if o.Lang == "" && o.Name == "" && o.Version == "" {
		return c.String()
	}
	return c.String() + ` - "v` + o.Version + ":" + o.Lang + ":" + o.Name + `"`
}

// traceConnect traces a CONNECT with its credentials redacted (see
// redactConnect): a trace must not hand out passwords and tokens, right or
// wrong ones.
func (c *client) traceConnect(arg []byte) {
	if !c.srv.tracing.Load() {
		return
	}
	c.trace("<<-", "CONNECT", redactConnect(arg))
}
