package daemon

import (
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// debounce is how long the watcher waits after the last event on the config
// files before reloading: an editor's save is several events (write, rename,
// chmod), and a burst of them must be one reload.
const debounce = 200 * time.Millisecond

// watcher reloads when the config file or a file it includes changes. It
// watches the directories that hold them, not the files: editors save by
// writing a new file and renaming it over the old one, `cp` replaces
// contents, and Kubernetes ConfigMaps swap a "..data" symlink — all of them
// are events in the directory. A reload that finds nothing changed (same
// parsed digest) does nothing, so a stray event costs one parse.
type watcher struct {
	d  *Daemon
	fw *fsnotify.Watcher

	mu    sync.Mutex
	dirs  map[string]bool
	names map[string]bool // base names of the watched files
	timer *time.Timer
	done  chan struct{}
}

func newWatcher(d *Daemon) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &watcher{d: d, fw: fw, dirs: map[string]bool{}, names: map[string]bool{}, done: make(chan struct{})}
	go w.loop()
	return w, nil
}

// watch replaces the watched set with the directories of files.
func (w *watcher) watch(files []string) {
	dirs := map[string]bool{}
	names := map[string]bool{}
	for _, f := range files {
		abs, err := filepath.Abs(f)
		if err != nil {
			continue
		}
		dirs[filepath.Dir(abs)] = true
		names[filepath.Base(abs)] = true
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for d := range w.dirs {
		if !dirs[d] {
			_ = w.fw.Remove(d)
		}
	}
	for d := range dirs {
		if !w.dirs[d] {
			if err := w.fw.Add(d); err != nil {
				w.d.log.Warn("Cannot watch config directory; reload with SIGHUP", zap.String("dir", d), zap.Error(err))
				delete(dirs, d)
			}
		}
	}
	w.dirs, w.names = dirs, names
}

func (w *watcher) relevant(ev fsnotify.Event) bool {
	base := filepath.Base(ev.Name)
	w.mu.Lock()
	defer w.mu.Unlock()
	// The files themselves, and Kubernetes' "..data" symlink swaps.
	return w.names[base] || strings.HasPrefix(base, "..")
}

func (w *watcher) loop() {
	for {
		select {
		case ev, ok := <-w.fw.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod || !w.relevant(ev) {
				continue
			}
			w.mu.Lock()
			if w.timer == nil {
				w.timer = time.AfterFunc(debounce, w.fire)
			} else {
				w.timer.Reset(debounce)
			}
			w.mu.Unlock()
		case err, ok := <-w.fw.Errors:
			if !ok {
				return
			}
			w.d.log.Warn("Config file watcher error", zap.Error(err))
		case <-w.done:
			return
		}
	}
}

func (w *watcher) fire() {
	_ = w.d.Reload("file change")
}

func (w *watcher) close() {
	close(w.done)
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Unlock()
	_ = w.fw.Close()
}
