// Package faultfs is an in-memory store.FS that fails the way disks and
// operating systems fail, for tests of the file store and of whatever is
// built on it:
//
//   - an OS crash (Crash): every write, truncate, create, rename and remove
//     not made durable by Sync (file data) or SyncDir (names) may be lost.
//     What survives is chosen by a Keep function: nothing unsynced
//     (DropUnsynced), or a random prefix of each file's unsynced writes,
//     the last of them possibly torn (RandomKeep);
//   - a crash at an exact point (FailAfter): after n more mutating
//     operations every operation fails, as if the power went, until Crash
//     is called;
//   - a full disk (SetSpace): writes beyond the space left write what fits
//     and fail with ENOSPC;
//   - bit rot (FlipBit) in any file, synced or not.
//
// Directories are durable as soon as they are made (the store fsyncs the
// parent anyway); file names are not.
package faultfs

import (
	"errors"
	"io"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/natsd/natsd/jetstream/store"
)

// ErrCrashed is what every operation returns between the point FailAfter
// set and the Crash that follows.
var ErrCrashed = errors.New("faultfs: crashed")

// FS is the fault-injecting file system. Its zero value is not usable:
// use New.
type FS struct {
	mu      sync.Mutex
	files   map[string]*node // names as they are now
	durable map[string]*node // names as a crash would leave them
	dirs    map[string]bool
	gen     int   // bumped by Crash: older handles are dead
	space   int64 // bytes writes may still add; <0: unlimited
	failIn  int   // mutating operations before the crash point; <0: never
	crashed bool
	stats   Stats
}

// Stats counts what the FS did, so that tests can check their faults hit.
type Stats struct {
	Writes, Syncs, DirSyncs, NoSpace int
}

// node is one file's contents: what is durable, and the changes since the
// last Sync in order.
type node struct {
	data    []byte // now
	synced  []byte // after the last Sync
	pending []change
}

// change is an unsynced write (data at off) or truncate (size, data nil).
type change struct {
	off   int64
	data  []byte
	trunc bool
}

// New makes an empty FS with unlimited space.
func New() *FS {
	return &FS{files: map[string]*node{}, durable: map[string]*node{}, dirs: map[string]bool{"/": true, ".": true},
		space: -1, failIn: -1}
}

var _ store.FS = (*FS)(nil)

func clean(name string) string { return filepath.ToSlash(filepath.Clean(name)) }

func pathErr(op, name string, err error) error { return &fs.PathError{Op: op, Path: name, Err: err} }

// step is called by every mutating operation with mu held: it counts
// down to the crash point.
func (f *FS) step() error {
	if f.crashed {
		return ErrCrashed
	}
	if f.failIn == 0 {
		f.crashed = true
		return ErrCrashed
	}
	if f.failIn > 0 {
		f.failIn--
	}
	return nil
}

// FailAfter makes the n+1'th mutating operation from now, and every
// operation after it, fail with ErrCrashed until Crash.
func (f *FS) FailAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failIn = n
}

// Crashed says whether the crash point was reached.
func (f *FS) Crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed
}

// SetSpace sets how many more bytes writes may add (<0: unlimited).
func (f *FS) SetSpace(n int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.space = n
}

// Stats returns the counters.
func (f *FS) Stats() Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// Keep decides, for one file, how many of its unsynced changes (in order)
// survive a crash and, if the next one is a write, how many of its bytes
// (a torn write).
type Keep func(name string, changes int) (whole, tornBytes int)

// DropUnsynced keeps nothing that was not synced.
func DropUnsynced(string, int) (int, int) { return 0, 0 }

// RandomKeep keeps a random prefix of each file's unsynced changes and
// tears the next write at a random byte.
func RandomKeep(rng *rand.Rand) Keep {
	return func(_ string, n int) (int, int) {
		w := rng.Intn(n + 1)
		return w, rng.Intn(1 << 12)
	}
}

// Crash turns the FS into what a disk holds after an OS crash: the names
// made durable by SyncDir, each with its synced contents plus what keep
// lets survive. Open handles die; the space limit and crash point are
// cleared.
func (f *FS) Crash(keep Keep) {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := sortedKeys(f.durable) // a stable order for seeded keeps
	files := map[string]*node{}
	seen := map[*node]*node{}
	for _, name := range names {
		n := f.durable[name]
		if c, ok := seen[n]; ok {
			files[name] = c
			continue
		}
		data := slices.Clone(n.synced)
		if len(n.pending) > 0 {
			whole, torn := keep(name, len(n.pending))
			whole = min(max(whole, 0), len(n.pending))
			for _, c := range n.pending[:whole] {
				data = apply(data, c, len(c.data))
			}
			if whole < len(n.pending) && !n.pending[whole].trunc && torn > 0 {
				c := n.pending[whole]
				data = apply(data, c, min(torn, len(c.data)))
			}
		}
		c := &node{data: data, synced: slices.Clone(data)}
		seen[n] = c
		files[name] = c
	}
	f.files = files
	f.durable = maps(files)
	f.gen++
	f.space, f.failIn, f.crashed = -1, -1, false
}

func sortedKeys(m map[string]*node) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func maps(m map[string]*node) map[string]*node {
	c := make(map[string]*node, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// apply makes change c (its first n bytes, for a write) to data.
func apply(data []byte, c change, n int) []byte {
	if c.trunc {
		if c.off < int64(len(data)) {
			return data[:c.off]
		}
		return append(data, make([]byte, c.off-int64(len(data)))...)
	}
	end := c.off + int64(n)
	if end > int64(len(data)) {
		data = append(data, make([]byte, end-int64(len(data)))...)
	}
	copy(data[c.off:end], c.data[:n])
	return data
}

// CrashProcess is a crash of the process, not of the OS (kill -9): what
// was written stays, synced or not, names too. Open handles die.
func (f *FS) CrashProcess() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range f.files {
		n.synced, n.pending = slices.Clone(n.data), nil
	}
	f.durable = maps(f.files)
	f.gen++
	f.space, f.failIn, f.crashed = -1, -1, false
}

// FlipBit flips one bit of a file, in what is durable and in what is
// there now.
func (f *FS) FlipBit(name string, off int64, bit uint) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.files[clean(name)]
	if n == nil || off >= int64(len(n.data)) {
		return pathErr("flipbit", name, fs.ErrNotExist)
	}
	n.data[off] ^= 1 << (bit % 8)
	if off < int64(len(n.synced)) {
		n.synced[off] ^= 1 << (bit % 8)
	}
	return nil
}

// ReadFile returns a copy of a file's current contents.
func (f *FS) ReadFile(name string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.files[clean(name)]
	if n == nil {
		return nil, pathErr("read", name, fs.ErrNotExist)
	}
	return slices.Clone(n.data), nil
}

// WriteFile replaces a file's contents, durably (to plant damage).
func (f *FS) WriteFile(name string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = clean(name)
	n := &node{data: slices.Clone(data), synced: slices.Clone(data)}
	f.files[name], f.durable[name] = n, n
}

// Files lists the files under dir, sorted.
func (f *FS) Files(dir string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	dir = clean(dir) + "/"
	var out []string
	for name := range f.files {
		if strings.HasPrefix(name, dir) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (f *FS) OpenFile(name string, flag int, perm fs.FileMode) (store.File, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = clean(name)
	mutating := flag&(os.O_CREATE|os.O_TRUNC) != 0
	if mutating {
		if err := f.step(); err != nil {
			return nil, pathErr("open", name, err)
		}
	} else if f.crashed {
		return nil, pathErr("open", name, ErrCrashed)
	}
	if !f.dirs[clean(filepath.Dir(name))] {
		return nil, pathErr("open", name, fs.ErrNotExist)
	}
	n := f.files[name]
	switch {
	case n == nil && flag&os.O_CREATE == 0:
		return nil, pathErr("open", name, fs.ErrNotExist)
	case n != nil && flag&os.O_CREATE != 0 && flag&os.O_EXCL != 0:
		return nil, pathErr("open", name, fs.ErrExist)
	case n == nil:
		n = &node{}
		f.files[name] = n
	case flag&os.O_TRUNC != 0:
		n.data = n.data[:0]
		n.pending = append(n.pending, change{off: 0, trunc: true})
	}
	return &file{fs: f, n: n, name: name, gen: f.gen, ro: flag&(os.O_WRONLY|os.O_RDWR) == 0}, nil
}

func (f *FS) Remove(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = clean(name)
	if err := f.step(); err != nil {
		return pathErr("remove", name, err)
	}
	if _, ok := f.files[name]; !ok {
		return pathErr("remove", name, fs.ErrNotExist)
	}
	delete(f.files, name)
	return nil
}

func (f *FS) RemoveAll(path string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	path = clean(path)
	if err := f.step(); err != nil {
		return pathErr("removeall", path, err)
	}
	for name := range f.files {
		if name == path || strings.HasPrefix(name, path+"/") {
			delete(f.files, name)
		}
	}
	for d := range f.dirs {
		if d == path || strings.HasPrefix(d, path+"/") {
			delete(f.dirs, d)
		}
	}
	return nil
}

func (f *FS) Rename(oldname, newname string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	oldname, newname = clean(oldname), clean(newname)
	if err := f.step(); err != nil {
		return pathErr("rename", oldname, err)
	}
	n := f.files[oldname]
	if n == nil {
		return pathErr("rename", oldname, fs.ErrNotExist)
	}
	delete(f.files, oldname)
	f.files[newname] = n
	return nil
}

func (f *FS) MkdirAll(path string, perm fs.FileMode) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	path = clean(path)
	if err := f.step(); err != nil {
		return pathErr("mkdir", path, err)
	}
	for p := path; !f.dirs[p]; p = clean(filepath.Dir(p)) {
		f.dirs[p] = true
	}
	return nil
}

func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = clean(name)
	if f.crashed {
		return nil, pathErr("readdir", name, ErrCrashed)
	}
	if !f.dirs[name] {
		return nil, pathErr("readdir", name, fs.ErrNotExist)
	}
	var out []fs.DirEntry
	for p, n := range f.files {
		if clean(filepath.Dir(p)) == name {
			out = append(out, info{name: filepath.Base(p), size: int64(len(n.data))})
		}
	}
	for d := range f.dirs {
		if d != name && clean(filepath.Dir(d)) == name {
			out = append(out, info{name: filepath.Base(d), dir: true})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out, nil
}

func (f *FS) Stat(name string) (fs.FileInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = clean(name)
	if n := f.files[name]; n != nil {
		return info{name: filepath.Base(name), size: int64(len(n.data))}, nil
	}
	if f.dirs[name] {
		return info{name: filepath.Base(name), dir: true}, nil
	}
	return nil, pathErr("stat", name, fs.ErrNotExist)
}

// SyncDir makes the names in dir durable as they are now.
func (f *FS) SyncDir(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name = clean(name)
	if err := f.step(); err != nil {
		return pathErr("syncdir", name, err)
	}
	f.stats.DirSyncs++
	for p := range f.durable {
		if clean(filepath.Dir(p)) == name {
			delete(f.durable, p)
		}
	}
	for p, n := range f.files {
		if clean(filepath.Dir(p)) == name {
			f.durable[p] = n
		}
	}
	return nil
}

// file is an open handle.
type file struct {
	fs     *FS
	n      *node
	name   string
	gen    int
	ro     bool
	closed bool
}

func (h *file) live() error {
	switch {
	case h.closed:
		return os.ErrClosed
	case h.gen != h.fs.gen:
		return ErrCrashed
	}
	return nil
}

func (h *file) ReadAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.live(); err != nil {
		return 0, pathErr("read", h.name, err)
	}
	if off >= int64(len(h.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, h.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (h *file) WriteAt(p []byte, off int64) (int, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.live(); err != nil {
		return 0, pathErr("write", h.name, err)
	}
	if h.ro {
		return 0, pathErr("write", h.name, os.ErrPermission)
	}
	if err := h.fs.step(); err != nil {
		return 0, pathErr("write", h.name, err)
	}
	h.fs.stats.Writes++
	n, err := len(p), error(nil)
	if h.fs.space >= 0 && int64(n) > h.fs.space {
		n, err = int(h.fs.space), pathErr("write", h.name, syscall.ENOSPC)
		h.fs.stats.NoSpace++
	}
	if h.fs.space >= 0 {
		h.fs.space -= int64(n)
	}
	if n > 0 {
		c := change{off: off, data: slices.Clone(p[:n])}
		h.n.data = apply(h.n.data, c, n)
		h.n.pending = append(h.n.pending, c)
	}
	return n, err
}

func (h *file) Sync() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.live(); err != nil {
		return pathErr("sync", h.name, err)
	}
	if err := h.fs.step(); err != nil {
		return pathErr("sync", h.name, err)
	}
	h.fs.stats.Syncs++
	h.n.synced = slices.Clone(h.n.data)
	h.n.pending = nil
	return nil
}

func (h *file) Truncate(size int64) error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.live(); err != nil {
		return pathErr("truncate", h.name, err)
	}
	if err := h.fs.step(); err != nil {
		return pathErr("truncate", h.name, err)
	}
	c := change{off: size, trunc: true}
	h.n.data = apply(h.n.data, c, 0)
	h.n.pending = append(h.n.pending, c)
	return nil
}

func (h *file) Stat() (fs.FileInfo, error) {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if err := h.live(); err != nil {
		return nil, pathErr("stat", h.name, err)
	}
	return info{name: filepath.Base(h.name), size: int64(len(h.n.data))}, nil
}

func (h *file) Close() error {
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if h.closed {
		return pathErr("close", h.name, os.ErrClosed)
	}
	h.closed = true
	return nil
}

// info is both fs.FileInfo and fs.DirEntry.
type info struct {
	name string
	size int64
	dir  bool
}

func (i info) Name() string { return i.name }
func (i info) Size() int64  { return i.size }
func (i info) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o750
	}
	return 0o640
}
func (i info) ModTime() time.Time         { return time.Time{} }
func (i info) IsDir() bool                { return i.dir }
func (i info) Sys() any                   { return nil }
func (i info) Type() fs.FileMode          { return i.Mode().Type() }
func (i info) Info() (fs.FileInfo, error) { return i, nil }
