package daemon

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// watchRig is a watcher on dir/natsd.conf whose reloads and timer decisions
// the test reads.
type watchRig struct {
	w       *watcher
	dir     string
	path    string
	fires   chan string
	reloads chan struct{}
}

func newWatchRig(t *testing.T) *watchRig {
	t.Helper()
	r := &watchRig{dir: t.TempDir(), fires: make(chan string, 100), reloads: make(chan struct{}, 100)}
	r.path = filepath.Join(r.dir, "natsd.conf")
	writeTestFile(t, r.path, "port: 4222\n")
	w, err := newWatcher(zaptest.NewLogger(t), func() { r.reloads <- struct{}{} }, goSpawn)
	if err != nil {
		t.Fatal(err)
	}
	w.onFire = func(what string) { r.fires <- what }
	w.watch([]string{r.path})
	t.Cleanup(w.close)
	r.w = w
	return r
}

// goSpawn is a spawnFunc without a daemon.
func goSpawn(_ string, f func()) bool {
	go f()
	return true
}

func writeTestFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitFire waits for a timer firing that decided want, and returns the
// decisions seen on the way.
func (r *watchRig) waitFire(t *testing.T, want string) []string {
	t.Helper()
	var seen []string
	deadline := time.After(5 * time.Second)
	for {
		select {
		case what := <-r.fires:
			seen = append(seen, what)
			if what == want {
				return seen
			}
		case <-deadline:
			t.Fatalf("no %q decision within 5s (saw %q)", want, seen)
		}
	}
}

func (r *watchRig) waitReload(t *testing.T) {
	t.Helper()
	select {
	case <-r.reloads:
	case <-time.After(5 * time.Second):
		t.Fatal("no reload within 5s")
	}
}

func (r *watchRig) noReload(t *testing.T, why string) {
	t.Helper()
	select {
	case <-r.reloads:
		t.Fatal("reloaded " + why)
	default:
	}
}

// barrier returns once every event caused before it was handled: it opens
// the config file for reading (an event that changes nothing) and waits
// until the watcher counted the open.
func (r *watchRig) barrier(t *testing.T) {
	t.Helper()
	f, err := os.Open(r.path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.w.mu.Lock()
		n := r.w.opens[r.path]
		r.w.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not see an open within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *watchRig) gen() uint64 {
	r.w.mu.Lock()
	defer r.w.mu.Unlock()
	return r.w.gen
}

// A writer that pauses keeps the file open: no reload until it closes it,
// then one, after two looks that agree.
func TestWatcherWaitsForTheWriter(t *testing.T) {
	r := newWatchRig(t)
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("port: "); err != nil {
		t.Fatal(err)
	}
	r.waitFire(t, "writing")
	r.noReload(t, "while the writer had the file open")
	if _, err := f.WriteString("4333\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	seen := r.waitFire(t, "reload")
	if len(seen) < 2 || seen[len(seen)-2] != "unsettled" {
		t.Fatalf("decisions %q: a reload must follow a first look", seen)
	}
	r.waitReload(t)
}

// truncate(2) modifies the file without opening it: nothing to wait for.
func TestWatcherTruncateWithoutOpen(t *testing.T) {
	r := newWatchRig(t)
	if err := os.Truncate(r.path, 0); err != nil {
		t.Fatal(err)
	}
	r.waitReload(t)
}

// A reader that keeps the file open does not hold back a rename save (a new
// file nobody has open). An in-place change while it reads waits for it:
// natsd cannot tell a reader from a writer that pauses.
func TestWatcherReaderHoldingTheFile(t *testing.T) {
	r := newWatchRig(t)
	reader, err := os.Open(r.path)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()

	tmp := r.path + ".tmp"
	writeTestFile(t, tmp, "port: 4333\n")
	if err := os.Rename(tmp, r.path); err != nil {
		t.Fatal(err)
	}
	r.waitReload(t)

	again, err := os.Open(r.path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(r.path, 0); err != nil {
		t.Fatal(err)
	}
	r.waitFire(t, "writing")
	r.noReload(t, "while the modified file was open")
	again.Close()
	r.waitReload(t)
}

// Kubernetes updates a ConfigMap by swapping the "..data" symlink.
func TestWatcherKubernetesSwap(t *testing.T) {
	r := newWatchRig(t)
	if err := os.Symlink(".", filepath.Join(r.dir, "..data_tmp")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(r.dir, "..data_tmp"), filepath.Join(r.dir, "..data")); err != nil {
		t.Fatal(err)
	}
	r.waitReload(t)
}

// Other files in the directory (a log file, the pid file) and natsd's own
// reads of the config do not start a round.
func TestWatcherIgnoresOtherFilesAndItsOwnReads(t *testing.T) {
	r := newWatchRig(t)
	writeTestFile(t, filepath.Join(r.dir, "natsd.log"), "a line\n")
	writeTestFile(t, filepath.Join(r.dir, "natsd.pid"), "123")
	r.barrier(t)
	if g := r.gen(); g != 0 {
		t.Fatalf("%d rounds started by other files", g)
	}

	writeTestFile(t, r.path, "port: 4333\n") // a round, with natsd's looks
	r.waitFire(t, "reload")
	r.waitReload(t)
	g := r.gen()
	r.barrier(t) // the looks' opens and closes were handled before this
	if r.gen() != g || len(r.fires) > 0 {
		t.Fatalf("natsd's own reads started another round (%d -> %d, %d decisions)", g, r.gen(), len(r.fires))
	}
}

// A watched file that is removed and comes back is looked at again.
func TestWatcherFileRemovedAndBack(t *testing.T) {
	r := newWatchRig(t)
	if err := os.Remove(r.path); err != nil {
		t.Fatal(err)
	}
	r.waitReload(t) // the reload reports the missing file; nothing is applied
	writeTestFile(t, r.path, "port: 4333\n")
	r.waitReload(t)
}

func TestSameLooks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.conf")
	writeTestFile(t, path, "port: 1\n")
	a := lookAt([]string{path})
	if !sameLooks(a, lookAt([]string{path})) {
		t.Fatal("two looks at an unchanged file differ")
	}
	writeTestFile(t, path, "port: 2\n") // same size
	if sameLooks(a, lookAt([]string{path})) {
		t.Fatal("a change of content went unseen")
	}
	if sameLooks(nil, a) {
		t.Fatal("no earlier look counts as a match")
	}
}
