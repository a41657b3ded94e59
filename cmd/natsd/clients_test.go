package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// Tests that drive a natsd process with the real nats.go client.

func startNatsd(t *testing.T, args ...string) *testutil.Proc {
	t.Helper()
	return testutil.Start(t, testutil.NatsdBin(t), append([]string{"-a", "127.0.0.1", "-p", "-1"}, args...)...)
}

func startNatsdConf(t *testing.T, conf string, args ...string) *testutil.Proc {
	t.Helper()
	path := testutil.WriteFile(t, "natsd.conf", "listen: 127.0.0.1:-1\n"+conf)
	return testutil.Start(t, testutil.NatsdBin(t), append([]string{"-c", path}, args...)...)
}

func connect(t *testing.T, url string, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.Timeout(3 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func nextMsg(t *testing.T, sub *nats.Subscription) *nats.Msg {
	t.Helper()
	m, err := sub.NextMsg(3 * time.Second)
	if err != nil {
		t.Fatalf("NextMsg on %s: %v", sub.Subject, err)
	}
	return m
}

func TestPubSubWildcards(t *testing.T) {
	p := startNatsd(t)
	nc := connect(t, p.ClientURL())
	lit, _ := nc.SubscribeSync("orders.eu.1")
	star, _ := nc.SubscribeSync("orders.*.1")
	gt, _ := nc.SubscribeSync("orders.>")
	other, _ := nc.SubscribeSync("orders.us.*")
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("orders.eu.1", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	for _, s := range []*nats.Subscription{lit, star, gt} {
		if m := nextMsg(t, s); string(m.Data) != "hello" || m.Subject != "orders.eu.1" {
			t.Fatalf("%s got %q on %q", s.Subject, m.Data, m.Subject)
		}
	}
	// orders.eu.1 did not reach orders.us.*, and "orders" reaches none
	// (> needs one more token): the marker after them comes first.
	_ = nc.Publish("orders", []byte("x"))
	nothingBefore(t, nc, "orders.us.marker", other, gt)
}

func TestQueueGroupEvenSplitNoDuplicates(t *testing.T) {
	p := startNatsd(t)
	pub := connect(t, p.ClientURL())
	const members, msgs = 4, 4000
	var ms []*queueMember
	for range members {
		ms = append(ms, newQueueMember(t, p.ClientURL(), "work", "workers", "work.mark"))
	}
	for i := range msgs {
		_ = pub.Publish("work", fmt.Appendf(nil, "%d", i))
	}
	// The marker follows the 4000 to every member: a duplicate would be
	// in front of it.
	markAll(t, "work.mark", ms, pub)
	seen, counts := tally(ms)
	if len(seen) != msgs {
		t.Fatalf("%d distinct messages, want %d", len(seen), msgs)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("message %s delivered %d times", k, n)
		}
	}
	// Uniform choice: each of 4 members expects 1000; 3 standard
	// deviations (≈82) is far inside ±200.
	for i := range members {
		if n := counts[i]; n < msgs/members-200 || n > msgs/members+200 {
			t.Fatalf("member %d got %d of %d: not an even split %v", i, n, msgs, counts)
		}
	}
}

func TestHeadersRequestReplyNoResponders(t *testing.T) {
	p := startNatsd(t)
	nc := connect(t, p.ClientURL())
	_, err := nc.Subscribe("svc.echo", func(m *nats.Msg) {
		r := nats.NewMsg(m.Reply)
		r.Header.Set("Echo", m.Header.Get("Ask"))
		r.Data = append([]byte("re:"), m.Data...)
		_ = m.RespondMsg(r)
	})
	if err != nil {
		t.Fatal(err)
	}
	req := nats.NewMsg("svc.echo")
	req.Header.Set("Ask", "v1")
	req.Data = []byte("ping")
	resp, err := nc.RequestMsg(req, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Data) != "re:ping" || resp.Header.Get("Echo") != "v1" {
		t.Fatalf("response %q header %v", resp.Data, resp.Header)
	}
	_, err = nc.Request("svc.nobody", []byte("x"), 3*time.Second)
	if !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("request with no subscriber: %v, want ErrNoResponders", err)
	}
}

// UNSUB with a maximum: the server itself stops after that many messages.
// nats.go would drop extra ones on its own, so a raw client checks what
// the server sends: exactly 3 MSG before the PONG that follows 5 PUBs.
func TestAutoUnsubscribe(t *testing.T) {
	p := startNatsd(t)
	nc := connect(t, p.ClientURL())
	sub, _ := nc.SubscribeSync("au")
	if err := sub.AutoUnsubscribe(3); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		_ = nc.Publish("au", []byte{byte('0' + i)})
	}
	for i := range 3 {
		if m := nextMsg(t, sub); m.Data[0] != byte('0'+i) {
			t.Fatalf("got %q", m.Data)
		}
	}

	c := testutil.DialProto(t, p.ClientAddr())
	c.Send("CONNECT {\"verbose\":false}\r\nSUB au 7\r\nUNSUB 7 3\r\n" + strings.Repeat("PUB au 1\r\nx\r\n", 5))
	want := []string{"MSG au 7 1", "MSG au 7 1", "MSG au 7 1"}
	if got := testutil.Lines(c.Flush()); !slices.Equal(got, want) {
		t.Fatalf("server sent %q before PONG, want %q", got, want)
	}
	// The subscription is gone: a new PUB reaches nobody.
	c.Send("PUB au 1\r\ny\r\n")
	if got := testutil.Lines(c.Flush()); len(got) != 0 {
		t.Fatalf("after the third message: %q", got)
	}
}

func TestAuthUserPassword(t *testing.T) {
	p := startNatsdConf(t, "authorization { user: alice, password: s3cret }\n")
	connect(t, p.ClientURL(), nats.UserInfo("alice", "s3cret"))
	_, err := nats.Connect(p.ClientURL(), nats.UserInfo("alice", "wrong"), nats.Timeout(3*time.Second))
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("wrong password: %v, want authorization violation", err)
	}
	_, err = nats.Connect(p.ClientURL(), nats.Timeout(3*time.Second))
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("no credentials: %v, want authorization violation", err)
	}
}

func TestAuthTokenFlag(t *testing.T) {
	p := startNatsd(t, "--auth", "tok3n")
	connect(t, p.ClientURL(), nats.Token("tok3n"))
	if _, err := nats.Connect(p.ClientURL(), nats.Token("nope"), nats.Timeout(3*time.Second)); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("wrong token: %v", err)
	}
}

func TestPermissions(t *testing.T) {
	p := startNatsdConf(t, `authorization { users = [
  { user: app, password: p, permissions: { publish: ["app.>"], subscribe: { allow: ["app.>", "_INBOX.>"], deny: ["app.secret"] } } }
  { user: admin, password: p }
] }
`)
	errs := make(chan error, 10)
	app := connect(t, p.ClientURL(), nats.UserInfo("app", "p"), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	admin := connect(t, p.ClientURL(), nats.UserInfo("admin", "p"))

	ok, _ := app.SubscribeSync("app.data")
	_ = app.Flush()
	_ = admin.Publish("app.data", []byte("allowed"))
	if m := nextMsg(t, ok); string(m.Data) != "allowed" {
		t.Fatalf("got %q", m.Data)
	}
	// Denied subscription: an async permissions error, connection stays up.
	_, _ = app.SubscribeSync("app.secret")
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("denied subscribe: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no permissions error for a denied subscription")
	}
	// Denied publish.
	adminSub, _ := admin.SubscribeSync("other")
	_ = admin.Flush()
	_ = app.Publish("other", []byte("nope"))
	select {
	case err := <-errs:
		if !errors.Is(err, nats.ErrPermissionViolation) {
			t.Fatalf("denied publish: %v", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("no permissions error for a denied publish")
	}
	// The server answered the denied PUB before admin's marker: had it
	// delivered it, it would be in front of the marker.
	nothingBefore(t, admin, "other", adminSub)
	if !app.IsConnected() {
		t.Fatal("a permission violation closed the connection")
	}
}

// A PUB or HPUB over max_payload is refused by the server itself, not only
// by a client that reads INFO (nats.go refuses locally and never sends it):
// a raw client that sends one gets nats-server's -ERR and is closed, nothing
// is delivered, and a publish of exactly max_payload on another connection
// still goes through. The same steps run against nats-server v2.15.2, whose
// behaviour this records.
func TestMaxPayloadRejected(t *testing.T) {
	const conf = "listen: 127.0.0.1:-1\nmax_payload: 1024\n"
	for name, bin := range map[string]string{"natsd": testutil.NatsdBin(t), "nats-server": testutil.NatsServerBin(t)} {
		t.Run(name, func(t *testing.T) {
			p := testutil.Start(t, bin, "-c", testutil.WriteFile(t, "mp.conf", conf))
			nc := connect(t, p.ClientURL())
			if nc.MaxPayload() != 1024 {
				t.Fatalf("INFO max_payload %d", nc.MaxPayload())
			}
			if err := nc.Publish("big", make([]byte, 2048)); !errors.Is(err, nats.ErrMaxPayload) {
				t.Fatalf("nats.go's own check: %v", err)
			}
			sub, _ := nc.SubscribeSync("big")
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			for _, over := range []string{
				"PUB big 1025\r\n",
				"PUB big 2048\r\n",
				"HPUB big 12 1025\r\n", // header and payload together count
			} {
				c := testutil.DialProto(t, p.ClientAddr())
				// Only the control line: the server refuses on it, and a
				// payload it never reads would make its close a reset.
				c.Send("CONNECT {\"verbose\":false,\"headers\":true}\r\n" + over)
				got := slices.DeleteFunc(c.ReadUntilClosed(), func(l string) bool { return l == "PING" })
				if want := []string{"-ERR 'Maximum Payload Violation'"}; !slices.Equal(got, want) {
					t.Errorf("%q: server sent %q before closing, want %q", strings.TrimSpace(over), got, want)
				}
			}
			// Exactly max_payload passes, and is the first (only) thing
			// the subscriber gets: nothing of the refused ones came through.
			c := testutil.DialProto(t, p.ClientAddr())
			c.Send("CONNECT {\"verbose\":false}\r\nPUB big 1024\r\n" + strings.Repeat("x", 1024) + "\r\n")
			if got := c.Flush(); len(got) != 0 {
				t.Fatalf("publish of exactly max_payload: got %q", testutil.Lines(got))
			}
			if m := nextMsg(t, sub); len(m.Data) != 1024 {
				t.Fatalf("subscriber got %d bytes first, want the 1024-byte message", len(m.Data))
			}
			if !nc.IsConnected() {
				t.Fatal("the refusals closed another client's connection")
			}
		})
	}
}

func TestPortsFileRandomPorts(t *testing.T) {
	dir := t.TempDir()
	p := testutil.StartNoWait(t, testutil.NatsdBin(t), "-a", "127.0.0.1", "-p", "-1", "-m", "-1", "--ports_file_dir", dir)
	var ports testutil.Ports
	testutil.Eventually(t, 5*time.Second, func() error {
		name := filepath.Join(dir, fmt.Sprintf("natsd_%d.ports", p.Pid()))
		b, err := os.ReadFile(name)
		if err != nil {
			return err
		}
		return jsonUnmarshal(b, &ports)
	})
	if len(ports.Nats) != 1 || len(ports.Monitoring) != 1 {
		t.Fatalf("ports file %+v", ports)
	}
	connect(t, ports.Nats[0])
	if body := httpGet(t, ports.Monitoring[0]+"/healthz"); body["status"] != "ok" {
		t.Fatalf("healthz %v", body)
	}
}

// A subscriber that stops reading is cut off as a slow consumer while a
// fast one on the same subject gets every message.
func TestSlowConsumerCutOffFastKeepsReceiving(t *testing.T) {
	p := startNatsdConf(t, "max_pending: 1MB\nmax_payload: 64KB\nwrite_deadline: \"500ms\"\n", "-m", "-1")
	url := p.ClientURL()

	slow := testutil.DialProto(t, p.ClientAddr())
	slow.Send("CONNECT {\"verbose\":false}\r\nSUB firehose 1\r\nPING\r\n")
	slow.Expect("PONG")
	// The slow client never reads again.

	fast := connect(t, url)
	var got atomic.Int64
	if _, err := fast.Subscribe("firehose", func(*nats.Msg) { got.Add(1) }); err != nil {
		t.Fatal(err)
	}
	_ = fast.Flush()
	pub := connect(t, url)
	payload := make([]byte, 1024)
	const n = 20000
	for i := range n {
		if err := pub.Publish("firehose", payload); err != nil {
			t.Fatal(err)
		}
		// A steady publisher (a round trip every 200 messages): the fast
		// subscriber keeps up with it; the slow one, which never reads, is
		// past its kernel buffers and max_pending long before the end.
		if i%200 == 199 {
			_ = pub.Flush()
		}
	}
	_ = pub.Flush()
	testutil.Eventually(t, 10*time.Second, func() error {
		if g := got.Load(); g != n {
			return fmt.Errorf("fast subscriber got %d of %d", g, n)
		}
		return nil
	})
	varz := httpGetVarz(t, p)
	if varz["slow_consumers"].(float64) < 1 {
		t.Fatalf("slow_consumers = %v", varz["slow_consumers"])
	}
	if !slow.ClosedWithin(5 * time.Second) {
		t.Fatal("the slow consumer was not cut off")
	}
}
