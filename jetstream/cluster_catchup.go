package jetstream

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream/store"
)

// Catch-up: a replica too far behind to be sent the group's log is sent a
// snapshot instead — not the stream's bytes, but what the stream held at
// an index (its first and last sequence). The replica then fetches the
// messages it lacks from the leader's store, stores them with their
// sequences and times, and goes on from that index with the log. This is
// nats-server's approach too, and it keeps the log short.

const catchupMaxBytes = 1 << 20

// CatchupBatch encodes the stored messages from sequence from up to to
// (at most about 1 MiB), for a replica catching up. An empty batch: there
// are none left in that range.
func (r *Replica) CatchupBatch(from, to uint64) []byte {
	mset := r.mset
	b := []byte{entryVersion}
	var sm store.StoreMsg
	size := 0
	for seq := from; seq <= to && size < catchupMaxBytes; {
		m, err := mset.store.LoadNextMsg(nil, seq, &sm)
		if err != nil || m.Seq > to {
			break
		}
		b = binary.AppendUvarint(b, m.Seq)
		b = binary.BigEndian.AppendUint64(b, uint64(m.Time))
		b = appendString(b, m.Subject)
		b = appendBytes(b, m.Header)
		b = appendBytes(b, m.Data)
		size += len(m.Subject) + len(m.Header) + len(m.Data) + 24
		seq = m.Seq + 1
	}
	return b
}

// catchupMsg is one message of a catch-up batch.
type catchupMsg struct {
	seq       uint64
	ts        int64
	subj      string
	hdr, data []byte
}

func decodeCatchup(b []byte) ([]catchupMsg, error) {
	if len(b) < 1 || b[0] != entryVersion {
		return nil, errBadEntry
	}
	r := entryReader{b: b[1:]}
	var out []catchupMsg
	for len(r.b) > 0 {
		m := catchupMsg{seq: r.uvarint()}
		m.ts = int64(r.u64())
		m.subj = string(r.bytes())
		m.hdr = r.bytes()
		m.data = r.bytes()
		if r.err {
			return nil, errBadEntry
		}
		out = append(out, m)
	}
	return out, nil
}

// CatchupConsumers is, on the leader, every replicated consumer of the
// stream with its config and its state now, for a replica catching up
// from a snapshot: the entries that made and updated them may be gone
// from the group's log. JSON: a list of consumer entries.
func (r *Replica) CatchupConsumers() []byte {
	mset := r.mset
	out := []consumerEntry{}
	for _, o := range mset.consumerList() {
		meta := mset.replicatedMeta(o)
		if meta == nil {
			continue
		}
		st, err := o.store.State()
		if err != nil {
			continue
		}
		out = append(out, consumerEntry{Name: o.name, Meta: meta, State: st})
	}
	b, _ := json.Marshal(out)
	return b
}

// catchupConsumerTries bounds how often a replica asks for the consumers
// (a leader of an older natsd does not answer): then it goes on without,
// as before, and says so.
const catchupConsumerTries = 8

// installConsumers makes this replica's consumers the leader's: each
// config and state it was sent, and none of those it had that the leader
// no longer has (their deletion may be gone from the log too). The log's
// later entries then apply on top: the consumer state takes a replay of
// what it already holds without change.
func (mset *stream) installConsumers(fetch func() ([]byte, error)) {
	var list []consumerEntry
	for try := 1; ; try++ {
		b, err := fetch()
		if err == nil {
			err = json.Unmarshal(b, &list)
		}
		if err == nil {
			break
		}
		if try == catchupConsumerTries {
			mset.ja.e.log.Warn("Stream catch-up: the leader sent no consumers; they follow from the log only", zap.String("stream", mset.name), zap.Error(err))
			return
		}
		select {
		case <-mset.quit:
			return
		case <-time.After(250 * time.Millisecond):
		}
	}
	keep := map[string]bool{}
	for i := range list {
		ce := &list[i]
		if !validName(ce.Name) || ce.Meta == nil || ce.State == nil {
			continue
		}
		keep[ce.Name] = true
		mset.followConsumer(entryConsumer, ce)
	}
	entries, err := mset.ja.e.fs.ReadDir(filepath.Join(mset.dir, "consumers"))
	if err != nil {
		return
	}
	for _, de := range entries {
		name, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok || de.IsDir() || keep[name] {
			continue
		}
		mset.followConsumer(entryConsumerDelete, &consumerEntry{Name: name})
	}
}

// InstallSnapshot brings the replica to what snapshot describes (the
// stream at index), fetching what it lacks with fetch(from, to) from the
// leader, and then the consumers (fetchConsumers: CatchupConsumers on
// the leader); it returns once done (or the stream stops). The group's
// apply goroutine runs it: later entries wait.
func (r *Replica) InstallSnapshot(index uint64, snapshot []byte, fetch func(from, to uint64) ([]byte, error), fetchConsumers func() ([]byte, error)) error {
	mset := r.mset
	var s replicaMark
	if err := json.Unmarshal(snapshot, &s); err != nil {
		return err
	}
	st := mset.store.State(false)
	if st.LastSeq > s.LastSeq {
		if err := mset.store.Truncate(s.LastSeq); err != nil {
			return err
		}
	}
	if s.FirstSeq > 0 && st.FirstSeq < s.FirstSeq {
		if _, err := mset.store.Compact(s.FirstSeq); err != nil {
			return err
		}
	}
	fetched := 0
	for {
		last := mset.store.State(false).LastSeq
		if last >= s.LastSeq {
			break
		}
		b, err := fetch(last+1, s.LastSeq)
		var msgs []catchupMsg
		if err == nil {
			msgs, err = decodeCatchup(b)
		}
		if err != nil {
			mset.ja.e.log.Warn("Stream catch-up: fetch failed; retrying", zap.String("stream", mset.name), zap.Error(err))
			select {
			case <-mset.quit:
				return errors.New("jetstream: stream stopped during catch-up")
			case <-time.After(250 * time.Millisecond):
			}
			continue
		}
		if len(msgs) == 0 {
			// What is left in range was removed on the leader: the
			// sequences are kept, the messages are not.
			if err := mset.store.SkipMsgs(s.LastSeq - last); err != nil {
				return err
			}
			break
		}
		for _, m := range msgs {
			if m.seq <= last || m.seq > s.LastSeq {
				continue
			}
			if err := mset.store.StoreMsgAt(m.seq, m.ts, m.subj, m.hdr, m.data, 0); err != nil {
				return err
			}
			last = m.seq
			fetched++
		}
	}
	mset.installConsumers(fetchConsumers)
	mset.mu.Lock()
	mset.rebuildDedupeLocked()
	mset.mu.Unlock()
	mset.replMu.Lock()
	mset.rs.applied = index
	mset.replMu.Unlock()
	mset.flushReplica(index)
	mset.signalConsumers()
	mset.ja.e.log.Info("Stream replica caught up from the leader", zap.String("stream", mset.name),
		zap.Uint64("index", index), zap.Uint64("last_seq", s.LastSeq), zap.Int("fetched", fetched))
	return nil
}
