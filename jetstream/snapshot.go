package jetstream

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/s2"
	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/subject"
)

// STREAM.SNAPSHOT.<stream>: a backup sent in chunks to the requester's
// deliver subject, as nats-server v2.15.2 sends it (recorded in
// testdata/snapshot-reference-v2.15.2.md): the reply gives the stream's
// config and state; then S2-compressed archive bytes (snapshot_format.go)
// in chunks of chunk_size, each full chunk with a reply subject
// $JS.SNAPSHOT.ACK.<stream>.<id>.<chunk size>.<index> the client answers
// to open the window again; then an empty message ("NATS/1.0 204" once
// any chunk asked for an ack). A client that stops answering gets "408 No
// Flow Response" after snapshotAckWait and the snapshot ends.

const (
	snapChunkDefault  = 128 << 10
	snapChunkMin      = 1 << 10
	snapChunkMax      = 1 << 20
	snapWindowDefault = 8 << 20
	snapWindowMin     = 1 << 10
	snapWindowMax     = 32 << 20
)

// snapshotAckWait is how long a snapshot waits for the client to answer a
// chunk when its window is full (nats-server's, measured: 5s).
var snapshotAckWait = 5 * time.Second

// snapshotInterestWait is how long a snapshot waits for its requester to
// subscribe the deliver subject (nats-server's, measured: 2s).
var snapshotInterestWait = 2 * time.Second

type snapshotRequest struct {
	DeliverSubject string `json:"deliver_subject"`
	NoConsumers    bool   `json:"no_consumers,omitempty"`
	ChunkSize      int    `json:"chunk_size,omitempty"`
	WindowSize     int    `json:"window_size,omitempty"`
	// CheckMsgs (jsck) asks nats-server to verify its messages first;
	// natsd checks every record's checksum as it reads it anyway.
	CheckMsgs bool `json:"jsck,omitempty"`
}

type snapshotBody struct {
	Config StreamConfig `json:"config"`
	State  StreamState  `json:"state"`
}

func apiStreamSnapshot(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.stream_snapshot_response"
	if len(bytes.TrimSpace(req.data)) == 0 {
		ja.respond(req.reply, typ, newError(errBadRequest), nil)
		return
	}
	mset := ja.streamOrReply(req, typ, t[2])
	if mset == nil {
		return
	}
	var r snapshotRequest
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	if r.DeliverSubject == "" {
		ja.respond(req.reply, typ, newError(errBadRequest), nil)
		return
	}
	if !subject.ValidLiteral(r.DeliverSubject) {
		ja.respond(req.reply, typ, newError(errSnapshotDeliverSubjectInvalid), nil)
		return
	}
	mset.sync() // the backup holds what its client published before asking
	s := &snapshotSender{
		ja: ja, mset: mset, deliver: r.DeliverSubject,
		chunk:  clampSize(r.ChunkSize, snapChunkDefault, snapChunkMin, snapChunkMax),
		window: clampSize(r.WindowSize, snapWindowDefault, snapWindowMin, snapWindowMax),
		wake:   make(chan struct{}, 1),
	}
	// What the backup holds is fixed now: the state and the consumers
	// as they are; messages up to the last sequence.
	info := mset.info(infoOpts{})
	s.state = info.State
	if !r.NoConsumers {
		s.consumers = mset.snapshotConsumers()
	}
	s.state.Consumers = len(s.consumers)
	ja.respond(req.reply, typ, nil, snapshotBody{Config: info.Config, State: info.State})
	if !ja.e.startTransfer() {
		return
	}
	go func() {
		defer ja.e.transfers.Done()
		s.run()
	}()
}

// transferID names a snapshot's acks or a restore's chunks: 22 random
// characters, as nats-server's.
func transferID() string { return server.RandomID(22) }

func clampSize(v, def, lo, hi int) int {
	if v <= 0 {
		return def
	}
	return min(max(v, lo), hi)
}

// arcConsumerEntry is a consumer as a backup holds it.
type arcConsumerEntry struct {
	name string
	c    arcConsumer
}

// snapshotConsumers is every consumer's config and state, by name.
func (mset *stream) snapshotConsumers() []arcConsumerEntry {
	var out []arcConsumerEntry
	for _, o := range mset.consumerList() {
		o.mu.Lock()
		cfg, closed := o.cfg, o.closed
		st, err := o.store.State()
		o.mu.Unlock()
		if closed {
			continue
		}
		if err != nil || st == nil {
			st = &store.ConsumerState{}
		}
		if cfg.Name == "" {
			cfg.Name = o.name
		}
		out = append(out, arcConsumerEntry{o.name, arcConsumer{Config: cfg, State: toArcState(st)}})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

type snapshotSender struct {
	ja      *jsAccount
	mset    *stream
	deliver string
	chunk   int
	window  int

	state     StreamState
	consumers []arcConsumerEntry

	ackPrefix string
	acked     atomic.Int64 // bytes of chunks the client answered
	wake      chan struct{}

	buf    []byte
	sent   int64 // bytes of chunks that asked for an answer
	index  int
	failed error
}

var errNoFlowResponse = errors.New("no flow response")

// run writes the archive through S2 into chunks.
func (s *snapshotSender) run() {
	acc := s.ja.acc
	s.ackPrefix = "$JS.SNAPSHOT.ACK." + s.mset.name + "." + transferID()
	sub, err := acc.Subscribe(s.ackPrefix+".>", "", func(m server.Msg) {
		// The reply subject names the chunk's size: what the answer frees.
		s.acked.Add(int64(s.chunk))
		select {
		case s.wake <- struct{}{}:
		default:
		}
	})
	if err != nil {
		s.ja.e.log.Warn("Snapshot not sent", zap.String("stream", s.mset.name), zap.Error(err))
		return
	}
	defer sub.Unsubscribe()

	// nats-server waits (up to 2s, measured) for the requester to
	// subscribe the deliver subject itself: the nats CLI does so only
	// after the reply.
	wait := time.NewTimer(snapshotInterestWait)
	tick := time.NewTicker(5 * time.Millisecond)
	for waiting := true; waiting && !acc.HasExactInterest(s.deliver); {
		select {
		case <-tick.C:
		case <-wait.C:
			waiting = false
		case <-s.ja.e.quit:
			waiting = false
		}
	}
	wait.Stop()
	tick.Stop()

	err = s.write()
	switch {
	case errors.Is(err, errNoFlowResponse):
		hb := statusHeader(408, "No Flow Response")
		_ = acc.Publish(s.deliver, "", hb.bytes(), nil)
	case err != nil:
		s.ja.e.log.Warn("Snapshot failed", zap.String("account", s.ja.name), zap.String("stream", s.mset.name), zap.Error(err))
		hb := statusHeader(500, "Snapshot Failed: "+err.Error())
		_ = acc.Publish(s.deliver, "", hb.bytes(), nil)
	case s.index > 1:
		_ = acc.Publish(s.deliver, "", statusHeader(204, "").bytes(), nil)
	default:
		_ = acc.Publish(s.deliver, "", nil, nil)
	}
}

func (s *snapshotSender) write() error {
	zw := s2.NewWriter(s, s2.WriterConcurrency(1))
	aw, err := newArchiveWriter(zw)
	if err != nil {
		return err
	}
	taken := time.Now()
	if err := aw.file(arcStateFile, taken, &s.state); err != nil {
		return s.err(err)
	}
	for i := range s.consumers {
		if err := aw.file(arcConsumerDir+s.consumers[i].name, taken, &s.consumers[i].c); err != nil {
			return s.err(err)
		}
	}
	st := s.mset.store
	sm := new(storeMsg)
	for seq := s.state.FirstSeq; seq <= s.state.LastSeq && s.state.Msgs > 0; seq = sm.Seq + 1 {
		if s.ja.e.stopping() {
			return errors.New("the server is shutting down")
		}
		var err error
		sm, err = st.LoadNextMsg(nil, seq, sm)
		if errors.Is(err, store.ErrMsgNotFound) {
			break
		}
		if err != nil {
			return fmt.Errorf("stream %s: %w", s.mset.name, err)
		}
		if sm.Seq > s.state.LastSeq {
			break
		}
		if err := aw.message(sm); err != nil {
			return s.err(err)
		}
	}
	if err := aw.end(); err != nil {
		return s.err(err)
	}
	if err := zw.Close(); err != nil {
		return s.err(err)
	}
	return s.flush()
}

// err prefers the error of the chunk writer (the client went away) to
// the S2 writer's report of it.
func (s *snapshotSender) err(err error) error {
	if s.failed != nil {
		return s.failed
	}
	return err
}

// Write collects S2 output into chunks: a full chunk is sent with a reply
// subject, once the client's window has room for it.
func (s *snapshotSender) Write(p []byte) (int, error) {
	if s.failed != nil {
		return 0, s.failed
	}
	n := len(p)
	for len(p) > 0 {
		k := min(s.chunk-len(s.buf), len(p))
		s.buf = append(s.buf, p[:k]...)
		p = p[k:]
		if len(s.buf) == s.chunk {
			if err := s.sendFull(); err != nil {
				s.failed = err
				return 0, err
			}
		}
	}
	return n, nil
}

func (s *snapshotSender) sendFull() error {
	timer := time.NewTimer(snapshotAckWait)
	defer timer.Stop()
	for s.sent-s.acked.Load()+int64(s.chunk) > int64(s.window) {
		select {
		case <-s.wake:
		case <-timer.C:
			return errNoFlowResponse
		case <-s.mset.quit:
			return errors.New("the stream was deleted")
		case <-s.ja.e.quit:
			return errors.New("the server is shutting down")
		}
	}
	s.index++
	reply := fmt.Sprintf("%s.%d.%d", s.ackPrefix, s.chunk, s.index)
	s.sent += int64(len(s.buf))
	err := s.ja.acc.Publish(s.deliver, reply, nil, s.buf)
	s.buf = s.buf[:0]
	return err
}

// flush sends the last, partial chunk: nothing to answer.
func (s *snapshotSender) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	s.index++
	err := s.ja.acc.Publish(s.deliver, "", nil, s.buf)
	s.buf = s.buf[:0]
	return err
}
