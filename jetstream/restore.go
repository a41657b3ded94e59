package jetstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/server"
)

// STREAM.RESTORE.<stream>, as nats-server v2.15.2 (recorded in
// testdata/snapshot-reference-v2.15.2.md): the request is {config, state}
// (the nats CLI's backup.json); the reply names a deliver subject
// $JS.SNAPSHOT.RESTORE.<stream>.<id>; the client sends the backup there
// in chunks, each a request answered with an empty message, and then an
// empty message, answered with a stream_create_response: the stream's
// info, or the error.
//
// The chunks go to a file beside the account's streams; the archive is
// read from it once complete. Unlike nats-server, which leaves a
// half-restored stream behind when a backup turns out damaged, natsd
// builds the stream aside and adds it only when the whole backup was read
// and checked: a failed restore leaves nothing.

// restoreIdle is how long a restore waits for its next chunk before it
// gives up and removes what it received.
var restoreIdle = 2 * time.Minute

type restoreRequest struct {
	Config StreamConfig `json:"config"`
	// State is the nats CLI's copy of the stream's state; the archive
	// holds its own, which is the one used.
	State StreamState `json:"state"`
}

type restoreBody struct {
	DeliverSubject string `json:"deliver_subject"`
}

func apiStreamRestore(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.stream_restore_response"
	fail := func(err *APIError) { ja.respond(req.reply, typ, err, restoreBody{}) }
	if len(bytes.TrimSpace(req.data)) == 0 {
		fail(newError(errBadRequest))
		return
	}
	var r restoreRequest
	if err := decode(req.data, &r); err != nil {
		fail(err)
		return
	}
	if r.Config.Name != t[2] {
		fail(newError(errStreamMismatch))
		return
	}
	cfg, apiErr := ja.e.normalizeStream(r.Config)
	if apiErr != nil {
		fail(apiErr)
		return
	}
	if err := ja.checkRestore(&cfg); err != nil {
		fail(err)
		return
	}
	rs := &restoreSession{ja: ja, cfg: cfg, id: transferID(), chunks: make(chan server.Msg, 64)}
	rs.subject = "$JS.SNAPSHOT.RESTORE." + cfg.Name + "." + rs.id
	if err := rs.open(); err != nil {
		fail(errWith(errStreamRestore, err))
		return
	}
	sub, err := ja.acc.Subscribe(rs.subject, "", rs.enqueue)
	if err != nil {
		rs.close()
		fail(errWith(errStreamRestore, err))
		return
	}
	if !ja.e.startTransfer() {
		sub.Unsubscribe()
		rs.close()
		fail(newError(errNotEnabled))
		return
	}
	go func() {
		defer ja.e.transfers.Done()
		defer sub.Unsubscribe()
		defer rs.close()
		rs.run()
	}()
	ja.respond(req.reply, typ, nil, restoreBody{DeliverSubject: rs.subject})
}

// checkRestore is what a restore must pass before any data is sent (and
// again once it is all there): the name is free, the account may have
// one more stream and the stream's max_bytes fits its reservations.
func (ja *jsAccount) checkRestore(cfg *StreamConfig) *APIError {
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	if ja.lookupStream(cfg.Name) != nil {
		return newError(errStreamNameExistRestoreFailed)
	}
	if limits := ja.getLimits(); limits.MaxStreams > 0 && len(ja.sortedStreams()) >= limits.MaxStreams {
		return newError(errMaximumStreamsLimit)
	}
	return ja.checkReservation(cfg, nil)
}

type restoreSession struct {
	ja      *jsAccount
	cfg     StreamConfig
	id      string
	subject string
	path    string
	file    store.File
	size    int64
	chunks  chan server.Msg
}

func (rs *restoreSession) dir() string { return filepath.Join(rs.ja.dir, "restores") }

func (rs *restoreSession) open() error {
	fsys := rs.ja.e.fs
	if err := fsys.MkdirAll(rs.dir(), 0o750); err != nil {
		return err
	}
	rs.path = filepath.Join(rs.dir(), rs.id+".s2")
	f, err := fsys.OpenFile(rs.path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	rs.file = f
	return nil
}

func (rs *restoreSession) close() {
	if rs.file != nil {
		_ = rs.file.Close()
		_ = rs.ja.e.fs.Remove(rs.path)
		rs.file = nil
	}
}

// enqueue is the chunk subscription's handler (the client's goroutine).
func (rs *restoreSession) enqueue(m server.Msg) {
	c := server.Msg{Reply: bytes.Clone(m.Reply), Data: bytes.Clone(m.Data)}
	select {
	case rs.chunks <- c:
	default:
		// The client sends one chunk per answer; a full queue is a
		// client that does not wait.
		if len(m.Reply) > 0 {
			rs.reply(string(m.Reply), errWith(errStreamRestore, errors.New("chunks sent without waiting for their answers")))
		}
	}
}

// maxUpload bounds what a restore may send: the server's file store, or
// twice the account's (the messages are checked one by one against the
// account's limit as they are restored; this only keeps a runaway upload
// from filling the disk first).
func (rs *restoreSession) maxUpload() int64 {
	n := rs.ja.e.cfg.MaxStore
	if l := rs.ja.getLimits(); l.MaxStore > 0 {
		n = min(n, 2*l.MaxStore+(1<<20))
	}
	return n
}

func (rs *restoreSession) run() {
	idle := time.NewTimer(restoreIdle)
	defer idle.Stop()
	for {
		select {
		case <-rs.ja.e.quit:
			return
		case <-idle.C:
			rs.ja.e.log.Warn("Restore abandoned: no data", zap.String("account", rs.ja.name), zap.String("stream", rs.cfg.Name),
				zap.Duration("waited", restoreIdle), zap.Int64("received", rs.size))
			return
		case m := <-rs.chunks:
			idle.Reset(restoreIdle)
			reply := string(m.Reply)
			if len(m.Data) == 0 {
				rs.finish(reply)
				return
			}
			if rs.size+int64(len(m.Data)) > rs.maxUpload() {
				rs.reply(reply, newError(errStorageResourcesExceeded))
				return
			}
			if _, err := rs.file.WriteAt(m.Data, rs.size); err != nil {
				rs.reply(reply, errWith(errStreamRestore, err))
				return
			}
			rs.size += int64(len(m.Data))
			if reply != "" {
				_ = rs.ja.acc.Publish(reply, "", nil, nil)
			}
		}
	}
}

// reply answers a chunk with an error, as a stream_create_response (the
// nats CLI shows it).
func (rs *restoreSession) reply(reply string, err *APIError) {
	if reply == "" {
		return
	}
	rs.ja.respond(reply, "io.nats.jetstream.api.v1.stream_create_response", err, nil)
}

// finish restores the stream from what was received and answers.
func (rs *restoreSession) finish(reply string) {
	const typ = "io.nats.jetstream.api.v1.stream_create_response"
	mset, apiErr := rs.ja.restoreStream(rs.cfg, io.NewSectionReader(rs.file, 0, rs.size))
	if apiErr != nil {
		rs.ja.e.log.Warn("Restore failed", zap.String("account", rs.ja.name), zap.String("stream", rs.cfg.Name), zap.String("error", apiErr.Description))
		rs.reply(reply, apiErr)
		return
	}
	rs.ja.e.log.Info("Stream restored", zap.String("account", rs.ja.name), zap.String("stream", rs.cfg.Name), zap.Int64("bytes", rs.size))
	if reply != "" {
		rs.ja.respond(reply, typ, nil, mset.info(infoOpts{serverMeta: true}))
	}
}

// restoreStream builds a stream from a backup. It holds the account's
// create lock throughout: no stream of that name may appear meanwhile.
func (ja *jsAccount) restoreStream(cfg StreamConfig, r io.Reader) (*stream, *APIError) {
	failed := func(err error) *APIError { return errWith(errStreamRestore, err) }
	ar, err := openBackup(r)
	if err != nil {
		return nil, failed(err)
	}
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	if ja.lookupStream(cfg.Name) != nil {
		return nil, newError(errStreamNameExistRestoreFailed)
	}
	if apiErr := ja.checkNewStream(&cfg, nil); apiErr != nil {
		if apiErr.ErrCode == errStreamSubjectOverlap {
			return nil, failed(fmt.Errorf("error adding stream: %w", apiErr))
		}
		return nil, apiErr
	}
	// A directory of a stream that is not there is what a restore cut
	// short by a crash left (its meta.json, written last, is missing).
	fsys := ja.e.fs
	_ = fsys.RemoveAll(filepath.Join(ja.dir, "streams", cfg.Name))
	mset := ja.newStream(cfg, now())
	if err := mset.open(); err != nil {
		return nil, failed(err)
	}
	var consumers []*consumer
	ok := false
	defer func() {
		if !ok {
			for _, o := range consumers {
				_ = o.store.Delete()
			}
			mset.stop(true)
		}
	}()

	type pendingConsumer struct {
		name string
		c    *arcConsumer
	}
	var cons []pendingConsumer
	var staged uint64
	for {
		if ja.e.stopping() {
			return nil, failed(errors.New("the server is shutting down"))
		}
		rec, err := ar.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, failed(err)
		}
		if rec.consumer != nil {
			cons = append(cons, pendingConsumer{rec.consumerName, rec.consumer})
			continue
		}
		sm := &rec.msg
		size := uint64(len(sm.Subject) + len(sm.Header) + len(sm.Data))
		if apiErr := ja.checkStoreLimit(cfg.Storage, staged+size); apiErr != nil {
			return nil, apiErr
		}
		staged += size
		var ttl int64
		if v, ok := getHeader(sm.Header, hdrTTL); ok && cfg.AllowMsgTTL {
			ttl, _ = parseTTL(v) // a TTL the stream took; "never" is -1
		}
		if err := mset.store.StoreMsgAt(sm.Seq, sm.Time, sm.Subject, sm.Header, sm.Data, ttl); err != nil {
			if errors.Is(err, store.ErrStoreFull) {
				return nil, newError(errStorageResourcesExceeded)
			}
			return nil, failed(fmt.Errorf("message %d: %w", sm.Seq, err))
		}
	}
	// The deletes at the end and a purged stream's sequence.
	if last := mset.store.State(false).LastSeq; last < ar.state.LastSeq {
		if err := mset.store.SkipMsgs(ar.state.LastSeq - last); err != nil {
			return nil, failed(err)
		}
	}
	if err := mset.store.Flush(); err != nil {
		return nil, failed(err)
	}

	limits := ja.getLimits()
	have := 0
	for _, s := range ja.sortedStreams() {
		have += s.numConsumers()
	}
	for _, pc := range cons {
		addErr := func(err error) *APIError {
			return failed(fmt.Errorf("failed to add consumer %q: %w", pc.name, err))
		}
		ccfg := pc.c.Config
		if ccfg.Name == "" {
			ccfg.Name = pc.name
		}
		if ccfg.Name != pc.name {
			return nil, addErr(fmt.Errorf("its config names %q", ccfg.Name))
		}
		norm, apiErr := normalizeConsumer(ccfg, &cfg, limits)
		if apiErr != nil {
			return nil, addErr(apiErr)
		}
		if (limits.MaxConsumers > 0 && have+len(consumers) >= limits.MaxConsumers) ||
			(cfg.MaxConsumers > 0 && len(consumers) >= cfg.MaxConsumers) {
			return nil, addErr(newError(errMaximumConsumersLimit))
		}
		st, err := pc.c.State.toStore()
		if err != nil {
			return nil, addErr(err)
		}
		o, err := mset.newConsumer(norm, pc.name, now())
		if err != nil {
			return nil, addErr(err)
		}
		consumers = append(consumers, o)
		if err := o.store.SetState(st); err != nil {
			return nil, addErr(err)
		}
		if err := o.restoreState(); err != nil {
			return nil, addErr(err)
		}
		if err := o.writeMeta(); err != nil {
			return nil, addErr(err)
		}
	}
	// The stream's meta.json makes it a stream (load.go): written last.
	if err := mset.writeMeta(); err != nil {
		return nil, failed(err)
	}
	ok = true
	mset.start()
	ja.mu.Lock()
	ja.streams[mset.name] = mset
	ja.mu.Unlock()
	for _, o := range consumers {
		mset.mu.Lock()
		mset.consumers[o.name] = o
		mset.mu.Unlock()
		if err := o.start(); err != nil {
			ja.e.log.Error("Restored consumer not started", zap.String("stream", mset.name), zap.String("consumer", o.name), zap.Error(err))
		}
	}
	return mset, nil
}
