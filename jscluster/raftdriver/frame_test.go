package raftdriver

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func sampleMessages() []*raftpb.Message {
	return []*raftpb.Message{
		{Type: raftpb.MessageType_MsgHeartbeat.Enum(), To: proto.Uint64(2), From: proto.Uint64(1), Term: proto.Uint64(3), Commit: proto.Uint64(7)},
		{Type: raftpb.MessageType_MsgApp.Enum(), To: proto.Uint64(3), From: proto.Uint64(1), Term: proto.Uint64(3), Index: proto.Uint64(7), LogTerm: proto.Uint64(3),
			Entries: []*raftpb.Entry{{Term: proto.Uint64(3), Index: proto.Uint64(8), Data: []byte("hello")}}},
		{Type: raftpb.MessageType_MsgVoteResp.Enum(), To: proto.Uint64(1), From: proto.Uint64(2), Term: proto.Uint64(4), Reject: proto.Bool(true)},
	}
}

type decoded struct {
	group string
	m     *raftpb.Message
}

func decodeAll(t *testing.T, batch []byte) ([]decoded, int, error) {
	t.Helper()
	var out []decoded
	skipped, err := decodeBatch(batch, func(g string, m *raftpb.Message) { out = append(out, decoded{g, m}) })
	return out, skipped, err
}

func TestFrameRoundTrip(t *testing.T) {
	msgs := sampleMessages()
	groups := []string{"$G", "stream.ORDERS", strings.Repeat("x", maxGroupName)}
	var batch []byte
	for i, m := range msgs {
		batch = AppendFrame(batch, groups[i], m)
	}
	got, skipped, err := decodeAll(t, batch)
	if err != nil || skipped != 0 || len(got) != len(msgs) {
		t.Fatalf("decoded %d, skipped %d, err %v", len(got), skipped, err)
	}
	for i := range msgs {
		if got[i].group != groups[i] || !proto.Equal(got[i].m, msgs[i]) {
			t.Fatalf("frame %d: got %s %v, want %s %v", i, got[i].group, got[i].m, groups[i], msgs[i])
		}
	}
	// The decoded message does not alias the batch.
	for i := range batch {
		batch[i] = 0
	}
	if string(got[1].m.GetEntries()[0].GetData()) != "hello" {
		t.Fatal("decoded entry aliases the batch")
	}
	// A name too long for the frame appends nothing.
	if b := AppendFrame([]byte("x"), strings.Repeat("y", maxGroupName+1), msgs[0]); string(b) != "x" {
		t.Fatalf("over-long name appended %d bytes", len(b)-1)
	}
}

func TestDecodeBadBatches(t *testing.T) {
	good := AppendFrame(nil, "g", sampleMessages()[0])
	second := AppendFrame(nil, "h", sampleMessages()[1])
	flip := func(b []byte, i int) []byte {
		b = append([]byte(nil), b...)
		b[i] ^= 0x40
		return b
	}
	withLen := func(b []byte, n uint32) []byte {
		b = append([]byte(nil), b...)
		binary.BigEndian.PutUint32(b, n)
		return b
	}
	// reCRC fixes the checksum after a change inside the frame, so that
	// what is checked is what comes after it.
	reCRC := func(b []byte) []byte {
		binary.BigEndian.PutUint32(b[4:], crcOf(b[8:]))
		return b
	}
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	tests := []struct {
		name    string
		batch   []byte
		frames  int // delivered
		skipped int
		bad     bool // ErrBadBatch
	}{
		{"empty", nil, 0, 0, false},
		{"good", cat(good, second), 2, 0, false},
		{"short header", good[:5], 0, 0, true},
		{"truncated frame", good[:len(good)-1], 0, 0, true},
		{"good then short", cat(good, second[:3]), 1, 0, true},
		{"bad CRC skipped", cat(flip(good, len(good)-1), second), 1, 1, false},
		{"bad CRC in checksum", cat(flip(good, 5), second), 1, 1, false},
		{"length past end", withLen(good, uint32(len(good))), 0, 0, true},
		{"length huge", withLen(good, 0xffffffff), 0, 0, true},
		{"length below header", withLen(good, 5), 0, 0, true},
		{"length zero", withLen(good, 0), 0, 0, true},
		{"name length past frame", cat(reCRC(func() []byte {
			b := append([]byte(nil), good...)
			binary.BigEndian.PutUint16(b[8:], 0xffff)
			return b
		}()), second), 1, 1, false},
		{"body not protobuf", cat(reCRC(func() []byte {
			b := append([]byte(nil), good...)
			b[len(b)-1] = 0xff
			b[len(b)-2] = 0xff
			return b
		}()), second), 1, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, skipped, err := decodeAll(t, tc.batch)
			if len(got) != tc.frames || skipped != tc.skipped || errors.Is(err, ErrBadBatch) != tc.bad {
				t.Fatalf("delivered %d skipped %d err %v; want %d, %d, bad=%v", len(got), skipped, err, tc.frames, tc.skipped, tc.bad)
			}
			if tc.bad != (err != nil) {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func FuzzDecodeBatch(f *testing.F) {
	var batch []byte
	for i, m := range sampleMessages() {
		one := AppendFrame(nil, "g", m)
		f.Add(one)
		batch = AppendFrame(batch, []string{"a", "bb", "ccc"}[i], m)
	}
	f.Add(batch)
	f.Add(batch[:len(batch)-3])
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 6, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var n int
		skipped, err := decodeBatch(b, func(g string, m *raftpb.Message) {
			n++
			// What was delivered frames again into what decodes to it.
			again := AppendFrame(nil, g, m)
			var back *raftpb.Message
			if _, err := decodeBatch(again, func(_ string, m2 *raftpb.Message) { back = m2 }); err != nil || !proto.Equal(back, m) {
				t.Fatalf("re-framed message does not decode back: %v", err)
			}
		})
		if err != nil && !errors.Is(err, ErrBadBatch) {
			t.Fatalf("error %v is not ErrBadBatch", err)
		}
		if n+skipped > len(b)/frameHeader {
			t.Fatalf("%d frames from %d bytes", n+skipped, len(b))
		}
	})
}
