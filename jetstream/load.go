package jetstream

import (
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"go.uber.org/zap"
)

// loadStreams recreates the account's file streams and durable consumers
// from disk (at start, or when JetStream is turned on for the account).
// Memory streams and ephemeral consumers do not survive a restart, as with
// nats-server.
func (ja *jsAccount) loadStreams() error {
	fsys := ja.e.fs
	// What restores under way when the server stopped had received
	// (restore.go): never a stream, so gone.
	_ = fsys.RemoveAll(filepath.Join(ja.dir, "restores"))
	dir := filepath.Join(ja.dir, "streams")
	entries, err := fsys.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, de := range entries {
		if !de.IsDir() {
			continue
		}
		b, err := readFile(fsys, filepath.Join(dir, de.Name(), "meta.json"))
		if err != nil {
			ja.e.log.Warn("Stream not restored: its config cannot be read", zap.String("account", ja.name), zap.String("stream", de.Name()), zap.Error(err))
			continue
		}
		var meta streamMeta
		if err := json.Unmarshal(b, &meta); err != nil || meta.Config.Name != de.Name() {
			ja.e.log.Warn("Stream not restored: its config does not decode", zap.String("account", ja.name), zap.String("stream", de.Name()), zap.Error(err))
			continue
		}
		mset := ja.newStream(meta.Config, meta.Created)
		if err := mset.open(); err != nil {
			ja.e.log.Error("Stream not restored: its store does not open", zap.String("account", ja.name), zap.String("stream", de.Name()), zap.Error(err))
			continue
		}
		if st := mset.store.State(false); st.Lost != nil {
			ja.e.log.Error("Stream restored with lost data", zap.String("account", ja.name), zap.String("stream", mset.name),
				zap.Int("messages", len(st.Lost.Msgs)), zap.String("reason", st.Lost.Reason))
		}
		mset.start()
		ja.mu.Lock()
		ja.streams[mset.name] = mset
		ja.mu.Unlock()
		mset.loadConsumers()
	}
	return nil
}

func (mset *stream) loadConsumers() {
	fsys := mset.ja.e.fs
	dir := filepath.Join(mset.dir, "consumers")
	entries, err := fsys.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range entries {
		name, ok := strings.CutSuffix(de.Name(), ".json")
		if !ok || de.IsDir() {
			continue
		}
		b, err := readFile(fsys, filepath.Join(dir, de.Name()))
		if err != nil {
			continue
		}
		var meta consumerMeta
		if err := json.Unmarshal(b, &meta); err != nil || meta.Name != name {
			mset.ja.e.log.Warn("Consumer not restored: its config does not decode", zap.String("stream", mset.name), zap.String("consumer", name), zap.Error(err))
			continue
		}
		o, err := mset.newConsumer(meta.Config, name, meta.Created)
		if err != nil {
			mset.ja.e.log.Error("Consumer not restored", zap.String("stream", mset.name), zap.String("consumer", name), zap.Error(err))
			continue
		}
		mset.mu.Lock()
		mset.consumers[o.name] = o
		mset.mu.Unlock()
		if err := o.start(); err != nil {
			mset.ja.e.log.Error("Consumer not started", zap.String("stream", mset.name), zap.String("consumer", name), zap.Error(err))
		}
	}
}
