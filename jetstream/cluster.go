package jetstream

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream/store"
)

// Clustered JetStream's seams. Package jscluster runs the Raft groups and
// the meta group; this package stays what serves streams. Two interfaces
// join them, both implemented by jscluster:
//
//   - Cluster, the meta layer: who answers the account-wide requests and
//     the assignments of streams to servers (SetCluster);
//   - Replicator, a stream's Raft group: the leader's ingest proposes
//     batches through it, and every replica is handed what commits
//     (Replica.Apply), in order. A publish is acknowledged by the server
//     that proposed it once its entry is applied there: after a quorum
//     has the entry on disk (the journal's fsync on each).

// Cluster is the meta layer (jscluster).
type Cluster interface {
	// MetaLeader reports whether this server leads the meta group: it
	// answers the requests that are not about one stream's data.
	MetaLeader() bool
	// ProposeStream asks the meta group to create or update (cfg set)
	// or delete (cfg nil) stream name of account; the server that
	// completes it answers reply (typ is the response's type).
	ProposeStream(account, name string, cfg *StreamConfig, reply, typ string) *APIError
	// Streams are the account's assigned streams' configs, by name.
	Streams(account string) []StreamConfig
	// Stream is one assigned stream's config.
	Stream(account, name string) (StreamConfig, bool)
}

// Replicator is one stream's Raft group (jscluster).
type Replicator interface {
	// Propose hands an entry to the group (this server must lead it).
	Propose(data []byte) error
	// Compact says that the stream has stored everything up to index
	// durably, so the group's log may drop it; snapshot describes the
	// stream at index, for a replica too far behind to be sent the log
	// (InstallSnapshot).
	Compact(index uint64, snapshot []byte)
	// SelfID is this server's id in the group.
	SelfID() uint64
	// Info is the group's part of STREAM.INFO: leader and replicas.
	Info() *ClusterInfo
	// StepDown hands leadership to another replica.
	StepDown() error
	// Peers is how many replicas the group has.
	Peers() int
	// Committed is how far this server's log of the group knows entries
	// to be committed: a store that applied more than that is ahead of a
	// log that lost entries, and must be rebuilt (Raft cannot resume
	// applying past its own commit).
	Committed() uint64
}

// SetCluster makes the engine clustered: the API answers only what this
// server is responsible for, and streams are made by the meta group
// (OpenReplica). Called once, before ConfigureAccounts.
func (e *Engine) SetCluster(c Cluster) { e.cluster = c }

// Clustered reports whether the engine runs in a cluster.
func (e *Engine) Clustered() bool { return e.cluster != nil }

// Replica is this server's copy of a replicated stream.
type Replica struct {
	mset *stream
	// Rebuild: the store was damaged and starts empty; what the group's
	// log no longer holds must be fetched (InstallSnapshot) before the
	// log's entries are applied.
	Rebuild bool
}

// replState is a replicated stream's progress (stream.repl*).
type replState struct {
	applied     uint64 // the last entry applied
	flushed     uint64 // the last entry stored durably in the stream's store
	lastFlush   time.Time
	leadTerm    uint64 // the term this server was told it leads
	wantLead    bool   // told it leads; leads once its term's first entry applies
	createReply string // answer once leading (the create's requester)
	createType  string
	// marks are the last flushes (oldest first): the log is compacted up
	// to the one before the newest, so that a replica a little behind is
	// sent the log, not a snapshot.
	marks []replicaMark
	// followers are the consumer stores a follower keeps up to date
	// (cluster_consumers.go); stopLead ends the leader's consumer state
	// loop.
	followers map[string]store.ConsumerStore
	stopLead  chan struct{}
	// ops are the consumer updates the leader has yet to propose;
	// opsWake wakes its consumerOpsLoop.
	ops     []consumerOp
	opsWake chan struct{}
	// An ack's reply (AckSync, the nats CLI's --ack-sync, nats.go's
	// DoubleAck) confirms it once its op is committed, not before, so
	// that a confirmed ack survives the leader: ackReplies wait for the
	// next ops entry; inflightReplies are those of each ops entry proposed
	// in this leadership (leadGen), in order, sent when it is applied.
	ackReplies      []string
	inflightReplies [][]string
	leadGen         uint64
	// answers are the consumer creates and deletes this leader proposed,
	// by reply subject, answered once applied (answerConsumerEntry).
	answers map[string]func()
	// quorumLostAt is when the last lost quorum was announced.
	quorumLostAt time.Time
}

// replicaMark is what a replicated stream's directory records of its
// group: the entry its store holds everything up to, and the store's last
// sequence then (raft.json).
type replicaMark struct {
	Index    uint64 `json:"index"`
	LastSeq  uint64 `json:"last_seq"`
	FirstSeq uint64 `json:"first_seq,omitempty"`
}

// OpenReplica opens (or creates) this server's replica of a stream the
// meta group assigned here. reply, when set, is answered with the
// create's response once this replica leads. Applied is where the group's
// log must resume.
func (e *Engine) OpenReplica(account string, cfg StreamConfig, created time.Time, r Replicator, reply, typ string) (*Replica, error) {
	ja := e.lookup(account)
	if ja == nil || !ja.isEnabled() {
		return nil, errors.New("jetstream: account " + account + " has no JetStream here")
	}
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	if cur := ja.lookupStream(cfg.Name); cur != nil {
		cur.stop(false)
	}
	mset := ja.newStream(cfg, created)
	mset.repl = r
	mset.rs.createReply, mset.rs.createType = reply, typ
	mset.rs.opsWake = make(chan struct{}, 1)
	if err := mset.open(); err != nil {
		return nil, err
	}
	mark := replicaMark{}
	if b, err := readFile(e.fs, filepath.Join(mset.dir, "raft.json")); err == nil {
		_ = json.Unmarshal(b, &mark)
	}
	damaged := false
	// A memory stream starts empty: if its group had committed anything,
	// it is rebuilt like a damaged one.
	memoryBehind := cfg.Storage == MemoryStorage && r.Committed() > 0
	if st := mset.store.State(false); (st.Lost != nil || st.LastSeq < mark.LastSeq || mark.Index > r.Committed() || memoryBehind) && r.Peers() > 1 {
		// A damaged replica (messages that fail their checksums, or a
		// store cut short of what it had made durable) is rebuilt, not
		// patched: its store starts empty and the group brings it back
		// (the log, and the leader's store for what the log no longer
		// holds). It serves nothing meanwhile, and does not lead
		// (jscluster holds it).
		reason := "store ends at " + strconv.FormatUint(st.LastSeq, 10) + ", it had stored up to " + strconv.FormatUint(mark.LastSeq, 10)
		if mark.Index > r.Committed() {
			reason = "the group's log (committed to " + strconv.FormatUint(r.Committed(), 10) + ") lost what the store applied (to " + strconv.FormatUint(mark.Index, 10) + ")"
		}
		if memoryBehind {
			reason = "a memory stream starts empty"
		}
		lost := 0
		if st.Lost != nil {
			reason, lost = st.Lost.Reason, len(st.Lost.Msgs)
		}
		logf := e.log.Error
		if memoryBehind {
			logf = e.log.Info // what a memory stream does on every restart
		}
		logf("Stream replica's store is damaged or ahead of its log; rebuilding it from the other replicas",
			zap.String("account", account), zap.String("stream", cfg.Name), zap.Int("lost_messages", lost), zap.String("reason", reason))
		if err := mset.store.Delete(); err != nil {
			return nil, err
		}
		_ = e.fs.Remove(filepath.Join(mset.dir, "raft.json"))
		if err := mset.open(); err != nil {
			return nil, err
		}
		mark, damaged = replicaMark{}, true
	}
	// The store may hold what was applied after the mark: the group's log
	// gives it again from the mark on, so it goes, and every replica
	// stores the same again.
	if st := mset.store.State(false); st.LastSeq > mark.LastSeq && (mark.Index > 0 || st.Msgs > 0) {
		if err := mset.store.Truncate(mark.LastSeq); err != nil {
			mset.stop(false)
			return nil, err
		}
	}
	mset.rs.applied, mset.rs.flushed, mset.rs.lastFlush = mark.Index, mark.Index, time.Now()
	if err := mset.writeMeta(); err != nil {
		mset.stop(false)
		return nil, err
	}
	mset.startReplica()
	ja.mu.Lock()
	ja.streams[mset.name] = mset
	ja.mu.Unlock()
	return &Replica{mset: mset, Rebuild: damaged}, nil
}

// Applied is the last entry this replica applied.
func (r *Replica) Applied() uint64 {
	r.mset.replMu.Lock()
	defer r.mset.replMu.Unlock()
	return r.mset.rs.applied
}

// Close stops the replica; with del its files go too (the stream was
// deleted or moved off this server).
func (r *Replica) Close(del bool) {
	mset := r.mset
	ja := mset.ja
	ja.createMu.Lock()
	ja.mu.Lock()
	if ja.streams[mset.name] == mset {
		delete(ja.streams, mset.name)
	}
	ja.mu.Unlock()
	ja.createMu.Unlock()
	mset.stop(del)
}

// Update applies a new configuration the meta group committed.
func (r *Replica) Update(cfg StreamConfig) error { return r.mset.update(cfg) }

// Answer answers a create or update of the stream with its info, when
// this replica leads (the others stay silent).
func (r *Replica) Answer(reply, typ string) {
	mset := r.mset
	if reply == "" || !mset.leading.Load() {
		return
	}
	si := mset.info(infoOpts{serverMeta: true, cluster: true})
	if typ == "io.nats.jetstream.api.v1.stream_create_response" {
		mset.ja.respond(reply, typ, nil, streamCreateBody{si, false})
		return
	}
	mset.ja.adviseStream(mset.name, "modify")
	mset.ja.respond(reply, typ, nil, si)
}

// Info is the replica's stream info (for the meta leader's LIST).
func (r *Replica) Info() *StreamInfo { return r.mset.info(infoOpts{cluster: true}) }

// LeaderChanged is the group's news: lead tells whether this server leads
// now, in term. A new leader serves only once it has applied its term's
// first entry (the empty one Raft appends): then it has applied all that
// was committed before it, and what it serves is current.
func (r *Replica) LeaderChanged(lead bool, term uint64) {
	mset := r.mset
	mset.replMu.Lock()
	mset.rs.wantLead, mset.rs.leadTerm = lead, term
	if !lead {
		// Another server leads (or led): the create was answered there,
		// or its requester retries. Answering it on a later leadership
		// here would be a second, stale answer (and a second "created"
		// advisory).
		mset.rs.createReply = ""
	}
	mset.replMu.Unlock()
	if !lead {
		mset.setLeading(false)
	}
}

// Apply applies one committed entry. An empty entry is Raft's own (a new
// leader's first).
func (r *Replica) Apply(index, term uint64, data []byte) {
	mset := r.mset
	mset.replMu.Lock()
	if index <= mset.rs.applied {
		mset.replMu.Unlock()
		return
	}
	lead := mset.rs.wantLead && term == mset.rs.leadTerm
	mset.replMu.Unlock()
	if len(data) > 0 {
		mset.applyEntry(index, data)
	}
	mset.replMu.Lock()
	mset.rs.applied = index
	mset.replMu.Unlock()
	if lead && len(data) == 0 {
		mset.setLeading(true)
	}
	mset.maybeFlush(index)
}

// startReplica starts a replica's loops; it subscribes nothing until it
// leads (setLeading).
func (mset *stream) startReplica() {
	mset.mu.Lock()
	defer mset.mu.Unlock()
	mset.setTransformsLocked()
	mset.rebuildDedupeLocked()
	mset.started = true
	go mset.ingestLoop()
}

// setLeading subscribes the stream's subjects, DIRECT.GET and consumers
// when this replica starts leading, and withdraws them when it stops.
func (mset *stream) setLeading(lead bool) {
	if mset.leading.Swap(lead) == lead {
		return
	}
	if lead {
		mset.closeFollowerConsumers()
		mset.mu.Lock()
		mset.subscribeLocked()
		mset.mu.Unlock()
		mset.loadConsumers()
		mset.adviseStreamLeader(mset.consumerList())
		stop := make(chan struct{})
		mset.replMu.Lock()
		mset.rs.stopLead = stop
		mset.rs.leadGen++
		gen := mset.rs.leadGen
		mset.rs.ackReplies, mset.rs.inflightReplies, mset.rs.answers = nil, nil, nil
		mset.replMu.Unlock()
		go mset.consumerOpsLoop(stop, gen)
		mset.replMu.Lock()
		reply, typ := mset.rs.createReply, mset.rs.createType
		mset.rs.createReply = ""
		mset.replMu.Unlock()
		if reply != "" {
			mset.ja.adviseStream(mset.name, "create")
			mset.ja.respond(reply, typ, nil, streamCreateBody{mset.info(infoOpts{serverMeta: true, cluster: true}), true})
		}
		mset.ja.e.log.Info("Stream leader", zap.String("account", mset.ja.name), zap.String("stream", mset.name))
		return
	}
	mset.mu.Lock()
	mset.unsubscribeLocked()
	consumers := make([]*consumer, 0, len(mset.consumers))
	for _, o := range mset.consumers {
		consumers = append(consumers, o)
	}
	mset.mu.Unlock()
	for _, o := range consumers {
		o.stop(false, false)
	}
	mset.replMu.Lock()
	mset.rs.createReply = ""
	mset.rs.ops = nil // a later term's leader must not propose them
	// Replies not sent: those acks may not be committed; their clients
	// time out and ack again (a duplicate ack is confirmed once what is
	// before it is committed).
	mset.rs.ackReplies, mset.rs.inflightReplies, mset.rs.answers = nil, nil, nil
	if mset.rs.stopLead != nil {
		close(mset.rs.stopLead)
		mset.rs.stopLead = nil
	}
	mset.replMu.Unlock()
}

// isLeading reports whether this replica serves the stream (always, for
// a stream on one server).
func (mset *stream) isLeading() bool { return mset.repl == nil || mset.leading.Load() }

// proposeBatch is a replicated leader's processBatch: the batch goes to
// the group, in entries of at most about 1 MiB; it is stored and
// acknowledged when it commits (Apply).
func (mset *stream) proposeBatch(batch []*inMsg) {
	const maxEntry = 1 << 20
	self := mset.repl.SelfID()
	start, size := 0, 0
	flush := func(end int) {
		if end > start {
			data := encodePublish(nil, self, time.Now().UnixNano(), batch[start:end])
			if err := mset.repl.Propose(data); err != nil {
				// No longer the leader: the publisher hears nothing and
				// retries (with Nats-Msg-Id, without a duplicate).
				mset.ja.e.log.Debug("Stream proposal refused", zap.String("stream", mset.name), zap.Error(err))
			}
		}
		start, size = end, 0
	}
	cfg := mset.config()
	kept := batch[:0:0]
	for _, im := range batch {
		if im.barrier == nil && !im.sourced {
			if apiErr := mset.checkLocalLimits(cfg.Storage, im.subject, im.hdr, im.data); apiErr != nil {
				if im.reply != "" {
					mset.sendAck(im.reply, pubAckError(mset.name, apiErr))
				}
				continue
			}
		}
		kept = append(kept, im)
	}
	batch = kept
	for i, im := range batch {
		if im.barrier != nil {
			continue
		}
		size += len(im.subject) + len(im.reply) + len(im.hdr) + len(im.data) + 16
		if size >= maxEntry {
			flush(i + 1)
		}
	}
	flush(len(batch))
	for _, im := range batch {
		if im.barrier != nil {
			close(im.barrier)
		}
	}
}

// applyEntry applies one committed entry to the replica's store; the
// server that proposed it answers its requesters.
func (mset *stream) applyEntry(index uint64, data []byte) {
	e, err := decodeEntry(data)
	if err != nil {
		mset.ja.e.log.Error("Replicated stream entry does not decode; skipped", zap.String("stream", mset.name), zap.Uint64("index", index))
		return
	}
	mine := e.origin == mset.repl.SelfID()
	switch e.kind {
	case entryPublish:
		stored := 0
		for _, im := range e.msgs {
			im.at = e.ts
			if mset.processInbound(im) {
				stored++
			}
			if mine && im.reply != "" && im.ack != nil {
				mset.sendAck(im.reply, im.ack)
			}
		}
		if stored > 0 {
			mset.signalConsumers()
			mset.signalWatchers()
		}
	case entryPurge:
		body, apiErr := mset.doPurge(e.subject, e.seq, e.keep)
		if mine && e.reply != "" {
			mset.ja.respond(e.reply, "io.nats.jetstream.api.v1.stream_purge_response", apiErr, body)
		}
	case entryConsumer, entryConsumerDelete:
		mset.applyConsumerEntry(e.kind, e.body, mine)
	case entryConsumerOps:
		if mine {
			mset.sendCommittedAckReplies()
		}
		mset.applyConsumerOps(e.body)
	case entryMsgDelete:
		apiErr := mset.doMsgDelete(e.seq, e.noErase)
		if mine && e.reply != "" {
			if apiErr != nil {
				mset.ja.respond(e.reply, "io.nats.jetstream.api.v1.stream_msg_delete_response", apiErr, nil)
			} else {
				mset.ja.respond(e.reply, "io.nats.jetstream.api.v1.stream_msg_delete_response", nil, successBody{true})
			}
		}
	}
}

// Flushing: a replica's store is written at once but made durable only
// every few seconds (the journal holds what it has not); then the mark
// records how far it is durable, and the group's log may drop the rest.
const (
	replFlushEvery   = 2 * time.Second
	replFlushEntries = 8192
)

func (mset *stream) maybeFlush(index uint64) {
	mset.replMu.Lock()
	due := index-mset.rs.flushed >= replFlushEntries || time.Since(mset.rs.lastFlush) >= replFlushEvery
	mset.replMu.Unlock()
	if !due {
		return
	}
	mset.flushReplica(index)
}

// flushReplica makes the store durable up to index and records it.
// A memory stream keeps nothing across a restart: its mark is not
// written, and a restarted replica is rebuilt from the leader (OpenReplica
// finds its group's log compacted or not empty), so its log is compacted
// as a file stream's is.
func (mset *stream) flushReplica(index uint64) {
	mark := replicaMark{Index: index, LastSeq: mset.store.State(false).LastSeq}
	if mset.storage != MemoryStorage {
		if err := mset.store.Flush(); err != nil {
			mset.ja.e.log.Error("Replicated stream flush failed", zap.String("stream", mset.name), zap.Error(err))
			return
		}
		b, _ := json.Marshal(mark)
		if err := writeFileAtomic(mset.ja.e.fs, filepath.Join(mset.dir, "raft.json"), b); err != nil {
			mset.ja.e.log.Error("Replicated stream mark not written", zap.String("stream", mset.name), zap.Error(err))
			return
		}
	}
	st := mset.store.State(false)
	mset.replMu.Lock()
	mset.rs.flushed, mset.rs.lastFlush = index, time.Now()
	mset.rs.marks = append(mset.rs.marks, replicaMark{Index: index, LastSeq: mark.LastSeq, FirstSeq: st.FirstSeq})
	if len(mset.rs.marks) > 2 {
		mset.rs.marks = mset.rs.marks[1:]
	}
	compact := mset.rs.marks[0]
	mset.replMu.Unlock()
	if len(mset.rs.marks) < 2 {
		return
	}
	snap, _ := json.Marshal(compact)
	mset.repl.Compact(compact.Index, snap)
}

// proposeOp proposes a purge or a message delete; the answer comes when
// it is applied.
func (mset *stream) proposeOp(kind byte, reply, subject string, seq, keep uint64, noErase bool) {
	data := encodeOp(kind, mset.repl.SelfID(), time.Now().UnixNano(), reply, subject, seq, keep, noErase)
	if err := mset.repl.Propose(data); err != nil {
		mset.ja.e.log.Debug("Stream proposal refused", zap.String("stream", mset.name), zap.Error(err))
	}
}
