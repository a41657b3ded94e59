package jetstream

import (
	"encoding/json"
	"path/filepath"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/subject"
)

// A consumer is a view of a stream that remembers how far it got: which
// messages it delivered, which were acknowledged, which to deliver again.
// One goroutine per consumer delivers (the loop in consumer_deliver.go);
// acks and pull requests arrive on internal subscriptions, on the
// publisher's goroutine, change the state under the lock and wake the
// loop.
type consumer struct {
	mset *stream
	name string
	acc  *server.Account

	mu      sync.Mutex
	cfg     ConsumerConfig
	created time.Time
	filters []string
	store   store.ConsumerStore
	closed  bool

	// Delivery state.
	dseq          uint64                 // the last consumer sequence delivered
	sseq          uint64                 // the next stream sequence to look at
	adflr         uint64                 // ack floor: consumer sequence
	asflr         uint64                 // ack floor: stream sequence
	pending       map[uint64]*pendingMsg // changed only by addPendingLocked and dropPendingLocked
	oldestHint    uint64                 // no pending stream sequence is below it
	unordered     int                    // pending entries with pendingMsg.unordered set
	rdc           map[uint64]uint64      // deliveries beyond the first, by stream sequence
	rdq           []uint64               // stream sequences to deliver again, in order
	rdqSet        map[uint64]bool
	waiting       []*pullRequest
	lastDelivered time.Time
	lastAcked     time.Time
	lastActive    time.Time // interest seen, or a pull request
	numPending    uint64    // messages not yet delivered (kept as it moves)
	pendingValid  bool

	// Pacing: rate_limit_bps and replay_policy original.
	rateNext      time.Time
	replayMsgTime int64
	replayAt      time.Time

	// Push: flow control and heartbeats.
	fcOut  string // the flow control reply we wait for ("": none)
	fcSent int    // bytes delivered since the last flow control request
	hbLast time.Time

	ackSub  *server.Subscription
	nextSub *server.Subscription
	fcSub   *server.Subscription

	wake chan struct{}
	quit chan struct{}
	done chan struct{}
	once sync.Once
}

// consumerMeta is what a consumer keeps on disk.
type consumerMeta struct {
	Name    string         `json:"name"`
	Config  ConsumerConfig `json:"config"`
	Created time.Time      `json:"created"`
}

// newConsumer makes a consumer of mset with a checked config; it is
// started by start.
func (mset *stream) newConsumer(cfg ConsumerConfig, name string, created time.Time) (*consumer, error) {
	o := &consumer{
		mset: mset, name: name, acc: mset.ja.acc, cfg: cfg, created: created, filters: cfg.filters(),
		pending: map[uint64]*pendingMsg{}, rdc: map[uint64]uint64{}, rdqSet: map[uint64]bool{},
		wake: make(chan struct{}, 1), quit: make(chan struct{}), done: make(chan struct{}),
		lastActive: time.Now(),
	}
	st, err := mset.store.ConsumerStore(name, store.ConsumerConfig{AckPolicy: store.AckPolicy(cfg.AckPolicy)})
	if err != nil {
		return nil, err
	}
	o.store = st
	if mset.repl != nil && mset.storage != MemoryStorage && !cfg.MemoryStorage {
		o.store = &replConsumerStore{ConsumerStore: st, mset: mset, name: name}
	}
	if err := o.restoreState(); err != nil {
		_ = st.Stop()
		return nil, err
	}
	return o, nil
}

// ephemeralName is a generated consumer name: 8 characters, as nats-server
// makes them.
func ephemeralName() string { return server.RandomID(8) }

// restoreState loads the consumer's saved state, or sets the starting
// point of a new consumer from its deliver policy.
func (o *consumer) restoreState() error {
	st, err := o.store.State()
	if err != nil {
		return err
	}
	if st != nil && (st.Delivered.Stream > 0 || st.AckFloor.Stream > 0) {
		o.dseq, o.sseq = st.Delivered.Consumer, st.Delivered.Stream+1
		o.adflr, o.asflr = st.AckFloor.Consumer, st.AckFloor.Stream
		for sseq, p := range st.Pending {
			o.addPendingLocked(sseq, &pendingMsg{cseq: p.Sequence, ts: p.Timestamp, unordered: true})
		}
		for sseq, n := range st.Redelivered {
			o.rdc[sseq] = n
		}
		// What was delivered and not acknowledged before the restart is
		// delivered again once its ack wait, counted from that delivery,
		// runs out (as nats-server).
		return nil
	}
	o.sseq = o.startSeq()
	o.asflr = o.sseq - 1
	if o.sseq == 0 {
		o.asflr = 0
	}
	return nil
}

// startSeq is where a new consumer starts, by its deliver policy.
func (o *consumer) startSeq() uint64 {
	st := o.mset.store.State(false)
	switch o.cfg.DeliverPolicy {
	case DeliverNew:
		return st.LastSeq + 1
	case DeliverLast:
		var last uint64
		for _, f := range o.filtersOrAll() {
			if sm, err := o.mset.store.LoadLastMsg(f, nil); err == nil && sm.Seq > last {
				last = sm.Seq
			}
		}
		if last == 0 {
			return st.LastSeq + 1
		}
		return last
	case DeliverByStartSequence:
		return max(o.cfg.OptStartSeq, 1)
	case DeliverByStartTime:
		if s := o.mset.store.SeqForTime(*o.cfg.OptStartTime); s > 0 {
			return s
		}
		return st.LastSeq + 1
	case DeliverLastPerSubject:
		// The first of the last messages of each subject; the loop skips
		// what is not the last of its subject.
		first := uint64(0)
		for _, f := range o.filtersOrAll() {
			for _, ss := range o.mset.store.SubjectsState(f) {
				if first == 0 || ss.Last < first {
					first = ss.Last
				}
			}
		}
		if first == 0 {
			return st.LastSeq + 1
		}
		return first
	}
	return max(st.FirstSeq, 1)
}

func (o *consumer) filtersOrAll() []string {
	if len(o.filters) == 0 {
		return []string{">"}
	}
	return o.filters
}

// wants reports whether subj passes the consumer's filters.
func (o *consumer) wants(subj string) bool {
	if len(o.filters) == 0 {
		return true
	}
	for _, f := range o.filters {
		if subject.Matches(f, subj) {
			return true
		}
	}
	return false
}

// start subscribes the consumer's acks and, for a pull consumer, its
// MSG.NEXT, and runs the delivery loop.
func (o *consumer) start() error {
	acc := o.acc
	var err error
	o.ackSub, err = acc.Subscribe("$JS.ACK."+o.mset.name+"."+o.name+".>", "", o.processAck)
	if err != nil {
		return err
	}
	if o.isPull() {
		o.nextSub, err = acc.Subscribe("$JS.API.CONSUMER.MSG.NEXT."+o.mset.name+"."+o.name, "", o.processNextRequest)
		if err != nil {
			o.ackSub.Unsubscribe()
			return err
		}
	}
	if o.cfg.FlowControl {
		o.fcSub, _ = acc.Subscribe("$JS.FC."+o.mset.name+"."+o.name+".>", "", o.processFlowControl)
	}
	go o.loop()
	return nil
}

func (o *consumer) isPull() bool { return o.cfg.DeliverSubject == "" }

// writeMeta saves the consumer's config: durables and ephemerals alike (an
// ephemeral lives until its inactive threshold, across a restart), but
// not those of memory streams or with mem_storage, which a restart does
// not keep (nats-server's behaviour, recorded).
func (o *consumer) writeMeta() error {
	o.mu.Lock()
	meta := consumerMeta{Name: o.name, Config: o.cfg, Created: o.created}
	o.mu.Unlock()
	if o.mset.config().Storage == MemoryStorage || meta.Config.MemoryStorage {
		return nil
	}
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	return writeFileAtomic(o.mset.ja.e.fs, o.metaPath(), b)
}

func (o *consumer) metaPath() string {
	return filepath.Join(o.mset.dir, "consumers", o.name+".json")
}

// signal wakes the delivery loop.
func (o *consumer) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// stop ends the consumer. With del its state goes (a delete), else it is
// saved (a shutdown). fromStream: the stream is stopping it.
func (o *consumer) stop(del, fromStream bool) {
	o.once.Do(func() {
		o.mu.Lock()
		o.closed = true
		waiting := o.waiting
		o.waiting = nil
		o.mu.Unlock()
		for _, s := range []*server.Subscription{o.ackSub, o.nextSub, o.fcSub} {
			if s != nil {
				s.Unsubscribe()
			}
		}
		close(o.quit)
		<-o.done
		if del {
			for _, r := range waiting {
				o.sendStatus(r.reply, 409, "Consumer Deleted", nil)
			}
			_ = o.store.Delete()
			_ = o.mset.ja.e.fs.Remove(o.metaPath())
		} else {
			_ = o.store.Stop()
		}
		if !fromStream {
			o.mset.mu.Lock()
			if o.mset.consumers[o.name] == o {
				delete(o.mset.consumers, o.name)
			}
			o.mset.mu.Unlock()
			if del {
				o.mset.interestGone(o)
			}
		}
	})
}

// info is the consumer's API description.
func (o *consumer) info(serverMeta bool) *ConsumerInfo {
	o.mu.Lock()
	defer o.mu.Unlock()
	cfg := o.cfg
	if serverMeta {
		cfg.Metadata = withServerMetadata(cfg.Metadata)
	}
	ci := &ConsumerInfo{
		Stream: o.mset.name, Name: o.name, Created: o.created, Config: &cfg,
		Delivered:     SequenceInfo{Consumer: o.dseq, Stream: o.deliveredStreamSeq()},
		AckFloor:      SequenceInfo{Consumer: o.adflr, Stream: o.asflr},
		NumAckPending: len(o.pending),
		NumWaiting:    len(o.waiting),
		NumPending:    o.numPendingLocked(),
		// Every message delivered more than once and not acknowledged,
		// pending or past max_deliver, as nats-server counts them.
		NumRedelivered: len(o.rdc),
		TimeStamp:      now(),
	}
	if !o.lastDelivered.IsZero() {
		t := o.lastDelivered.UTC()
		ci.Delivered.Last = &t
	}
	if !o.lastAcked.IsZero() {
		t := o.lastAcked.UTC()
		ci.AckFloor.Last = &t
	}
	if !o.isPull() && o.acc.HasInterest(o.cfg.DeliverSubject) {
		ci.PushBound = true
	}
	if p := o.cfg.PauseUntil; p != nil && time.Now().Before(*p) {
		ci.Paused, ci.PauseRemaining = true, time.Until(*p)
	}
	if o.mset.repl != nil {
		// The consumer lives on its stream's leader, and its state moves
		// through the stream's group: that group is its cluster.
		ci.Cluster = o.mset.repl.Info()
	}
	return ci
}

// deliveredStreamSeq is the stream sequence of the last delivery.
func (o *consumer) deliveredStreamSeq() uint64 {
	if o.sseq == 0 {
		return 0
	}
	return o.sseq - 1
}

// numPendingLocked counts the messages the consumer has not delivered.
func (o *consumer) numPendingLocked() uint64 {
	if o.sseq == 0 {
		return 0
	}
	lastPer := o.cfg.DeliverPolicy == DeliverLastPerSubject && o.dseq == 0
	return o.mset.store.NumPending(o.sseq, o.filters, lastPer)
}

// streamRemoved tells the consumer a message is gone from the stream
// (limits, delete): it is no longer pending or to be redelivered.
func (o *consumer) streamRemoved(seq uint64) {
	o.mu.Lock()
	// A message past max_deliver is no longer pending but still counted
	// as redelivered: forget it too now that it is gone.
	delete(o.rdc, seq)
	if o.dropPendingLocked(seq) {
		o.updateAckFloorLocked()
	}
	if o.rdqSet[seq] {
		delete(o.rdqSet, seq)
		o.rdq = removeSeq(o.rdq, seq)
	}
	o.mu.Unlock()
}

// streamPurged moves the consumer past what a purge removed.
func (o *consumer) streamPurged() {
	first := o.mset.store.State(false).FirstSeq
	o.mu.Lock()
	for sseq := range o.pending {
		if sseq < first {
			o.dropPendingLocked(sseq)
		}
	}
	for sseq := range o.rdc {
		if sseq < first {
			delete(o.rdc, sseq)
		}
	}
	kept := o.rdq[:0]
	for _, s := range o.rdq {
		if s >= first {
			kept = append(kept, s)
		} else {
			delete(o.rdqSet, s)
		}
	}
	o.rdq = kept
	if o.sseq < first {
		o.sseq = first
	}
	if o.asflr < first-1 && len(o.pending) == 0 {
		o.asflr = first - 1
	}
	o.updateAckFloorLocked()
	o.mu.Unlock()
	o.signal()
}

func removeSeq(s []uint64, seq uint64) []uint64 {
	for i, v := range s {
		if v == seq {
			return append(s[:i], s[i+1:]...)
		}
	}
	return s
}

func (o *consumer) log() *zap.Logger {
	return o.mset.ja.e.log.With(zap.String("stream", o.mset.name), zap.String("consumer", o.name))
}
