package jetstream

import (
	"bytes"
	"testing"
)

// A replicated stream's entries decode to what was encoded.
func TestReplicatedEntriesRoundTrip(t *testing.T) {
	batch := []*inMsg{
		{subject: "a.b", reply: "_INBOX.1", hdr: []byte("NATS/1.0\r\nNats-Msg-Id: x\r\n\r\n"), data: []byte("hello")},
		{barrier: make(chan struct{})},
		{subject: "c", data: nil},
	}
	e, err := decodeEntry(encodePublish(nil, 7, 42, batch))
	if err != nil {
		t.Fatal(err)
	}
	if e.kind != entryPublish || e.origin != 7 || e.ts != 42 || len(e.msgs) != 2 ||
		e.msgs[0].subject != "a.b" || e.msgs[0].reply != "_INBOX.1" || !bytes.Equal(e.msgs[0].data, []byte("hello")) ||
		e.msgs[1].subject != "c" || e.msgs[1].hdr != nil {
		t.Fatalf("publish entry: %+v", e)
	}
	e, err = decodeEntry(encodeOp(entryPurge, 9, 1, "r", "s.>", 10, 3, true))
	if err != nil || e.kind != entryPurge || e.reply != "r" || e.subject != "s.>" || e.seq != 10 || e.keep != 3 || !e.noErase {
		t.Fatalf("purge entry: %+v %v", e, err)
	}
	ops := []consumerOp{{name: "C", dseq: 1, sseq: 5, dc: 1, ts: 99}, {name: "C", ack: true, dseq: 1, sseq: 5}}
	e, err = decodeEntry(encodeConsumerOps(3, ops))
	if err != nil || e.kind != entryConsumerOps {
		t.Fatalf("consumer ops entry: %+v %v", e, err)
	}
	got, err := decodeConsumerOps(e.body)
	if err != nil || len(got) != 2 || got[0] != ops[0] || got[1] != ops[1] {
		t.Fatalf("consumer ops %+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {1}, {2, entryPublish}, {entryVersion, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, err := decodeEntry(bad); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}

// FuzzReplicatedEntry: no input makes the entry, consumer-ops or
// catch-up decoders panic, and what decodes encodes back alike.
func FuzzReplicatedEntry(f *testing.F) {
	f.Add(encodePublish(nil, 1, 2, []*inMsg{{subject: "a", reply: "b", hdr: []byte("h"), data: []byte("d")}}))
	f.Add(encodeOp(entryMsgDelete, 1, 2, "r", "", 5, 0, false))
	f.Add(encodeConsumerOps(1, []consumerOp{{name: "C", ack: true, dseq: 1, sseq: 2}}))
	f.Add(encodeConsumerEntry(entryConsumer, 1, &consumerEntry{Name: "C"}))
	f.Add([]byte{entryVersion, 1, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := decodeEntry(b)
		if err == nil && e.kind == entryPublish {
			again, err := decodeEntry(encodePublish(nil, e.origin, e.ts, e.msgs))
			if err != nil || len(again.msgs) != len(e.msgs) {
				t.Fatalf("re-encoded publish entry: %v", err)
			}
		}
		if err == nil && e.kind == entryConsumerOps {
			_, _ = decodeConsumerOps(e.body)
		}
		_, _ = decodeConsumerOps(b)
		_, _ = decodeCatchup(b)
	})
}
