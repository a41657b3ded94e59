package jetstream

import (
	"bytes"
	"encoding/json"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/server"
)

// Acknowledgements and pull requests: both arrive on the publisher's
// goroutine, change the consumer's state under its lock, and wake the
// delivery loop.

// ackTokens parses a $JS.ACK subject: the 9-token form
// ($JS.ACK.<stream>.<consumer>.<dc>.<sseq>.<cseq>.<ts>.<pending>) and the
// 12-token one clients also accept (domain and account hash after $JS.ACK,
// a random token at the end). It runs once per acknowledged message, so it
// looks at the bytes in place rather than splitting them.
func ackTokens(subj []byte) (dc, sseq, cseq uint64, ok bool) {
	var dots [11]int // where each '.' is; a twelfth one is too many
	n := 0
	for i, c := range subj {
		if c != '.' {
			continue
		}
		if n == len(dots) {
			return 0, 0, 0, false
		}
		dots[n] = i
		n++
	}
	var first int // index of the <dc> token
	switch n + 1 {
	case 9:
		first = 4
	case 12:
		first = 6
	default:
		return 0, 0, 0, false
	}
	// Token i lies between dots[i-1] and dots[i].
	token := func(i int) []byte { return subj[dots[i-1]+1 : dots[i]] }
	if dc, ok = parseUint(token(first)); !ok {
		return 0, 0, 0, false
	}
	if sseq, ok = parseUint(token(first + 1)); !ok {
		return 0, 0, 0, false
	}
	if cseq, ok = parseUint(token(first + 2)); !ok {
		return 0, 0, 0, false
	}
	return dc, sseq, cseq, true
}

// parseUint is strconv.ParseUint(string(b), 10, 64) without the string:
// decimal digits only, at least one, no overflow.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	return v, true
}

// processAck handles "+ACK" (or an empty body), "-NAK" (with an optional
// delay), "+WPI", "+NXT" (with an optional batch) and "+TERM".
func (o *consumer) processAck(m server.Msg) {
	dc, sseq, cseq, ok := ackTokens(m.Subject)
	if !ok {
		return
	}
	body := bytes.TrimSpace(m.Data)
	kind, arg := body, []byte(nil)
	if i := bytes.IndexAny(body, " \t\n"); i > 0 {
		kind, arg = body[:i], bytes.TrimSpace(body[i+1:])
	}
	reply := string(m.Reply)
	acked := false // an ack or a term: its reply waits for the commit in a cluster
	switch string(kind) {
	case "", "+ACK":
		o.ackMsg(sseq, cseq)
		acked = true
	case "-NAK":
		o.nakMsg(sseq, parseNakDelay(arg))
		o.adviseDelivery("MSG_NAKED", "nak", sseq, cseq, dc)
	case "+WPI":
		o.progress(sseq)
	case "+TERM":
		o.ackMsg(sseq, cseq)
		acked = true
		o.adviseDelivery("MSG_TERMINATED", "terminated", sseq, cseq, dc)
	case "+NXT":
		o.ackMsg(sseq, cseq)
		if reply != "" && o.isPull() {
			batch := 1
			if len(arg) > 0 {
				var r nextRequest
				if n, err := strconv.Atoi(string(arg)); err == nil {
					batch = n
				} else if json.Unmarshal(arg, &r) == nil && r.Batch > 0 {
					batch = r.Batch
				}
			}
			o.addRequest(&pullRequest{reply: reply, batch: max(batch, 1)})
			return // the next message is the reply
		}
	default:
		return
	}
	if reply == "" {
		return
	}
	if mset := o.mset; mset.repl != nil && acked {
		// Replicated: confirmed once committed (cluster_consumers.go).
		mset.queueAckReply(reply)
		return
	}
	_ = o.acc.Publish(reply, "", nil, nil)
}

// parseNakDelay reads -NAK's optional delay: {"delay": ns} or a duration.
func parseNakDelay(arg []byte) time.Duration {
	if len(arg) == 0 {
		return 0
	}
	var v struct {
		Delay time.Duration `json:"delay"`
	}
	if json.Unmarshal(arg, &v) == nil {
		return v.Delay
	}
	if d, err := time.ParseDuration(string(arg)); err == nil {
		return d
	}
	return 0
}

// ackMsg acknowledges stream sequence sseq (and, under AckAll, all before
// it).
func (o *consumer) ackMsg(sseq, cseq uint64) {
	o.mu.Lock()
	if o.cfg.AckPolicy == AckNone {
		o.mu.Unlock()
		return
	}
	var acked []uint64
	if o.cfg.AckPolicy == AckAll {
		for s := range o.pending {
			if s <= sseq {
				acked = append(acked, s)
			}
		}
	} else if _, ok := o.pending[sseq]; ok {
		acked = append(acked, sseq)
	}
	if len(acked) == 0 {
		o.mu.Unlock()
		return
	}
	for _, s := range acked {
		o.dropPendingLocked(s)
		delete(o.rdc, s)
		if o.rdqSet[s] {
			delete(o.rdqSet, s)
			o.rdq = removeSeq(o.rdq, s)
		}
	}
	o.lastAcked = time.Now()
	o.updateAckFloorLocked()
	_ = o.store.UpdateAcks(cseq, sseq)
	o.mu.Unlock()
	sort.Slice(acked, func(i, j int) bool { return acked[i] < acked[j] })
	for _, s := range acked {
		o.mset.ackedMsg(o, s, "")
	}
	o.signal() // room under max_ack_pending
}

// nakMsg redelivers sseq, at once or after delay.
func (o *consumer) nakMsg(sseq uint64, delay time.Duration) {
	o.mu.Lock()
	p, ok := o.pending[sseq]
	if ok {
		if delay > 0 {
			// Due when ack wait runs out from now+delay-ackWait.
			p.ts = time.Now().Add(delay - o.ackWaitFor(sseq)).UnixNano()
		} else {
			o.queueRedeliveryLocked(sseq)
		}
	}
	o.mu.Unlock()
	o.signal()
}

// progress restarts the ack wait of sseq (+WPI).
func (o *consumer) progress(sseq uint64) {
	o.mu.Lock()
	if p, ok := o.pending[sseq]; ok {
		p.ts = time.Now().UnixNano()
	}
	o.mu.Unlock()
}

func (o *consumer) queueRedeliveryLocked(sseq uint64) {
	if o.rdqSet[sseq] {
		return
	}
	o.rdqSet[sseq] = true
	i := sort.Search(len(o.rdq), func(i int) bool { return o.rdq[i] >= sseq })
	o.rdq = append(o.rdq, 0)
	copy(o.rdq[i+1:], o.rdq[i:])
	o.rdq[i] = sseq
}

// ackWaitFor is the ack wait of a message's next expiry: the backoff
// step of its delivery count, or ack_wait.
func (o *consumer) ackWaitFor(sseq uint64) time.Duration {
	if n := len(o.cfg.BackOff); n > 0 {
		i := int(o.rdc[sseq])
		if i >= n {
			i = n - 1
		}
		return o.cfg.BackOff[i]
	}
	return o.cfg.AckWait
}

// checkAckWaitLocked queues for redelivery what was not acknowledged in
// time, drops what reached max_deliver, and returns when the next expiry
// is due.
func (o *consumer) checkAckWaitLocked(now time.Time) time.Duration {
	if o.cfg.AckPolicy == AckNone || len(o.pending) == 0 {
		return 0
	}
	var next time.Duration
	for sseq, p := range o.pending {
		if o.rdqSet[sseq] {
			continue
		}
		due := time.Unix(0, p.ts).Add(o.ackWaitFor(sseq))
		if now.Before(due) {
			if d := due.Sub(now); next == 0 || d < next {
				next = d
			}
			continue
		}
		if o.cfg.MaxDeliver > 0 && o.rdc[sseq]+1 >= uint64(o.cfg.MaxDeliver) {
			// Delivered max_deliver times: no more. As in nats-server, it
			// is no longer pending but was never acknowledged: the ack
			// floor stays below it until a later ack moves it, and it
			// still counts as redelivered (recorded from v2.15.2).
			o.dropPendingLocked(sseq)
			o.maxDeliveredLocked(sseq)
			continue
		}
		o.queueRedeliveryLocked(sseq)
	}
	return next
}

// nextRequest is a CONSUMER.MSG.NEXT body.
type nextRequest struct {
	Batch     int           `json:"batch"`
	Expires   time.Duration `json:"expires"`
	NoWait    bool          `json:"no_wait"`
	MaxBytes  int           `json:"max_bytes"`
	Heartbeat time.Duration `json:"idle_heartbeat"`
	Group     string        `json:"group"`
}

// processNextRequest queues a pull request, or answers what is wrong with
// it with nats-server's status (recorded).
func (o *consumer) processNextRequest(m server.Msg) {
	reply := string(m.Reply)
	if reply == "" {
		return
	}
	body := bytes.TrimSpace(m.Data)
	var r nextRequest
	switch {
	case len(body) == 0:
		r.Batch = 1
	case body[0] != '{':
		n, err := strconv.Atoi(string(body))
		if err != nil {
			o.sendStatus(reply, 400, "Bad Request - "+err.Error(), nil)
			return
		}
		r.Batch = n
	default:
		if err := jsonUnmarshal(body, &r); err != nil {
			o.sendStatus(reply, 400, "Bad Request - "+err.Error(), nil)
			return
		}
	}
	if r.Batch <= 0 {
		r.Batch = 1
	}
	if r.Expires < 0 || r.Heartbeat < 0 || r.MaxBytes < 0 {
		o.sendStatus(reply, 400, "Bad Request", nil)
		return
	}
	if r.Heartbeat > 0 && r.Expires > 0 && r.Heartbeat > r.Expires/2 {
		o.sendStatus(reply, 400, "Bad Request - heartbeat value too large", nil)
		return
	}
	o.mu.Lock()
	cfg := o.cfg
	waiting := len(o.waiting)
	o.mu.Unlock()
	switch {
	case cfg.MaxRequestBatch > 0 && r.Batch > cfg.MaxRequestBatch:
		o.sendStatus(reply, 409, "Exceeded MaxRequestBatch of "+strconv.Itoa(cfg.MaxRequestBatch), nil)
		return
	case cfg.MaxRequestExpires > 0 && r.Expires > cfg.MaxRequestExpires:
		o.sendStatus(reply, 409, "Exceeded MaxRequestExpires of "+cfg.MaxRequestExpires.String(), nil)
		return
	case cfg.MaxRequestMaxBytes > 0 && r.MaxBytes > cfg.MaxRequestMaxBytes:
		o.sendStatus(reply, 409, "Exceeded MaxRequestMaxBytes of "+strconv.Itoa(cfg.MaxRequestMaxBytes), nil)
		return
	case waiting >= cfg.MaxWaiting:
		o.sendStatus(reply, 409, "Exceeded MaxWaiting", nil)
		return
	}
	req := &pullRequest{reply: reply, batch: r.Batch, maxBytes: r.MaxBytes, noWait: r.NoWait, hb: r.Heartbeat}
	now := time.Now()
	if r.Expires > 0 {
		req.expires = now.Add(r.Expires)
	}
	if r.Heartbeat > 0 {
		req.hbNext = now.Add(r.Heartbeat)
	}
	o.addRequest(req)
}

func (o *consumer) addRequest(r *pullRequest) {
	o.mu.Lock()
	o.waiting = append(o.waiting, r)
	o.lastActive = time.Now()
	o.mu.Unlock()
	o.signal()
}

// ackedMsg is told that consumer o acknowledged sseq (or delivered it
// with AckNone): under work queue retention the message goes now; under
// interest retention once every consumer that wants it has it.
func (mset *stream) ackedMsg(o *consumer, sseq uint64, subj string) {
	mset.mu.RLock()
	retention := mset.cfg.Retention
	mset.mu.RUnlock()
	switch retention {
	case WorkQueuePolicy:
		mset.removeForRetention(sseq)
	case InterestPolicy:
		if subj == "" {
			sm, err := mset.store.LoadMsg(sseq, nil)
			if err != nil {
				return
			}
			subj = sm.Subject
		}
		for _, other := range mset.consumerList() {
			if other != o && other.wants(subj) && !other.hasAcked(sseq) {
				return
			}
		}
		mset.removeForRetention(sseq)
	}
}

// removeForRetention removes a message its stream's retention no longer
// keeps. A replicated stream's leader decides (its consumers are there)
// and tells the other replicas through the group, as a message delete;
// the others never decide by themselves.
func (mset *stream) removeForRetention(seq uint64) {
	if mset.repl != nil && !mset.leading.Load() {
		return
	}
	_, _ = mset.store.RemoveMsg(seq)
	if mset.repl != nil {
		mset.proposeOp(entryMsgDelete, "", "", seq, 0, true)
	}
}

// interestGone is told that consumer o was deleted: under interest
// retention, what o held back (past its ack floor) goes unless another
// consumer still wants it and has not acknowledged it, as with
// nats-server.
func (mset *stream) interestGone(o *consumer) {
	mset.mu.RLock()
	retention := mset.cfg.Retention
	mset.mu.RUnlock()
	if retention != InterestPolicy {
		return
	}
	o.mu.Lock()
	seq := o.asflr + 1
	o.mu.Unlock()
	others := mset.consumerList()
	var sm store.StoreMsg
	for {
		m, err := mset.store.LoadNextMsg(nil, seq, &sm)
		if err != nil {
			return
		}
		seq = m.Seq + 1
		needed := false
		for _, c := range others {
			if c != o && c.wants(m.Subject) && !c.hasAcked(m.Seq) {
				needed = true
				break
			}
		}
		if !needed {
			mset.removeForRetention(m.Seq)
		}
	}
}

// hasAcked reports whether the consumer is done with sseq: delivered and
// not pending.
func (o *consumer) hasAcked(sseq uint64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if sseq >= o.sseq {
		return false
	}
	_, pending := o.pending[sseq]
	return !pending
}
