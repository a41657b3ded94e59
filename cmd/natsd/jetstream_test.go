package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/testutil"
)

// JetStream with nats.go's jetstream package, against natsd (and, where
// the behaviour is the reference's, nats-server v2.15.2 with the same
// expectations): streams, consumers, acks, key-value and object stores.

// jsServer starts a JetStream server (natsd or the reference) with a
// store directory of its own.
func jsServer(t *testing.T, bin string, extra string) *testutil.Proc {
	t.Helper()
	sd := t.TempDir()
	conf := testutil.WriteFile(t, "js.conf", fmt.Sprintf("listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\njetstream { store_dir: %q }\n%s", sd, extra))
	return testutil.Start(t, bin, "-c", conf)
}

func jsConnect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := connect(t, url)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// jsCtx bounds a test's JetStream calls (generously: the machine is shared).
func jsCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestJetStreamStreamsAndPullConsumers(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			for _, st := range []jetstream.StorageType{jetstream.FileStorage, jetstream.MemoryStorage} {
				name := "ORDERS_" + strings.ToUpper(st.String())
				s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: []string{name + ".>"}, Storage: st})
				if err != nil {
					t.Fatalf("create %s: %v", name, err)
				}
				for i := 1; i <= 10; i++ {
					ack, err := js.Publish(ctx, fmt.Sprintf("%s.%d", name, i%3), []byte(fmt.Sprint(i)))
					if err != nil || ack.Sequence != uint64(i) || ack.Stream != name {
						t.Fatalf("publish %d: %+v %v", i, ack, err)
					}
				}
				c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "D", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: name + ".1"})
				if err != nil {
					t.Fatal(err)
				}
				batch, err := c.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for m := range batch.Messages() {
					got = append(got, string(m.Data()))
					if err := m.Ack(); err != nil {
						t.Fatal(err)
					}
				}
				if strings.Join(got, ",") != "1,4,7,10" {
					t.Errorf("%s: fetched %v, want 1,4,7,10 (subject .1)", name, got)
				}
				info, err := c.Info(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if info.NumPending != 0 || info.Delivered.Stream != 10 || info.NumAckPending != 0 {
					t.Errorf("%s consumer info: pending %d delivered %+v ack pending %d", name, info.NumPending, info.Delivered, info.NumAckPending)
				}
				si, err := s.Info(ctx)
				if err != nil || si.State.Msgs != 10 {
					t.Errorf("%s stream info: %+v %v", name, si.State, err)
				}
			}
		})
	}
}

func TestJetStreamAckNakTermRedelivery(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "R", Subjects: []string{"r.>"}})
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 3; i++ {
				if _, err := js.Publish(ctx, "r.x", []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			c, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
				Durable: "C", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 500 * time.Millisecond, MaxDeliver: 3,
			})
			if err != nil {
				t.Fatal(err)
			}
			next := func() jetstream.Msg {
				t.Helper()
				m, err := c.Next(jetstream.FetchMaxWait(3 * time.Second))
				if err != nil {
					t.Fatalf("next: %v", err)
				}
				return m
			}
			m := next() // 1: nak'd, comes back (acks are processed apart from pulls: not necessarily next)
			if string(m.Data()) != "1" {
				t.Fatalf("first %q", m.Data())
			}
			_ = m.Nak()
			// The nak is processed apart from the pulls: 2 and 3 may come
			// before 1 comes back (nats-server under load delivers both).
			var two, three jetstream.Msg
			for {
				m = next()
				md, _ := m.Metadata()
				if md.NumDelivered == 1 && string(m.Data()) == "2" && two == nil {
					two = m // left unacknowledged: redelivered after ack wait
					continue
				}
				if md.NumDelivered == 1 && string(m.Data()) == "3" && three == nil {
					three = m
					_ = three.InProgress() // its ack wait must end after 2's
					continue
				}
				if string(m.Data()) != "1" || md.NumDelivered != 2 {
					t.Fatalf("after nak: %q delivered %d", m.Data(), md.NumDelivered)
				}
				break
			}
			_ = m.Term() // 1 is done
			if two == nil {
				two = next()
			}
			if string(two.Data()) != "2" {
				t.Fatalf("second %q", two.Data())
			}
			if three == nil {
				three = next() // 3, while 2 waits for its ack wait
			}
			if string(three.Data()) != "3" {
				t.Fatalf("third %q", three.Data())
			}
			m = next()
			md, _ := m.Metadata()
			if string(m.Data()) != "2" || md.NumDelivered != 2 {
				t.Fatalf("after ack wait: %q delivered %d", m.Data(), md.NumDelivered)
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("double ack: %v", err)
			}
			for range 3 { // 3 is worked on longer than ack wait: in progress keeps it
				time.Sleep(300 * time.Millisecond)
				_ = three.InProgress()
			}
			if err := three.DoubleAck(ctx); err != nil {
				t.Fatalf("ack of 3: %v", err)
			}
			info, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.NumAckPending != 0 || info.AckFloor.Stream != 3 || info.NumRedelivered != 0 {
				t.Errorf("consumer info: ack pending %d, ack floor %+v, redelivered %d", info.NumAckPending, info.AckFloor, info.NumRedelivered)
			}
			if _, err := c.Next(jetstream.FetchMaxWait(700 * time.Millisecond)); !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("nothing should be left: %v", err)
			}
		})
	}
}

func TestJetStreamPushConsumerAndWorkQueue(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			nc, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "WQ", Subjects: []string{"jobs.>"}, Retention: jetstream.WorkQueuePolicy}); err != nil {
				t.Fatal(err)
			}
			for i := range 20 {
				if _, err := js.Publish(ctx, "jobs.a", []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			// A push consumer with a deliver group (the legacy API is what
			// push consumers use).
			jsOld, _ := nc.JetStream()
			got := make(chan string, 100)
			sub, err := jsOld.QueueSubscribe("jobs.>", "workers", func(m *nats.Msg) {
				got <- string(m.Data)
				_ = m.Ack()
			}, nats.Durable("W"), nats.ManualAck(), nats.BindStream("WQ"))
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			seen := map[string]bool{}
			deadline := time.After(10 * time.Second)
			for len(seen) < 20 {
				select {
				case s := <-got:
					seen[s] = true
				case <-deadline:
					t.Fatalf("push consumer delivered %d of 20", len(seen))
				}
			}
			// A plain push consumer with flow control and heartbeats on
			// another stream.
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EV", Subjects: []string{"ev.>"}}); err != nil {
				t.Fatal(err)
			}
			for i := range 50 {
				if _, err := js.Publish(ctx, "ev.a", bytes.Repeat([]byte{'x'}, 10000+i)); err != nil {
					t.Fatal(err)
				}
			}
			evs := make(chan int, 100)
			sub2, err := jsOld.Subscribe("ev.>", func(m *nats.Msg) {
				evs <- len(m.Data)
				_ = m.Ack()
			}, nats.Durable("E"), nats.ManualAck(), nats.IdleHeartbeat(200*time.Millisecond), nats.EnableFlowControl(), nats.BindStream("EV"))
			if err != nil {
				t.Fatal(err)
			}
			defer sub2.Unsubscribe()
			for i := range 50 {
				select {
				case n := <-evs:
					if n != 10000+i {
						t.Fatalf("push with flow control: message %d has %d bytes", i, n)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("push with flow control delivered %d of 50", i)
				}
			}
			// Work queue: acknowledged messages are gone.
			testutil.Eventually(t, 5*time.Second, func() error {
				s, err := js.Stream(ctx, "WQ")
				if err != nil {
					return err
				}
				if n := s.CachedInfo().State.Msgs; n != 0 {
					return fmt.Errorf("%d messages left in the work queue", n)
				}
				return nil
			})
		})
	}
}

func TestJetStreamKeyValue(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "CFG", History: 5})
			if err != nil {
				t.Fatal(err)
			}
			w, err := kv.Watch(ctx, "app.>")
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			if e := <-w.Updates(); e != nil {
				t.Fatalf("initial watch marker: %v", e)
			}
			r1, err := kv.Put(ctx, "app.color", []byte("blue"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Update(ctx, "app.color", []byte("red"), r1+10); err == nil {
				t.Error("update with a wrong revision succeeded")
			}
			r2, err := kv.Update(ctx, "app.color", []byte("red"), r1)
			if err != nil {
				t.Fatalf("CAS update: %v", err)
			}
			if _, err := kv.Create(ctx, "app.color", []byte("green")); err == nil {
				t.Error("create of an existing key succeeded")
			}
			e, err := kv.Get(ctx, "app.color")
			if err != nil || string(e.Value()) != "red" || e.Revision() != r2 {
				t.Fatalf("get: %v %v", e, err)
			}
			for _, want := range []string{"blue", "red"} {
				select {
				case u := <-w.Updates():
					if string(u.Value()) != want {
						t.Errorf("watch: %q, want %q", u.Value(), want)
					}
				case <-time.After(5 * time.Second):
					t.Fatalf("watch: no update for %q", want)
				}
			}
			hist, err := kv.History(ctx, "app.color")
			if err != nil || len(hist) != 2 {
				t.Fatalf("history: %d entries, %v", len(hist), err)
			}
			if err := kv.Delete(ctx, "app.color"); err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Get(ctx, "app.color"); !errors.Is(err, jetstream.ErrKeyNotFound) {
				t.Errorf("get after delete: %v", err)
			}
			if err := kv.Purge(ctx, "app.color"); err != nil {
				t.Fatal(err)
			}
			if hist, _ := kv.History(ctx, "app.color"); len(hist) != 1 {
				t.Errorf("history after purge: %d entries, want the purge marker only", len(hist))
			}
			keys, _ := kv.ListKeys(ctx)
			n := 0
			for range keys.Keys() {
				n++
			}
			if n != 0 {
				t.Errorf("%d keys after purge", n)
			}
		})
	}
}

func TestJetStreamObjectStore5MiB(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			obs, err := js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: "FILES"})
			if err != nil {
				t.Fatal(err)
			}
			data := make([]byte, 5<<20)
			_, _ = rand.Read(data)
			if _, err := obs.PutBytes(ctx, "blob", data); err != nil {
				t.Fatalf("put: %v", err)
			}
			back, err := obs.GetBytes(ctx, "blob")
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if !bytes.Equal(back, data) {
				t.Fatalf("got %d bytes back, not the 5 MiB put", len(back))
			}
			info, err := obs.GetInfo(ctx, "blob")
			if err != nil || info.Size != uint64(len(data)) {
				t.Fatalf("info: %+v %v", info, err)
			}
			if err := obs.Delete(ctx, "blob"); err != nil {
				t.Fatal(err)
			}
			if _, err := obs.GetBytes(ctx, "blob"); !errors.Is(err, jetstream.ErrObjectNotFound) {
				t.Errorf("get after delete: %v", err)
			}
		})
	}
}

func TestJetStreamLimitsAndDedupe(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "L", Subjects: []string{"l.>"}, MaxMsgsPerSubject: 2, MaxMsgs: 5})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 6 {
				if _, err := js.Publish(ctx, fmt.Sprintf("l.%d", i%3), []byte("x")); err != nil {
					t.Fatal(err)
				}
			}
			// 6 published over 3 subjects, 2 per subject kept, 5 at most.
			si, _ := s.Info(ctx)
			if si.State.Msgs != 5 || si.State.FirstSeq != 2 {
				t.Errorf("state %+v, want 5 messages from seq 2", si.State)
			}
			a1, err := js.Publish(ctx, "l.x", []byte("once"), jetstream.WithMsgID("m1"))
			if err != nil {
				t.Fatal(err)
			}
			a2, err := js.Publish(ctx, "l.x", []byte("once"), jetstream.WithMsgID("m1"))
			if err != nil || !a2.Duplicate || a2.Sequence != a1.Sequence {
				t.Errorf("duplicate publish: %+v %v", a2, err)
			}
			if _, err := js.Publish(ctx, "l.x", []byte("y"), jetstream.WithExpectLastSequence(1)); err == nil {
				t.Error("publish with a wrong expected last sequence succeeded")
			}
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "L2", Subjects: []string{"l.x"}}); !errors.Is(err, jetstream.ErrStreamSubjectTransformNotSupported) && (err == nil || !strings.Contains(err.Error(), "overlap")) {
				t.Errorf("overlapping stream: %v", err)
			}
		})
	}
}

// A mirror keeps the origin's sequences (gaps included); a source with a
// subject transform copies what its filter takes; both follow new
// messages, and a source resumes where it was after a restart (natsd).
func TestJetStreamMirrorsAndSources(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			origin, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORIGIN", Subjects: []string{"o.>"}})
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 6; i++ {
				if _, err := js.Publish(ctx, fmt.Sprintf("o.%d", i%2), []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			if err := origin.DeleteMsg(ctx, 3); err != nil {
				t.Fatal(err)
			}
			mirror, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MIRROR", Mirror: &jetstream.StreamSource{Name: "ORIGIN"}})
			if err != nil {
				t.Fatal(err)
			}
			src, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "AGG", Subjects: []string{"agg.>"}, Sources: []*jetstream.StreamSource{
				{Name: "ORIGIN", SubjectTransforms: []jetstream.SubjectTransformConfig{{Source: "o.1", Destination: "copied.odd"}}},
			}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := js.Publish(ctx, "o.1", []byte("7")); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 10*time.Second, func() error {
				mi, err := mirror.Info(ctx)
				if err != nil {
					return err
				}
				if mi.State.Msgs != 6 || mi.State.LastSeq != 7 {
					return fmt.Errorf("mirror %+v", mi.State)
				}
				ai, err := src.Info(ctx)
				if err != nil {
					return err
				}
				if ai.State.Msgs != 3 { // o.1: 1, 5, 7 (3 was deleted)
					return fmt.Errorf("source %+v", ai.State)
				}
				return nil
			})
			if _, err := mirror.GetMsg(ctx, 3); err == nil {
				t.Error("mirror has seq 3, deleted in the origin")
			}
			if m, err := mirror.GetMsg(ctx, 7); err != nil || string(m.Data) != "7" {
				t.Errorf("mirror seq 7: %v %v", m, err)
			}
			m, err := src.GetLastMsgForSubject(ctx, "copied.odd")
			if err != nil || string(m.Data) != "7" {
				t.Fatalf("source's last copied.odd: %v %v", m, err)
			}
			if _, err := js.Publish(ctx, "x.mirror", nil); err == nil {
				t.Error("a publish reached a mirror")
			}
		})
	}
}

// A reload turns JetStream on in an account (and off in another); a
// reload that changes the server-wide JetStream settings is refused, and
// says why.
func TestJetStreamReload(t *testing.T) {
	t.Parallel()
	sd := t.TempDir()
	conf := func(aJS, storeDir string) string {
		return fmt.Sprintf("listen: 127.0.0.1:-1\njetstream { store_dir: %q }\naccounts {\n  A { %s users [ {user: a, password: a} ] }\n  B { jetstream: enabled, users [ {user: b, password: b} ] }\n}\n", storeDir, aJS)
	}
	n := startConfNode(t, conf("", sd), 0, "--no_config_watch")
	info := func(user string) error {
		nc := connect(t, n.ClientURL(), nats.UserInfo(user, user))
		js, _ := jetstream.New(nc)
		_, err := js.AccountInfo(jsCtx(t))
		return err
	}
	if err := info("a"); !errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
		t.Fatalf("A before the reload: %v, want not enabled for account", err)
	}
	if err := info("b"); err != nil {
		t.Fatalf("B: %v", err)
	}
	writeConf(t, n.path, conf("jetstream: enabled,", sd))
	n.Signal(syscall.SIGHUP)
	testutil.Eventually(t, syncWait, func() error { return info("a") })
	writeConf(t, n.path, conf("jetstream: enabled,", t.TempDir()))
	n.Signal(syscall.SIGHUP)
	testutil.Eventually(t, syncWait, func() error {
		if !strings.Contains(n.Log(), "cannot change on a reload") {
			return errors.New("no refusal logged for a new store_dir")
		}
		return nil
	})
}
