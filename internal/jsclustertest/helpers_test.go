package jsclustertest_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/jsclustertest"
)

// kinds are the servers every case runs against.
var kinds = []jsclustertest.Kind{jsclustertest.NatsServer, jsclustertest.Natsd}

// forEachKind runs f as a parallel subtest per server kind.
func forEachKind(t *testing.T, f func(t *testing.T, kind jsclustertest.Kind)) {
	for _, kind := range kinds {
		t.Run(string(kind), func(t *testing.T) {
			t.Parallel()
			f(t, kind)
		})
	}
}

// addStream creates a file stream on subjects "<name>.>" with the given
// replicas through js.
func addStream(t *testing.T, js jetstream.JetStream, name string, replicas int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Creating right after the meta leader is elected can meet a cluster
	// still settling: retry until the deadline.
	var errs []string
	for {
		actx, acancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := js.CreateStream(actx, jetstream.StreamConfig{
			Name: name, Subjects: []string{name + ".>"}, Replicas: replicas, Storage: jetstream.FileStorage,
		})
		acancel()
		if err == nil {
			if len(errs) > 0 {
				t.Logf("stream %s created after: %s", name, strings.Join(errs, "; "))
			}
			return
		}
		errs = append(errs, err.Error())
		if ctx.Err() != nil {
			t.Fatalf("creating stream %s: %s", name, strings.Join(errs, "; "))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// publishN publishes n messages to subject one after the other, each
// acknowledged within timeout (the client retries while it has no
// responders), and records them.
func publishN(t *testing.T, js jetstream.JetStream, log *jsclustertest.AckLog, subject string, n int, timeout time.Duration) {
	t.Helper()
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		_, err := log.Publish(ctx, js, subject, fmt.Appendf(nil, "%s-%d-%d", subject, time.Now().UnixNano(), i))
		cancel()
		if err != nil {
			t.Fatalf("publish %d of %d to %s: %v", i+1, n, subject, err)
		}
	}
}

// publisher publishes to one subject in a loop, one publish every ~10 ms,
// until stopped; errors (timeouts while a leader is elected) are counted
// and the loop goes on.
type publisher struct {
	log     *jsclustertest.AckLog
	acks    atomic.Int64
	errs    atomic.Int64
	stopped chan struct{}
	done    sync.WaitGroup

	mu sync.Mutex
	// firstAfter: of the publishes started at or after mark, the time
	// the first was acknowledged.
	mark, firstAfter time.Time
	lastErr          error
}

func startPublisher(t *testing.T, js jetstream.JetStream, log *jsclustertest.AckLog, subject string) *publisher {
	p := &publisher{log: log, stopped: make(chan struct{})}
	p.done.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-p.stopped:
				return
			default:
			}
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			_, err := log.Publish(ctx, js, subject, fmt.Appendf(nil, "%s-%d", subject, i))
			cancel()
			p.mu.Lock()
			if err != nil {
				p.errs.Add(1)
				p.lastErr = err
			} else {
				p.acks.Add(1)
				if !p.mark.IsZero() && p.firstAfter.IsZero() && !start.Before(p.mark) {
					p.firstAfter = time.Now()
				}
			}
			p.mu.Unlock()
			// About a hundred publishes a second: enough to see every
			// fault, few enough that reading them all back stays quick on
			// two cores (and no hot loop against a refusing cluster).
			time.Sleep(10 * time.Millisecond)
		}
	})
	t.Cleanup(p.stop)
	return p
}

// setMark starts timing: firstAckAfter reports the first ack of a publish
// started after now.
func (p *publisher) setMark(at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mark, p.firstAfter = at, time.Time{}
}

func (p *publisher) firstAckAfter() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstAfter
}

func (p *publisher) stop() {
	select {
	case <-p.stopped:
	default:
		close(p.stopped)
	}
	p.done.Wait()
}

// waitAcks waits until the publisher has n more acks than now.
func (p *publisher) waitAcks(t *testing.T, n int64, timeout time.Duration) {
	t.Helper()
	want := p.acks.Load() + n
	deadline := time.Now().Add(timeout)
	for p.acks.Load() < want {
		if time.Now().After(deadline) {
			p.mu.Lock()
			err := p.lastErr
			p.mu.Unlock()
			t.Fatalf("publisher: %d acks, want %d within %v (%d errors, last: %v)", p.acks.Load(), want, timeout, p.errs.Load(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
