package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	njs "github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream/store/faultfs"
	"github.com/natsd/natsd/server"
)

// The promise, through the whole stream layer and a real client: what a
// publisher was told is stored survives an OS crash (the file system
// keeps only what was fsynced), a full disk is an error to the publisher
// and nothing else, and a flipped bit is reported, never served. The
// server runs in this process over faultfs (the store's fault-injecting
// file system); the client is nats.go.

// node is a server with JetStream over fsys, serving on loopback.
type node struct {
	srv *server.Server
	js  *Engine
	url string
}

func startNode(t *testing.T, fsys *faultfs.FS) *node {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Host: "127.0.0.1"}, zap.NewNop(), "test")
	e, err := New(srv, Config{StoreDir: "/js", FS: fsys, MaxMemory: 1 << 30, MaxStore: 1 << 30}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.ConfigureAccounts([]AccountConfig{UnlimitedAccount(server.GlobalAccountName)}); err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }()
	n := &node{srv: srv, js: e, url: "nats://" + ln.Addr().String()}
	t.Cleanup(func() { n.stop(t); <-served })
	return n
}

func (n *node) stop(t *testing.T) {
	if n.js != nil {
		n.js.Stop()
		n.js = nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.srv.Shutdown(ctx)
}

func client(t *testing.T, url string) (*nats.Conn, njs.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, nats.Timeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := njs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// An OS crash right after the last acknowledgement: every acknowledged
// message is there afterwards. With the stream acknowledging before its
// fsync (or without the fsync) this fails.
func TestAcknowledgedPublishesSurviveOSCrash(t *testing.T) {
	fsys := faultfs.New()
	n := startNode(t, fsys)
	_, js := client(t, n.url)
	ctx := testCtx(t)
	if _, err := js.CreateStream(ctx, njs.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]string{}
	futures := make([]njs.PubAckFuture, 0, 300)
	for i := range 300 {
		f, err := js.PublishAsync(fmt.Sprintf("s.%d", i%7), []byte(fmt.Sprint("m", i)))
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case a := <-f.Ok():
			acked[a.Sequence] = fmt.Sprint("m", i)
		case err := <-f.Err():
			t.Fatalf("publish %d: %v", i, err)
		case <-ctx.Done():
			t.Fatal("no ack")
		}
	}
	// The OS crashes: what was not fsynced is gone; the process with it.
	fsys.Crash(faultfs.DropUnsynced)
	n.srv.Shutdown(context.Background()) //nolint:errcheck // the process is gone
	n.js = nil

	n2 := startNode(t, fsys)
	_, js2 := client(t, n2.url)
	s, err := js2.Stream(ctx, "S")
	if err != nil {
		t.Fatalf("stream after the crash: %v", err)
	}
	for seq, want := range acked {
		m, err := s.GetMsg(ctx, seq)
		if err != nil || string(m.Data) != want {
			t.Fatalf("acknowledged seq %d (%s) after the crash: %v", seq, want, err)
		}
	}
	if st := s.CachedInfo().State; st.Lost != nil {
		t.Errorf("lost data reported after a clean fsync history: %+v", st.Lost)
	}
}

// A full disk: the publisher is told (nats-server's "insufficient storage
// resources" error), other streams and core messaging go on, and once
// there is space again publishing works and nothing is lost.
func TestFullDiskIsAnErrorToThePublisherOnly(t *testing.T) {
	fsys := faultfs.New()
	n := startNode(t, fsys)
	nc, js := client(t, n.url)
	ctx := testCtx(t)
	s, err := js.CreateStream(ctx, njs.StreamConfig{Name: "FULL", Subjects: []string{"f.>"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, njs.StreamConfig{Name: "MEM", Subjects: []string{"m.>"}, Storage: njs.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := js.Publish(ctx, "f.a", []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	fsys.SetSpace(0)
	_, err = js.Publish(ctx, "f.a", []byte("no room"))
	var apiErr *njs.APIError
	if err == nil || !strings.Contains(err.Error(), "insufficient storage") {
		t.Fatalf("publish on a full disk: %v (%T), want insufficient storage resources", err, apiErr)
	}
	// Everyone else goes on.
	if _, err := js.Publish(ctx, "m.a", []byte("memory")); err != nil {
		t.Errorf("memory stream on a full disk: %v", err)
	}
	sub, _ := nc.SubscribeSync("core")
	_ = nc.Publish("core", []byte("x"))
	if _, err := sub.NextMsg(3 * time.Second); err != nil {
		t.Errorf("core messaging on a full disk: %v", err)
	}
	fsys.SetSpace(-1)
	a, err := js.Publish(ctx, "f.a", []byte("room again"))
	if err != nil || a.Sequence != 11 {
		t.Fatalf("publish after space came back: %+v %v", a, err)
	}
	info, err := s.Info(ctx)
	if err != nil || info.State.Msgs != 11 {
		t.Errorf("after the full disk: %+v %v", info.State, err)
	}
}

// A flipped bit in a stored message: after a restart the stream reports
// the loss (state.lost) and the message is not served; its neighbours
// are.
func TestFlippedBitIsReportedNotServed(t *testing.T) {
	fsys := faultfs.New()
	n := startNode(t, fsys)
	_, js := client(t, n.url)
	ctx := testCtx(t)
	if _, err := js.CreateStream(ctx, njs.StreamConfig{Name: "ROT", Subjects: []string{"r.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 20; i++ {
		if _, err := js.Publish(ctx, "r.a", []byte(fmt.Sprintf("message-%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	n.stop(t)
	// Flip a bit inside message 10's payload.
	var seg string
	for _, f := range fsys.Files("/js") {
		if strings.Contains(f, "ROT") && strings.HasSuffix(f, ".seg") {
			seg = f
		}
	}
	b, err := fsys.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	off := strings.Index(string(b), "message-10")
	if off < 0 {
		t.Fatalf("message 10 not found in %s", seg)
	}
	if err := fsys.FlipBit(seg, int64(off+3), 2); err != nil {
		t.Fatal(err)
	}

	n2 := startNode(t, fsys)
	nc2, js2 := client(t, n2.url)
	s, err := js2.Stream(ctx, "ROT")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetMsg(ctx, 10); err == nil {
		t.Error("the damaged message was served")
	}
	for _, seq := range []uint64{9, 11} {
		if m, err := s.GetMsg(ctx, seq); err != nil || string(m.Data) != fmt.Sprintf("message-%02d", seq) {
			t.Errorf("neighbour %d: %v", seq, err)
		}
	}
	// STREAM.INFO reports it (nats.go's StreamState has no "lost": raw).
	rep, err := nc2.Request("$JS.API.STREAM.INFO.ROT", nil, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var si struct {
		State StreamState `json:"state"`
	}
	if err := json.Unmarshal(rep.Data, &si); err != nil {
		t.Fatal(err)
	}
	if si.State.Lost == nil || len(si.State.Lost.Msgs) != 1 || si.State.Lost.Msgs[0] != 10 {
		t.Errorf("state.lost %+v, want message 10", si.State.Lost)
	}
}
