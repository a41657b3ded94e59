package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/testutil"
)

// What survives a restart: a SIGTERM keeps every stream, message and
// consumer position; a kill -9 right after a publish was acknowledged
// loses nothing that was acknowledged (natsd acknowledges once the message
// is fsynced). The same store directory is given to the next process.

func jsServerDir(t *testing.T, sd string) *testutil.Proc {
	t.Helper()
	conf := testutil.WriteFile(t, "js.conf", fmt.Sprintf("listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\njetstream { store_dir: %q }\n", sd))
	return testutil.Start(t, testutil.NatsdBin(t), "-c", conf)
}

func TestJetStreamRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	sd := t.TempDir()
	p := jsServerDir(t, sd)
	_, js := jsConnect(t, p.ClientURL())
	ctx := jsCtx(t)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "KEEP", Subjects: []string{"keep.>"}, MaxMsgsPerSubject: 100})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 50; i++ {
		if _, err := js.Publish(ctx, fmt.Sprintf("keep.%d", i%5), []byte(fmt.Sprint(i)), jetstream.WithMsgID(fmt.Sprint("id", i))); err != nil {
			t.Fatal(err)
		}
	}
	c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Fetch(20, jetstream.FetchMaxWait(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range b.Messages() {
		n++
		if n <= 15 {
			_ = m.DoubleAck(ctx) // 15 acknowledged, 5 delivered and pending
		}
	}
	if n != 20 {
		t.Fatalf("fetched %d, want 20", n)
	}
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "K"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "k", []byte("v1")); err != nil {
		t.Fatal(err)
	}
	p.Stop() // SIGTERM

	p2 := jsServerDir(t, sd)
	_, js2 := jsConnect(t, p2.ClientURL())
	s2, err := js2.Stream(ctx, "KEEP")
	if err != nil {
		t.Fatalf("stream after restart: %v", err)
	}
	if st := s2.CachedInfo().State; st.Msgs != 50 || st.LastSeq != 50 || st.NumSubjects != 5 {
		t.Errorf("state after restart %+v", st)
	}
	c2, err := s2.Consumer(ctx, "C")
	if err != nil {
		t.Fatalf("consumer after restart: %v", err)
	}
	ci := c2.CachedInfo()
	if ci.AckFloor.Stream != 15 || ci.Delivered.Stream != 20 || ci.NumAckPending != 5 || ci.NumPending != 30 {
		t.Errorf("consumer after restart: ack floor %+v delivered %+v ack pending %d pending %d", ci.AckFloor, ci.Delivered, ci.NumAckPending, ci.NumPending)
	}
	// New messages first; the 5 pending come back when their ack wait
	// (from their delivery before the restart) runs out, as nats-server.
	b2, err := c2.Fetch(10, jetstream.FetchMaxWait(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range b2.Messages() {
		got = append(got, string(m.Data()))
	}
	if fmt.Sprint(got) != "[21 22 23 24 25 26 27 28 29 30]" {
		t.Errorf("after restart fetched %v", got)
	}
	// Dedupe survives too: the window is rebuilt from the stored ids.
	if a, err := js2.Publish(ctx, "keep.0", []byte("again"), jetstream.WithMsgID("id50")); err != nil || !a.Duplicate {
		t.Errorf("duplicate after restart: %+v %v", a, err)
	}
	kv2, err := js2.KeyValue(ctx, "K")
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv2.Get(ctx, "k"); err != nil || string(e.Value()) != "v1" {
		t.Errorf("kv after restart: %v %v", e, err)
	}
}

// Publishers acknowledged as fast as they can go, then kill -9: every
// acknowledged sequence is there after the restart. (A process kill keeps
// the page cache; the OS-crash case, where only fsynced data survives, is
// the store's fault tests with a file system that drops unsynced writes.)
func TestJetStreamKillNineLosesNoAckedMessage(t *testing.T) {
	t.Parallel()
	sd := t.TempDir()
	p := jsServerDir(t, sd)
	_, js := jsConnect(t, p.ClientURL())
	ctx := jsCtx(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "K9", Subjects: []string{"k9.>"}}); err != nil {
		t.Fatal(err)
	}
	pubCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var acked sync.Map
	var count atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				a, err := js.Publish(pubCtx, fmt.Sprintf("k9.%d", w), []byte(fmt.Sprintf("%d-%d", w, i)))
				if err != nil {
					return // the server is gone
				}
				acked.Store(a.Sequence, fmt.Sprintf("%d-%d", w, i))
				count.Add(1)
			}
		}()
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		if count.Load() < 500 {
			return fmt.Errorf("%d acknowledged", count.Load())
		}
		return nil
	})
	p.Signal(syscall.SIGKILL)
	close(stop)
	cancel()
	wg.Wait()

	p2 := jsServerDir(t, sd)
	_, js2 := jsConnect(t, p2.ClientURL())
	ctx = jsCtx(t)
	s, err := js2.Stream(ctx, "K9")
	if err != nil {
		t.Fatal(err)
	}
	missing := 0
	acked.Range(func(k, v any) bool {
		m, err := s.GetMsg(ctx, k.(uint64))
		if err != nil || string(m.Data) != v.(string) {
			missing++
			if missing < 5 {
				t.Errorf("acknowledged seq %d (%s) after kill -9: %v", k, v, err)
			}
		}
		return true
	})
	if missing > 0 {
		t.Fatalf("%d of %d acknowledged messages lost", missing, count.Load())
	}
	t.Logf("%d acknowledged messages all present after kill -9", count.Load())
}
