package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/testutil"
)

// Consumer options beyond the basics of jetstream_test.go, with nats.go's
// jetstream package against natsd and nats-server v2.15.2 with the same
// expectations: deliver policies, ack all, replay original, max ack
// pending, max waiting, max bytes, backoff, nak with a delay, max
// deliver, ordered consumers and push heartbeats and flow control.

// fetchAll pulls what c has now (no_wait) and returns the payloads.
func fetchAll(t *testing.T, c jetstream.Consumer) []string {
	t.Helper()
	b, err := c.FetchNoWait(100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range b.Messages() {
		got = append(got, string(m.Data()))
	}
	if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
		t.Fatalf("fetch: %v", err)
	}
	return got
}

// fetchWait pulls n messages, waiting up to 5 s for them.
func fetchWait(t *testing.T, c jetstream.Consumer, n int) []string {
	t.Helper()
	b, err := c.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for m := range b.Messages() {
		got = append(got, string(m.Data()))
	}
	return got
}

func TestJetStreamDeliverPolicies(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "DP", Subjects: []string{"dp.>"}})
			if err != nil {
				t.Fatal(err)
			}
			pub := func(subj, data string) {
				t.Helper()
				if _, err := js.Publish(ctx, subj, []byte(data)); err != nil {
					t.Fatal(err)
				}
			}
			for i, subj := range []string{"dp.a", "dp.b", "dp.a", "dp.b", "dp.a"} {
				pub(subj, fmt.Sprint(i+1))
			}
			newC, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Name: "NEW", DeliverPolicy: jetstream.DeliverNewPolicy})
			if err != nil {
				t.Fatal(err)
			}
			if got := fetchAll(t, newC); len(got) != 0 {
				t.Fatalf("deliver new, before a publish: %v", got)
			}
			pub("dp.c", "6")
			// (nats-server hands a consumer a new message a moment after
			// the publish's ack: a pull that waits, not a no_wait one.)
			if got := fetchWait(t, newC, 1); strings.Join(got, ",") != "6" {
				t.Fatalf("deliver new: %v, want 6", got)
			}
			m4, err := s.GetMsg(ctx, 4)
			if err != nil {
				t.Fatal(err)
			}
			start := m4.Time
			for _, tc := range []struct {
				name    string
				cfg     jetstream.ConsumerConfig
				want    string
				pending uint64
			}{
				{"ALL", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}, "1,2,3,4,5,6", 6},
				{"LAST", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverLastPolicy}, "6", 1},
				{"LASTA", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverLastPolicy, FilterSubject: "dp.a"}, "5", 1},
				{"SEQ", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 3}, "3,4,5,6", 4},
				{"SEQB", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: 3, FilterSubject: "dp.b"}, "4", 1},
				{"TIME", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start}, "4,5,6", 3},
				{"LPS", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy, FilterSubject: "dp.>"}, "4,5,6", 3},
				{"LPSAB", jetstream.ConsumerConfig{DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy, FilterSubjects: []string{"dp.a", "dp.b"}}, "4,5", 2},
			} {
				tc.cfg.Name = tc.name
				c, err := s.CreateConsumer(ctx, tc.cfg)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				if ci := c.CachedInfo(); ci.NumPending != tc.pending {
					t.Errorf("%s: num_pending %d at creation, want %d", tc.name, ci.NumPending, tc.pending)
				}
				if got := strings.Join(fetchAll(t, c), ","); got != tc.want {
					t.Errorf("%s: got %s, want %s", tc.name, got, tc.want)
				}
			}

			// Ack all: acknowledging the third acknowledges the first two.
			c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Name: "AA", AckPolicy: jetstream.AckAllPolicy})
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.Fetch(3, jetstream.FetchMaxWait(5*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			var last jetstream.Msg
			for m := range b.Messages() {
				last = m
			}
			if last == nil || string(last.Data()) != "3" {
				t.Fatalf("ack all: last fetched %v", last)
			}
			if err := last.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
			ci, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ci.AckFloor.Stream != 3 || ci.NumAckPending != 0 || ci.NumPending != 3 {
				t.Errorf("ack all: ack floor %+v, ack pending %d, pending %d", ci.AckFloor, ci.NumAckPending, ci.NumPending)
			}
		})
	}
}

// Replay original keeps the time between messages: the second comes no
// sooner than its distance from the first after the pull started.
func TestJetStreamReplayOriginal(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "RO", Subjects: []string{"ro"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := js.Publish(ctx, "ro", []byte("1")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(700 * time.Millisecond) // the gap to replay, not a synchronisation
			if _, err := js.Publish(ctx, "ro", []byte("2")); err != nil {
				t.Fatal(err)
			}
			m1, _ := s.GetMsg(ctx, 1)
			m2, _ := s.GetMsg(ctx, 2)
			gap := m2.Time.Sub(m1.Time)
			c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Name: "R", ReplayPolicy: jetstream.ReplayOriginalPolicy})
			if err != nil {
				t.Fatal(err)
			}
			started := time.Now()
			b, err := c.Fetch(2, jetstream.FetchMaxWait(10*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for m := range b.Messages() {
				got = append(got, string(m.Data()))
			}
			elapsed := time.Since(started)
			if strings.Join(got, ",") != "1,2" {
				t.Fatalf("replay original: %v", got)
			}
			if elapsed < gap {
				t.Errorf("replay original: both messages within %v, their gap is %v", elapsed, gap)
			}
		})
	}
}

func TestJetStreamPullLimits(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			nc, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PL", Subjects: []string{"pl.>"}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 10 {
				if _, err := js.Publish(ctx, "pl.a", []byte(fmt.Sprintf("%03d", i+1)+strings.Repeat("x", 97))); err != nil {
					t.Fatal(err)
				}
			}
			fetch := func(c jetstream.Consumer, n int, wait time.Duration) []jetstream.Msg {
				t.Helper()
				b, err := c.Fetch(n, jetstream.FetchMaxWait(wait))
				if err != nil {
					t.Fatal(err)
				}
				var ms []jetstream.Msg
				for m := range b.Messages() {
					ms = append(ms, m)
				}
				return ms
			}

			// Max ack pending: 3 out, no more until they are acknowledged.
			c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Name: "MAP", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 3})
			if err != nil {
				t.Fatal(err)
			}
			ms := fetch(c, 10, time.Second)
			if len(ms) != 3 {
				t.Fatalf("max ack pending 3: fetched %d", len(ms))
			}
			ci, _ := c.Info(ctx)
			if ci.NumAckPending != 3 || ci.NumPending != 7 {
				t.Errorf("max ack pending: ack pending %d, pending %d", ci.NumAckPending, ci.NumPending)
			}
			for _, m := range ms {
				if err := m.DoubleAck(ctx); err != nil {
					t.Fatal(err)
				}
			}
			ms = fetch(c, 10, time.Second)
			if len(ms) != 3 || string(ms[0].Data()[:3]) != "004" {
				t.Fatalf("max ack pending, after the acks: %d messages", len(ms))
			}

			// Max bytes: whole messages only, within the budget. A message
			// takes its subject, reply (the ack subject), headers and payload
			// of it: here 4 + 41 + 0 + 100 bytes (recorded from nats-server).
			for _, tc := range []struct {
				name     string
				maxBytes int
				want     int
			}{{"MB", 3*145 - 1, 2}, {"MC", 3 * 145, 3}} {
				c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Name: tc.name, AckPolicy: jetstream.AckNonePolicy})
				if err != nil {
					t.Fatal(err)
				}
				b, err := c.FetchBytes(tc.maxBytes, jetstream.FetchMaxWait(2*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for range b.Messages() {
					n++
				}
				if n != tc.want {
					t.Errorf("max_bytes %d with 145-byte messages: %d messages, want %d", tc.maxBytes, n, tc.want)
				}
			}

			// Max waiting: a second waiting pull is refused with a 409.
			c, err = s.CreateConsumer(ctx, jetstream.ConsumerConfig{Name: "MW", FilterSubject: "pl.none", MaxWaiting: 1})
			if err != nil {
				t.Fatal(err)
			}
			inbox := nats.NewInbox()
			first, err := nc.SubscribeSync(inbox)
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.PublishRequest("$JS.API.CONSUMER.MSG.NEXT.PL.MW", inbox, []byte(`{"batch":1,"expires":20000000000}`)); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 5*time.Second, func() error {
				ci, err := c.Info(ctx)
				if err != nil {
					return err
				}
				if ci.NumWaiting != 1 {
					return fmt.Errorf("num_waiting %d", ci.NumWaiting)
				}
				return nil
			})
			r, err := nc.Request("$JS.API.CONSUMER.MSG.NEXT.PL.MW", []byte(`{"batch":1,"expires":5000000000}`), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if r.Header.Get("Status") != "409" || r.Header.Get("Description") != "Exceeded MaxWaiting" {
				t.Errorf("second waiting pull: %v %q", r.Header, r.Data)
			}
			// The first still waits, and gets what comes.
			if _, err := js.Publish(ctx, "pl.none", []byte("late")); err != nil {
				t.Fatal(err)
			}
			if m, err := first.NextMsg(5 * time.Second); err != nil || string(m.Data) != "late" {
				t.Errorf("the waiting pull: %v %v", m, err)
			}
		})
	}
}

// Backoff spaces redeliveries (300 ms, then 600 ms), max deliver stops
// them, and a nak with a delay holds the message back for the delay.
func TestJetStreamBackoffNakDelayMaxDeliver(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BO", Subjects: []string{"bo.>"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := js.Publish(ctx, "bo.a", []byte("m")); err != nil {
				t.Fatal(err)
			}
			c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{
				Name: "B", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "bo.a",
				BackOff: []time.Duration{300 * time.Millisecond, 600 * time.Millisecond}, MaxDeliver: 3,
			})
			if err != nil {
				t.Fatal(err)
			}
			if ci := c.CachedInfo(); ci.Config.AckWait != 300*time.Millisecond {
				t.Errorf("ack wait with backoff: %v, want the first backoff", ci.Config.AckWait)
			}
			started := time.Now()
			for i := 1; i <= 3; i++ {
				m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
				if err != nil {
					t.Fatalf("delivery %d: %v", i, err)
				}
				md, _ := m.Metadata()
				if md.NumDelivered != uint64(i) {
					t.Fatalf("delivery %d: num_delivered %d", i, md.NumDelivered)
				}
			}
			if elapsed := time.Since(started); elapsed < 900*time.Millisecond {
				t.Errorf("3 deliveries with backoff 300ms, 600ms in %v", elapsed)
			}
			if m, err := c.Next(jetstream.FetchMaxWait(1500 * time.Millisecond)); err == nil {
				md, _ := m.Metadata()
				t.Fatalf("a delivery after max deliver 3: num_delivered %d", md.NumDelivered)
			}
			ci, err := c.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// (The state after max deliver: TestJetStreamConsumerStateAfterMaxDeliver.)
			if ci.Delivered.Consumer != 3 || ci.Delivered.Stream != 1 {
				t.Errorf("after max deliver: delivered %+v", ci.Delivered)
			}

			// Nak with a delay.
			if _, err := js.Publish(ctx, "bo.b", []byte("n")); err != nil {
				t.Fatal(err)
			}
			nc2, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Name: "N", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "bo.b"})
			if err != nil {
				t.Fatal(err)
			}
			m, err := nc2.Next(jetstream.FetchMaxWait(5 * time.Second))
			if err != nil {
				t.Fatal(err)
			}
			naked := time.Now()
			if err := m.NakWithDelay(800 * time.Millisecond); err != nil {
				t.Fatal(err)
			}
			m, err = nc2.Next(jetstream.FetchMaxWait(5 * time.Second))
			if err != nil {
				t.Fatalf("after nak with delay: %v", err)
			}
			if since := time.Since(naked); since < 800*time.Millisecond {
				t.Errorf("nak with delay 800ms: redelivered after %v", since)
			}
			if md, _ := m.Metadata(); md.NumDelivered != 2 {
				t.Errorf("after nak with delay: num_delivered %d", md.NumDelivered)
			}
		})
	}
}

// An ordered consumer gets every message of its filter in order, also
// when its server-side consumer disappears in the middle (nats.go makes a
// new one from the next sequence).
func TestJetStreamOrderedConsumer(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "OC", Subjects: []string{"oc.>"}})
			if err != nil {
				t.Fatal(err)
			}
			for i := 1; i <= 20; i++ {
				if _, err := js.Publish(ctx, fmt.Sprintf("oc.%c", 'a'+i%2), []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			oc, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"oc.a"}})
			if err != nil {
				t.Fatal(err)
			}
			it, err := oc.Messages()
			if err != nil {
				t.Fatal(err)
			}
			defer it.Stop()
			var got []string
			next := func() {
				t.Helper()
				m, err := it.Next(jetstream.NextMaxWait(10 * time.Second))
				if err != nil {
					t.Fatalf("ordered consumer after %v: %v", got, err)
				}
				got = append(got, string(m.Data()))
			}
			for range 5 {
				next()
			}
			ci := oc.CachedInfo()
			if ci == nil || !ci.Config.MemoryStorage || ci.Config.AckPolicy != jetstream.AckNonePolicy {
				t.Fatalf("ordered consumer's config: %+v", ci)
			}
			if err := s.DeleteConsumer(ctx, ci.Name); err != nil {
				t.Fatal(err)
			}
			for range 5 {
				next()
			}
			if strings.Join(got, ",") != "2,4,6,8,10,12,14,16,18,20" {
				t.Errorf("ordered consumer: %v", got)
			}
		})
	}
}

// A push consumer with nothing to deliver sends idle heartbeats (status
// 100) to its deliver subject; with flow control on, the server asks for
// a flow control reply and goes on once it has it.
func TestJetStreamPushHeartbeatsAndFlowControl(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			nc, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "PH", Subjects: []string{"ph.>"}})
			if err != nil {
				t.Fatal(err)
			}
			sub, err := nc.SubscribeSync("deliver.ph")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateOrUpdatePushConsumer(ctx, jetstream.ConsumerConfig{
				Durable: "P", DeliverSubject: "deliver.ph", AckPolicy: jetstream.AckNonePolicy,
				IdleHeartbeat: 200 * time.Millisecond, FlowControl: true,
			}); err != nil {
				t.Fatal(err)
			}
			m, err := sub.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("no idle heartbeat: %v", err)
			}
			if m.Header.Get("Status") != "100" || m.Header.Get("Description") != "Idle Heartbeat" || len(m.Data) != 0 {
				t.Fatalf("idle heartbeat: %v %q", m.Header, m.Data)
			}
			if m.Header.Get("Nats-Last-Consumer") != "0" || m.Header.Get("Nats-Last-Stream") != "0" {
				t.Errorf("idle heartbeat headers: %v", m.Header)
			}
			payload := make([]byte, 64<<10)
			const n = 40
			for range n {
				if _, err := js.Publish(ctx, "ph.a", payload); err != nil {
					t.Fatal(err)
				}
			}
			data, fc := 0, 0
			for data < n {
				m, err := sub.NextMsg(10 * time.Second)
				if err != nil {
					t.Fatalf("after %d messages and %d flow control requests: %v", data, fc, err)
				}
				switch {
				case len(m.Data) == len(payload):
					data++
				case m.Header.Get("Status") == "100" && m.Header.Get("Description") == "FlowControl Request":
					fc++
					if err := m.Respond(nil); err != nil {
						t.Fatal(err)
					}
				case m.Header.Get("Status") == "100": // a heartbeat
				default:
					t.Fatalf("unexpected on the deliver subject: %v %d bytes", m.Header, len(m.Data))
				}
			}
			if fc == 0 {
				t.Errorf("%d messages of 64 KiB with flow control and no flow control request", n)
			}
		})
	}
}

// What a consumer reports once messages went past max_deliver unacked,
// and after a later ack, as nats-server v2.15.2 reports it (recorded): no
// longer pending, still counted as redelivered, and the ack floor stays
// below them until a later ack moves it past.
func TestJetStreamConsumerStateAfterMaxDeliver(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MD", Subjects: []string{"md.>"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range []string{"a", "b"} {
				if _, err := js.Publish(ctx, "md.x", []byte(d)); err != nil {
					t.Fatal(err)
				}
			}
			c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Name: "C", AckPolicy: jetstream.AckExplicitPolicy, AckWait: 200 * time.Millisecond, MaxDeliver: 2})
			if err != nil {
				t.Fatal(err)
			}
			state := func() string {
				t.Helper()
				ci, err := c.Info(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return fmt.Sprintf("delivered %d/%d floor %d/%d ack_pending %d redelivered %d",
					ci.Delivered.Consumer, ci.Delivered.Stream, ci.AckFloor.Consumer, ci.AckFloor.Stream, ci.NumAckPending, ci.NumRedelivered)
			}
			// Two deliveries of each message, never acknowledged.
			got := 0
			for got < 4 {
				b, err := c.Fetch(4-got, jetstream.FetchMaxWait(2*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for range b.Messages() {
					n++
				}
				if n == 0 {
					t.Fatalf("%d deliveries, want 4", got)
				}
				got += n
			}
			// nats-server lets go of them when a pull comes by after
			// their last ack wait; natsd when that wait ends.
			want := "delivered 4/2 floor 0/0 ack_pending 0 redelivered 2"
			testutil.Eventually(t, 5*time.Second, func() error {
				if b, err := c.Fetch(1, jetstream.FetchMaxWait(100*time.Millisecond)); err == nil {
					for m := range b.Messages() {
						md, _ := m.Metadata()
						t.Fatalf("a delivery past max_deliver: stream seq %d, delivered %d times", md.Sequence.Stream, md.NumDelivered)
					}
				}
				if g := state(); g != want {
					return fmt.Errorf("past max_deliver: %s, want %s", g, want)
				}
				return nil
			})
			if _, err := js.Publish(ctx, "md.x", []byte("c")); err != nil {
				t.Fatal(err)
			}
			m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second))
			if err != nil {
				t.Fatal(err)
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
			if g, w := state(), "delivered 5/3 floor 5/3 ack_pending 0 redelivered 2"; g != w {
				t.Errorf("after a later ack: %s, want %s", g, w)
			}
		})
	}
}
