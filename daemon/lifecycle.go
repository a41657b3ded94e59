package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// One owner for the lifecycle: the Daemon's life lock is held by Start while
// it wires the components, by every reload while it applies, and by Shutdown
// while it marks the daemon stopping. So Shutdown never reads a component set
// that a reload is halfway through changing (it waits for the reload, then
// stops what the reload started), and no reload applies after Shutdown
// began. Every goroutine the daemon starts goes through tasks, which refuses
// new work once stopping, and Shutdown waits for them all.

// shutdownTimeout bounds how long Shutdown waits for the server's and the
// daemon's goroutines.
const shutdownTimeout = 10 * time.Second

// errStopping is what a reload asked for during shutdown gets.
var errStopping = errors.New("natsd is shutting down")

// tasks tracks the goroutines the daemon starts.
type tasks struct {
	mu      sync.Mutex
	stopped bool
	running map[string]int // by name, for Shutdown's report of what is stuck
	wg      sync.WaitGroup
}

// Go runs f in a goroutine named name, unless stop was called: then it
// returns false and f does not run (the caller releases what f would have
// served).
func (t *tasks) Go(name string, f func()) bool {
	t.mu.Lock()
	if t.stopped {
		t.mu.Unlock()
		return false
	}
	if t.running == nil {
		t.running = map[string]int{}
	}
	t.running[name]++
	t.wg.Add(1)
	t.mu.Unlock()
	go func() {
		defer t.done(name)
		f()
	}()
	return true
}

func (t *tasks) done(name string) {
	t.mu.Lock()
	if t.running[name]--; t.running[name] == 0 {
		delete(t.running, name)
	}
	t.mu.Unlock()
	t.wg.Done()
}

// stop refuses new goroutines from now on.
func (t *tasks) stop() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
}

// wait waits for every tracked goroutine, or for ctx; then it says which
// are still running.
func (t *tasks) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		t.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("still running: %s", strings.Join(t.names(), ", "))
	}
}

// names lists the running goroutines ("client listener", "lame duck ×2").
func (t *tasks) names() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.running))
	for n, k := range t.running {
		if k > 1 {
			n = fmt.Sprintf("%s ×%d", n, k)
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// Shutdown stops natsd in the order written in Run's doc comment. It is
// idempotent, and safe to call from any goroutine at any time after Start
// returned (Start calls it itself to clean up after a failure).
func (d *Daemon) Shutdown() {
	d.stopOnce.Do(d.shutdown) // a second caller waits for the first
}

func (d *Daemon) shutdown() {
	defer close(d.done)
	// 1.
	_ = d.notify.Stopping()
	d.log.Info("Initiating Shutdown...")
	// 2. The reload in progress, if any, finishes first; none applies after.
	if !d.life.TryLock() {
		d.log.Info("Waiting for the reload in progress to finish")
		d.life.Lock()
	}
	d.stopped = true
	d.stop() // closes stopping: the loops end, Reload refuses
	d.tasks.stop()
	certWatch := d.certWatch
	d.life.Unlock()
	if d.watch != nil {
		d.watch.close()
	}
	if certWatch != nil {
		certWatch.close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	// 3. The system account says this server is going ($SYS.SERVER.<id>.SHUTDOWN)
	// while its clients can still hear it.
	if sys := d.sys.Swap(nil); sys != nil {
		sys.Stop()
	}
	d.stopEndpoints()
	d.stopControl()
	// 4.
	if err := d.srv.Shutdown(ctx); err != nil {
		d.log.Warn("Shutdown did not finish cleanly", zap.Error(err))
	}
	if d.jwt != nil {
		d.jwt.Stop()
	}
	if d.callout != nil {
		d.callout.Stop()
	}
	if d.jsc != nil {
		// Before the engine: the groups stop handing it entries.
		d.jsc.Stop()
	}
	if d.js != nil {
		// After the clients: no publish arrives any more; every stream's
		// last batch is stored and its consumers' state saved.
		d.js.Stop()
	}
	if d.journal != nil {
		_ = d.journal.Close()
	}
	// 5.
	if cl := d.cluster(); cl != nil {
		cl.Shutdown()
	}
	// 6.
	if err := d.tasks.wait(ctx); err != nil {
		d.log.Warn("Shutdown did not wait for every goroutine", zap.Error(err))
	}
	// 7.
	if d.portsFile != "" {
		_ = os.Remove(d.portsFile)
	}
	if pid := d.currentOpts().PidFile; pid != "" {
		removePidFile(pid)
	}
	d.log.Info("Server Exiting..")
	_ = d.log.Sync()
	d.log.sink.close()
}
