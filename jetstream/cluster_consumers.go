package jetstream

import (
	"encoding/binary"
	"encoding/json"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream/store"
)

// Consumers of a replicated stream deliver from the stream's leader only.
// Their configs and every change of their state (each delivery, each ack:
// exactly what the leader's consumer store is told) travel through the
// stream's group, so that a new leader takes them over: the other
// replicas' consumer stores are told the same updates in the same order,
// and a replica loads them when it comes to lead. An ack is replicated a
// Raft round after the leader took it (as nats-server's consumer groups
// do); one the leader took but had not committed when it failed is
// delivered again (at least once), never skipped. An ack that asks for a
// reply (AckSync) is answered only once its op is committed, as
// nats-server answers it: a confirmed ack survives the leader.

const (
	entryConsumer       = 4 // a consumer's config and/or state
	entryConsumerDelete = 5
	entryConsumerOps    = 6 // deliveries and acks, as the leader's stores were told
)

type consumerEntry struct {
	Name  string               `json:"name"`
	Meta  *consumerMeta        `json:"meta,omitempty"`
	State *store.ConsumerState `json:"state,omitempty"`
	// Reply: the create's or delete's requester, answered by the leader
	// that proposed the entry once it is applied there (committed), so
	// that a confirmed create or delete survives the leader.
	Reply string `json:"reply,omitempty"`
}

func encodeConsumerEntry(kind byte, origin uint64, ce *consumerEntry) []byte {
	b := []byte{entryVersion, kind}
	b = binary.BigEndian.AppendUint64(b, origin)
	b = binary.BigEndian.AppendUint64(b, uint64(time.Now().UnixNano()))
	j, _ := json.Marshal(ce)
	return append(b, j...)
}

// replicateConsumer proposes a consumer's config (leader).
func (mset *stream) replicateConsumer(o *consumer) { mset.replicateConsumerAnswer(o, "", nil) }

// replicateConsumerAnswer proposes a consumer's config; answer, when
// set, is called once the entry is applied here (committed) if this
// server still leads then (reply names it). It reports false when nothing
// was proposed (a memory consumer, kept by no replica): the caller
// answers at once.
func (mset *stream) replicateConsumerAnswer(o *consumer, reply string, answer func()) bool {
	meta := mset.replicatedMeta(o)
	if meta == nil {
		return false
	}
	return mset.proposeConsumerEntry(entryConsumer, &consumerEntry{Name: o.name, Meta: meta}, reply, answer)
}

// replicatedMeta is o's config as the other replicas keep it; nil for a
// memory consumer, kept by no replica across a restart (as on one server).
func (mset *stream) replicatedMeta(o *consumer) *consumerMeta {
	o.mu.Lock()
	meta := &consumerMeta{Name: o.name, Config: o.cfg, Created: o.created}
	o.mu.Unlock()
	if mset.storage == MemoryStorage || meta.Config.MemoryStorage {
		return nil
	}
	return meta
}

// replicateConsumerDelete proposes a consumer's removal (leader), with
// answer as replicateConsumerAnswer's.
func (mset *stream) replicateConsumerDelete(name, reply string, answer func()) bool {
	return mset.proposeConsumerEntry(entryConsumerDelete, &consumerEntry{Name: name}, reply, answer)
}

func (mset *stream) proposeConsumerEntry(kind byte, ce *consumerEntry, reply string, answer func()) bool {
	if answer != nil && reply != "" {
		// Kept before the proposal: it may be applied before Propose
		// returns.
		ce.Reply = reply
		mset.replMu.Lock()
		if mset.rs.answers == nil {
			mset.rs.answers = map[string]func(){}
		}
		mset.rs.answers[reply] = answer
		mset.replMu.Unlock()
	}
	if err := mset.repl.Propose(encodeConsumerEntry(kind, mset.repl.SelfID(), ce)); err != nil {
		mset.ja.e.log.Debug("Consumer proposal refused", zap.String("stream", mset.name), zap.Error(err))
		if ce.Reply != "" {
			mset.replMu.Lock()
			delete(mset.rs.answers, reply)
			mset.replMu.Unlock()
		}
		return false
	}
	return true
}

// answerConsumerEntry answers the requester (reply) of a consumer entry
// this leader proposed, now that it is applied (committed).
func (mset *stream) answerConsumerEntry(reply string) {
	if reply == "" {
		return
	}
	mset.replMu.Lock()
	answer := mset.rs.answers[reply]
	delete(mset.rs.answers, reply)
	mset.replMu.Unlock()
	if answer != nil {
		answer()
	}
}

// consumerOp is one change of a consumer's state on the leader: a
// delivery or an ack, exactly what its store was told.
type consumerOp struct {
	name       string
	ack        bool
	dseq, sseq uint64
	dc         uint64
	ts         int64
}

// replConsumerStore is a replicated stream's consumer store on its
// leader: every update is also queued for the stream's group, so that the
// other replicas' stores are told the same, in the same order.
type replConsumerStore struct {
	store.ConsumerStore
	mset *stream
	name string
}

func (s *replConsumerStore) UpdateDelivered(dseq, sseq, dc uint64, ts int64) error {
	err := s.ConsumerStore.UpdateDelivered(dseq, sseq, dc, ts)
	s.mset.queueConsumerOp(consumerOp{name: s.name, dseq: dseq, sseq: sseq, dc: dc, ts: ts})
	return err
}

func (s *replConsumerStore) UpdateAcks(dseq, sseq uint64) error {
	err := s.ConsumerStore.UpdateAcks(dseq, sseq)
	if err == nil {
		s.mset.queueConsumerOp(consumerOp{name: s.name, ack: true, dseq: dseq, sseq: sseq})
	}
	return err
}

func (mset *stream) queueConsumerOp(op consumerOp) {
	mset.replMu.Lock()
	mset.rs.ops = append(mset.rs.ops, op)
	mset.replMu.Unlock()
	select {
	case mset.rs.opsWake <- struct{}{}:
	default:
	}
}

// consumerOpsLoop proposes, while this replica leads, the consumer
// updates queued since the last proposal — one entry for all of them, the
// group's round batching further. A consumer's config goes first the
// first time it appears, so that no replica is told of updates of a
// consumer it does not know.
func (mset *stream) consumerOpsLoop(stop <-chan struct{}, gen uint64) {
	announced := map[string]bool{}
	for {
		select {
		case <-stop:
			return
		case <-mset.quit:
			return
		case <-mset.rs.opsWake:
		}
		mset.replMu.Lock()
		ops, replies := mset.rs.ops, mset.rs.ackReplies
		mset.rs.ops, mset.rs.ackReplies = nil, nil
		mset.replMu.Unlock()
		if len(ops) == 0 && len(replies) == 0 {
			continue
		}
		for _, op := range ops {
			if !announced[op.name] {
				announced[op.name] = true
				if o := mset.lookupConsumer(op.name); o != nil {
					mset.replicateConsumer(o)
				}
			}
		}
		// The entry's replies are queued before it is proposed: it may be
		// applied here before Propose returns.
		mset.replMu.Lock()
		current := mset.rs.leadGen == gen
		if current {
			mset.rs.inflightReplies = append(mset.rs.inflightReplies, replies)
		}
		mset.replMu.Unlock()
		if err := mset.repl.Propose(encodeConsumerOps(mset.repl.SelfID(), ops)); err != nil {
			mset.ja.e.log.Debug("Consumer updates not proposed", zap.String("stream", mset.name), zap.Error(err))
			mset.replMu.Lock()
			if n := len(mset.rs.inflightReplies); current && mset.rs.leadGen == gen && n > 0 {
				mset.rs.inflightReplies = mset.rs.inflightReplies[:n-1]
			}
			mset.replMu.Unlock()
		}
	}
}

// queueAckReply confirms an ack (its reply) once the ops entry that
// follows it is committed: the ack's own op is in that entry or an
// earlier one.
func (mset *stream) queueAckReply(reply string) {
	mset.replMu.Lock()
	mset.rs.ackReplies = append(mset.rs.ackReplies, reply)
	mset.replMu.Unlock()
	select {
	case mset.rs.opsWake <- struct{}{}:
	default:
	}
}

// sendCommittedAckReplies answers the acks of the oldest ops entry this
// leader proposed: it was just applied here, so it is committed.
func (mset *stream) sendCommittedAckReplies() {
	mset.replMu.Lock()
	if len(mset.rs.inflightReplies) == 0 {
		mset.replMu.Unlock()
		return
	}
	replies := mset.rs.inflightReplies[0]
	mset.rs.inflightReplies = mset.rs.inflightReplies[1:]
	mset.replMu.Unlock()
	for _, r := range replies {
		_ = mset.ja.acc.Publish(r, "", nil, nil)
	}
}

func encodeConsumerOps(origin uint64, ops []consumerOp) []byte {
	b := []byte{entryVersion, entryConsumerOps}
	b = binary.BigEndian.AppendUint64(b, origin)
	b = binary.BigEndian.AppendUint64(b, uint64(time.Now().UnixNano()))
	b = binary.AppendUvarint(b, uint64(len(ops)))
	for _, op := range ops {
		b = appendString(b, op.name)
		if op.ack {
			b = append(b, 'a')
		} else {
			b = append(b, 'd')
		}
		b = binary.AppendUvarint(b, op.dseq)
		b = binary.AppendUvarint(b, op.sseq)
		b = binary.AppendUvarint(b, op.dc)
		b = binary.BigEndian.AppendUint64(b, uint64(op.ts))
	}
	return b
}

func decodeConsumerOps(body []byte) ([]consumerOp, error) {
	r := entryReader{b: body}
	n := r.uvarint()
	if n > uint64(len(r.b))/8+1 {
		return nil, errBadEntry
	}
	ops := make([]consumerOp, 0, n)
	for range n {
		op := consumerOp{name: string(r.bytes())}
		if len(r.b) < 1 {
			return nil, errBadEntry
		}
		switch r.b[0] {
		case 'a':
			op.ack = true
		case 'd':
		default:
			return nil, errBadEntry
		}
		r.b = r.b[1:]
		op.dseq, op.sseq, op.dc = r.uvarint(), r.uvarint(), r.uvarint()
		op.ts = int64(r.u64())
		if r.err {
			return nil, errBadEntry
		}
		ops = append(ops, op)
	}
	if len(r.b) != 0 {
		return nil, errBadEntry
	}
	return ops, nil
}

// applyConsumerOps tells a follower's consumer stores what the leader's
// were told.
func (mset *stream) applyConsumerOps(body []byte) {
	if mset.leading.Load() {
		return
	}
	ops, err := decodeConsumerOps(body)
	if err != nil {
		mset.ja.e.log.Error("Replicated consumer updates do not decode; skipped", zap.String("stream", mset.name))
		return
	}
	for _, op := range ops {
		cs := mset.followerConsumerStore(op.name)
		if cs == nil {
			continue
		}
		if op.ack {
			_ = cs.UpdateAcks(op.dseq, op.sseq)
		} else {
			_ = cs.UpdateDelivered(op.dseq, op.sseq, op.dc, op.ts)
		}
	}
}

// followerConsumerStore is a follower's store of a consumer whose config
// it was sent (nil when it was not).
func (mset *stream) followerConsumerStore(name string) store.ConsumerStore {
	mset.replMu.Lock()
	cs := mset.rs.followers[name]
	mset.replMu.Unlock()
	if cs != nil {
		return cs
	}
	b, err := readFile(mset.ja.e.fs, filepath.Join(mset.dir, "consumers", name+".json"))
	if err != nil {
		return nil
	}
	var meta consumerMeta
	if err := json.Unmarshal(b, &meta); err != nil || meta.Name != name {
		return nil
	}
	cs, err = mset.store.ConsumerStore(name, store.ConsumerConfig{AckPolicy: store.AckPolicy(meta.Config.AckPolicy)})
	if err != nil {
		return nil
	}
	mset.replMu.Lock()
	if mset.rs.followers == nil {
		mset.rs.followers = map[string]store.ConsumerStore{}
	}
	mset.rs.followers[name] = cs
	mset.replMu.Unlock()
	return cs
}

// applyConsumerEntry applies a committed consumer entry: the leader that
// proposed it (mine) answers its requester; a follower keeps the config
// and state (the leader has them already).
func (mset *stream) applyConsumerEntry(kind byte, body []byte, mine bool) {
	var ce consumerEntry
	if err := json.Unmarshal(body, &ce); err != nil || !validName(ce.Name) {
		mset.ja.e.log.Error("Replicated consumer entry does not decode; skipped", zap.String("stream", mset.name))
		return
	}
	if mine {
		mset.answerConsumerEntry(ce.Reply)
	}
	if !mset.leading.Load() {
		mset.followConsumer(kind, &ce)
	}
}

// followConsumer is a follower's part of a consumer entry: the config and
// state to disk, or the consumer's removal.
func (mset *stream) followConsumer(kind byte, ce *consumerEntry) {
	fsys := mset.ja.e.fs
	metaPath := filepath.Join(mset.dir, "consumers", ce.Name+".json")
	if kind == entryConsumerDelete {
		mset.replMu.Lock()
		cs := mset.rs.followers[ce.Name]
		delete(mset.rs.followers, ce.Name)
		mset.replMu.Unlock()
		if cs == nil {
			cs, _ = mset.store.ConsumerStore(ce.Name, store.ConsumerConfig{})
		}
		if cs != nil {
			_ = cs.Delete()
		}
		_ = fsys.Remove(metaPath)
		return
	}
	if ce.Meta != nil {
		if b, err := json.Marshal(ce.Meta); err == nil {
			if err := writeFileAtomic(fsys, metaPath, b); err != nil {
				mset.ja.e.log.Error("Replicated consumer config not written", zap.String("stream", mset.name), zap.Error(err))
			}
		}
	}
	if ce.State == nil || ce.Meta == nil {
		return
	}
	mset.replMu.Lock()
	if mset.rs.followers == nil {
		mset.rs.followers = map[string]store.ConsumerStore{}
	}
	cs := mset.rs.followers[ce.Name]
	mset.replMu.Unlock()
	if cs == nil {
		var err error
		cs, err = mset.store.ConsumerStore(ce.Name, store.ConsumerConfig{AckPolicy: store.AckPolicy(ce.Meta.Config.AckPolicy)})
		if err != nil {
			return
		}
		mset.replMu.Lock()
		mset.rs.followers[ce.Name] = cs
		mset.replMu.Unlock()
	}
	if err := cs.SetState(ce.State); err != nil {
		mset.ja.e.log.Warn("Replicated consumer state not stored", zap.String("stream", mset.name), zap.String("consumer", ce.Name), zap.Error(err))
	}
}

// closeFollowerConsumers closes the consumer stores a follower kept (on
// coming to lead: the consumers load them; on stopping).
func (mset *stream) closeFollowerConsumers() {
	mset.replMu.Lock()
	fs := mset.rs.followers
	mset.rs.followers = nil
	mset.replMu.Unlock()
	for _, cs := range fs {
		_ = cs.Stop()
	}
}
