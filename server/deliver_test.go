package server

import (
	"fmt"
	"slices"
	"strings"
	"testing"
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
	hdr.send("SUB foo 1\r\n")
	plain.send("SUB foo 22\r\n")
	hdr.flush()
	plain.flush()

	const trace = "NATS/1.0\r\nNats-Trace-Dest: t\r\nNats-Trace-Only: true\r\n\r\n"
	tests := []struct {
		name      string
		pub       string
		hdr       []frame // what the headers client gets
		plainRecv []frame // what the client without headers gets
	}{
		{"PUB", "PUB foo 5\r\nhello\r\n",
			[]frame{{"MSG foo 1 5", "hello"}}, []frame{{"MSG foo 22 5", "hello"}}},
		{"PUB with reply", "PUB foo reply.x 5\r\nhello\r\n",
			[]frame{{"MSG foo 1 reply.x 5", "hello"}}, []frame{{"MSG foo 22 reply.x 5", "hello"}}},
		{"size field kept verbatim", "PUB foo 005\r\nhello\r\n",
			[]frame{{"MSG foo 1 005", "hello"}}, []frame{{"MSG foo 22 005", "hello"}}},
		{"empty payload", "PUB foo 0\r\n\r\n",
			[]frame{{"MSG foo 1 0", ""}}, []frame{{"MSG foo 22 0", ""}}},
		{"HPUB", "HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
			[]frame{{"HMSG foo 1 12 17", "NATS/1.0\r\n\r\nhello"}}, []frame{{"MSG foo 22 5", "hello"}}},
		{"HPUB with reply", hpub("foo", "r.1", "NATS/1.0\r\nA: bcdefg\r\n\r\n", "hi"),
			[]frame{{"HMSG foo 1 r.1 23 25", "NATS/1.0\r\nA: bcdefg\r\n\r\nhi"}}, []frame{{"MSG foo 22 r.1 2", "hi"}}},
		{"HPUB headers only", "HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n",
			[]frame{{"HMSG foo 1 12 12", "NATS/1.0\r\n\r\n"}}, []frame{{"MSG foo 22 0", ""}}},
		{"trace-only message is not delivered", hpub("foo", "", trace, "hi"), nil, nil},
	}
	for _, tt := range tests {
		pub.send(tt.pub)
		if got := pub.flush(); len(got) != 0 {
			t.Fatalf("%s: publisher got %q", tt.name, lines(got))
		}
		if got := hdr.flush(); !slices.Equal(got, tt.hdr) {
			t.Errorf("%s: headers client got %q, want %q", tt.name, got, tt.hdr)
		}
		if got := plain.flush(); !slices.Equal(got, tt.plainRecv) {
			t.Errorf("%s: plain client got %q, want %q", tt.name, got, tt.plainRecv)
		}
	}

	// A client without headers may not send HPUB: closed without -ERR.
	plain.send("HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n")
	if got := plain.readUntilClosed(); len(got) != 0 {
		t.Errorf("HPUB without headers: got %q, want a silent close", got)
	}
}

func TestEcho(t *testing.T) {
	_, addr := startServer(t, Options{})
	noEcho := connectRaw(t, addr, `{"verbose":false,"echo":false}`)
	echo := connectRaw(t, addr, `{"verbose":false}`)
	other := connectRaw(t, addr, "")
	noEcho.send("SUB foo 1\r\nSUB solo q 2\r\nSUB shared q 3\r\n")
	echo.send("SUB foo 1\r\n")
	other.send("SUB foo 1\r\nSUB shared q 3\r\n")
	for _, c := range []*rawConn{noEcho, echo, other} {
		c.flush()
	}

	noEcho.send("PUB foo 1\r\na\r\n")
	if got := noEcho.flush(); len(got) != 0 {
		t.Errorf("echo:false publisher got its own message: %q", lines(got))
	}
	if countMsgs(t, echo) != 1 || countMsgs(t, other) != 1 {
		t.Error("other subscribers missed the echo:false publisher's message")
	}
	echo.send("PUB foo 1\r\nb\r\n")
	if got := echo.flush(); len(got) != 1 || got[0].line != "MSG foo 1 1" {
		t.Errorf("echo:true publisher got %q, want its own message", lines(got))
	}
	countMsgs(t, noEcho)
	countMsgs(t, other)

	// echo:false also skips the publisher's own queue members: its only
	// member gets nothing, and in a shared group the other member gets all.
	noEcho.send(strings.Repeat("PUB solo 1\r\nx\r\n", 5) + strings.Repeat("PUB shared 1\r\ny\r\n", 20))
	if got := noEcho.flush(); len(got) != 0 {
		t.Errorf("echo:false publisher got %d own queue messages", len(got))
	}
	if n := countMsgs(t, other); n != 20 {
		t.Errorf("other member of the shared group got %d of 20", n)
	}
}

func TestQueueGroupDelivery(t *testing.T) {
	_, addr := startServer(t, Options{})
	plain := connectRaw(t, addr, "")
	plain.send("SUB work 1\r\n")
	plain.flush()
	members := make([]*rawConn, 3)
	for i := range members {
		members[i] = connectRaw(t, addr, "")
		members[i].send("SUB work g 1\r\nSUB work h 2\r\n")
		members[i].flush()
	}
	pub := connectRaw(t, addr, "")
	const n = 60
	pub.send(strings.Repeat("PUB work 2\r\nhi\r\n", n))
	pub.flush()
	if got := countMsgs(t, plain); got != n {
		t.Errorf("plain subscriber got %d of %d", got, n)
	}
	perGroup := map[string]int{}
	used := 0
	for _, m := range members {
		got := m.flush()
		if len(got) > 0 {
			used++
		}
		for _, f := range got {
			perGroup[strings.Fields(f.line)[2]]++ // the sid names the group
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
	sub.send("SUB a 1\r\nUNSUB 1 2\r\n")
	sub.flush()
	pub.send(strings.Repeat("PUB a 1\r\nx\r\n", 3))
	pub.flush()
	if n := countMsgs(t, sub); n != 2 {
		t.Errorf("UNSUB 1 2 then 3 messages: got %d, want 2", n)
	}

	// Two delivered first, then UNSUB 2 2: gone at once.
	sub.send("SUB b 2\r\n")
	sub.flush()
	pub.send(strings.Repeat("PUB b 1\r\nx\r\n", 2))
	pub.flush()
	if n := countMsgs(t, sub); n != 2 {
		t.Fatalf("got %d, want 2", n)
	}
	sub.send("UNSUB 2 2\r\n")
	sub.flush()
	pub.send("PUB b 1\r\nx\r\n")
	pub.flush()
	if n := countMsgs(t, sub); n != 0 {
		t.Errorf("UNSUB 2 2 after 2 deliveries: %d more arrived", n)
	}

	// One delivered, then UNSUB 3 3: two more.
	sub.send("SUB c 3\r\n")
	sub.flush()
	pub.send("PUB c 1\r\nx\r\n")
	pub.flush()
	countMsgs(t, sub)
	sub.send("UNSUB 3 3\r\n")
	sub.flush()
	pub.send(strings.Repeat("PUB c 1\r\nx\r\n", 5))
	pub.flush()
	if n := countMsgs(t, sub); n != 2 {
		t.Errorf("UNSUB 3 3 after 1 delivery: %d more, want 2", n)
	}
	if n := srv.NumSubscriptions(); n != 0 {
		t.Errorf("%d subscriptions left, want 0", n)
	}
	if cz := srv.Connz(ConnzOptions{CID: 1}); len(cz.Conns) != 1 || cz.Conns[0].NumSubs != 0 {
		t.Errorf("connz still lists subscriptions: %+v", cz.Conns)
	}
}
