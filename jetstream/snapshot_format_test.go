package jetstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/s2"
)

// testArchive is a small archive: state.json, two consumers (one with
// pending and redelivered messages), messages with gaps, headers and an
// empty payload, and the end. It returns the uncompressed bytes and what
// was written.
func testArchive(t testing.TB) ([]byte, *arcState, map[string]*arcConsumer, []storeMsg) {
	t.Helper()
	st := &arcState{Msgs: 4, Bytes: 100, FirstSeq: 2, LastSeq: 20, Consumers: 2,
		FirstTime: time.Unix(0, 100).UTC(), LastTime: time.Unix(0, 400).UTC()}
	cons := map[string]*arcConsumer{
		"A": {Config: ConsumerConfig{Durable: "A", AckPolicy: AckExplicit}, State: arcConsumerState{
			Delivered: arcSeqPair{3, 7}, AckFloor: arcSeqPair{1, 2},
			Pending:     map[string]*arcPending{"5": {2, 11}, "7": {3, 12}},
			Redelivered: map[string]uint64{"5": 2}}},
		"B": {Config: ConsumerConfig{Durable: "B", AckPolicy: AckNone}},
	}
	msgs := []storeMsg{
		{Seq: 2, Time: 100, Subject: "s.a", Data: []byte("one")},
		{Seq: 5, Time: 200, Subject: "s.b", Header: []byte("NATS/1.0\r\nNats-TTL: 60\r\n\r\n"), Data: []byte("two")},
		{Seq: 7, Time: 300, Subject: "s.a", Data: []byte{}},
		{Seq: 19, Time: 400, Subject: "s.c", Data: bytes.Repeat([]byte("x"), 5000)},
	}
	var buf bytes.Buffer
	aw, err := newArchiveWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	taken := time.Unix(1700000000, 0)
	if err := aw.file(arcStateFile, taken, st); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"A", "B"} {
		if err := aw.file(arcConsumerDir+name, taken, cons[name]); err != nil {
			t.Fatal(err)
		}
	}
	for i := range msgs {
		if err := aw.message(&msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := aw.end(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), st, cons, msgs
}

func compress(t testing.TB, raw []byte) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := s2.NewWriter(&z)
	if _, err := zw.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return z.Bytes()
}

// readArchive reads a whole archive.
func readArchive(r *archiveReader) (map[string]*arcConsumer, []storeMsg, error) {
	cons := map[string]*arcConsumer{}
	var msgs []storeMsg
	for {
		rec, err := r.next()
		if errors.Is(err, io.EOF) {
			return cons, msgs, nil
		}
		if err != nil {
			return cons, msgs, err
		}
		if rec.consumer != nil {
			cons[rec.consumerName] = rec.consumer
			continue
		}
		m := rec.msg
		m.Header, m.Data = bytes.Clone(m.Header), bytes.Clone(m.Data)
		msgs = append(msgs, m)
	}
}

func TestArchiveRoundTrip(t *testing.T) {
	raw, st, cons, msgs := testArchive(t)
	r, err := openBackup(bytes.NewReader(compress(t, raw)))
	if err != nil {
		t.Fatal(err)
	}
	gotCons, gotMsgs, err := readArchive(r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.state, st) {
		t.Errorf("state %+v, want %+v", r.state, st)
	}
	if !reflect.DeepEqual(gotCons, cons) {
		t.Errorf("consumers %+v, want %+v", gotCons, cons)
	}
	for i := range msgs {
		if len(msgs[i].Header) == 0 {
			msgs[i].Header = gotMsgs[i].Header // nil and empty alike
		}
	}
	if !reflect.DeepEqual(gotMsgs, msgs) {
		t.Errorf("messages %+v, want %+v", gotMsgs, msgs)
	}
	// The consumer state converts to the store's and back exactly.
	sst, err := cons["A"].State.toStore()
	if err != nil {
		t.Fatal(err)
	}
	if back := toArcState(sst); !reflect.DeepEqual(back, cons["A"].State) {
		t.Errorf("consumer state round trip %+v, want %+v", back, cons["A"].State)
	}
}

// A backup nats-server v2.15.2 took (stream R: first sequence 3 after a
// purge, 6 deleted, headers; consumer P with three pending) reads as what
// nats-server had, and natsd's writer encodes its messages to the very
// same bytes.
func TestArchiveReadsNatsServerBackup(t *testing.T) {
	z, err := os.ReadFile("testdata/nats-server-2.15.2-R.arc.s2")
	if err != nil {
		t.Fatal(err)
	}
	r, err := openBackup(bytes.NewReader(z))
	if err != nil {
		t.Fatal(err)
	}
	cons, msgs, err := readArchive(r)
	if err != nil {
		t.Fatal(err)
	}
	if st := r.state; st.FirstSeq != 3 || st.LastSeq != 10 || st.Msgs != 7 || st.Consumers != 1 {
		t.Fatalf("state %+v", st)
	}
	p := cons["P"]
	if p == nil || p.Config.Durable != "P" || p.Config.AckPolicy != AckExplicit || p.Config.MaxDeliver != 5 {
		t.Fatalf("consumer P: %+v", p)
	}
	wantState := arcConsumerState{Delivered: arcSeqPair{4, 7}, AckFloor: arcSeqPair{0, 2}, Pending: map[string]*arcPending{
		"3": {1, 1796427749437991204}, "4": {2, 1796427749459687926}, "5": {3, 1796427749488286604}}}
	if !reflect.DeepEqual(p.State, wantState) {
		t.Fatalf("consumer P state %+v", p.State)
	}
	var seqs []uint64
	for _, m := range msgs {
		seqs = append(seqs, m.Seq)
		if want := fmt.Sprintf("NATS/1.0\r\nK: %d\r\n\r\n", m.Seq); string(m.Header) != want || string(m.Data) != fmt.Sprintf("v%d", m.Seq) {
			t.Errorf("message %d: %q %q", m.Seq, m.Header, m.Data)
		}
	}
	if !reflect.DeepEqual(seqs, []uint64{3, 4, 5, 7, 8, 9, 10}) || msgs[0].Time != 1796427749437991204 || msgs[0].Subject != "r.0" {
		t.Fatalf("messages %v, first %+v", seqs, msgs[0])
	}
	// The same messages written by natsd: the bytes of nats-server's.
	raw, err := io.ReadAll(s2.NewReader(bytes.NewReader(z)))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	aw, _ := newArchiveWriter(io.Discard)
	aw.w = &buf
	for i := range msgs {
		if err := aw.message(&msgs[i]); err != nil {
			t.Fatal(err)
		}
	}
	_ = aw.end()
	if !bytes.HasSuffix(raw, buf.Bytes()) {
		t.Fatalf("natsd encodes the messages as\n%q\nnats-server's archive ends with\n%q", buf.Bytes(), raw[len(raw)-buf.Len():])
	}
}

// Every flipped bit of a compressed backup and every cut of an archive is
// an error: a damaged backup is refused, never restored as something else.
// (A flip S2 decodes to the same bytes, a copy's offset moved within a run
// of equal bytes, is no damage.)
func TestArchiveDamageIsRefused(t *testing.T) {
	raw, _, _, _ := testArchive(t)
	z := compress(t, raw)
	for i := range z {
		for bit := range 8 {
			b := bytes.Clone(z)
			b[i] ^= 1 << bit
			r, err := openBackup(bytes.NewReader(b))
			if err == nil {
				_, _, err = readArchive(r)
			}
			if err == nil {
				if same, _ := io.ReadAll(s2.NewReader(bytes.NewReader(b))); !bytes.Equal(same, raw) {
					t.Fatalf("bit %d flipped at byte %d of %d: backup read without error", bit, i, len(z))
				}
			}
		}
	}
	for n := 0; n < len(raw); n++ {
		r, err := openArchive(bytes.NewReader(raw[:n]))
		if err == nil {
			_, _, err = readArchive(r)
		}
		if err == nil || !strings.Contains(err.Error(), "truncated") && !strings.Contains(err.Error(), "not a stream backup") {
			t.Fatalf("cut at %d of %d: %v", n, len(raw), err)
		}
	}
	r, err := openArchive(bytes.NewReader(append(bytes.Clone(raw), 0)))
	if err == nil {
		_, _, err = readArchive(r)
	}
	if err == nil || !strings.Contains(err.Error(), "after its end") {
		t.Fatalf("trailing data: %v", err)
	}
}

// Archives that are well framed but wrong are refused with what is wrong.
func TestArchiveInconsistent(t *testing.T) {
	w := func(f func(aw *archiveWriter)) []byte {
		var buf bytes.Buffer
		aw, _ := newArchiveWriter(&buf)
		f(aw)
		return buf.Bytes()
	}
	taken := time.Now()
	state := func(aw *archiveWriter, first, last uint64, cons int) {
		_ = aw.file(arcStateFile, taken, &arcState{FirstSeq: first, LastSeq: last, Consumers: cons})
	}
	msg := func(aw *archiveWriter, seq uint64, subj string) {
		_ = aw.entry(subj, 1, seq, nil, []byte("x"))
	}
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"no state first", w(func(aw *archiveWriter) { msg(aw, 1, "a"); _ = aw.end() }), "does not start with state.json"},
		{"message beyond last", w(func(aw *archiveWriter) { state(aw, 1, 3, 0); msg(aw, 4, "a"); _ = aw.end() }), "out of order"},
		{"message below first", w(func(aw *archiveWriter) { state(aw, 5, 9, 0); msg(aw, 4, "a"); _ = aw.end() }), "out of order"},
		{"message twice", w(func(aw *archiveWriter) { state(aw, 1, 9, 0); msg(aw, 4, "a"); msg(aw, 4, "a"); _ = aw.end() }), "out of order"},
		{"bad subject", w(func(aw *archiveWriter) { state(aw, 1, 9, 0); msg(aw, 4, "a b"); _ = aw.end() }), `subject "a b"`},
		{"wildcard subject", w(func(aw *archiveWriter) { state(aw, 1, 9, 0); msg(aw, 4, "a.*"); _ = aw.end() }), `subject "a.*"`},
		{"missing consumer", w(func(aw *archiveWriter) { state(aw, 1, 9, 1); msg(aw, 4, "a"); _ = aw.end() }), "only 0 of 1 consumers"},
		{"missing consumer at end", w(func(aw *archiveWriter) { state(aw, 1, 9, 1); _ = aw.end() }), "0 of its 1 consumers"},
		{"extra consumer", w(func(aw *archiveWriter) {
			state(aw, 1, 9, 0)
			_ = aw.file("consumers/C", taken, &arcConsumer{})
			_ = aw.end()
		}), "beyond the 0 consumers"},
		{"unknown file", w(func(aw *archiveWriter) { state(aw, 1, 9, 0); _ = aw.file("foo/bar", taken, 1); _ = aw.end() }), `file "foo/bar"`},
		{"bad consumer name", w(func(aw *archiveWriter) {
			state(aw, 1, 9, 1)
			_ = aw.file("consumers/a.b", taken, &arcConsumer{})
			_ = aw.end()
		}), `consumer name "a.b"`},
		{"bad pending", w(func(aw *archiveWriter) {
			state(aw, 1, 9, 1)
			_ = aw.entry("consumers/C", 1, 0, nil, []byte(`{"state":{"pending":[1]}}`))
			_ = aw.end()
		}), `consumer "C"`},
		{"huge size", append([]byte(arcMagic), 0x80, 0x80, 0x80, 0x80, 0x10, 0, 0, 0, 0), "has sizes"},
		{"varint overflow", append([]byte(arcMagic), bytes.Repeat([]byte{0xff}, 11)...), "overflow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := openArchive(bytes.NewReader(tc.data))
			if err == nil {
				_, _, err = readArchive(r)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
}

// What is not a backup natsd reads says what it is.
func TestArchiveOtherKinds(t *testing.T) {
	tarHead := make([]byte, 1024)
	copy(tarHead, "meta.inf")
	copy(tarHead[257:], "ustar")
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"nats-server tar", tarHead, "a tar of nats-server's file store"},
		{"other", []byte("hello, world, this is not it"), `not a stream backup: it starts with "hello, w"`},
		{"short", []byte("NATS"), "not a stream backup: the backup is truncated"},
		{"other short", []byte("XY"), `not a stream backup: it starts with "XY"`},
		{"empty", nil, "not a stream backup: the backup is truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openBackup(bytes.NewReader(compress(t, tc.data)))
			if err == nil || !errors.Is(err, errNotABackup) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
	// Not S2 at all.
	_, err := openBackup(strings.NewReader("garbage garbage garbage"))
	if err == nil || !strings.Contains(err.Error(), "s2: corrupt input") {
		t.Fatalf("garbage: %v", err)
	}
}

// FuzzArchive reads arbitrary bytes as an archive: errors, never a panic,
// and what it accepts is well formed.
func FuzzArchive(f *testing.F) {
	raw, _, _, _ := testArchive(f)
	f.Add(raw)
	f.Add(raw[:len(raw)/2])
	if z, err := os.ReadFile("testdata/nats-server-2.15.2-R.arc.s2"); err == nil {
		if ref, err := io.ReadAll(s2.NewReader(bytes.NewReader(z))); err == nil {
			f.Add(ref)
		}
	}
	f.Add([]byte(arcMagic + "\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := openArchive(bytes.NewReader(data))
		if err != nil {
			return
		}
		cons, msgs, err := readArchive(r)
		if err != nil {
			return
		}
		if len(cons) > r.state.Consumers {
			t.Fatalf("accepted %d consumers of %d", len(cons), r.state.Consumers)
		}
		var last uint64
		for _, m := range msgs {
			if m.Seq <= last || m.Subject == "" || m.Seq > r.state.LastSeq || m.Seq < r.state.FirstSeq {
				t.Fatalf("accepted message %d after %d (sequences %d to %d)", m.Seq, last, r.state.FirstSeq, r.state.LastSeq)
			}
			last = m.Seq
		}
		for _, c := range cons {
			if _, err := c.State.toStore(); err != nil {
				return // refused by the restore, which converts it
			}
		}
	})
}
