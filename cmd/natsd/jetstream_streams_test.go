package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/testutil"
)

// Stream options beyond the basics of jetstream_test.go, against natsd and
// nats-server v2.15.2 with the same expectations (error codes and texts
// as recorded from nats-server): discard new per subject, deny delete and
// purge, rollups, subject transforms, max age, interest retention, the
// expected-* headers that succeed, per-message TTL and KV TTL buckets.

// apiErr is err's JetStream error code and description (0, "" if none).
func apiErr(err error) (uint16, string) {
	var e *jetstream.APIError
	if errors.As(err, &e) {
		return uint16(e.ErrorCode), e.Description
	}
	return 0, ""
}

func wantAPIErr(t *testing.T, what string, err error, code uint16, desc string) {
	t.Helper()
	if c, d := apiErr(err); c != code || d != desc {
		t.Errorf("%s: %v (code %d %q), want %d %q", what, err, c, d, code, desc)
	}
}

func TestJetStreamStreamPolicies(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			create := func(cfg jetstream.StreamConfig) jetstream.Stream {
				t.Helper()
				s, err := js.CreateStream(ctx, cfg)
				if err != nil {
					t.Fatalf("create %s: %v", cfg.Name, err)
				}
				return s
			}
			pub := func(m *nats.Msg) (*jetstream.PubAck, error) {
				return js.PublishMsg(ctx, m)
			}
			msg := func(subj string, hdr ...string) *nats.Msg {
				m := nats.NewMsg(subj)
				m.Data = []byte("x")
				for i := 0; i+1 < len(hdr); i += 2 {
					m.Header.Set(hdr[i], hdr[i+1])
				}
				return m
			}
			state := func(s jetstream.Stream) jetstream.StreamState {
				t.Helper()
				si, err := s.Info(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return si.State
			}

			// Discard new per subject: a full subject refuses, others take.
			create(jetstream.StreamConfig{Name: "DNS", Subjects: []string{"dns.>"}, MaxMsgsPerSubject: 1, Discard: jetstream.DiscardNew, DiscardNewPerSubject: true})
			if _, err := pub(msg("dns.a")); err != nil {
				t.Fatal(err)
			}
			_, err := pub(msg("dns.a"))
			wantAPIErr(t, "discard new per subject", err, 10077, "maximum messages per subject exceeded")
			if _, err := pub(msg("dns.b")); err != nil {
				t.Errorf("another subject of a discard-new-per-subject stream: %v", err)
			}

			// Deny delete and purge.
			deny := create(jetstream.StreamConfig{Name: "DENY", Subjects: []string{"deny"}, DenyDelete: true, DenyPurge: true})
			if _, err := pub(msg("deny")); err != nil {
				t.Fatal(err)
			}
			// (nats.go's DeleteMsg keeps only the text of the API error.)
			if err := deny.DeleteMsg(ctx, 1); err == nil || !strings.Contains(err.Error(), "err_code=10057 description=message delete not permitted") {
				t.Errorf("delete in a deny_delete stream: %v", err)
			}
			wantAPIErr(t, "purge of a deny_purge stream", deny.Purge(ctx), 10110, "stream purge not permitted")
			if st := state(deny); st.Msgs != 1 {
				t.Errorf("deny stream after the refusals: %+v", st)
			}

			// Rollups: by subject, then the whole stream.
			ru := create(jetstream.StreamConfig{Name: "RU", Subjects: []string{"ru.>"}, AllowRollup: true})
			for _, subj := range []string{"ru.a", "ru.a", "ru.a", "ru.b", "ru.b"} {
				if _, err := pub(msg(subj)); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := pub(msg("ru.a", "Nats-Rollup", "sub")); err != nil {
				t.Fatalf("rollup sub: %v", err)
			}
			if st := state(ru); st.Msgs != 3 || st.LastSeq != 6 {
				t.Errorf("after rollup sub of ru.a: %+v, want ru.b's 2 and the rollup", st)
			}
			_, err = pub(msg("ru.a", "Nats-Rollup", "bogus"))
			wantAPIErr(t, "rollup with a bad value", err, 10111, `rollup value invalid: "bogus"`)
			if _, err := pub(msg("ru.c", "Nats-Rollup", "all")); err != nil {
				t.Fatalf("rollup all: %v", err)
			}
			if st := state(ru); st.Msgs != 1 || st.FirstSeq != 7 || st.LastSeq != 7 {
				t.Errorf("after rollup all: %+v", st)
			}
			create(jetstream.StreamConfig{Name: "NORU", Subjects: []string{"noru"}})
			_, err = pub(msg("noru", "Nats-Rollup", "all"))
			wantAPIErr(t, "rollup where not allowed", err, 10111, "rollup not permitted")

			// The stream's subject transform: stored under the new subject.
			tr := create(jetstream.StreamConfig{Name: "TR", Subjects: []string{"tr.in.>"},
				SubjectTransform: &jetstream.SubjectTransformConfig{Source: "tr.in.>", Destination: "tr.out.>"}})
			if _, err := pub(msg("tr.in.x")); err != nil {
				t.Fatal(err)
			}
			if m, err := tr.GetMsg(ctx, 1); err != nil || m.Subject != "tr.out.x" {
				t.Errorf("transformed message: %+v %v", m, err)
			}

			// Max age: gone once it is older, the sequences stay.
			age := create(jetstream.StreamConfig{Name: "AGE", Subjects: []string{"age"}, MaxAge: time.Second})
			if _, err := pub(msg("age")); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 15*time.Second, func() error {
				if st := state(age); st.Msgs != 0 || st.FirstSeq != 2 || st.LastSeq != 1 {
					return fmt.Errorf("max age 1s: %+v", st)
				}
				return nil
			})

			// Expected-* headers that hold.
			create(jetstream.StreamConfig{Name: "EXP", Subjects: []string{"exp.>"}})
			for _, subj := range []string{"exp.a", "exp.b"} {
				if _, err := pub(msg(subj)); err != nil {
					t.Fatal(err)
				}
			}
			if a, err := js.Publish(ctx, "exp.a", nil, jetstream.WithExpectLastSequencePerSubject(1)); err != nil || a.Sequence != 3 {
				t.Errorf("expected last subject sequence 1 on exp.a: %+v %v", a, err)
			}
			if a, err := js.Publish(ctx, "exp.c", nil, jetstream.WithExpectLastSequencePerSubject(0)); err != nil || a.Sequence != 4 {
				t.Errorf("expected last subject sequence 0 on a new subject: %+v %v", a, err)
			}
			if _, err := js.Publish(ctx, "exp.d", nil, jetstream.WithMsgID("m1")); err != nil {
				t.Fatal(err)
			}
			if a, err := js.Publish(ctx, "exp.d", nil, jetstream.WithExpectLastMsgID("m1"), jetstream.WithExpectStream("EXP")); err != nil || a.Sequence != 6 {
				t.Errorf("expected last msg id m1: %+v %v", a, err)
			}
			if a, err := js.Publish(ctx, "exp.e", nil, jetstream.WithExpectLastSequenceForSubject(3, "exp.a")); err != nil || a.Sequence != 7 {
				t.Errorf("expected last sequence 3 for exp.a, published on exp.e: %+v %v", a, err)
			}
			_, err = js.Publish(ctx, "exp.e", nil, jetstream.WithExpectLastSequenceForSubject(2, "exp.a"))
			wantAPIErr(t, "expected last sequence 2 for exp.a", err, 10071, "wrong last sequence: 3")
		})
	}
}

// Interest retention: a message stays while a consumer has not
// acknowledged it, and goes when every consumer has (or when the last one
// that had not goes away).
func TestJetStreamInterestRetention(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "INT", Subjects: []string{"int"}, Retention: jetstream.InterestPolicy})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := js.Publish(ctx, "int", []byte("nobody")); err != nil {
				t.Fatal(err)
			}
			msgs := func(want uint64) {
				t.Helper()
				testutil.Eventually(t, 10*time.Second, func() error {
					si, err := s.Info(ctx)
					if err != nil {
						return err
					}
					if si.State.Msgs != want {
						return fmt.Errorf("%d messages, want %d (%+v)", si.State.Msgs, want, si.State)
					}
					return nil
				})
			}
			msgs(0) // no consumer: nothing kept
			var cs []jetstream.Consumer
			for _, name := range []string{"C1", "C2"} {
				c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: name, AckPolicy: jetstream.AckExplicitPolicy})
				if err != nil {
					t.Fatal(err)
				}
				cs = append(cs, c)
			}
			for i := range 2 {
				if _, err := js.Publish(ctx, "int", []byte(fmt.Sprint(i))); err != nil {
					t.Fatal(err)
				}
			}
			ack := func(c jetstream.Consumer, n int) {
				t.Helper()
				b, err := c.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
				if err != nil {
					t.Fatal(err)
				}
				for m := range b.Messages() {
					if err := m.DoubleAck(ctx); err != nil {
						t.Fatal(err)
					}
				}
			}
			ack(cs[0], 2)
			msgs(2) // C2 has not acknowledged them
			ack(cs[1], 1)
			msgs(1)
			if err := s.DeleteConsumer(ctx, "C2"); err != nil {
				t.Fatal(err)
			}
			msgs(0) // C1 acknowledged the last one; C2 is gone
		})
	}
}

// Per-message TTL (Nats-TTL, where the stream allows it) and KV buckets
// with a TTL; KV's purge of delete markers.
func TestJetStreamMessageTTLAndKVTTL(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			_, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TTL", Subjects: []string{"ttl.>"}, AllowMsgTTL: true})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := js.Publish(ctx, "ttl.short", []byte("1"), jetstream.WithMsgTTL(time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := js.Publish(ctx, "ttl.kept", []byte("2")); err != nil {
				t.Fatal(err)
			}
			bad := nats.NewMsg("ttl.bad")
			bad.Header.Set("Nats-TTL", "soon")
			_, err = js.PublishMsg(ctx, bad)
			wantAPIErr(t, "Nats-TTL: soon", err, 10165, "invalid per-message TTL")
			testutil.Eventually(t, 15*time.Second, func() error {
				si, err := s.Info(ctx)
				if err != nil {
					return err
				}
				if si.State.Msgs != 1 || si.State.FirstSeq != 2 {
					return fmt.Errorf("TTL 1s: %+v", si.State)
				}
				return nil
			})
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "NOTTL", Subjects: []string{"nottl"}}); err != nil {
				t.Fatal(err)
			}
			_, err = js.Publish(ctx, "nottl", nil, jetstream.WithMsgTTL(time.Second))
			wantAPIErr(t, "TTL where the stream does not allow it", err, 10166, "per-message TTL is disabled")

			// A KV bucket with a TTL.
			kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "SESS", TTL: time.Second})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Put(ctx, "s1", []byte("v")); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 15*time.Second, func() error {
				if _, err := kv.Get(ctx, "s1"); !errors.Is(err, jetstream.ErrKeyNotFound) {
					return fmt.Errorf("s1 after the bucket's TTL: %v", err)
				}
				return nil
			})

			// Purging the delete markers leaves nothing.
			kv2, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "PD", History: 3})
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"a", "b"} {
				if _, err := kv2.Put(ctx, k, []byte("v")); err != nil {
					t.Fatal(err)
				}
			}
			if err := kv2.Delete(ctx, "a"); err != nil {
				t.Fatal(err)
			}
			if err := kv2.Purge(ctx, "b"); err != nil {
				t.Fatal(err)
			}
			if err := kv2.PurgeDeletes(ctx, jetstream.DeleteMarkersOlderThan(-1)); err != nil {
				t.Fatal(err)
			}
			st, err := kv2.Status(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if st.Values() != 0 {
				t.Errorf("after purge deletes: %d values", st.Values())
			}
		})
	}
}

// The server-wide limits (max_memory_store, max_file_store) refuse a
// stream whose max_bytes would not fit, with nats-server's errors;
// sync_interval and unique_tag load.
func TestJetStreamServerLimitsMatchReference(t *testing.T) {
	t.Parallel()
	reqs := []struct{ subj, body string }{
		{"$JS.API.STREAM.CREATE.BIGF", `{"name":"BIGF","subjects":["bigf"],"max_bytes":1048576}`},
		{"$JS.API.STREAM.CREATE.BIGM", `{"name":"BIGM","subjects":["bigm"],"storage":"memory","max_bytes":1048576}`},
		{"$JS.API.STREAM.CREATE.F", `{"name":"F","subjects":["f"]}`},
		{"$JS.API.STREAM.CREATE.M", `{"name":"M","subjects":["m"],"storage":"memory"}`},
	}
	results := map[string][]string{}
	for _, impl := range implementations(t) {
		sd := t.TempDir()
		q := startConf(t, impl.bin, fmt.Sprintf("jetstream { store_dir: %q, max_memory_store: 64KB, max_file_store: 64KB, sync_interval: 2m, unique_tag: \"az:\" }\n", sd))
		nc := connect(t, q.ClientURL())
		var out []string
		for _, r := range reqs {
			m, err := nc.Request(r.subj, []byte(r.body), 5*time.Second)
			if err != nil {
				t.Fatalf("%s %s: %v", impl.name, r.subj, err)
			}
			var v struct {
				Error json.RawMessage `json:"error"`
			}
			_ = json.Unmarshal(m.Data, &v)
			out = append(out, r.subj+" "+string(v.Error))
		}
		// Publishing past the server-wide totals: 1 KiB messages until
		// the first refusal, which must come at the same message, with
		// the same reply (503/10023), on both kinds of storage.
		for _, subj := range []string{"f", "m"} {
			refused := ""
			for i := 1; i <= 100 && refused == ""; i++ {
				m, err := nc.Request(subj, make([]byte, 1024), 5*time.Second)
				if err != nil {
					t.Fatalf("%s: publish %d on %s: %v", impl.name, i, subj, err)
				}
				if strings.Contains(string(m.Data), `"error"`) {
					refused = fmt.Sprintf("publish %d on %s: %s", i, subj, m.Data)
				}
			}
			out = append(out, refused)
		}
		results[impl.name] = out
	}
	for i := range results["nats-server"] {
		if g, w := results["natsd"][i], results["nats-server"][i]; g != w {
			t.Errorf("natsd: %s\n ref:  %s", g, w)
		}
	}
}

// A publish past the account's max_file (or max_mem) is refused with
// nats-server's 10002, exactly where nats-server refuses it, and the
// stream keeps serving. (natsd once deadlocked here: the check summed the
// account's streams, taking the publishing stream's own lock again.)
func TestJetStreamAccountLimitOnPublish(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "accounts {\n  APP { jetstream { max_file: 2KB, max_mem: 2KB }, users [ {user: a, password: a} ] }\n}\n")
			nc := connect(t, p.ClientURL(), nats.UserInfo("a", "a"))
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			ctx := jsCtx(t)
			payload := []byte(strings.Repeat("x", 100))
			for _, st := range []struct {
				name    string
				storage jetstream.StorageType
				fits    int // recorded from nats-server v2.15.2
			}{{"FILE", jetstream.FileStorage, 15}, {"MEM", jetstream.MemoryStorage, 16}} {
				subj := strings.ToLower(st.name)
				s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: st.name, Subjects: []string{subj + ".>"}, Storage: st.storage})
				if err != nil {
					t.Fatal(err)
				}
				stored := 0
				for i := range 30 {
					_, err := js.Publish(ctx, fmt.Sprintf("%s.%d", subj, i), payload)
					if err == nil {
						stored++
						continue
					}
					wantAPIErr(t, st.name+" publish past the limit", err, 10002, "resource limits exceeded for account")
				}
				if stored != st.fits {
					t.Errorf("%s: %d publishes stored, want %d", st.name, stored, st.fits)
				}
				si, err := s.Info(ctx)
				if err != nil {
					t.Fatalf("%s: info after the refusals: %v", st.name, err)
				}
				if si.State.Msgs != uint64(st.fits) {
					t.Errorf("%s: %d messages, want %d", st.name, si.State.Msgs, st.fits)
				}
				if err := s.Purge(ctx); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
}
