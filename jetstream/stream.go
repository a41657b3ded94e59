package jetstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/server"
)

// A stream stores what is published on its subjects. Publishes arrive on
// the publisher's goroutine (an internal subscription), are copied into
// the stream's ingest queue, and one goroutine stores them in batches: it
// appends a batch, makes it durable with one fsync (SyncAlways), and only
// then acknowledges each publish and wakes the consumers. So a
// publisher's acknowledgement is never ahead of the disk, and concurrent
// publishers share the fsync (group commit).

const (
	ingestQueue = 65536 // messages waiting to be stored, per stream
	ingestBatch = 256   // stored between two fsyncs at most
)

type stream struct {
	ja   *jsAccount
	name string
	dir  string // the stream's directory (file storage)
	// storage is cfg.Storage, which no update may change: readable without
	// mu (a publish sums its account's streams while holding its own mu).
	storage StorageType

	mu        sync.RWMutex
	cfg       StreamConfig
	created   time.Time
	consumers map[string]*consumer
	transform *server.Transform
	republish *server.Transform
	ingest    []*server.Subscription
	direct    []*server.Subscription
	dedupe    dedupe
	lastMsgID string
	sources   []*sourcer // the mirror, or the sources (sources.go)

	// watchers are woken when a batch is stored: other streams' sourcers.
	watchMu  sync.Mutex
	watchers []chan struct{}

	store store.Store

	// repl is the stream's Raft group when it is replicated (cluster.go);
	// nil on one server. leading: this replica serves the stream.
	repl    Replicator
	leading atomic.Bool
	replMu  sync.Mutex
	rs      replState

	in      chan *inMsg
	started bool // the ingest loop runs (done will close)
	quit    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// inMsg is a publish copied out of the publisher's buffers.
type inMsg struct {
	subject string
	reply   string
	hdr     []byte
	data    []byte
	// ack is the reply once stored (or the error), sent after the batch
	// is durable.
	ack []byte
	// barrier, when set, is not a message: it is closed once everything
	// queued before it is stored and acknowledged (see sync).
	barrier chan struct{}
	// sourced: copied from a mirror's or source's origin (no publish
	// checks); mirrorSeq is a mirror's origin sequence, kept.
	sourced   bool
	mirrorSeq uint64
	// at is the time a replicated entry stamps the message with (Unix
	// ns): every replica stores the same.
	at int64
}

// now is the time a publish is judged at: its replicated entry's, else
// the clock's.
func (im *inMsg) now() int64 {
	if im.at != 0 {
		return im.at
	}
	return time.Now().UnixNano()
}

// sync waits until every publish queued so far is stored. An API request
// calls it first, so that it sees what its client published before it,
// as with nats-server, which stores on the publisher's goroutine.
func (mset *stream) sync() {
	b := &inMsg{barrier: make(chan struct{})}
	select {
	case mset.in <- b:
	case <-mset.quit:
		return
	}
	select {
	case <-b.barrier:
	case <-mset.quit:
	}
}

// streamMeta is what a stream keeps on disk beside its messages.
type streamMeta struct {
	Config  StreamConfig `json:"config"`
	Created time.Time    `json:"created"`
}

// createStream makes a new stream (cfg is normalized), writes its config
// and starts it.
func (ja *jsAccount) createStream(cfg StreamConfig) (*stream, error) {
	mset := ja.newStream(cfg, now())
	if err := mset.open(); err != nil {
		return nil, err
	}
	if err := mset.writeMeta(); err != nil {
		mset.stop(true)
		return nil, err
	}
	mset.start()
	return mset, nil
}

func (ja *jsAccount) newStream(cfg StreamConfig, created time.Time) *stream {
	return &stream{
		ja: ja, name: cfg.Name, dir: filepath.Join(ja.dir, "streams", cfg.Name), storage: cfg.Storage,
		cfg: cfg, created: created, consumers: map[string]*consumer{},
		in: make(chan *inMsg, ingestQueue), quit: make(chan struct{}), done: make(chan struct{}),
	}
}

// storeConfig is what the store enforces of cfg.
func (mset *stream) storeConfig(cfg *StreamConfig) store.Config {
	sc := store.Config{
		Name: cfg.Name, MaxMsgs: cfg.MaxMsgs, MaxBytes: cfg.MaxBytes, MaxAge: cfg.MaxAge,
		MaxMsgsPerSubject: cfg.MaxMsgsPerSubject, MaxMsgSize: cfg.MaxMsgSize,
		Discard: store.DiscardPolicy(cfg.Discard), DiscardNewPerSubject: cfg.DiscardNewPerSubject,
		AllowMsgTTL: cfg.AllowMsgTTL,
		// The stream makes each batch durable itself (Flush), so that one
		// fsync covers many messages; the store's own interval is then only
		// nats-server's mode.
		SyncAlways: false, SyncInterval: mset.ja.e.cfg.SyncInterval,
	}
	if cfg.Storage == MemoryStorage {
		sc.Storage = store.MemoryStorage
	}
	return sc
}

// open opens the stream's store.
func (mset *stream) open() error {
	cfg := mset.config()
	sc := mset.storeConfig(&cfg)
	var err error
	if cfg.Storage == MemoryStorage {
		mset.store, err = store.NewMemStore(sc)
	} else {
		mset.store, err = store.OpenFileStore(mset.ja.e.fs, filepath.Join(mset.dir, "msgs"), sc)
	}
	if err != nil {
		return err
	}
	mset.store.OnRemove(mset.removed)
	if cfg.FirstSeq > 0 {
		if st := mset.store.State(false); st.LastSeq == 0 {
			_ = mset.store.SkipMsgs(cfg.FirstSeq - 1)
		}
	}
	return nil
}

// writeMeta saves the stream's config. Memory streams keep nothing: a
// restart does not bring them back (nats-server's behaviour, recorded).
func (mset *stream) writeMeta() error {
	mset.mu.RLock()
	if mset.cfg.Storage == MemoryStorage {
		mset.mu.RUnlock()
		return nil
	}
	meta := streamMeta{Config: mset.cfg, Created: mset.created}
	mset.mu.RUnlock()
	b, err := json.Marshal(meta)
	if err != nil {
		return err
	}
	return writeFileAtomic(mset.ja.e.fs, filepath.Join(mset.dir, "meta.json"), b)
}

// start subscribes the stream's subjects and runs its ingest loop.
func (mset *stream) start() {
	mset.mu.Lock()
	defer mset.mu.Unlock()
	mset.setTransformsLocked()
	mset.subscribeLocked()
	mset.rebuildDedupeLocked()
	mset.startSourcesLocked()
	mset.started = true
	go mset.ingestLoop()
}

func (mset *stream) setTransformsLocked() {
	mset.transform, mset.republish = nil, nil
	if t := mset.cfg.SubjectTransform; t != nil && t.Destination != "" {
		mset.transform, _ = newTransform(t.Source, t.Destination)
	}
	if rp := mset.cfg.RePublish; rp != nil {
		mset.republish, _ = newTransform(rp.Source, rp.Destination)
	}
}

// subscribeLocked subscribes the stream's subjects (ingest) and, with
// allow_direct, DIRECT.GET.
func (mset *stream) subscribeLocked() {
	acc := mset.ja.acc
	for _, subj := range mset.cfg.Subjects {
		sub, err := acc.Subscribe(subj, "", mset.enqueue)
		if err != nil {
			mset.ja.e.log.Error("Stream subscription failed", zap.String("stream", mset.name), zap.String("subject", subj), zap.Error(err))
			continue
		}
		mset.ingest = append(mset.ingest, sub)
	}
	if mset.cfg.AllowDirect {
		for _, subj := range []string{"$JS.API.DIRECT.GET." + mset.name, "$JS.API.DIRECT.GET." + mset.name + ".>"} {
			if sub, err := acc.Subscribe(subj, "", mset.directGet); err == nil {
				mset.direct = append(mset.direct, sub)
			}
		}
	}
}

func (mset *stream) unsubscribeLocked() {
	for _, s := range mset.ingest {
		s.Unsubscribe()
	}
	for _, s := range mset.direct {
		s.Unsubscribe()
	}
	mset.ingest, mset.direct = nil, nil
}

// enqueue is the ingest subscriptions' handler (publisher's goroutine).
func (mset *stream) enqueue(m server.Msg) {
	im := &inMsg{subject: string(m.Subject), reply: string(m.Reply), hdr: bytes.Clone(m.Header), data: bytes.Clone(m.Data)}
	select {
	case mset.in <- im:
	case <-mset.quit:
	default:
		// Full: the disk cannot keep up. Refuse rather than block a
		// client's reader; a publisher waiting for its ack learns why.
		if im.reply != "" {
			mset.sendAck(im.reply, pubAckError(mset.name, newError(errClusterNotAvail)))
		}
	}
}

func (mset *stream) ingestLoop() {
	defer close(mset.done)
	batch := make([]*inMsg, 0, ingestBatch)
	for {
		select {
		case <-mset.quit:
			return
		case im := <-mset.in:
			batch = append(batch[:0], im)
		more:
			for len(batch) < ingestBatch {
				select {
				case im := <-mset.in:
					batch = append(batch, im)
				default:
					break more
				}
			}
			mset.processBatch(batch)
			clear(batch)
		}
	}
}

// processBatch stores a batch, makes it durable, then acknowledges and
// wakes the consumers.
func (mset *stream) processBatch(batch []*inMsg) {
	if mset.repl != nil {
		mset.proposeBatch(batch)
		return
	}
	stored := 0
	for _, im := range batch {
		if im.barrier == nil && mset.processInbound(im) {
			stored++
		}
	}
	if stored > 0 && mset.ja.e.cfg.SyncAlways() && mset.config().Storage == FileStorage {
		if err := mset.store.Flush(); err != nil {
			// Nothing of this batch can be promised: say so to each
			// publisher instead of acknowledging.
			mset.ja.e.log.Error("Stream flush failed", zap.String("stream", mset.name), zap.Error(err))
			for _, im := range batch {
				if im.ack != nil && bytes.HasPrefix(im.ack, []byte(`{"stream"`)) {
					im.ack = pubAckError(mset.name, errWith(errStreamStoreFailedF, err))
				}
			}
		}
	}
	for _, im := range batch {
		if im.reply != "" && im.ack != nil {
			mset.sendAck(im.reply, im.ack)
		}
	}
	if stored > 0 {
		mset.signalConsumers()
		mset.signalWatchers()
	}
	for _, im := range batch {
		if im.barrier != nil {
			close(im.barrier)
		}
	}
}

func (mset *stream) sendAck(reply string, ack []byte) {
	_ = mset.ja.acc.Publish(reply, "", nil, ack)
}

// processInbound checks and stores one message, setting im.ack; it
// reports whether the message was stored.
func (mset *stream) processInbound(im *inMsg) bool {
	mset.mu.Lock()
	cfg := &mset.cfg
	name := mset.name
	fail := func(e *APIError) bool {
		mset.mu.Unlock()
		im.ack = pubAckError(name, e)
		return false
	}
	if cfg.Sealed {
		return fail(newError(errStreamSealed))
	}
	hdr := im.hdr
	var msgID string
	var ttl int64
	if im.mirrorSeq > 0 {
		last := mset.store.State(false).LastSeq
		if im.mirrorSeq <= last {
			mset.mu.Unlock()
			return false // copied before (a restart re-reads the last batch)
		}
		if gap := im.mirrorSeq - last - 1; gap > 0 {
			_ = mset.store.SkipMsgs(gap) // the origin's deleted messages keep their sequences
		}
	}
	if len(hdr) > 0 && im.sourced {
		msgID, _ = getHeader(hdr, hdrMsgID)
		if msgID != "" && im.mirrorSeq == 0 {
			if _, dup := mset.dedupe.lookup(msgID, cfg.Duplicates, im.now()); dup {
				mset.mu.Unlock()
				return false
			}
		}
	} else if len(hdr) > 0 {
		if v, ok := getHeader(hdr, hdrExpectedStream); ok && v != name {
			return fail(newError(errStreamNotMatch))
		}
		msgID, _ = getHeader(hdr, hdrMsgID)
		if msgID != "" {
			if seq, dup := mset.dedupe.lookup(msgID, cfg.Duplicates, im.now()); dup {
				mset.mu.Unlock()
				im.ack = pubAckDuplicate(name, seq)
				return false
			}
		}
		if v, ok := getHeader(hdr, hdrExpectedLastMsgID); ok && v != mset.lastMsgID {
			return fail(newError(errStreamWrongLastMsgID, "{id}", mset.lastMsgID))
		}
		if v, ok := getHeader(hdr, hdrExpectedLastSeq); ok {
			want, err := strconv.ParseUint(v, 10, 64)
			last := mset.store.State(false).LastSeq
			if err != nil || want != last {
				return fail(newError(errStreamWrongLastSequence, "{seq}", last))
			}
		}
		if v, ok := getHeader(hdr, hdrExpectedLastSubjSeq); ok {
			want, err := strconv.ParseUint(v, 10, 64)
			subj := im.subject
			if s, ok := getHeader(hdr, hdrExpectedLastSubjSeqSubj); ok && s != "" {
				subj = s
			}
			var last uint64
			if sm, lerr := mset.store.LoadLastMsg(subj, nil); lerr == nil {
				last = sm.Seq
			}
			if err != nil || want != last {
				return fail(newError(errStreamWrongLastSequence, "{seq}", last))
			}
		}
		if v, ok := getHeader(hdr, hdrTTL); ok {
			if !cfg.AllowMsgTTL {
				return fail(newError(errMessageTTLDisabled))
			}
			d, err := parseTTL(v)
			if err != nil {
				return fail(newError(errMessageTTLInvalid))
			}
			ttl = d
		}
		if v, ok := getHeader(hdr, hdrRollup); ok {
			if !cfg.AllowRollup || cfg.DenyPurge {
				return fail(newError(errStreamRollupFailedF, "{err}", "rollup not permitted"))
			}
			if v != "sub" && v != "all" {
				return fail(newError(errStreamRollupFailedF, "{err}", "rollup value invalid: "+strconv.Quote(v)))
			}
		}
	}
	subj := im.subject
	if mset.transform != nil {
		if s, ok := mset.transform.Apply(subj); ok {
			subj = s
		}
	}
	if cfg.MaxMsgSize > 0 && len(hdr)+len(im.data) > int(cfg.MaxMsgSize) {
		return fail(newError(errStreamMessageExceedsMaximum))
	}
	// The account's and the server's storage limits are this server's
	// own: a replica applying a committed entry must not judge by them
	// (the replicas would then differ); the leader checked before it
	// proposed (checkLocalLimits).
	if im.at == 0 {
		if apiErr := mset.checkLocalLimits(cfg.Storage, subj, hdr, im.data); apiErr != nil {
			return fail(apiErr)
		}
	}
	dupWindow := cfg.Duplicates
	republish := mset.republish
	interest := cfg.Retention == InterestPolicy
	noAck := cfg.NoAck
	// The store may call back (OnRemove: a limit dropped old messages),
	// and the callback takes the lock: store without it. Only this
	// goroutine stores, so what was checked above still holds.
	mset.mu.Unlock()
	var seq uint64
	var ts int64
	var err error
	if im.at != 0 {
		// Replicated: the entry's time, and the next sequence, on every
		// replica alike.
		seq, ts = mset.store.State(false).LastSeq+1, im.at
		err = mset.storeCommitted(seq, ts, subj, hdr, im.data, ttl)
	} else {
		seq, ts, err = mset.store.StoreMsg(subj, hdr, im.data, ttl)
	}
	if err != nil {
		im.ack = pubAckError(name, storeError(err))
		return false
	}
	mset.mu.Lock()
	if msgID != "" {
		mset.dedupe.add(msgID, seq, ts, dupWindow, im.now())
	}
	mset.lastMsgID = msgID
	mset.mu.Unlock()
	rollup := ""
	if len(hdr) > 0 {
		rollup, _ = getHeader(hdr, hdrRollup)
	}

	switch rollup {
	case "sub":
		_, _ = mset.store.Purge(subj, seq, 0)
	case "all":
		_, _ = mset.store.Purge("", seq, 0)
	}
	if republish != nil && mset.isLeading() {
		mset.republishMsg(republish, subj, hdr, im.data, seq, ts)
	}
	if interest && !mset.anyInterest(subj) {
		// Interest retention with no consumer that wants it: kept no
		// longer than it takes to say so.
		mset.removeForRetention(seq)
	}
	if !noAck {
		im.ack = pubAckOK(name, mset.ja.e.cfg.Domain, seq)
	}
	return true
}

// checkLocalLimits checks a publish against the account's and the
// server's storage limits: a publish over the account's is refused as
// nats-server refuses it (a restore over it gets checkStoreLimit's own).
func (mset *stream) checkLocalLimits(kind StorageType, subj string, hdr, data []byte) *APIError {
	size := store.AccountedSize(kind == FileStorage, subj, hdr, data)
	if err := mset.ja.checkStoreLimit(kind, size); err != nil {
		return newError(errAccountResourcesExceeded)
	}
	if mset.ja.e.overServerLimit(kind, size) {
		return newError(errInsufficientResources)
	}
	return nil
}

// storeCommitted stores a message of a committed entry. A refusal that
// follows from the stream's state (its limits) is the same on every
// replica and is returned; any other failure (a full disk, an I/O error)
// is this server's alone, so the replica waits and tries again rather
// than skip a message the others stored: unavailable here, never
// different.
func (mset *stream) storeCommitted(seq uint64, ts int64, subj string, hdr, data []byte, ttl int64) error {
	for {
		err := mset.store.StoreMsgAt(seq, ts, subj, hdr, data, ttl)
		if err == nil || isStateRefusal(err) {
			return err
		}
		mset.ja.e.log.Error("Replicated stream cannot store a committed message; retrying",
			zap.String("stream", mset.name), zap.Uint64("seq", seq), zap.Error(err))
		select {
		case <-mset.quit:
			return err
		case <-time.After(time.Second):
		}
	}
}

func isStateRefusal(err error) bool {
	for _, e := range []error{store.ErrMaxMsgs, store.ErrMaxBytes, store.ErrMaxMsgsPerSubject, store.ErrMaxMsgSize, store.ErrBadTTL} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// storeError maps a store's refusal to the publish's API error.
func storeError(err error) *APIError {
	switch {
	case errors.Is(err, store.ErrMaxMsgSize):
		return newError(errStreamMessageExceedsMaximum)
	case errors.Is(err, store.ErrMaxMsgs), errors.Is(err, store.ErrMaxBytes), errors.Is(err, store.ErrMaxMsgsPerSubject):
		return errWith(errStreamStoreFailedF, err)
	case errors.Is(err, store.ErrStoreFull):
		return newError(errStorageResourcesExceeded)
	case errors.Is(err, store.ErrBadTTL):
		return newError(errMessageTTLInvalid)
	}
	return errWith(errStreamStoreFailedF, err)
}

// republishMsg publishes a stored message on the republish destination,
// with the headers nats-server adds.
func (mset *stream) republishMsg(t *server.Transform, subj string, hdr, data []byte, seq uint64, ts int64) {
	dest, ok := t.Apply(subj)
	if !ok {
		return
	}
	mset.mu.RLock()
	headersOnly := mset.cfg.RePublish.HeadersOnly
	mset.mu.RUnlock()
	var last uint64
	if sm, err := mset.store.LoadPrevMsg(seq-1, nil); err == nil && seq > 1 {
		last = sm.Seq
	}
	h := newHeaderBuilder(hdr)
	h.set(hdrStream, mset.name)
	h.set(hdrSubject, subj)
	h.set(hdrSequence, strconv.FormatUint(seq, 10))
	h.set(hdrTimeStamp, time.Unix(0, ts).UTC().Format(time.RFC3339Nano))
	h.set(hdrLastSequence, strconv.FormatUint(last, 10))
	if headersOnly {
		h.set(hdrMsgSize, strconv.Itoa(len(data)))
		data = nil
	}
	_ = mset.ja.acc.Publish(dest, "", h.bytes(), data)
}

// config is a copy of the stream's configuration.
func (mset *stream) config() StreamConfig {
	mset.mu.RLock()
	defer mset.mu.RUnlock()
	return mset.cfg
}

// update applies a new (checked) configuration.
func (mset *stream) update(cfg StreamConfig) error {
	mset.mu.Lock()
	old := mset.cfg
	mset.cfg = cfg
	if err := mset.store.UpdateConfig(mset.storeConfig(&cfg)); err != nil {
		mset.cfg = old
		mset.mu.Unlock()
		return err
	}
	mset.unsubscribeLocked()
	mset.setTransformsLocked()
	mset.subscribeLocked()
	old_ := mset.stopSourcesLocked()
	mset.mu.Unlock()
	for _, sr := range old_ {
		<-sr.done
	}
	mset.mu.Lock()
	mset.startSourcesLocked()
	mset.mu.Unlock()
	if err := mset.writeMeta(); err != nil {
		return err
	}
	mset.signalConsumers()
	return nil
}

// stop ends the stream; with del, its consumers and files go too.
func (mset *stream) stop(del bool) {
	mset.once.Do(func() {
		mset.mu.Lock()
		mset.unsubscribeLocked()
		srcs := mset.stopSourcesLocked()
		consumers := make([]*consumer, 0, len(mset.consumers))
		for _, o := range mset.consumers {
			consumers = append(consumers, o)
		}
		mset.mu.Unlock()
		for _, sr := range srcs {
			<-sr.done
		}
		close(mset.quit)
		if mset.started {
			<-mset.done
		}
		for _, o := range consumers {
			o.stop(del, false)
		}
		if mset.repl != nil {
			mset.closeFollowerConsumers()
		}
		if mset.store == nil {
			return
		}
		if del {
			_ = mset.store.Delete()
			_ = mset.ja.e.fs.RemoveAll(mset.dir)
		} else {
			_ = mset.store.Stop()
		}
	})
}

// info is the stream's API description.
func (mset *stream) info(opts infoOpts) *StreamInfo {
	mset.mu.RLock()
	cfg := mset.cfg
	created := mset.created
	nc := len(mset.consumers)
	mset.mu.RUnlock()
	if opts.serverMeta {
		cfg.Metadata = withServerMetadata(cfg.Metadata)
	}
	st := mset.store.State(opts.deleted)
	if st.Msgs == 0 && st.LastSeq == 0 {
		st.FirstSeq = 0 // a stream that never held a message (nats-server shows 0)
	}
	si := &StreamInfo{Config: cfg, Created: created, TimeStamp: now()}
	si.State = StreamState{
		Msgs: st.Msgs, Bytes: st.Bytes, FirstSeq: st.FirstSeq, FirstTime: st.FirstTime.UTC(),
		LastSeq: st.LastSeq, LastTime: st.LastTime.UTC(), NumSubjects: st.NumSubjects,
		NumDeleted: st.NumDeleted, Deleted: st.Deleted, Consumers: nc,
	}
	if st.Lost != nil {
		si.State.Lost = &LostStreamData{Msgs: st.Lost.Msgs, Bytes: st.Lost.Bytes}
	}
	if opts.cluster {
		if mset.repl != nil {
			si.Cluster = mset.repl.Info()
		} else {
			si.Cluster = &ClusterInfo{Leader: mset.ja.e.serverID()}
		}
	}
	mset.mu.RLock()
	srcs := mset.sources
	mset.mu.RUnlock()
	for _, sr := range srcs {
		if sr.mirror {
			si.Mirror = sr.info()
		} else {
			si.Sources = append(si.Sources, sr.info())
		}
	}
	if cfg.Mirror != nil && si.Mirror == nil {
		si.Mirror = &StreamSourceInfo{Name: cfg.Mirror.Name, Active: -1}
	}
	return si
}

type infoOpts struct {
	deleted    bool // list interior deletes
	serverMeta bool // add the server's level and version to the metadata
	cluster    bool // add the cluster block
}

// numConsumers is how many consumers the stream has.
func (mset *stream) numConsumers() int {
	mset.mu.RLock()
	defer mset.mu.RUnlock()
	return len(mset.consumers)
}

// removed is the store's callback for messages it removed by itself.
func (mset *stream) removed(seq uint64, subj string) {
	for _, o := range mset.consumerList() {
		o.streamRemoved(seq)
	}
}

func (mset *stream) consumerList() []*consumer {
	mset.mu.RLock()
	defer mset.mu.RUnlock()
	out := make([]*consumer, 0, len(mset.consumers))
	for _, o := range mset.consumers {
		out = append(out, o)
	}
	return out
}

// signalConsumers wakes every consumer: there may be new messages.
func (mset *stream) signalConsumers() {
	for _, o := range mset.consumerList() {
		o.signal()
	}
}

// anyInterest reports whether some consumer's filter takes subj
// (interest retention keeps a message only while one does).
func (mset *stream) anyInterest(subj string) bool {
	for _, o := range mset.consumerList() {
		if o.wants(subj) {
			return true
		}
	}
	return false
}
