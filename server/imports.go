package server

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natsd/natsd/server/wire"
)

// Imports carry messages between accounts, through subscriptions of kinds
// of their own:
//
//   - A stream import is a subscription in the exporting account. Each
//     message it matches is delivered again in the importing account, on
//     the import's subject, to local subscribers only: every server that
//     has the import does the same with the messages routes bring it, so a
//     message crosses one route, in the exporting account.
//   - A service import is a subscription in the importing account, kept
//     local (routes are not told: a request is handled on the server where
//     it was published). Each request is published again in the exporting
//     account, to clients and routes alike, with its reply subject swapped
//     for one of the exporting account's reply mappings ("_R_.<server>.…").
//     A reply to that subject — from wherever the responder is — is
//     delivered back on the original reply subject in the importing
//     account. Single-response services forget the mapping at the first
//     reply; others keep it until response_threshold passes without one.
//
// An import may feed another import. A message that has crossed
// maxImportDepth imports is dropped: the daemon refuses configs with import
// cycles, and this bounds one it did not see.
const maxImportDepth = 8

// makeImports replaces the subscriptions of the account's imports with
// ones for its configuration now.
func (a *Account) makeImports() {
	a.importMu.Lock()
	old := a.importSubs
	a.importSubs = nil
	a.importMu.Unlock()
	for _, sub := range old {
		sub.acc.removeLocalSub(sub)
	}
	var subs []*subscription
	for _, imp := range a.cfg.Load().imports {
		exp := a.srv.LookupAccount(imp.Account)
		if exp == nil {
			continue // refused when the options were built
		}
		if sub := a.importSub(exp, imp); sub != nil {
			subs = append(subs, sub)
		}
	}
	a.importMu.Lock()
	a.importSubs = subs
	a.importMu.Unlock()
}

// importSub subscribes one import.
func (a *Account) importSub(exp *Account, imp *Import) *subscription {
	local := imp.To
	if local == "" {
		local = imp.Subject
	}
	var sub *subscription
	if !imp.Service {
		xf := newWildMap(imp.Subject, local, imp.Prefix)
		sub = &subscription{to: &streamImport{into: a, xf: xf, allowTrace: imp.AllowTrace}, acc: exp, subject: imp.Subject}
	} else {
		e := exp.findExport(imp.Subject, true)
		si := &serviceImport{from: a, to: exp, xf: newWildMap(local, imp.Subject, ""), single: true, threshold: DefaultResponseThreshold}
		if e != nil {
			si.single = e.ResponseType == "" || e.ResponseType == ResponseSingle
			if e.ResponseThreshold > 0 {
				si.threshold = e.ResponseThreshold
			}
			si.allowTrace = e.AllowTrace
		}
		sub = &subscription{to: si, acc: a, subject: local, noRoute: true}
	}
	if err := sub.acc.sl.Insert(sub.subject, "", sub); err != nil {
		a.srv.log.Warn("Could not subscribe an import: " + err.Error())
		return nil
	}
	sub.acc.localInterestAdded(sub)
	return sub
}

// findExport is the account's export (of that kind) that covers subj.
func (a *Account) findExport(subj string, service bool) *Export {
	for _, e := range a.cfg.Load().exports {
		if e.Service == service && subjectCovers(e.Subject, subj) {
			return e
		}
	}
	return nil
}

// importPublish delivers m again in account a, as the server, on subj with
// reply: to local subscribers only, or (local false) also to routes. t is
// the message's trace as it goes on in a (nil: not traced).
func (s *Server) importPublish(a *Account, depth int, subj, reply []byte, src *wire.Msg, local bool, t *msgTrace) {
	ip := s.internal.pool.Get().(*internalProducer)
	defer s.internal.pool.Put(ip)
	m := wire.Msg{Subject: subj, Reply: reply, Data: src.Data, HdrLen: src.HdrLen, HdrField: src.HdrField, SizeField: src.SizeField}
	ip.p.depth = depth
	ip.p.trace = t
	if local {
		ip.p.deliverLocal(a, &m)
	} else {
		ip.p.publish(a, nil, &m)
	}
	ip.p.flush()
	ip.p.depth = 0
	ip.p.trace = nil
}

// streamImport is the subscriber of a stream import, in the exporting
// account.
type streamImport struct {
	into       *Account
	xf         wildMap
	allowTrace bool // the import's allow_trace: traces go on into the importer
}

func (si *streamImport) deliver(p *producer, _ *subscription, m *wire.Msg) bool {
	if p.depth >= maxImportDepth {
		return false
	}
	subj := si.xf.apply(m.RouteSubject())
	var nt *msgTrace
	if t := p.trace; t != nil {
		if t.rec != nil {
			t.rec.events = append(t.rec.events, &traceStreamExport{Type: traceTypeStream, TS: time.Now().UTC(), Account: si.into.Name, To: string(subj)})
		}
		nt = t.into(si.into.Name, si.allowTrace)
	}
	p.srv.importPublish(si.into, p.depth+1, subj, m.Reply, m, true, nt)
	return true
}

func (si *streamImport) remote() bool { return false }

// serviceImport is the subscriber of a service import, in the importing
// account.
type serviceImport struct {
	from, to   *Account
	xf         wildMap
	single     bool
	threshold  time.Duration
	allowTrace bool // the export's allow_trace: traces go on into the exporter
}

func (si *serviceImport) deliver(p *producer, _ *subscription, m *wire.Msg) bool {
	if p.routed || p.depth >= maxImportDepth {
		return false // handled where the request was published
	}
	subj := si.xf.apply(m.RouteSubject())
	var nt *msgTrace
	if t := p.trace; t != nil {
		var ok bool
		if nt, m, ok = si.traceInto(t, m, subj); !ok {
			return true
		}
	}
	var reply []byte
	if len(m.Reply) > 0 {
		reply = si.to.replyMap().add(si.from, m.Reply, si.single, si.threshold)
	}
	p.srv.importPublish(si.to, p.depth+1, subj, reply, m, false, nt)
	return true
}

// traceInto carries a traced request into the exporting account: it
// reports the import and returns the trace as it goes on there, with the
// request it sends on. That request may reach other servers, so its
// Nats-Trace-Dest must mean something in the exporting account: a reply
// subject there that leads back to the destination (allow_trace), else
// "trace disabled" (v2.15.2 does both: recorded). A trace-only request
// whose trace stops here goes nowhere (ok false).
func (si *serviceImport) traceInto(t *msgTrace, m *wire.Msg, subj []byte) (*msgTrace, *wire.Msg, bool) {
	if t.rec != nil {
		t.rec.events = append(t.rec.events, &traceServiceImport{Type: traceTypeService, TS: time.Now().UTC(), Account: si.to.Name, From: string(m.Subject), To: string(subj)})
	}
	nt := t.into(si.to.Name, si.allowTrace)
	if nt.rec == nil && nt.only {
		return nil, nil, false
	}
	if _, ok := traceHeader(m.Header(), keyDest); !ok {
		// Traced by traceparent (msg_trace): each account traces by its
		// own configuration.
		return nt, m, true
	}
	dest := []byte(traceDisabled)
	if nt.rec != nil {
		dest = si.to.replyMap().add(nt.rec.acc, []byte(nt.rec.dest), false, si.threshold)
	}
	hm := withHeader(m, setHeader(m.Header(), hdrTraceDest, string(dest)))
	return nt, &hm, true
}

func (si *serviceImport) remote() bool { return false }

// replyMapper maps the reply subjects of requests sent into an account
// through service imports back to the requesters' reply subjects. Its one
// subscription, "_R_.<server>.>" in the exporting account, is routed
// interest: replies come back to this server from wherever the responder is.
type replyMapper struct {
	acc    *Account
	prefix string
	seq    atomic.Uint64

	mu      sync.Mutex
	pending map[string]*pendingReply
}

type pendingReply struct {
	to     *Account
	reply  []byte
	single bool
	wait   time.Duration
	timer  *time.Timer
}

// replyMap returns the account's reply mapper, making it on first use.
func (a *Account) replyMap() *replyMapper {
	a.importMu.Lock()
	defer a.importMu.Unlock()
	if a.replies == nil {
		rm := &replyMapper{acc: a, prefix: "_R_." + replyTag(a.srv.id) + ".", pending: map[string]*pendingReply{}}
		sub := &subscription{to: rm, acc: a, subject: rm.prefix + ">"}
		if err := a.sl.Insert(sub.subject, "", sub); err == nil {
			a.localInterestAdded(sub)
		}
		a.replies = rm
	}
	return a.replies
}

// replyTag is a short token for this server in reply subjects.
func replyTag(id string) string {
	if len(id) > 8 {
		id = id[len(id)-8:]
	}
	return strings.ToLower(id)
}

// add maps a new reply subject to reply in account to, and returns it.
func (rm *replyMapper) add(to *Account, reply []byte, single bool, wait time.Duration) []byte {
	token := strconv.FormatUint(rm.seq.Add(1), 36)
	pr := &pendingReply{to: to, reply: append([]byte(nil), reply...), single: single, wait: wait}
	rm.mu.Lock()
	rm.pending[token] = pr
	pr.timer = time.AfterFunc(wait, func() { rm.forget(token, pr) })
	rm.mu.Unlock()
	return []byte(rm.prefix + token)
}

func (rm *replyMapper) forget(token string, pr *pendingReply) {
	rm.mu.Lock()
	if rm.pending[token] == pr {
		delete(rm.pending, token)
	}
	rm.mu.Unlock()
}

// deliver takes a reply and delivers it to the requester.
func (rm *replyMapper) deliver(p *producer, _ *subscription, m *wire.Msg) bool {
	if p.depth >= maxImportDepth {
		return false
	}
	token := string(m.Subject[len(rm.prefix):])
	rm.mu.Lock()
	pr := rm.pending[token]
	if pr != nil {
		if pr.single {
			delete(rm.pending, token)
			pr.timer.Stop()
		} else {
			pr.timer.Reset(pr.wait)
		}
	}
	rm.mu.Unlock()
	if pr == nil {
		return false // expired, or an answer to a single response already given
	}
	p.srv.importPublish(pr.to, p.depth+1, pr.reply, m.Reply, m, false, p.trace)
	return true
}

func (rm *replyMapper) remote() bool { return false }

// wildMap rewrites subjects matching a source pattern into a destination
// pattern with the same wildcards, taken in order (foo.*.> → bar.*.>:
// foo.a.b.c → bar.a.b.c), and an optional prefix.
type wildMap struct {
	from, to []string
	prefix   string
	same     bool // no rewrite
}

func newWildMap(from, to, prefix string) wildMap {
	if from == to && prefix == "" {
		return wildMap{same: true}
	}
	return wildMap{from: strings.Split(from, "."), to: strings.Split(to, "."), prefix: prefix}
}

// apply rewrites subj, which matches the source pattern.
func (w wildMap) apply(subj []byte) []byte {
	if w.same {
		return subj
	}
	toks := strings.Split(string(subj), ".")
	var wilds []string
	for i, f := range w.from {
		if i >= len(toks) {
			break
		}
		switch f {
		case "*":
			wilds = append(wilds, toks[i])
		case ">":
			wilds = append(wilds, strings.Join(toks[i:], "."))
		}
	}
	var b []byte
	if w.prefix != "" {
		b = append(append(b, w.prefix...), '.')
	}
	next := 0
	for i, t := range w.to {
		if i > 0 {
			b = append(b, '.')
		}
		if (t == "*" || t == ">") && next < len(wilds) {
			b = append(b, wilds[next]...)
			next++
			continue
		}
		b = append(b, t...)
	}
	return b
}

// subjectCovers reports whether pattern matches every subject that sub
// matches (sub may hold wildcards).
func subjectCovers(pattern, sub string) bool {
	pt, st := strings.Split(pattern, "."), strings.Split(sub, ".")
	for i, p := range pt {
		if p == ">" {
			return i < len(st)
		}
		if i >= len(st) {
			return false
		}
		if p == "*" {
			if st[i] == ">" {
				return false
			}
			continue
		}
		if p != st[i] {
			return false
		}
	}
	return len(pt) == len(st)
}
