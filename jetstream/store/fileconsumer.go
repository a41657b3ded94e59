package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// A file consumer's state is one small file, rewritten whole: encoded,
// checksummed, written to a temporary file, fsynced, renamed over the
// old one, and the directory fsynced. A crash leaves the old state or
// the new, never a mix; a damaged file is reported, never half-read.
//
// Updates are written in batches: the first change after a write arms a
// timer (consumerFlush); Stop writes what is left. A crash loses at most
// that window, which makes the consumer redeliver (at-least-once).

const (
	consumerFlush = 50 * time.Millisecond
	consumerDir   = "consumers"
	stateFile     = "state"
	stateMagic    = "NJC1"
)

type fileConsumer struct {
	fs   *fileStore
	name string
	dir  string

	mu      sync.Mutex
	a       ackState
	dirty   bool
	timer   *time.Timer
	err     error // of the last background write, for the next caller
	closed  bool
	writeMu sync.Mutex // one write at a time, in order
}

func (fs *fileStore) ConsumerStore(name string, cfg ConsumerConfig) (ConsumerStore, error) {
	if err := checkConsumerName(name); err != nil {
		return nil, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.closed {
		return nil, ErrStoreClosed
	}
	if c := fs.consumers[name]; c != nil {
		c.mu.Lock()
		c.a.policy = cfg.AckPolicy
		c.mu.Unlock()
		return c, nil
	}
	c := &fileConsumer{fs: fs, name: name, dir: filepath.Join(fs.dir, consumerDir, name), a: newAckState(cfg)}
	st, err := readConsumerState(fs.fsys, c.dir)
	if err != nil {
		return nil, fmt.Errorf("store: consumer %s: %w", name, err)
	}
	if st != nil {
		c.a.set(*st)
	} else {
		parent := filepath.Join(fs.dir, consumerDir)
		madeParent, err := mkdirAll(fs.fsys, parent)
		if err == nil {
			err = fs.fsys.MkdirAll(c.dir, 0o750)
		}
		if err == nil && madeParent {
			err = fs.fsys.SyncDir(fs.dir)
		}
		if err == nil {
			err = fs.fsys.SyncDir(parent)
		}
		if err != nil {
			return nil, err
		}
	}
	fs.consumers[name] = c
	return c, nil
}

// readConsumerState reads a saved state; nil if there is none.
func readConsumerState(fsys FS, dir string) (*ConsumerState, error) {
	fsys.Remove(filepath.Join(dir, stateFile+".tmp")) // a write a crash cut short
	f, err := fsys.OpenFile(filepath.Join(dir, stateFile), os.O_RDONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := readAll(f, nil)
	if err != nil {
		return nil, err
	}
	return decodeConsumerState(b)
}

func encodeConsumerState(st *ConsumerState) []byte {
	b := []byte(stateMagic)
	for _, v := range []uint64{st.Delivered.Consumer, st.Delivered.Stream, st.AckFloor.Consumer, st.AckFloor.Stream, uint64(len(st.Pending))} {
		b = binary.AppendUvarint(b, v)
	}
	for s, p := range st.Pending {
		b = binary.AppendUvarint(b, s)
		b = binary.AppendUvarint(b, p.Sequence)
		b = binary.AppendVarint(b, p.Timestamp)
	}
	b = binary.AppendUvarint(b, uint64(len(st.Redelivered)))
	for s, n := range st.Redelivered {
		b = binary.AppendUvarint(b, s)
		b = binary.AppendUvarint(b, n)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, crcTable))
}

var errConsumerState = fmt.Errorf("%w: consumer state fails its checksum", ErrCorrupt)

func decodeConsumerState(b []byte) (*ConsumerState, error) {
	if len(b) < len(stateMagic)+4 || string(b[:len(stateMagic)]) != stateMagic {
		return nil, errConsumerState
	}
	body := b[:len(b)-4]
	if crc32.Checksum(body, crcTable) != binary.LittleEndian.Uint32(b[len(b)-4:]) {
		return nil, errConsumerState
	}
	d := decoder{b: body[len(stateMagic):]}
	st := &ConsumerState{}
	st.Delivered.Consumer, st.Delivered.Stream = d.u(), d.u()
	st.AckFloor.Consumer, st.AckFloor.Stream = d.u(), d.u()
	if n := d.u(); n > 0 && n <= uint64(len(d.b)) {
		st.Pending = make(map[uint64]*Pending, n)
		for range n {
			s := d.u()
			st.Pending[s] = &Pending{Sequence: d.u(), Timestamp: d.i()}
		}
	} else if n > 0 {
		d.err = true
	}
	if n := d.u(); n > 0 && n <= uint64(len(d.b)) {
		st.Redelivered = make(map[uint64]uint64, n)
		for range n {
			s := d.u()
			st.Redelivered[s] = d.u()
		}
	} else if n > 0 {
		d.err = true
	}
	if d.err || len(d.b) != 0 {
		return nil, errConsumerState
	}
	return st, nil
}

// decoder reads varints and remembers the first failure.
type decoder struct {
	b   []byte
	err bool
}

func (d *decoder) u() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) i() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.err, d.b = true, nil
		return 0
	}
	d.b = d.b[n:]
	return v
}

// changed notes an update: the next write is at most consumerFlush away.
// c.mu is held.
func (c *fileConsumer) changed() error {
	c.dirty = true
	if c.timer == nil {
		c.timer = time.AfterFunc(consumerFlush, func() { c.flush() })
	}
	err := c.err
	c.err = nil
	return err
}

// flush writes the state if it changed since the last write.
func (c *fileConsumer) flush() error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	c.timer = nil
	if !c.dirty {
		c.mu.Unlock()
		return nil
	}
	c.dirty = false
	b := encodeConsumerState(&c.a.st)
	c.mu.Unlock()
	err := c.write(b)
	if err != nil {
		c.mu.Lock()
		c.dirty, c.err = true, err
		c.mu.Unlock()
	}
	return err
}

func (c *fileConsumer) write(b []byte) error {
	fsys := c.fs.fsys
	tmp := filepath.Join(c.dir, stateFile+".tmp")
	f, err := fsys.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = f.WriteAt(b, 0)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = fsys.Rename(tmp, filepath.Join(c.dir, stateFile))
	}
	if err == nil {
		err = fsys.SyncDir(c.dir)
	}
	if err != nil {
		fsys.Remove(tmp)
		if isNoSpace(err) {
			return fmt.Errorf("%w: %v", ErrStoreFull, err)
		}
	}
	return err
}

func (c *fileConsumer) UpdateDelivered(dseq, sseq, dc uint64, ts int64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrStoreClosed
	}
	if err := c.a.delivered(dseq, sseq, dc, ts); err != nil {
		return err
	}
	return c.changed()
}

func (c *fileConsumer) UpdateAcks(dseq, sseq uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrStoreClosed
	}
	if err := c.a.acked(dseq, sseq); err != nil {
		return err
	}
	return c.changed()
}

// SetState is written at once: a reset or a restore is not a hot path,
// and its caller wants it durable.
func (c *fileConsumer) SetState(st *ConsumerState) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrStoreClosed
	}
	c.a.set(*copyState(st))
	c.dirty = true
	c.mu.Unlock()
	return c.flush()
}

func (c *fileConsumer) State() (*ConsumerState, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrStoreClosed
	}
	return copyState(&c.a.st), nil
}

// Stop writes what changed and closes the consumer store.
func (c *fileConsumer) Stop() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.mu.Unlock()
	err := c.flush()
	c.forget()
	return err
}

func (c *fileConsumer) Delete() error {
	c.mu.Lock()
	c.closed = true
	if c.timer != nil {
		c.timer.Stop()
	}
	c.dirty = false
	c.mu.Unlock()
	c.writeMu.Lock() // a write under way ends before the files go
	defer c.writeMu.Unlock()
	c.forget()
	if err := c.fs.fsys.RemoveAll(c.dir); err != nil {
		return err
	}
	return c.fs.fsys.SyncDir(filepath.Dir(c.dir))
}

func (c *fileConsumer) forget() {
	c.fs.mu.Lock()
	if c.fs.consumers[c.name] == c {
		delete(c.fs.consumers, c.name)
	}
	c.fs.mu.Unlock()
}
