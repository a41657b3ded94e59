package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/testutil"
)

// Backups with the nats CLI (`nats stream backup`, `nats stream restore`):
// natsd to natsd exactly (messages with their sequences and times, interior
// and tail deletes, a purged stream's first sequence, TTLs, consumers with
// their ack floors and pending messages, across a restart); natsd's backups
// into nats-server v2.15.2 and nats-server's into natsd (both use
// nats-server 2.15's archive, jetstream/testdata/snapshot-reference-
// v2.15.2.md); a nats-server 2.9 backup (a tar of its file store) refused
// with a clear error; and bad restores — damaged or cut backups, an
// existing stream, account limits — answered with the reference's errors
// while the server goes on serving.

// streamImage is everything a backup must carry over, as a client sees it.
type streamImage struct {
	State     jetstream.StreamState
	Msgs      []*jetstream.RawStreamMsg
	Consumers map[string]consumerImage
}

type consumerImage struct {
	Delivered, AckFloor           jetstream.SequenceInfo
	NumAckPending, NumRedelivered int
	NumPending                    uint64
	AckPolicy                     jetstream.AckPolicy
	AckWait                       time.Duration
	FilterSubject                 string
}

func imageOf(t *testing.T, js jetstream.JetStream, name string) streamImage {
	t.Helper()
	ctx := jsCtx(t)
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	info, err := s.Info(ctx, jetstream.WithDeletedDetails(true))
	if err != nil {
		t.Fatal(err)
	}
	img := streamImage{State: info.State, Consumers: map[string]consumerImage{}}
	img.State.FirstTime, img.State.LastTime = img.State.FirstTime.UTC(), img.State.LastTime.UTC()
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		m.Time = m.Time.UTC()
		img.Msgs = append(img.Msgs, m)
	}
	for ci := range s.ListConsumers(ctx).Info() {
		d, a := ci.Delivered, ci.AckFloor
		d.Last, a.Last = nil, nil
		img.Consumers[ci.Name] = consumerImage{Delivered: d, AckFloor: a, NumAckPending: ci.NumAckPending,
			NumRedelivered: ci.NumRedelivered, NumPending: ci.NumPending, AckPolicy: ci.Config.AckPolicy,
			AckWait: ci.Config.AckWait, FilterSubject: ci.Config.FilterSubject}
	}
	return img
}

// populate makes stream ORDERS: purged below 3, 5 and 6 deleted, the last
// deleted, headers, a TTL; consumer PULL with an ack floor of 6 and three
// pending (7, 9, 10), NONE (ack none) and FILT (a filter, nothing delivered).
func populate(t *testing.T, js jetstream.JetStream) {
	t.Helper()
	ctx := jsCtx(t)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, AllowMsgTTL: true})
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 30; i++ {
		m := nats.NewMsg(fmt.Sprintf("orders.%d", i%4))
		m.Header.Set("K", fmt.Sprint(i))
		m.Data = []byte(fmt.Sprintf("order %d", i))
		opts := []jetstream.PublishOpt{}
		if i == 9 {
			opts = append(opts, jetstream.WithMsgTTL(time.Hour))
		}
		if _, err := js.PublishMsg(ctx, m, opts...); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSequence(3)); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{5, 6, 30} {
		if err := s.DeleteMsg(ctx, seq); err != nil {
			t.Fatalf("delete %d: %v", seq, err)
		}
	}
	pull, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "PULL", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b, err := pull.Fetch(6, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for m := range b.Messages() {
		n++
		if n <= 2 || n == 4 { // 3, 4 and 8 acknowledged: the floor is 6 (5, 6 deleted)
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n != 6 {
		t.Fatalf("fetched %d of 6", n)
	}
	none, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "NONE", AckPolicy: jetstream.AckNonePolicy})
	if err != nil {
		t.Fatal(err)
	}
	if b, err = none.Fetch(4, jetstream.FetchMaxWait(5*time.Second)); err != nil {
		t.Fatal(err)
	}
	for range b.Messages() {
	}
	if _, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: "FILT", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "orders.2"}); err != nil {
		t.Fatal(err)
	}
	// What the consumers' state must be, whoever serves it.
	testutil.Eventually(t, 10*time.Second, func() error {
		img := imageOf(t, js, "ORDERS")
		p := img.Consumers["PULL"]
		if p.AckFloor.Stream != 6 || p.NumAckPending != 3 || img.Consumers["NONE"].Delivered.Stream != 8 {
			return fmt.Errorf("consumers %+v", img.Consumers)
		}
		return nil
	})
}

func sameImage(t *testing.T, what string, got, want streamImage, exactBytes bool) {
	t.Helper()
	if !exactBytes {
		got.State.Bytes, want.State.Bytes = 0, 0
	}
	if n := len(want.Msgs); n > 0 && want.Msgs[n-1].Sequence != want.State.LastSeq {
		// The last sequence was deleted: a backup keeps the sequence but
		// not that message's time (state.json has it; neither nats-server
		// nor natsd restores it), so last_ts is the last message's.
		got.State.LastTime, want.State.LastTime = time.Time{}, time.Time{}
	}
	if !reflect.DeepEqual(got.State, want.State) {
		t.Errorf("%s: state\n%+v\nwant\n%+v", what, got.State, want.State)
	}
	if len(got.Msgs) != len(want.Msgs) {
		t.Errorf("%s: %d messages, want %d", what, len(got.Msgs), len(want.Msgs))
	}
	for i := range min(len(got.Msgs), len(want.Msgs)) {
		if !reflect.DeepEqual(got.Msgs[i], want.Msgs[i]) {
			t.Errorf("%s: message\n%+v\nwant\n%+v", what, got.Msgs[i], want.Msgs[i])
		}
	}
	if !reflect.DeepEqual(got.Consumers, want.Consumers) {
		t.Errorf("%s: consumers\n%+v\nwant\n%+v", what, got.Consumers, want.Consumers)
	}
}

// A natsd backup restores into natsd as it was, and stays after a restart.
func TestBackupRoundTrip(t *testing.T) {
	t.Parallel()
	sd := t.TempDir()
	p := jsServerDir(t, sd)
	_, js := jsConnect(t, p.ClientURL())
	populate(t, js)
	before := imageOf(t, js, "ORDERS")
	if len(before.Msgs) != 25 || before.State.FirstSeq != 3 || before.State.LastSeq != 30 {
		t.Fatalf("populated: %d messages, %+v", len(before.Msgs), before.State)
	}

	cli := newNatsCLI(t, p.ClientURL())
	dir := filepath.Join(t.TempDir(), "backup")
	out := cli.mustRun(t, "stream", "backup", "ORDERS", dir)
	if !strings.Contains(out, `for stream "ORDERS"`) {
		t.Fatalf("backup: %s", out)
	}
	for _, f := range []string{"backup.json", "stream.arc.s2"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("backup folder: %s: %v", f, err)
		}
	}
	cli.mustRun(t, "stream", "rm", "ORDERS", "-f")
	out = cli.mustRun(t, "stream", "restore", dir)
	if !strings.Contains(out, `Restored stream "ORDERS"`) {
		t.Fatalf("restore: %s", out)
	}
	sameImage(t, "restored", imageOf(t, js, "ORDERS"), before, true)

	// Restored pending messages are still pending, and the stream goes on
	// at the next sequence.
	ctx := jsCtx(t)
	ack, err := js.Publish(ctx, "orders.new", []byte("after"))
	if err != nil || ack.Sequence != 31 {
		t.Fatalf("publish after the restore: %+v %v", ack, err)
	}
	s, err := js.Stream(ctx, "ORDERS")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMsg(ctx, 31); err != nil {
		t.Fatal(err)
	}
	after := imageOf(t, js, "ORDERS")
	p.Stop()
	p = jsServerDir(t, sd)
	_, js = jsConnect(t, p.ClientURL())
	sameImage(t, "restored, after a restart", imageOf(t, js, "ORDERS"), after, true)
}

// natsd's backups restore into nats-server and nats-server's into natsd.
func TestBackupBetweenNatsdAndNatsServer(t *testing.T) {
	t.Parallel()
	bins := map[string]string{"natsd": testutil.NatsdBin(t), "nats-server": testutil.NatsServerBin(t)}
	for _, dir := range [][2]string{{"natsd", "nats-server"}, {"nats-server", "natsd"}} {
		from, to := dir[0], dir[1]
		t.Run(from+" to "+to, func(t *testing.T) {
			t.Parallel()
			src := jsServer(t, bins[from], "")
			_, sjs := jsConnect(t, src.ClientURL())
			populate(t, sjs)
			before := imageOf(t, sjs, "ORDERS")
			bk := filepath.Join(t.TempDir(), "backup")
			newNatsCLI(t, src.ClientURL()).mustRun(t, "stream", "backup", "ORDERS", bk)

			dst := jsServer(t, bins[to], "")
			_, djs := jsConnect(t, dst.ClientURL())
			newNatsCLI(t, dst.ClientURL()).mustRun(t, "stream", "restore", bk)
			// The servers count stored bytes each their own way.
			sameImage(t, "restored in "+to, imageOf(t, djs, "ORDERS"), before, false)
		})
	}
}

// nats-server before 2.15 sent a tar of its file store: natsd says so.
func TestBackupFromNatsServer29IsRefused(t *testing.T) {
	t.Parallel()
	old := testutil.Start(t, testutil.NatsServer29Bin(t), "-a", "127.0.0.1", "-p", "-1", "-m", "-1", "-js", "-sd", t.TempDir())
	_, ojs := jsConnect(t, old.ClientURL())
	ctx := jsCtx(t)
	if _, err := ojs.CreateStream(ctx, jetstream.StreamConfig{Name: "OLD", Subjects: []string{"old"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := ojs.Publish(ctx, "old", []byte("x")); err != nil {
		t.Fatal(err)
	}
	bk := filepath.Join(t.TempDir(), "backup")
	newNatsCLI(t, old.ClientURL()).mustRun(t, "stream", "backup", "OLD", bk)
	if _, err := os.Stat(filepath.Join(bk, "stream.tar.s2")); err != nil {
		t.Fatalf("the 2.9 backup: %v", err)
	}

	p := jsServer(t, testutil.NatsdBin(t), "")
	out, err := newNatsCLI(t, p.ClientURL()).run(t, "stream", "restore", bk)
	if err == nil || !strings.Contains(out, "restore failed: not a stream backup natsd can read: it is a tar of nats-server's file store") || !strings.Contains(out, "10062") {
		t.Fatalf("restore of a 2.9 backup: %v\n%s", err, out)
	}
	_, js := jsConnect(t, p.ClientURL())
	if _, err := js.Stream(ctx, "OLD"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("after the refused restore: %v", err)
	}
}

// jsReply is an API reply's error.
type jsReply struct {
	Type  string `json:"type"`
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	DeliverSubject string `json:"deliver_subject"`
}

func request(t *testing.T, nc *nats.Conn, subj string, data []byte) ([]byte, jsReply) {
	t.Helper()
	m, err := nc.Request(subj, data, 10*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subj, err)
	}
	var r jsReply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatalf("%s: reply %q: %v", subj, m.Data, err)
	}
	return m.Data, r
}

// restoreRaw sends a restore of stream name with data as the backup, in
// chunks, and returns the final reply.
func restoreRaw(t *testing.T, nc *nats.Conn, name string, data []byte) jsReply {
	t.Helper()
	cfg := fmt.Sprintf(`{"config":{"name":%q,"subjects":["%s.>"],"storage":"file","retention":"limits","discard":"old","num_replicas":1},"state":{}}`, name, strings.ToLower(name))
	raw, r := request(t, nc, "$JS.API.STREAM.RESTORE."+name, []byte(cfg))
	if r.Error != nil || !strings.HasPrefix(r.DeliverSubject, "$JS.SNAPSHOT.RESTORE."+name+".") {
		t.Fatalf("restore request: %s", raw)
	}
	for len(data) > 0 {
		n := min(len(data), 4096)
		if m, err := nc.Request(r.DeliverSubject, data[:n], 10*time.Second); err != nil || len(m.Data) != 0 {
			t.Fatalf("chunk: %v %v", m, err)
		}
		data = data[n:]
	}
	_, fin := request(t, nc, r.DeliverSubject, nil)
	if fin.Type != "io.nats.jetstream.api.v1.stream_create_response" {
		t.Fatalf("final reply type %q", fin.Type)
	}
	return fin
}

// The errors of snapshot and restore requests are the reference's, byte
// for byte; a damaged or cut backup is refused (and natsd, unlike
// nats-server, leaves no half-restored stream); the server goes on.
func TestBackupBadRequests(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			nc, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
				t.Fatal(err)
			}
			const snap = `{"type":"io.nats.jetstream.api.v1.stream_snapshot_response","error":`
			const rest = `{"type":"io.nats.jetstream.api.v1.stream_restore_response","error":`
			for _, tc := range []struct{ subj, req, want string }{
				{"$JS.API.STREAM.SNAPSHOT.NOPE", `{"deliver_subject":"d.x"}`, snap + `{"code":404,"err_code":10059,"description":"stream not found"}}`},
				{"$JS.API.STREAM.SNAPSHOT.S", ``, snap + `{"code":400,"err_code":10003,"description":"bad request"}}`},
				{"$JS.API.STREAM.SNAPSHOT.S", `{}`, snap + `{"code":400,"err_code":10003,"description":"bad request"}}`},
				{"$JS.API.STREAM.SNAPSHOT.S", `{bad`, snap + `{"code":400,"err_code":10025,"description":"invalid JSON: invalid character 'b' looking for beginning of object key string at offset 2"}}`},
				{"$JS.API.STREAM.SNAPSHOT.S", `{"deliver_subject":"d.*"}`, snap + `{"code":400,"err_code":10015,"description":"deliver subject not valid"}}`},
				{"$JS.API.STREAM.RESTORE.S", ``, rest + `{"code":400,"err_code":10003,"description":"bad request"},"deliver_subject":""}`},
				{"$JS.API.STREAM.RESTORE.S", `{bad`, rest + `{"code":400,"err_code":10025,"description":"invalid JSON: invalid character 'b' looking for beginning of object key string at offset 2"},"deliver_subject":""}`},
				{"$JS.API.STREAM.RESTORE.S", `{"config":{"name":"S","subjects":["s.>"]}}`, rest + `{"code":400,"err_code":10130,"description":"stream name already in use, cannot restore"},"deliver_subject":""}`},
				{"$JS.API.STREAM.RESTORE.T", `{"config":{"name":"S","subjects":["s.>"]}}`, rest + `{"code":400,"err_code":10056,"description":"stream name in subject does not match request"},"deliver_subject":""}`},
			} {
				if got, _ := request(t, nc, tc.subj, []byte(tc.req)); string(got) != tc.want {
					t.Errorf("%s %s:\n got %s\nwant %s", tc.subj, tc.req, got, tc.want)
				}
			}

			// A good backup of S, then damaged ways of it.
			good := snapshotRaw(t, nc, "S")
			cut := good[:len(good)/2]
			flipped := bytes.Clone(good)
			flipped[len(flipped)-10] ^= 0x10
			garbage := make([]byte, 500)
			_, _ = rand.Read(garbage)
			for _, tc := range []struct {
				name string
				data []byte
			}{{"cut", cut}, {"flipped", flipped}, {"garbage", garbage}, {"empty", nil}} {
				fin := restoreRaw(t, nc, "BAD", tc.data)
				if fin.Error == nil || fin.Error.Code != 500 || fin.Error.ErrCode != 10062 || !strings.HasPrefix(fin.Error.Description, "restore failed: ") {
					t.Errorf("%s backup: %+v", tc.name, fin.Error)
					continue
				}
				if impl.name == "natsd" {
					if _, err := js.Stream(ctx, "BAD"); !errors.Is(err, jetstream.ErrStreamNotFound) {
						t.Errorf("%s backup: a stream is left: %v", tc.name, err)
					}
				}
				_ = js.DeleteStream(ctx, "BAD") // nats-server leaves one
			}
			// The server goes on: S takes messages, and the good backup
			// restores once S is gone.
			if _, err := js.Publish(ctx, "s.1", []byte("still here")); err != nil {
				t.Fatal(err)
			}
			if err := js.DeleteStream(ctx, "S"); err != nil {
				t.Fatal(err)
			}
			if fin := restoreRaw(t, nc, "S", good); fin.Error != nil {
				t.Fatalf("good backup: %+v", fin.Error)
			}
		})
	}
}

// snapshotRaw takes a backup of name with raw requests, answering chunks.
func snapshotRaw(t *testing.T, nc *nats.Conn, name string) []byte {
	t.Helper()
	inbox := nats.NewInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if raw, r := request(t, nc, "$JS.API.STREAM.SNAPSHOT."+name, []byte(fmt.Sprintf(`{"deliver_subject":%q,"chunk_size":1024}`, inbox))); r.Error != nil {
		t.Fatalf("snapshot: %s", raw)
	}
	var out []byte
	for {
		m, err := sub.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("snapshot chunk: %v", err)
		}
		if len(m.Data) == 0 {
			if s := m.Header.Get("Status"); s != "" && s != "204" {
				t.Fatalf("snapshot ended with %s %s", s, m.Header.Get("Description"))
			}
			return out
		}
		out = append(out, m.Data...)
		if m.Reply != "" {
			_ = m.Respond(nil)
		}
	}
}

// A client that stops answering chunks gets 408 No Flow Response, as from
// nats-server, after its 5 s.
func TestBackupNoFlowResponse(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			nc, js := jsConnect(t, p.ClientURL())
			ctx := jsCtx(t)
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BIG", Subjects: []string{"big"}}); err != nil {
				t.Fatal(err)
			}
			for range 8 {
				data := make([]byte, 64<<10) // random: S2 does not shrink it
				_, _ = rand.Read(data)
				if _, err := js.Publish(ctx, "big", data); err != nil {
					t.Fatal(err)
				}
			}
			inbox := nats.NewInbox()
			sub, _ := nc.SubscribeSync(inbox)
			req := fmt.Sprintf(`{"deliver_subject":%q,"chunk_size":65536,"window_size":131072}`, inbox)
			if raw, r := request(t, nc, "$JS.API.STREAM.SNAPSHOT.BIG", []byte(req)); r.Error != nil {
				t.Fatalf("snapshot: %s", raw)
			}
			var chunks int
			for {
				m, err := sub.NextMsg(20 * time.Second)
				if err != nil {
					t.Fatalf("after %d chunks: %v", chunks, err)
				}
				if len(m.Data) > 0 {
					chunks++
					if !strings.HasPrefix(m.Reply, "$JS.SNAPSHOT.ACK.BIG.") || !strings.HasSuffix(m.Reply, fmt.Sprintf(".65536.%d", chunks)) {
						t.Fatalf("chunk %d reply %q", chunks, m.Reply)
					}
					continue
				}
				if m.Header.Get("Status") != "408" || m.Header.Get("Description") != "No Flow Response" || chunks != 2 {
					t.Fatalf("after %d chunks: %v", chunks, m.Header)
				}
				return
			}
		})
	}
}

// Account limits are checked as nats-server does: before the data when
// the config says enough, after it when the data says it.
func TestBackupRestoreOverAccountLimits(t *testing.T) {
	t.Parallel()
	const accounts = `accounts: {
  APP: { jetstream: enabled, users: [ {user: app, password: app} ] }
  LIM: { jetstream: { max_mem: 1MB, max_file: 1MB, max_streams: 2, max_consumers: 1 }, users: [ {user: lim, password: lim} ] }
}`
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, accounts)
			url := p.ClientURL()
			app := newNatsCLI(t, url, "--user", "app", "--password", "app")
			lim := newNatsCLI(t, url, "--user", "lim", "--password", "lim")
			nc, err := nats.Connect(url, nats.UserInfo("app", "app"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(nc.Close)
			js, _ := jetstream.New(nc)
			ctx := jsCtx(t)
			// BIG: 1.5 MB that do not compress; TWO: two consumers.
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BIG", Subjects: []string{"big"}}); err != nil {
				t.Fatal(err)
			}
			for range 24 {
				data := make([]byte, 64<<10)
				_, _ = rand.Read(data)
				if _, err := js.Publish(ctx, "big", data); err != nil {
					t.Fatal(err)
				}
			}
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "TWO", Subjects: []string{"two"}})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []string{"C1", "C2"} {
				if _, err := s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{Durable: c}); err != nil {
					t.Fatal(err)
				}
			}
			dirs := map[string]string{}
			for _, name := range []string{"BIG", "TWO"} {
				dirs[name] = filepath.Join(t.TempDir(), name)
				app.mustRun(t, "stream", "backup", name, dirs[name])
			}
			for _, tc := range []struct{ name, want string }{
				{"BIG", "insufficient storage resources available (10047)"},
				{"TWO", `restore failed: failed to add consumer "C2": maximum consumers limit reached (10026) (10062)`},
			} {
				out, err := lim.run(t, "stream", "restore", dirs[tc.name])
				if err == nil || !strings.Contains(out, tc.want) {
					t.Errorf("restore %s into LIM: %v\n%s", tc.name, err, out)
				}
				if impl.name == "natsd" {
					if out := lim.mustRun(t, "stream", "ls", "-n"); strings.TrimSpace(out) != "" && !strings.Contains(out, "No Streams defined") {
						t.Errorf("after the failed restore of %s, LIM has %q", tc.name, out)
					}
				}
				_, _ = lim.run(t, "stream", "rm", tc.name, "-f") // nats-server leaves them
			}
			lim.mustRun(t, "stream", "add", "A1", "--subjects", "a1", "--defaults")
			lim.mustRun(t, "stream", "add", "A2", "--subjects", "a2", "--defaults")
			out, err := lim.run(t, "stream", "restore", dirs["TWO"])
			if err == nil || !strings.Contains(out, "maximum number of streams reached (10027)") {
				t.Errorf("restore over max_streams: %v\n%s", err, out)
			}
			// Everyone else is still served.
			if _, err := js.Publish(ctx, "big", []byte("still here")); err != nil {
				t.Fatal(err)
			}
			lim.mustRun(t, "pub", "a1", "x")
		})
	}
}

// A SIGTERM in the middle of a restore and of a stalled snapshot: natsd
// stops without waiting for either client, keeps none of the half-sent
// backup, and after a restart the restore never happened.
func TestBackupInterruptedByShutdown(t *testing.T) {
	t.Parallel()
	sd := t.TempDir()
	p := jsServerDir(t, sd)
	nc, js := jsConnect(t, p.ClientURL())
	ctx := jsCtx(t)
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SRC", Subjects: []string{"src"}}); err != nil {
		t.Fatal(err)
	}
	for range 50 {
		data := make([]byte, 2048)
		_, _ = rand.Read(data)
		if _, err := js.Publish(ctx, "src", data); err != nil {
			t.Fatal(err)
		}
	}
	backup := snapshotRaw(t, nc, "SRC")

	// A snapshot whose client never answers (its window holds one chunk).
	inbox := nats.NewInbox()
	stalled, _ := nc.SubscribeSync(inbox)
	req := fmt.Sprintf(`{"deliver_subject":%q,"chunk_size":1024,"window_size":1024}`, inbox)
	if raw, r := request(t, nc, "$JS.API.STREAM.SNAPSHOT.SRC", []byte(req)); r.Error != nil {
		t.Fatalf("snapshot: %s", raw)
	}
	if _, err := stalled.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	// A restore of it as HALF, half sent.
	cfg := `{"config":{"name":"HALF","subjects":["half"]}}`
	raw, r := request(t, nc, "$JS.API.STREAM.RESTORE.HALF", []byte(cfg))
	if r.Error != nil {
		t.Fatalf("restore: %s", raw)
	}
	for half := backup[:len(backup)/2]; len(half) > 0; {
		n := min(len(half), 4096)
		if _, err := nc.Request(r.DeliverSubject, half[:n], 10*time.Second); err != nil {
			t.Fatal(err)
		}
		half = half[n:]
	}
	restores := filepath.Join(sd, "jetstream", "$G", "restores")
	if entries, err := os.ReadDir(restores); err != nil || len(entries) != 1 {
		t.Fatalf("while restoring, %s: %v %v", restores, entries, err)
	}

	p.Signal(syscall.SIGTERM)
	if code := p.ExitCode(30 * time.Second); code != 0 {
		t.Fatalf("natsd exited %d:\n%s", code, p.Log())
	}
	if entries, _ := os.ReadDir(restores); len(entries) != 0 {
		t.Fatalf("after the shutdown, %s holds %v", restores, entries)
	}
	p = jsServerDir(t, sd)
	_, js = jsConnect(t, p.ClientURL())
	if _, err := js.Stream(ctx, "HALF"); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("after a restart, HALF: %v", err)
	}
	s, err := js.Stream(ctx, "SRC")
	if err != nil || s.CachedInfo().State.Msgs != 50 {
		t.Fatalf("after a restart, SRC: %v", err)
	}
}
