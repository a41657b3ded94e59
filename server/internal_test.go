package server

import (
	"slices"
	"strings"
	"sync"
	"testing"
)

// The internal-subscription seam: a Go function subscribed inside an
// account answers a client's request by publishing as the server.
func TestInternalSubscriptionServesRequests(t *testing.T) {
	srv, addr := startServer(t, Options{})
	acc := srv.GlobalAccount()
	var mu sync.Mutex
	var seen []string
	sub, err := acc.Subscribe("svc.>", "", func(m Msg) {
		mu.Lock()
		seen = append(seen, string(m.Subject)+" "+string(m.Data)+" hdr="+string(m.Header))
		mu.Unlock()
		if len(m.Reply) > 0 {
			// Publishing from inside a handler is allowed.
			if err := acc.Publish(string(m.Reply), "", nil, append([]byte("echo:"), m.Data...)); err != nil {
				t.Errorf("reply: %v", err)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	c := connectRaw(t, addr, "")
	c.Send("SUB _INBOX.1 1\r\nPUB svc.echo _INBOX.1 2\r\nhi\r\nHPUB svc.hdr 12 14\r\nNATS/1.0\r\n\r\nok\r\n")
	got := c.Recv(1)
	if len(got) != 1 || got[0].Line != "MSG _INBOX.1 1 7" || got[0].Payload != "echo:hi" {
		t.Fatalf("reply %+v", got)
	}
	c.Flush()
	mu.Lock()
	want := []string{"svc.echo hi hdr=", "svc.hdr ok hdr=NATS/1.0\r\n\r\n"}
	if !slices.Equal(seen, want) {
		t.Fatalf("handler saw %q, want %q", seen, want)
	}
	mu.Unlock()

	// After Unsubscribe nothing reaches the handler, and a request finds
	// no responders.
	sub.Unsubscribe()
	sub.Unsubscribe() // idempotent
	c.Send("PUB svc.echo 2\r\nno\r\n")
	c.Flush()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 {
		t.Fatalf("handler called after Unsubscribe: %q", seen)
	}
	if srv.NumSubscriptions() != 1 {
		t.Fatalf("%d subscriptions, want the client's 1", srv.NumSubscriptions())
	}
}

// Internal interest is local interest: routes are told, and an internal
// publish reaches clients, queue groups and routes like a client's.
func TestInternalSubscriptionIsRoutedInterest(t *testing.T) {
	srv, addr := startServer(t, Options{})
	router := &fakeRouter{}
	srv.SetRouter(router)
	acc := srv.GlobalAccount()
	s1, err := acc.Subscribe("work", "q", func(Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := acc.Subscribe("events.*", "", func(Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	want := []interestCall{{"work", "q", 1}, {"events.*", "", 1}}
	if got := router.take(); !slices.Equal(got, want) {
		t.Fatalf("router told %v, want %v", got, want)
	}
	s1.Unsubscribe()
	s2.Unsubscribe()
	want = []interestCall{{"work", "q", 0}, {"events.*", "", 0}}
	if got := router.take(); !slices.Equal(got, want) {
		t.Fatalf("router told %v, want %v", got, want)
	}

	// An internal publish: a client subscriber, a route with interest.
	rt := &fakeRoute{}
	if _, err := linkOf(srv, rt).AddInterest(GlobalAccountName, "news", "", 0); err != nil {
		t.Fatal(err)
	}
	c := connectRaw(t, addr, "")
	c.Send("SUB news 7\r\n")
	c.Flush()
	if err := acc.Publish("news", "", []byte("NATS/1.0\r\nK: v\r\n\r\n"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	got := c.Recv(1)
	if len(got) != 1 || got[0].Line != "HMSG news 7 18 19" || got[0].Payload != "NATS/1.0\r\nK: v\r\n\r\nx" {
		t.Fatalf("client got %+v", got)
	}
	if msgs := rt.take(); len(msgs) != 1 || msgs[0].subject != "news" || msgs[0].hdrLen == 0 {
		t.Fatalf("route got %+v", msgs)
	}
}

func TestInternalPublishRefusesBadInput(t *testing.T) {
	srv, _ := startServer(t, Options{})
	acc := srv.GlobalAccount()
	for _, tc := range []struct {
		subj, reply string
		hdr         string
		want        error
	}{
		{"", "", "", ErrBadSubject},
		{"a.*", "", "", ErrBadSubject},
		{"a..b", "", "", ErrBadSubject},
		{"ok", "bad reply", "", ErrBadReply},
		{"ok", "", "HTTP/1.1 200\r\n\r\n", ErrBadHeader},
		{"ok", "", "NATS/1.0\r\n", ErrBadHeader},
		{"ok", "_INBOX.x", "NATS/1.0\r\n\r\n", nil},
	} {
		if err := acc.Publish(tc.subj, tc.reply, []byte(tc.hdr), nil); err != tc.want {
			t.Errorf("Publish(%q, %q, %q) = %v, want %v", tc.subj, tc.reply, tc.hdr, err, tc.want)
		}
	}
	if _, err := acc.Subscribe("bad..subject", "", func(Msg) {}); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Errorf("Subscribe to an invalid subject: %v", err)
	}
	if _, err := acc.Subscribe("ok", "", nil); err == nil {
		t.Error("Subscribe without a handler succeeded")
	}
}

// HasExactInterest counts only subscriptions on the subject itself: a
// client's wildcard matching it (a request multiplexer's _INBOX.x.*) does
// not, its own subscription on the subject does, in a queue group too.
func TestHasExactInterest(t *testing.T) {
	srv, addr := startServer(t, Options{})
	acc := srv.GlobalAccount()
	c := connectRaw(t, addr, "")
	c.Send("SUB _INBOX.x.* 1\r\n")
	c.Flush()
	if !acc.HasInterest("_INBOX.x.a") || acc.HasExactInterest("_INBOX.x.a") {
		t.Fatalf("wildcard only: interest %v, exact %v", acc.HasInterest("_INBOX.x.a"), acc.HasExactInterest("_INBOX.x.a"))
	}
	c.Send("SUB _INBOX.x.a 2\r\n")
	c.Flush()
	if !acc.HasExactInterest("_INBOX.x.a") || acc.HasExactInterest("_INBOX.x.b") {
		t.Fatal("the subscription on the subject itself is not seen, or seen for another")
	}
	c.Send("UNSUB 2\r\nSUB _INBOX.x.a q 3\r\n")
	c.Flush()
	if !acc.HasExactInterest("_INBOX.x.a") {
		t.Fatal("a queue subscription on the subject is not seen")
	}
	c.Send("UNSUB 3\r\n")
	c.Flush()
	if acc.HasExactInterest("_INBOX.x.a") {
		t.Fatal("seen after UNSUB")
	}
}
