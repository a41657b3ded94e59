package server

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"math/rand/v2"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/subject"
	"github.com/natsd/natsd/server/wire"
)

// Message tracing, as nats-server 2.11+ does it (ADR-41), with the shapes
// and texts recorded from v2.15.2:
//
//   - A message with the header Nats-Trace-Dest: <subject> is traced: each
//     server it passes through publishes one trace event (JSON) to that
//     subject, in the publisher's account, once it has handled the message.
//     The event lists what happened there: the ingress ("in"), a subject
//     mapping ("sm"), a stream export ("se") or service import ("si") it
//     crossed, and an egress ("eg") per delivery — to a client, or to a
//     route, naming the hop the next server reports.
//   - Nats-Trace-Only: true (or "on", "1") traces without delivering: every
//     egress is reported, nothing is sent to subscribers.
//   - Across a route the message carries its headers plus Nats-Trace-Hop,
//     the hop the sending server gave it ("1", "2", … from the origin,
//     "1.1" from the server that got "1"). Peers before 2.11 (route
//     protocol < 3) get the message without a trace of their own, and no
//     trace-only message at all; the egress says so.
//   - At an account boundary tracing stops unless the import (stream) or
//     export (service) has allow_trace. A service request crossing without
//     it has its Nats-Trace-Dest rewritten to "trace disabled"; with it,
//     to a reply subject of the exporting account that leads back, so that
//     the servers it reaches publish their events where the origin's went.
//   - An account with msg_trace { dest, sampling } traces messages whose
//     W3C traceparent header has the sampled flag, sampling percent of
//     them, to its own dest; Nats-Trace-Dest takes precedence.
//
// Messages without headers, and with headers but none of these, cost one
// header lookup (BenchmarkPublishHeaders: no allocation). Everything else
// here runs for traced messages only.

// Kinds of connection, as trace events number them (nats-server's).
const (
	traceKindClient = 0
	traceKindRouter = 1
)

// Event types.
const (
	traceTypeIngress = "in"
	traceTypeMapping = "sm"
	traceTypeStream  = "se"
	traceTypeService = "si"
	traceTypeEgress  = "eg"
)

// Errors trace events report (v2.15.2's texts).
const (
	traceErrSubDeny       = "Not delivered because subscription denies this subject"
	traceErrNoEcho        = "Not delivered because of no echo"
	traceErrNoSupport     = "Message delivered but remote does not support message tracing so no trace event generated from there"
	traceErrOnlyNoSupport = "Not delivered because remote does not support message tracing"
)

// traceEvent is the message a server publishes to the trace destination
// (nats-server's MsgTraceEvent).
type traceEvent struct {
	Server  traceServer  `json:"server"`
	Request traceRequest `json:"request"`
	Hops    int          `json:"hops,omitempty"`
	Events  []any        `json:"events"`
}

// traceServer identifies the server, as in every system event.
type traceServer struct {
	Name      string    `json:"name"`
	Host      string    `json:"host"`
	ID        string    `json:"id"`
	Cluster   string    `json:"cluster,omitempty"`
	Version   string    `json:"ver"`
	JetStream bool      `json:"jetstream"`
	Flags     uint64    `json:"flags"`
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
}

// traceRequest is the traced message: its headers and its size (header
// block and payload) as this server received it.
type traceRequest struct {
	Header  map[string][]string `json:"header,omitempty"`
	MsgSize int                 `json:"msgsize,omitempty"`
}

type traceIngress struct {
	Type    string    `json:"type"`
	TS      time.Time `json:"ts"`
	Kind    int       `json:"kind"`
	CID     uint64    `json:"cid"`
	Name    string    `json:"name,omitempty"`
	Account string    `json:"acc"`
	Subject string    `json:"subj"`
	Error   string    `json:"error,omitempty"`
}

type traceMapping struct {
	Type string    `json:"type"`
	TS   time.Time `json:"ts"`
	To   string    `json:"to"`
}

type traceStreamExport struct {
	Type    string    `json:"type"`
	TS      time.Time `json:"ts"`
	Account string    `json:"acc"`
	To      string    `json:"to"`
}

type traceServiceImport struct {
	Type    string    `json:"type"`
	TS      time.Time `json:"ts"`
	Account string    `json:"acc"`
	From    string    `json:"from"`
	To      string    `json:"to"`
}

type traceEgress struct {
	Type    string    `json:"type"`
	TS      time.Time `json:"ts"`
	Kind    int       `json:"kind"`
	CID     uint64    `json:"cid"`
	Name    string    `json:"name,omitempty"`
	Hop     string    `json:"hop,omitempty"`
	Account string    `json:"acc,omitempty"`
	Sub     string    `json:"sub,omitempty"`
	Queue   string    `json:"queue,omitempty"`
	Error   string    `json:"error,omitempty"`
}

// traceRecord is what this server reports about one traced message: built
// while the message is delivered, published once it has been.
type traceRecord struct {
	srv     *Server
	acc     *Account // the account the event is published in
	dest    string
	gzip    bool   // the publisher accepts a gzipped event
	header  []byte // the header block as received; valid until the message is handled
	msgSize int
	ingAcc  string // the ingress account: egresses in another name theirs
	hop     string // this server's hop (Nats-Trace-Hop from a route); "" at the origin
	hops    int    // routes the message was sent to
	events  []any
}

// msgTrace is a traced message where it is being delivered: the record
// (shared by every account the message reaches on this server), whether it
// is trace-only, and the account delivering now.
type msgTrace struct {
	rec  *traceRecord // nil: tracing stopped (no events, no hop headers); only still holds
	only bool
	acc  string
}

// traceSource is where a message came from, for its ingress event.
type traceSource interface {
	traceIngress() (kind int, cid uint64, name string)
	traceLog() *zap.Logger
}

// traceIngress: a client is named by its CONNECT name. Runs on the
// client's read goroutine, the only writer of opts.
func (c *client) traceIngress() (int, uint64, string) { return traceKindClient, c.cid, c.opts.Name }

func (c *client) traceLog() *zap.Logger { return c.log() }

// startTrace reads the trace headers of m, published by src in account
// acc. It returns nil for a message that is not traced — the common case,
// which must stay cheap — and a trace whose record is nil for one that
// asked to be traced but cannot be (an invalid destination): trace-only
// still holds for it. A message from a client that names an origin
// account (a header only servers set) has its tracing turned off in the
// message itself, for every subscriber and server after this one.
func (s *Server) startTrace(acc *Account, m *wire.Msg, src traceSource, routed bool) *msgTrace {
	h := m.Header()
	dest, ok := traceHeader(h, keyDest)
	if !ok {
		return s.sampledTrace(acc, m, src, routed)
	}
	if len(dest) == 0 || string(dest) == traceDisabled {
		return nil // not traced, and not trace-only either (recorded)
	}
	v, _ := traceHeader(h, keyOnly)
	only := traceOnlyValue(v)
	if !subject.ValidLiteralBytes(dest) {
		src.traceLog().Error(`Destination "` + string(dest) + `" is not valid, won't be able to trace events`)
		return offTrace(only)
	}
	to := acc
	if origin, ok := traceHeader(h, keyOrigin); ok {
		// Servers add it where the trace destination lives in another
		// account than the message's; from a client it is refused, and
		// tracing turned off downstream too (as v2.15.2 does).
		var oa *Account
		if routed {
			oa = s.LookupAccount(string(origin))
		}
		if oa == nil {
			src.traceLog().Error(`Message tracing disabled because of header "` + hdrTraceOrigin + `" with value="` + string(origin) + `"`)
			replaceHeader(m, setHeader(h, hdrTraceDest, traceDisabled))
			return offTrace(only)
		}
		to = oa
	}
	r := s.newTraceRecord(acc, to, m, src, routed)
	r.dest = string(dest)
	if ae, ok := traceHeader(h, keyAcceptEn); ok {
		r.gzip = acceptsGzip(ae)
	}
	return &msgTrace{rec: r, only: only, acc: acc.Name}
}

// sampledTrace is the trace of a message with a sampled W3C traceparent
// in an account with msg_trace, or nil. The origin samples; a server that
// gets the message from a route traces it when the origin did (the route
// message then carries Nats-Trace-Hop).
func (s *Server) sampledTrace(acc *Account, m *wire.Msg, src traceSource, routed bool) *msgTrace {
	mt := acc.cfg.Load().msgTrace
	if mt == nil {
		return nil
	}
	h := m.Header()
	v, ok := traceHeaderFold(h, hdrTraceParent)
	if !ok || !traceparentSampled(v) {
		return nil
	}
	if routed {
		if _, ok := traceHeader(h, keyHop); !ok {
			return nil
		}
	} else if mt.Sampling < 100 && rand.IntN(100) >= mt.Sampling {
		return nil
	}
	r := s.newTraceRecord(acc, acc, m, src, routed)
	r.dest = mt.Dest
	return &msgTrace{rec: r, acc: acc.Name}
}

// newTraceRecord starts the record of a message traced into account to,
// with its ingress event.
func (s *Server) newTraceRecord(acc, to *Account, m *wire.Msg, src traceSource, routed bool) *traceRecord {
	h := m.Header()
	r := &traceRecord{srv: s, acc: to, header: h, msgSize: len(m.Data), ingAcc: acc.Name}
	if routed {
		// A client's Nats-Trace-Hop means nothing: the origin numbers
		// its hops from 1 (recorded).
		if hop, ok := traceHeader(h, keyHop); ok {
			r.hop = string(hop)
		}
	}
	kind, cid, name := src.traceIngress()
	r.events = append(r.events, &traceIngress{
		Type: traceTypeIngress, TS: time.Now().UTC(), Kind: kind, CID: cid, Name: name,
		Account: acc.Name, Subject: string(m.Subject),
	})
	return r
}

// offTrace is the trace of a message whose tracing is off: nil, or, for a
// trace-only message, one that delivers nothing.
func offTrace(only bool) *msgTrace {
	if only {
		return &msgTrace{only: true}
	}
	return nil
}

// ingressError reports why the message went no further (a permission).
func (t *msgTrace) ingressError(text string) {
	if t.rec != nil {
		t.rec.events[0].(*traceIngress).Error = text
	}
}

// mapped reports a subject mapping.
func (t *msgTrace) mapped(to []byte) {
	if t.rec != nil {
		t.rec.events = append(t.rec.events, &traceMapping{Type: traceTypeMapping, TS: time.Now().UTC(), To: string(to)})
	}
}

// egress reports one delivery: to a client (sub is its subscription), or
// to a route (hop is the one its server will report).
func (t *msgTrace) egress(kind int, cid uint64, name string, sub *subscription, hop, errText string) {
	r := t.rec
	if r == nil {
		return
	}
	e := &traceEgress{Type: traceTypeEgress, TS: time.Now().UTC(), Kind: kind, CID: cid, Name: name, Hop: hop, Error: errText}
	if sub != nil {
		// Only a client's egress names its subscription and, past an
		// import, its account (v2.15.2's egress to a route names neither:
		// the next server matches on its own).
		e.Sub, e.Queue = sub.subject, sub.queue
		if t.acc != r.ingAcc {
			e.Account = t.acc
		}
	}
	r.events = append(r.events, e)
}

// into is the trace as it continues in account acc across an import:
// recorded further only when allowed (allow_trace); trace-only either way.
func (t *msgTrace) into(acc string, allowed bool) *msgTrace {
	nt := &msgTrace{rec: t.rec, only: t.only, acc: acc}
	if !allowed {
		nt.rec = nil
	}
	return nt
}

// nextHop numbers the next route the message goes to.
func (r *traceRecord) nextHop() string {
	r.hops++
	n := strconv.Itoa(r.hops)
	if r.hop == "" {
		return n
	}
	return r.hop + "." + n
}

// finish publishes the trace event, once the message has been handled.
func (t *msgTrace) finish() {
	if t.rec != nil {
		t.rec.publish()
	}
}

// publish sends the event to the destination, in its account, as the
// server: to local subscribers and across routes, gzipped when the
// publisher accepts it (natsd answers a request for snappy, as the nats
// CLI makes, with plain JSON, which it reads as well).
func (r *traceRecord) publish() {
	s := r.srv
	ev := traceEvent{
		Server:  s.traceServer(),
		Request: traceRequest{Header: headerMap(r.header), MsgSize: r.msgSize},
		Hops:    r.hops,
		Events:  r.events,
	}
	body, err := json.Marshal(&ev)
	if err != nil {
		s.log.Error("Message trace event not encoded", zap.Error(err))
		return
	}
	var hdr []byte
	if r.gzip {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write(body)
		if zw.Close() == nil {
			hdr, body = []byte(hdrContentGzip), b.Bytes()
		}
	}
	if err := r.acc.Publish(r.dest, "", hdr, body); err != nil {
		s.log.Error("Message trace event not published", zap.String("subject", r.dest), zap.Error(err))
	}
}

// traceServer is this server's identity for a trace event.
func (s *Server) traceServer() traceServer {
	s.mu.Lock()
	host, _ := s.clientHostPort()
	cluster := s.clusterNm
	s.mu.Unlock()
	return traceServer{
		Name: s.getOpts().ServerName, Host: host, ID: s.id, Cluster: cluster,
		Version: ProtocolVersion, Seq: s.traceSeq.Add(1), Time: time.Now().UTC(),
	}
}

// replaceHeader makes h the header block of m (a copy of the payload
// follows it).
func replaceHeader(m *wire.Msg, h []byte) {
	data := append(h[:len(h):len(h)], m.Payload()...)
	m.Data, m.HdrLen = data, len(h)
	m.HdrField = strconv.AppendInt(nil, int64(len(h)), 10)
	m.SizeField = strconv.AppendInt(nil, int64(len(data)), 10)
}

// withHeader is a copy of m with header block h.
func withHeader(m *wire.Msg, h []byte) wire.Msg {
	c := *m
	replaceHeader(&c, h)
	return c
}

// sendTracedToRoute sends a traced message to a route, reported as an
// egress: with Nats-Trace-Hop set to the hop the peer's event will name.
// A peer that does not trace (route protocol < 3, nats-server before
// 2.11) gets the message untraced, and a trace-only message not at all;
// the egress says so. Past an account boundary that stopped the trace the
// message goes on as it is (its destination already rewritten), unless it
// is trace-only.
func (p *producer) sendTracedToRoute(a *Account, rt *routeTarget, m *wire.Msg) {
	t := p.trace
	r := t.rec
	if r == nil {
		if !t.only {
			p.sendToRoute(a, rt.route, m, rt.queues)
		}
		return
	}
	id, name, traces := rt.route.TracePeer()
	hop := r.nextHop()
	errText := ""
	if !traces {
		if t.only {
			t.egress(traceKindRouter, id, name, nil, hop, traceErrOnlyNoSupport)
			return
		}
		errText = traceErrNoSupport
	}
	t.egress(traceKindRouter, id, name, nil, hop, errText)
	hm := withHeader(m, setHeader(m.Header(), hdrTraceHop, hop))
	p.sendToRoute(a, rt.route, &hm, rt.queues)
}

// MsgTraceConfig is an account's msg_trace: where messages with a sampled
// W3C traceparent header are traced to, and what percentage of them.
type MsgTraceConfig struct {
	Dest     string
	Sampling int // 1-100; 0 means 100
}

// msgTraceConfig is c as the message path reads it: nil without a
// destination, sampling 100 when unset.
func msgTraceConfig(c *MsgTraceConfig) *MsgTraceConfig {
	if c == nil || c.Dest == "" {
		return nil
	}
	n := *c
	if n.Sampling <= 0 || n.Sampling > 100 {
		n.Sampling = 100
	}
	return &n
}
