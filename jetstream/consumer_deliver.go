package jetstream

import (
	"strconv"
	"time"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/server"
)

const (
	pushInterestPoll = 100 * time.Millisecond // a push consumer without a subscriber looks again
	fcThreshold      = 256 << 10              // bytes between two flow control requests
	maxLoopWait      = time.Second
)

// pullRequest is one waiting CONSUMER.MSG.NEXT.
type pullRequest struct {
	reply     string
	batch     int // messages still wanted
	maxBytes  int // bytes still allowed (0: no limit)
	noWait    bool
	expires   time.Time // zero: waits until the requester goes
	hb        time.Duration
	hbNext    time.Time
	delivered int
}

// outMsg is a message the loop sends once it has let go of the lock.
type outMsg struct {
	to             string // routed on (a delivery: the inbox); "": subject
	subject, reply string
	hdr, data      []byte
}

// loop is the consumer's delivery goroutine.
func (o *consumer) loop() {
	defer close(o.done)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-o.quit:
			return
		case <-o.wake:
		case <-t.C:
		}
		next := o.pass()
		if next <= 0 {
			next = maxLoopWait
		}
		if !t.Stop() {
			select {
			case <-t.C:
			default:
			}
		}
		t.Reset(next)
	}
}

// pass delivers what it can and returns when to look again.
func (o *consumer) pass() time.Duration {
	var out []outMsg
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return maxLoopWait
	}
	now := time.Now()
	wait := maxLoopWait
	shorter := func(d time.Duration) {
		if d > 0 && d < wait {
			wait = d
		}
	}
	shorter(o.checkAckWaitLocked(now))
	out, wait2 := o.expireRequestsLocked(now, out)
	shorter(wait2)

	paused := o.cfg.PauseUntil != nil && now.Before(*o.cfg.PauseUntil)
	if paused {
		shorter(o.cfg.PauseUntil.Sub(now))
	}
	interest := false
	if !o.isPull() {
		interest = o.acc.HasInterest(o.cfg.DeliverSubject)
		if interest {
			o.lastActive = now
		}
	}
	o.pendingValid = false
	var sm store.StoreMsg
	for !paused {
		var target *pullRequest
		if o.isPull() {
			target = o.nextRequestLocked()
			if target == nil {
				break
			}
		} else if !interest || (o.cfg.FlowControl && o.fcOut != "" && o.fcSent >= 2*fcThreshold) {
			break
		}
		if o.cfg.AckPolicy != AckNone && o.cfg.MaxAckPending > 0 && len(o.pending) >= o.cfg.MaxAckPending {
			break
		}
		if !o.rateNext.IsZero() && now.Before(o.rateNext) {
			shorter(o.rateNext.Sub(now)) // rate_limit_bps: not yet
			break
		}
		m, dc := o.nextMsgLocked(&sm)
		if m == nil {
			break
		}
		if d := o.replayWaitLocked(m, now); d > 0 {
			// replay_policy original: at the pace the messages were stored.
			o.requeueLocked(m.Seq, dc)
			shorter(d)
			break
		}
		ack := o.ackReplyLocked(m, dc)
		if target != nil && target.maxBytes > 0 {
			// nats-server counts the reply (the ack subject) too: a
			// message takes subject, reply, headers and payload of the
			// budget (recorded: 100 bytes on pl.a, stream PLX, consumer C
			// need max_bytes 149, with a 41-byte reply).
			size := len(m.Subject) + len(ack) + len(m.Header) + len(m.Data)
			if size > target.maxBytes {
				// It does not fit this request: keep it for the next one.
				o.requeueLocked(m.Seq, dc)
				out = o.statusLocked(out, target.reply, 409, "Message Size Exceeds MaxBytes", nil)
				o.removeRequestLocked(target)
				continue
			}
			target.maxBytes -= size
		}
		out = o.deliverLocked(out, target, m, dc, ack, now)
		if o.cfg.RateLimit > 0 {
			bits := uint64(len(m.Subject)+len(m.Header)+len(m.Data)) * 8
			o.rateNext = now.Add(time.Duration(bits * uint64(time.Second) / o.cfg.RateLimit))
		}
		if o.cfg.ReplayPolicy == ReplayOriginal {
			o.replayMsgTime, o.replayAt = m.Time, now
		}
	}
	// A no_wait request that got less than it asked for is told so; so is
	// one that was filled but asked for a status at its end.
	if o.isPull() {
		kept := o.waiting[:0]
		for _, r := range o.waiting {
			if r.noWait && r.batch > 0 {
				out = o.statusLocked(out, r.reply, 404, "No Messages", nil)
				continue
			}
			kept = append(kept, r)
		}
		o.waiting = kept
	} else if interest && !paused && o.cfg.Heartbeat > 0 {
		last := o.lastDelivered
		if o.hbLast.After(last) {
			last = o.hbLast
		}
		if now.Sub(last) >= o.cfg.Heartbeat {
			out = o.heartbeatLocked(out, o.cfg.DeliverSubject, now)
		} else {
			shorter(o.cfg.Heartbeat - now.Sub(last))
		}
	}
	if !o.isPull() && !interest && o.cfg.DeliverSubject != "" {
		shorter(pushInterestPoll)
	}
	deleteIdle := o.inactiveLocked(now, &wait)
	o.mu.Unlock()

	for _, m := range out {
		_ = o.acc.PublishTo(m.to, m.subject, m.reply, m.hdr, m.data)
	}
	if deleteIdle {
		o.mset.ja.e.deleteInactive(o)
	}
	return wait
}

// nextRequestLocked is the first waiting request whose requester is still
// there; requests whose reply subject lost its subscriber are dropped.
func (o *consumer) nextRequestLocked() *pullRequest {
	for len(o.waiting) > 0 {
		r := o.waiting[0]
		if r.batch > 0 && o.acc.HasInterest(r.reply) {
			return r
		}
		o.waiting = o.waiting[1:]
	}
	return nil
}

func (o *consumer) removeRequestLocked(r *pullRequest) {
	for i, w := range o.waiting {
		if w == r {
			o.waiting = append(o.waiting[:i], o.waiting[i+1:]...)
			return
		}
	}
}

// nextMsgLocked is the next message to deliver: a redelivery first, then
// the next new one. dc is its delivery count.
func (o *consumer) nextMsgLocked(sm *store.StoreMsg) (*store.StoreMsg, uint64) {
	for len(o.rdq) > 0 {
		seq := o.rdq[0]
		o.rdq = o.rdq[1:]
		delete(o.rdqSet, seq)
		if _, ok := o.pending[seq]; !ok {
			continue // acked meanwhile
		}
		if o.cfg.MaxDeliver > 0 && o.rdc[seq]+1 >= uint64(o.cfg.MaxDeliver) {
			// Naked after its last allowed delivery: let go of it, as
			// an ack wait running out would (checkAckWaitLocked), and
			// as nats-server does (recorded: the next pull gets the
			// next message, and a MAX_DELIVERIES advisory is sent).
			o.dropPendingLocked(seq)
			o.maxDeliveredLocked(seq)
			continue
		}
		m, err := o.mset.store.LoadMsg(seq, sm)
		if err != nil {
			o.dropPendingLocked(seq)
			delete(o.rdc, seq)
			continue
		}
		o.rdc[seq]++
		return m, o.rdc[seq] + 1
	}
	for {
		m, err := o.mset.store.LoadNextMsg(o.filters, o.sseq, sm)
		if err != nil {
			return nil, 0
		}
		o.sseq = m.Seq + 1
		if o.cfg.DeliverPolicy == DeliverLastPerSubject && o.dseq == 0 {
			// Until the first delivery: only the last of each subject.
			if last, err := o.mset.store.LoadLastMsg(m.Subject, nil); err == nil && last.Seq != m.Seq {
				continue
			}
		}
		return m, 1
	}
}

// requeueLocked puts a message back: a redelivery goes back to the front
// of the queue, a new one is looked at again next time.
func (o *consumer) requeueLocked(seq, dc uint64) {
	if dc > 1 {
		o.rdc[seq]--
		o.rdq = append([]uint64{seq}, o.rdq...)
		o.rdqSet[seq] = true
		return
	}
	o.sseq = seq
}

// ackReplyLocked is the ack subject m gets if it is delivered next (with
// delivery count dc): the pending count it carries is what is left after
// this delivery. It fills the pending count's cache as it was before m
// was taken (deliverLocked takes m off), so a pass counts once.
func (o *consumer) ackReplyLocked(m *store.StoreMsg, dc uint64) string {
	var pending uint64
	if dc > 1 {
		pending = o.numPendingLocked() // redeliveries are not in the count
		if !o.pendingValid {
			o.numPending, o.pendingValid = pending, true
		}
	} else {
		if !o.pendingValid {
			o.numPending, o.pendingValid = o.numPendingLocked()+1, true
		}
		pending = max(o.numPending, 1) - 1
	}
	return ackSubject(o.mset.name, o.name, dc, m.Seq, o.dseq+1, m.Time, pending)
}

// deliverLocked sends m, with ack as its reply (ackReplyLocked's), to the
// pull request (or the push subject) and records the delivery.
func (o *consumer) deliverLocked(out []outMsg, r *pullRequest, m *store.StoreMsg, dc uint64, ack string, now time.Time) []outMsg {
	o.dseq++
	if !o.pendingValid {
		o.numPending = o.numPendingLocked()
		o.pendingValid = true
	} else if dc == 1 && o.numPending > 0 {
		o.numPending--
	}
	ts := now.UnixNano()
	hdr, data := m.Header, m.Data
	if o.cfg.HeadersOnly {
		h := newHeaderBuilder(m.Header)
		h.set(hdrMsgSize, strconv.Itoa(len(m.Data)))
		hdr, data = h.bytes(), nil
	}
	to := o.cfg.DeliverSubject
	if r != nil {
		to = r.reply
		r.batch--
		r.delivered++
		if r.batch == 0 {
			o.removeRequestLocked(r)
		}
		if r.hb > 0 {
			r.hbNext = now.Add(r.hb)
		}
	}
	out = append(out, outMsg{to: to, subject: m.Subject, reply: ack, hdr: cloneBytes(hdr), data: cloneBytes(data)})
	o.lastDelivered = now
	if o.cfg.AckPolicy == AckNone {
		o.adflr, o.asflr = o.dseq, m.Seq
	} else {
		o.addPendingLocked(m.Seq, &pendingMsg{cseq: o.dseq, ts: ts, unordered: dc > 1})
	}
	_ = o.store.UpdateDelivered(o.dseq, m.Seq, dc, ts)
	if o.cfg.FlowControl {
		o.fcSent += len(m.Subject) + len(hdr) + len(data)
		if o.fcOut == "" && o.fcSent >= fcThreshold {
			o.fcOut = "$JS.FC." + o.mset.name + "." + o.name + "." + ephemeralName()
			out = append(out, outMsg{subject: o.cfg.DeliverSubject, reply: o.fcOut,
				hdr: statusHeader(100, "FlowControl Request").bytes()})
		}
	}
	if o.cfg.AckPolicy == AckNone {
		o.mset.ackedMsg(o, m.Seq, m.Subject)
	}
	return out
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte(nil), b...)
}

// ackSubject is the reply subject of a delivery:
// $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>.
func ackSubject(stream, name string, dc, sseq, cseq uint64, ts int64, pending uint64) string {
	b := make([]byte, 0, 64+len(stream)+len(name))
	b = append(b, "$JS.ACK."...)
	b = append(b, stream...)
	b = append(b, '.')
	b = append(b, name...)
	for _, n := range []uint64{dc, sseq, cseq, uint64(ts), pending} {
		b = append(b, '.')
		b = strconv.AppendUint(b, n, 10)
	}
	return string(b)
}

// statusLocked queues a status message (no payload) to subj.
func (o *consumer) statusLocked(out []outMsg, subj string, code int, desc string, extra [][2]string) []outMsg {
	h := statusHeader(code, desc)
	for _, kv := range extra {
		h.add(kv[0], kv[1])
	}
	return append(out, outMsg{subject: subj, hdr: h.bytes()})
}

// sendStatus sends a status message at once (not from the loop).
func (o *consumer) sendStatus(subj string, code int, desc string, extra [][2]string) {
	for _, m := range o.statusLocked(nil, subj, code, desc, extra) {
		_ = o.acc.Publish(m.subject, m.reply, m.hdr, m.data)
	}
}

// heartbeatLocked queues an idle heartbeat to subj.
func (o *consumer) heartbeatLocked(out []outMsg, subj string, now time.Time) []outMsg {
	o.hbLast = now
	extra := [][2]string{
		{hdrLastConsumer, strconv.FormatUint(o.dseq, 10)},
		{hdrLastStream, strconv.FormatUint(o.deliveredStreamSeq(), 10)},
	}
	if o.fcOut != "" {
		extra = append(extra, [2]string{hdrConsumerStalled, o.fcOut})
	}
	return o.statusLocked(out, subj, 100, "Idle Heartbeat", extra)
}

// expireRequestsLocked ends pull requests whose time is up (408) and sends
// due request heartbeats; it returns when the next one is due.
func (o *consumer) expireRequestsLocked(now time.Time, out []outMsg) ([]outMsg, time.Duration) {
	if !o.isPull() {
		return out, 0
	}
	var wait time.Duration
	shorter := func(d time.Duration) {
		if d > 0 && (wait == 0 || d < wait) {
			wait = d
		}
	}
	kept := o.waiting[:0]
	for _, r := range o.waiting {
		if !r.expires.IsZero() && !now.Before(r.expires) {
			out = o.statusLocked(out, r.reply, 408, "Request Timeout", [][2]string{
				{hdrPendingMsgs, strconv.Itoa(r.batch)}, {hdrPendingBytes, strconv.Itoa(max(r.maxBytes, 0))},
			})
			continue
		}
		if !r.expires.IsZero() {
			shorter(r.expires.Sub(now))
		}
		if r.hb > 0 {
			if !now.Before(r.hbNext) {
				out = o.heartbeatLocked(out, r.reply, now)
				r.hbNext = now.Add(r.hb)
			}
			shorter(r.hbNext.Sub(now))
		}
		kept = append(kept, r)
	}
	o.waiting = kept
	if len(o.waiting) > 0 {
		o.lastActive = now
	}
	return out, wait
}

// inactiveLocked reports whether the consumer has been idle past its
// inactive threshold and must go (ephemerals, or durables with one).
func (o *consumer) inactiveLocked(now time.Time, wait *time.Duration) bool {
	th := o.cfg.InactiveThreshold
	if th <= 0 {
		return false
	}
	if o.isPull() && len(o.waiting) > 0 {
		o.lastActive = now
	}
	idle := now.Sub(o.lastActive)
	if idle >= th {
		return true
	}
	if d := th - idle; d < *wait {
		*wait = d
	}
	return false
}

// deleteInactive removes a consumer that outlived its inactive threshold.
func (e *Engine) deleteInactive(o *consumer) {
	go func() {
		o.stop(true, false)
		if mset := o.mset; mset.repl != nil && mset.isLeading() {
			// The other replicas drop it too (else it comes back with
			// the next leader, and stays on their disks).
			mset.replicateConsumerDelete(o.name, "", nil)
		}
		o.mset.ja.adviseConsumer(o.mset.name, o.name, "delete")
	}()
}

// processFlowControl is the reply to a flow control request.
func (o *consumer) processFlowControl(m server.Msg) {
	o.mu.Lock()
	if string(m.Subject) == o.fcOut {
		o.fcOut, o.fcSent = "", 0
	}
	o.mu.Unlock()
	o.signal()
}

// replayWaitLocked is how long to wait before delivering m under
// replay_policy original: the time between it and the previous message as
// stored, less what passed since that one was delivered.
func (o *consumer) replayWaitLocked(m *store.StoreMsg, now time.Time) time.Duration {
	if o.cfg.ReplayPolicy != ReplayOriginal || o.replayAt.IsZero() || m.Time <= o.replayMsgTime {
		return 0
	}
	return time.Duration(m.Time-o.replayMsgTime) - now.Sub(o.replayAt)
}
