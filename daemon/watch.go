package daemon

import (
	"crypto/sha256"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// debounce is how long the watcher waits after the last event on the config
// files before it looks at them: an editor's save is several events (write,
// rename), and a burst of them must be one reload.
const debounce = 200 * time.Millisecond

// triggerFileChange names reloads the watcher asks for. Only these are
// subject to the hold-back rules (guard.go): a signal is an operator's act.
const triggerFileChange = "file change"

// The watcher reloads when the config file or a file it includes changes.
// It watches the directories that hold them, not the files: editors save by
// writing a new file and renaming it over the old one, `cp` replaces
// contents, and Kubernetes ConfigMaps swap a "..data" symlink — all of them
// are events in the directory.
//
// It never reads a file that is still being written. A reload is asked for
// only when all of these hold:
//   - no event for debounce;
//   - no config file that was modified is still open: a writer that pauses
//     (`cat > natsd.conf` fed slowly, scp, a script) holds the file open
//     until it is done. inotify reports opens and closes, so natsd counts
//     them; a file modified with no opener (truncate(2)) is not waited for;
//   - the files are stable: size, mtime and content hash unchanged between
//     two looks debounce apart, with no event between them (a change that
//     inotify does not report, such as a network file system's, still has
//     to settle).
//
// The reload then parses the files, and a file that does not parse is not
// applied; one that parses but looks cut short is held back (guard.go).
type watcher struct {
	what   string // "Config file", "TLS certificate file": what its logs name
	log    *zap.Logger
	reload func()
	spawn  spawnFunc
	dw     *dirWatch
	// onFire, when set (tests), is told what each timer firing decided:
	// "writing", "unsettled" or "reload".
	onFire func(string)

	mu      sync.Mutex
	dirs    map[string]bool
	files   map[string]bool // absolute paths of the watched files
	opens   map[string]int  // opens minus closes, by file
	dirty   map[string]bool // modified since a writer last closed it
	waitLog bool            // "waiting for the writer" was logged
	look    map[string]fileLook
	gen     uint64 // events seen; a look is stale if it changed
	timer   *time.Timer
	closed  bool
}

// spawnFunc runs a function in a goroutine of the daemon's (tasks.Go):
// false means the daemon is stopping and the function did not run.
type spawnFunc func(name string, f func()) bool

// newWatcher starts watching; reload is called in a goroutine from spawn,
// as is every other goroutine of the watcher, so that Shutdown waits for
// them.
func newWatcher(log *zap.Logger, reload func(), spawn spawnFunc) (*watcher, error) {
	return newWatcherFor("Config file", log, reload, spawn)
}

// newWatcherFor is newWatcher for files that what names in logs (the TLS
// certificate watcher is one too, with the same rules).
func newWatcherFor(what string, log *zap.Logger, reload func(), spawn spawnFunc) (*watcher, error) {
	dw, err := newDirWatch()
	if err != nil {
		return nil, err
	}
	w := &watcher{what: what, log: log, reload: reload, spawn: spawn, dw: dw, dirs: map[string]bool{}, files: map[string]bool{},
		opens: map[string]int{}, dirty: map[string]bool{}}
	if !spawn(w.taskName(), func() {
		if err := dw.run(w.event); err != nil {
			log.Warn(what+" watcher stopped; reload with SIGHUP", zap.Error(err))
		}
	}) {
		dw.close()
		return nil, errStopping
	}
	return w, nil
}

// watch replaces the watched set with files (and their directories).
func (w *watcher) watch(files []string) {
	dirs := map[string]bool{}
	paths := map[string]bool{}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			continue
		}
		dirs[filepath.Dir(abs)] = true
		paths[abs] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for d := range w.dirs {
		if !dirs[d] {
			w.dw.remove(d)
		}
	}
	for d := range dirs {
		if !w.dirs[d] {
			if err := w.dw.add(d); err != nil {
				w.log.Warn("Cannot watch the directory of a "+strings.ToLower(w.what)+"; reload with SIGHUP", zap.String("dir", d), zap.Error(err))
				delete(dirs, d)
			}
		}
	}
	for f := range w.files {
		if !paths[f] {
			delete(w.opens, f)
			delete(w.dirty, f)
		}
	}
	w.dirs, w.files = dirs, paths
}

// fsOp is what happened to a file.
type fsOp uint8

const (
	opOpen       fsOp = iota + 1 // opened
	opWrite                      // modified (written or truncated)
	opClosed                     // closed by a writer
	opClosedRead                 // closed by a reader
	opReplaced                   // created, or renamed into place
	opRemoved                    // deleted, or renamed away
	opOverflow                   // events were lost
)

type fsEvent struct {
	path string
	op   fsOp
}

func (w *watcher) event(ev fsEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return
	}
	p := ev.path
	switch {
	case ev.op == opOverflow:
		// Who has what open is unknown now; the stability looks and the
		// hold-back rules still stand.
		w.log.Warn(w.what + " watcher lost events; looking at the files again")
		clear(w.opens)
		clear(w.dirty)
	case w.files[p]:
		switch ev.op {
		case opOpen:
			w.opens[p]++
			return // an open changes nothing yet (natsd's own reads are opens too)
		case opClosedRead:
			w.opens[p] = max(w.opens[p]-1, 0)
			if !w.dirty[p] || w.opens[p] > 0 {
				return // only the last close of a modified file ends a wait
			}
		case opWrite:
			w.dirty[p] = true
		case opClosed:
			w.opens[p] = max(w.opens[p]-1, 0)
			delete(w.dirty, p)
		default:
			// Another file in its place, or none: nobody has it open.
			delete(w.opens, p)
			delete(w.dirty, p)
		}
	case strings.HasPrefix(filepath.Base(ev.path), "..") && w.dirs[filepath.Dir(ev.path)]:
		// Kubernetes swaps "..data" to update every file at once.
	default:
		return
	}
	w.gen++
	w.look = nil
	w.arm()
}

// arm (re)starts the timer. Called with w.mu held.
func (w *watcher) arm() {
	if w.timer == nil {
		w.timer = time.AfterFunc(debounce, func() { w.spawn(w.taskName()+" timer", w.fire) })
	} else {
		w.timer.Reset(debounce)
	}
}

func (w *watcher) fire() {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return
	}
	if busy := w.busy(); len(busy) > 0 {
		// The last close (an event) starts the next round.
		if !w.waitLog {
			w.waitLog = true
			w.log.Info(w.what+" is being written (modified and still open): reloading once it is closed; SIGHUP reloads it as it is",
				zap.Strings("files", busy))
		}
		w.mu.Unlock()
		w.told("writing")
		return
	}
	// Nobody has a modified file open, so no write is under way: a new one
	// starts with an open.
	clear(w.dirty)
	w.waitLog = false
	gen, prev := w.gen, w.look
	files := sortedKeys(w.files)
	w.mu.Unlock()

	look := lookAt(files)

	w.mu.Lock()
	if w.closed || gen != w.gen {
		w.mu.Unlock() // an event came meanwhile and re-armed the timer
		return
	}
	if !sameLooks(look, prev) {
		w.look = look
		w.arm()
		w.mu.Unlock()
		w.told("unsettled")
		return
	}
	w.look = nil
	w.mu.Unlock()
	w.told("reload")
	w.reload()
}

// busy lists the files that were modified and are still open. Called with
// w.mu held.
func (w *watcher) busy() []string {
	var out []string
	for f := range w.dirty {
		if w.opens[f] > 0 {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}

// taskName names the watcher's goroutines ("config watcher").
func (w *watcher) taskName() string {
	if w.what == "Config file" {
		return "config watcher"
	}
	return strings.ToLower(w.what) + " watcher"
}

func (w *watcher) told(what string) {
	if w.onFire != nil {
		w.onFire(what)
	}
}

func (w *watcher) close() {
	w.mu.Lock()
	w.closed = true
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	w.dw.close()
}

// fileLook is what a look at a file saw; the zero fileLook is a file that
// could not be read.
type fileLook struct {
	size  int64
	mtime time.Time
	sum   [sha256.Size]byte
}

// lookAt looks at each file (through symlinks: a Kubernetes config file is
// one).
func lookAt(files []string) map[string]fileLook {
	out := make(map[string]fileLook, len(files))
	for _, f := range files {
		out[f] = lookAtFile(f)
	}
	return out
}

func lookAtFile(path string) fileLook {
	f, err := os.Open(path)
	if err != nil {
		return fileLook{}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fileLook{}
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fileLook{}
	}
	l := fileLook{size: st.Size(), mtime: st.ModTime()}
	h.Sum(l.sum[:0])
	return l
}

func sameLooks(a, b map[string]fileLook) bool {
	if a == nil || b == nil || len(a) != len(b) {
		return false
	}
	for f, l := range a {
		if bl, ok := b[f]; !ok || !l.mtime.Equal(bl.mtime) || l.size != bl.size || l.sum != bl.sum {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
