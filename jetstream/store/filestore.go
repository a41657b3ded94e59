package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// fileStore keeps a stream in a log of checksummed records split into
// segment files, with the index in memory, rebuilt at open by reading
// every record (which is also when every checksum is checked). See
// doc.go for the design and its reasons.
type fileStore struct {
	core
	fsys   FS
	dir    string
	segMax int64
	segs   []*segment // in log order; the last is the tail

	// The commit pipeline (commit.go): appends go into pend; one caller
	// at a time (writing) writes a batch and, for SyncAlways, fsyncs it,
	// while the others wait on cond and then find their batch done.
	cond       *sync.Cond
	pend       *batch
	free       []*batch
	writing    bool
	nextSeq    uint64 // the last sequence given out (≥ ix.last)
	nextTs     int64  // the time of the last message given a sequence
	pendMsgs   uint64 // accepted, not yet committed: count against limits
	pendBytes  uint64
	pendSubj   map[string]int
	floorDirty bool // limits moved the first sequence: write a marker
	unsynced   []*segment
	dirDirty   bool // a segment was made since the directory was synced

	// What was found damaged: never served, always reported.
	lost      rangeSet
	lostBytes uint64
	reasons   []string
	badMu     sync.Mutex
	bad       []uint64 // corrupt records found by reads, marked lost later

	consumers map[string]*fileConsumer
	quit      chan struct{}
	flusherWG sync.WaitGroup
}

// Defaults. 8 MiB segments keep the disk a limited stream uses close to
// its limit (space comes back a whole segment at a time) without making
// thousands of files for a large one.
const (
	defaultSegMax    = 8 << 20
	defaultSyncEvery = 2 * time.Minute // nats-server's sync_interval default
	// With SyncAlways, what nobody waits for (removals by limits, which a
	// restart would redo anyway) is written within this.
	lazyFlush   = 200 * time.Millisecond
	maxReasons  = 16
	maxLostList = 100000
)

// fileOpts are knobs for tests.
type fileOpts struct {
	segMax int64
}

// OpenFileStore opens (or creates) the file store in dir.
func OpenFileStore(fsys FS, dir string, cfg Config) (Store, error) {
	return openFileStore(fsys, dir, cfg, fileOpts{})
}

func openFileStore(fsys FS, dir string, cfg Config, o fileOpts) (*fileStore, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	fs := &fileStore{fsys: fsys, dir: dir, segMax: o.segMax, pendSubj: map[string]int{},
		consumers: map[string]*fileConsumer{}, quit: make(chan struct{})}
	if fs.segMax <= 0 {
		fs.segMax = defaultSegMax
	}
	fs.cfg = cfg
	fs.ix = newIndex()
	fs.now = func() int64 { return time.Now().UnixNano() }
	fs.expire = fs.onTimer
	fs.load = fs.loadRecord
	fs.isLost = func(seq uint64) bool { return seq >= fs.ix.first && fs.lost.contains(seq) }
	fs.afterRead = fs.markBad
	fs.onDrop = fs.recordDrop
	fs.cond = sync.NewCond(&fs.mu)
	fs.pend = fs.newBatch()

	if err := fs.open(); err != nil {
		fs.closeFiles()
		return nil, err
	}
	fs.nextSeq, fs.nextTs = fs.ix.last, fs.ix.lastTs
	// What the limits removed before a crash may not have been written:
	// apply them again (and whatever expired while the store was shut).
	fs.mu.Lock()
	fs.enforce(nil)
	fs.expireNow()
	fs.arm()
	fs.dropped = nil // nobody registered callbacks yet
	fs.mu.Unlock()

	every := lazyFlush
	if !cfg.SyncAlways {
		every = cfg.SyncInterval
		if every <= 0 {
			every = defaultSyncEvery
		}
	}
	fs.flusherWG.Add(1)
	go fs.flushLoop(every)
	return fs, nil
}

// open reads the directory: every segment, every record.
func (fs *fileStore) open() error {
	created, err := mkdirAll(fs.fsys, fs.dir)
	if err != nil {
		return err
	}
	if created {
		if err := fs.fsys.SyncDir(filepath.Dir(filepath.Clean(fs.dir))); err != nil {
			return err
		}
	}
	entries, err := fs.fsys.ReadDir(fs.dir)
	if err != nil {
		return err
	}
	var ids []uint64
	for _, e := range entries {
		if id, ok := parseSegName(e.Name()); ok && !e.IsDir() {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	r := replayer{fs: fs}
	var buf []byte
	for i, id := range ids {
		seg := &segment{id: id, path: segPath(fs.dir, id)}
		f, err := fs.fsys.OpenFile(seg.path, os.O_RDWR, 0)
		if err != nil {
			return err
		}
		seg.f = f
		fs.segs = append(fs.segs, seg)
		if buf, err = readAll(f, buf); err != nil {
			return fmt.Errorf("store: reading %s: %w", seg.name(), err)
		}
		if err := r.segment(seg, buf, i == len(ids)-1); err != nil {
			return err
		}
	}
	r.finish()
	// The tail must start with the stream's state, so that the log still
	// knows its sequences once the segments before it are gone.
	if len(fs.segs) == 0 || fs.segs[len(fs.segs)-1].size == 0 {
		id := uint64(1)
		if n := len(fs.segs); n > 0 {
			id = fs.segs[n-1].id + 1
		}
		seg, err := createSegment(fs.fsys, fs.dir, id, fs.stateRecord())
		if err != nil {
			return err
		}
		fs.segs = append(fs.segs, seg)
		if err := seg.f.Sync(); err != nil {
			return err
		}
		if err := fs.fsys.SyncDir(fs.dir); err != nil {
			return err
		}
	}
	return nil
}

// mkdirAll is MkdirAll that says whether it made the directory.
func mkdirAll(fsys FS, dir string) (bool, error) {
	if fi, err := fsys.Stat(dir); err == nil {
		if !fi.IsDir() {
			return false, fmt.Errorf("store: %s is not a directory", dir)
		}
		return false, nil
	}
	return true, fsys.MkdirAll(dir, 0o750)
}

// stateRecord is a kindState record of the stream as the index has it.
func (fs *fileStore) stateRecord() []byte {
	return appendRecord(nil, kindState, fs.ix.last, int64(fs.ix.first), fs.ix.lastTs, "", nil, nil)
}

// loadRecord reads message seq's record and fills sm from it. mu is held
// for reading; a record that fails its checksum is queued for markBad.
func (fs *fileStore) loadRecord(seq uint64, r rec, sm *StoreMsg) (*StoreMsg, error) {
	if sm == nil {
		sm = new(StoreMsg)
	}
	b, err := readRecord(r, sm)
	if err != nil {
		return nil, fmt.Errorf("store: reading message %d: %w", seq, err)
	}
	h, err := decodeRecord(b)
	if err != nil || h.kind != kindMsg || h.seq != seq || h.length != r.rlen {
		fs.badMu.Lock()
		fs.bad = append(fs.bad, seq)
		fs.badMu.Unlock()
		return nil, ErrCorrupt
	}
	_, hdr, data := h.parts(b)
	sm.Subject, sm.Seq, sm.Time, sm.TTL = r.subj.name, seq, h.a, h.b
	sm.Header, sm.Data = hdr, data
	if len(hdr) == 0 {
		sm.Header = nil
	}
	return sm, nil
}

// markBad makes lost what reads found corrupt: out of the index (it is
// never data again) and into State().Lost. Nothing is written: a restart
// finds the same damage by itself.
func (fs *fileStore) markBad() {
	fs.badMu.Lock()
	bad := fs.bad
	fs.bad = nil
	fs.badMu.Unlock()
	if len(bad) == 0 {
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, seq := range bad {
		r, ok := fs.ix.msgs[seq]
		if !ok {
			continue
		}
		fs.ix.remove(seq)
		fs.addLost(seq, seq, uint64(r.rlen), fmt.Sprintf("checksum mismatch in %s at offset %d (message %d)", r.seg.name(), r.off, seq))
	}
}

func (fs *fileStore) addLost(lo, hi, bytes uint64, reason string) {
	fs.lost.add(lo, hi)
	fs.lostBytes += bytes
	fs.addReason(reason)
}

func (fs *fileStore) addReason(reason string) {
	if len(fs.reasons) < maxReasons {
		fs.reasons = append(fs.reasons, reason)
	} else if len(fs.reasons) == maxReasons {
		fs.reasons = append(fs.reasons, "and more")
	}
}

func (fs *fileStore) lostData() *LostData {
	if fs.lostBytes == 0 && fs.lost.n == 0 && len(fs.reasons) == 0 {
		return nil
	}
	ld := &LostData{Bytes: fs.lostBytes, Reason: strings.Join(fs.reasons, "; ")}
	if fs.lost.n <= maxLostList {
		ld.Msgs = fs.lost.appendTo(nil)
	} else {
		ld.Reason += fmt.Sprintf(" (%d sequences lost, from %d to %d)", fs.lost.n, fs.lost.r[0].lo, fs.lost.r[len(fs.lost.r)-1].hi)
	}
	return ld
}

func (fs *fileStore) State(deleted bool) StreamState {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	st := fs.ix.state(deleted)
	st.Consumers = len(fs.consumers)
	st.Lost = fs.lostData()
	return st
}

func (fs *fileStore) onTimer() {
	fs.mu.Lock()
	fs.fired()
	fs.unlockAndNotify()
}

func (fs *fileStore) unlockAndNotify() {
	d, cbs := fs.takeDropped()
	fs.mu.Unlock()
	runCallbacks(d, cbs)
}

// flushLoop writes what nobody waits for and, without SyncAlways, fsyncs
// every interval.
func (fs *fileStore) flushLoop(every time.Duration) {
	defer fs.flusherWG.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-fs.quit:
			return
		case <-t.C:
			fs.mu.Lock()
			if !fs.closed && fs.needsFlush() {
				fs.commitLocked(fs.pend, true) // errors come back to the next writer
			}
			fs.unlockAndNotify()
		}
	}
}

func (fs *fileStore) Flush() error {
	fs.mu.Lock()
	if fs.closed {
		fs.mu.Unlock()
		return ErrStoreClosed
	}
	err := fs.commitLocked(fs.pend, true)
	fs.unlockAndNotify()
	return err
}

func (fs *fileStore) Stop() error {
	fs.mu.Lock()
	if fs.closed {
		fs.mu.Unlock()
		return nil
	}
	err := fs.commitLocked(fs.pend, true)
	for fs.writing { // a commit under way finishes first
		fs.cond.Wait()
	}
	fs.stopTimer()
	cs := make([]*fileConsumer, 0, len(fs.consumers))
	for _, c := range fs.consumers {
		cs = append(cs, c)
	}
	fs.mu.Unlock()
	close(fs.quit)
	fs.flusherWG.Wait()
	for _, c := range cs {
		if cerr := c.Stop(); err == nil {
			err = cerr
		}
	}
	fs.mu.Lock()
	fs.closeFiles()
	fs.mu.Unlock()
	return err
}

func (fs *fileStore) closeFiles() {
	for _, s := range fs.segs {
		if !s.closed && s.f != nil {
			s.f.Close()
			s.closed = true
		}
	}
}

func (fs *fileStore) Delete() error {
	err := fs.Stop()
	if rerr := fs.fsys.RemoveAll(fs.dir); rerr != nil {
		return rerr
	}
	if errors.Is(err, ErrStoreClosed) {
		err = nil
	}
	return err
}
