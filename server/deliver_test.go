package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
)

// hpub is an HPUB with its sizes counted.
func hpub(subj, reply, hdr, payload string) string {
	if reply != "" {
		subj += " " + reply
	}
	return fmt.Sprintf("HPUB %s %d %d\r\n%s%s\r\n", subj, len(hdr), len(hdr)+len(payload), hdr, payload)
}

func TestDeliveryFormats(t *testing.T) {
	_, addr := startServer(t, Options{})
	hdr := connectRaw(t, addr, `{"verbose":false,"headers":true}`)
	plain := connectRaw(t, addr, `{"verbose":false,"headers":false}`)
	pub := connectRaw(t, addr, `{"verbose":false,"headers":true}`)
	hdr.Send("SUB foo 1\r\n")
	plain.Send("SUB foo 22\r\n")
	hdr.Flush()
	plain.Flush()

	const trace = "NATS/1.0\r\nNats-Trace-Dest: t\r\nNats-Trace-Only: true\r\n\r\n"
	tests := []struct {
		name      string
		pub       string
		hdr       []testutil.Frame // what the headers client gets
		plainRecv []testutil.Frame // what the client without headers gets
	}{
		{"PUB", "PUB foo 5\r\nhello\r\n",
			[]testutil.Frame{{Line: "MSG foo 1 5", Payload: "hello"}}, []testutil.Frame{{Line: "MSG foo 22 5", Payload: "hello"}}},
		{"PUB with reply", "PUB foo reply.x 5\r\nhello\r\n",
			[]testutil.Frame{{Line: "MSG foo 1 reply.x 5", Payload: "hello"}}, []testutil.Frame{{Line: "MSG foo 22 reply.x 5", Payload: "hello"}}},
		{"size field kept verbatim", "PUB foo 005\r\nhello\r\n",
			[]testutil.Frame{{Line: "MSG foo 1 005", Payload: "hello"}}, []testutil.Frame{{Line: "MSG foo 22 005", Payload: "hello"}}},
		{"empty payload", "PUB foo 0\r\n\r\n",
			[]testutil.Frame{{Line: "MSG foo 1 0", Payload: ""}}, []testutil.Frame{{Line: "MSG foo 22 0", Payload: ""}}},
		{"HPUB", "HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
			[]testutil.Frame{{Line: "HMSG foo 1 12 17", Payload: "NATS/1.0\r\n\r\nhello"}}, []testutil.Frame{{Line: "MSG foo 22 5", Payload: "hello"}}},
		{"HPUB with reply", hpub("foo", "r.1", "NATS/1.0\r\nA: bcdefg\r\n\r\n", "hi"),
			[]testutil.Frame{{Line: "HMSG foo 1 r.1 23 25", Payload: "NATS/1.0\r\nA: bcdefg\r\n\r\nhi"}}, []testutil.Frame{{Line: "MSG foo 22 r.1 2", Payload: "hi"}}},
		{"HPUB headers only", "HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n",
			[]testutil.Frame{{Line: "HMSG foo 1 12 12", Payload: "NATS/1.0\r\n\r\n"}}, []testutil.Frame{{Line: "MSG foo 22 0", Payload: ""}}},
		{"trace-only message is not delivered", hpub("foo", "", trace, "hi"), nil, nil},
	}
	for _, tt := range tests {
		pub.Send(tt.pub)
		if got := pub.Flush(); len(got) != 0 {
			t.Fatalf("%s: publisher got %q", tt.name, testutil.Lines(got))
		}
		if got := hdr.Flush(); !slices.Equal(got, tt.hdr) {
			t.Errorf("%s: headers client got %q, want %q", tt.name, got, tt.hdr)
		}
		if got := plain.Flush(); !slices.Equal(got, tt.plainRecv) {
			t.Errorf("%s: plain client got %q, want %q", tt.name, got, tt.plainRecv)
		}
	}

	// A client without headers may not send HPUB: closed without -ERR.
	plain.Send("HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n")
	if got := plain.ReadUntilClosed(); len(got) != 0 {
		t.Errorf("HPUB without headers: got %q, want a silent close", got)
	}
}

func TestEcho(t *testing.T) {
	_, addr := startServer(t, Options{})
	noEcho := connectRaw(t, addr, `{"verbose":false,"echo":false}`)
	echo := connectRaw(t, addr, `{"verbose":false}`)
	other := connectRaw(t, addr, "")
	noEcho.Send("SUB foo 1\r\nSUB solo q 2\r\nSUB shared q 3\r\n")
	echo.Send("SUB foo 1\r\n")
	other.Send("SUB foo 1\r\nSUB shared q 3\r\n")
	for _, c := range []*testutil.ProtoConn{noEcho, echo, other} {
		c.Flush()
	}

	noEcho.Send("PUB foo 1\r\na\r\n")
	if got := noEcho.Flush(); len(got) != 0 {
		t.Errorf("echo:false publisher got its own message: %q", testutil.Lines(got))
	}
	if countMsgs(t, echo) != 1 || countMsgs(t, other) != 1 {
		t.Error("other subscribers missed the echo:false publisher's message")
	}
	echo.Send("PUB foo 1\r\nb\r\n")
	if got := echo.Flush(); len(got) != 1 || got[0].Line != "MSG foo 1 1" {
		t.Errorf("echo:true publisher got %q, want its own message", testutil.Lines(got))
	}
	countMsgs(t, noEcho)
	countMsgs(t, other)

	// echo:false also skips the publisher's own queue members: its only
	// member gets nothing, and in a shared group the other member gets all.
	noEcho.Send(strings.Repeat("PUB solo 1\r\nx\r\n", 5) + strings.Repeat("PUB shared 1\r\ny\r\n", 20))
	if got := noEcho.Flush(); len(got) != 0 {
		t.Errorf("echo:false publisher got %d own queue messages", len(got))
	}
	if n := countMsgs(t, other); n != 20 {
		t.Errorf("other member of the shared group got %d of 20", n)
	}
}

func TestQueueGroupDelivery(t *testing.T) {
	_, addr := startServer(t, Options{})
	plain := connectRaw(t, addr, "")
	plain.Send("SUB work 1\r\n")
	plain.Flush()
	members := make([]*testutil.ProtoConn, 3)
	for i := range members {
		members[i] = connectRaw(t, addr, "")
		members[i].Send("SUB work g 1\r\nSUB work h 2\r\n")
		members[i].Flush()
	}
	pub := connectRaw(t, addr, "")
	const n = 60
	pub.Send(strings.Repeat("PUB work 2\r\nhi\r\n", n))
	pub.Flush()
	if got := countMsgs(t, plain); got != n {
		t.Errorf("plain subscriber got %d of %d", got, n)
	}
	perGroup := map[string]int{}
	used := 0
	for _, m := range members {
		got := m.Flush()
		if len(got) > 0 {
			used++
		}
		for _, f := range got {
			perGroup[strings.Fields(f.Line)[2]]++ // the sid names the group
		}
	}
	if perGroup["1"] != n || perGroup["2"] != n {
		t.Errorf("group g got %d, group h got %d; want %d each (one member per message per group)", perGroup["1"], perGroup["2"], n)
	}
	if used < 2 {
		t.Errorf("only %d of 3 members were ever picked", used)
	}
}

func TestAutoUnsubscribe(t *testing.T) {
	srv, addr := startServer(t, Options{})
	sub := connectRaw(t, addr, "")
	pub := connectRaw(t, addr, "")

	// UNSUB 1 2 before any message: exactly two arrive.
	sub.Send("SUB a 1\r\nUNSUB 1 2\r\n")
	sub.Flush()
	pub.Send(strings.Repeat("PUB a 1\r\nx\r\n", 3))
	pub.Flush()
	if n := countMsgs(t, sub); n != 2 {
		t.Errorf("UNSUB 1 2 then 3 messages: got %d, want 2", n)
	}

	// Two delivered first, then UNSUB 2 2: gone at once.
	sub.Send("SUB b 2\r\n")
	sub.Flush()
	pub.Send(strings.Repeat("PUB b 1\r\nx\r\n", 2))
	pub.Flush()
	if n := countMsgs(t, sub); n != 2 {
		t.Fatalf("got %d, want 2", n)
	}
	sub.Send("UNSUB 2 2\r\n")
	sub.Flush()
	pub.Send("PUB b 1\r\nx\r\n")
	pub.Flush()
	if n := countMsgs(t, sub); n != 0 {
		t.Errorf("UNSUB 2 2 after 2 deliveries: %d more arrived", n)
	}

	// One delivered, then UNSUB 3 3: two more.
	sub.Send("SUB c 3\r\n")
	sub.Flush()
	pub.Send("PUB c 1\r\nx\r\n")
	pub.Flush()
	countMsgs(t, sub)
	sub.Send("UNSUB 3 3\r\n")
	sub.Flush()
	pub.Send(strings.Repeat("PUB c 1\r\nx\r\n", 5))
	pub.Flush()
	if n := countMsgs(t, sub); n != 2 {
		t.Errorf("UNSUB 3 3 after 1 delivery: %d more, want 2", n)
	}
	if n := srv.NumSubscriptions(); n != 0 {
		t.Errorf("%d subscriptions left, want 0", n)
	}
	if cs := srv.Conns(true, false); len(cs) == 0 || cs[0].Cid != 1 || len(cs[0].Subs) != 0 {
		t.Errorf("client 1 still lists subscriptions: %+v", cs[0])
	}
}
