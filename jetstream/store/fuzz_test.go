package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/jetstream/store/faultfs"
)

// FuzzDecodeRecord: the decoder never panics, never claims more bytes
// than it has, and a record it accepts fails after any one flipped bit
// (CRC-32C catches every single-bit error).
func FuzzDecodeRecord(f *testing.F) {
	f.Add(store.AppendMsgRecord(nil, 1, 1e18, 0, "foo.bar", nil, []byte("hello")))
	f.Add(store.AppendMsgRecord(nil, 7, 5, 60, "a", []byte("NATS/1.0\r\n\r\n"), nil))
	f.Add(make([]byte, store.RecHdrLen))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, n, err := store.DecodeRecord(b)
		if err != nil {
			return
		}
		if n < store.RecHdrLen || n > len(b) {
			t.Fatalf("accepted a record of %d bytes out of %d", n, len(b))
		}
		for _, bit := range []int{0, 8*n - 1, (8 * n) / 2, 37} {
			c := bytes.Clone(b[:n])
			c[bit/8] ^= 1 << (bit % 8)
			if _, _, _, err := store.DecodeRecord(c); err == nil {
				t.Fatalf("bit %d flipped and the record still decodes", bit)
			}
		}
	})
}

// validLog is the segments of a small real store, for the seed corpus.
func validLog(f *testing.F) [][]byte {
	fsys := faultfs.New()
	st, err := store.OpenFileStoreSegMax(fsys, dir, store.Config{Name: "S", SyncAlways: true, AllowMsgTTL: true}, 300)
	if err != nil {
		f.Fatal(err)
	}
	for i := 1; i <= 12; i++ {
		st.StoreMsg(fmt.Sprintf("s.%d", i%3), []byte("NATS/1.0\r\n\r\n"), payload(i), int64(i%2))
	}
	st.RemoveMsg(3)
	st.Purge("s.1", 0, 1)
	st.SkipMsgs(2)
	st.Stop()
	var out [][]byte
	for _, name := range fsys.Files(dir) {
		b, _ := fsys.ReadFile(name)
		out = append(out, b)
	}
	for len(out) < 2 {
		out = append(out, nil)
	}
	return out
}

// FuzzOpen opens a store whose two segment files hold arbitrary bytes:
// no panic, and every message it returns is a whole record present, byte
// for byte with its checksum, in one of the files.
func FuzzOpen(f *testing.F) {
	log := validLog(f)
	f.Add(log[0], log[1])
	f.Add(log[0][:len(log[0])-5], []byte{})
	damaged := bytes.Clone(log[0])
	damaged[len(damaged)/2] ^= 0x10
	f.Add(damaged, log[1])
	f.Fuzz(func(t *testing.T, seg1, seg2 []byte) {
		fsys := faultfs.New()
		fsys.MkdirAll(dir, 0o750)
		fsys.WriteFile(dir+"/00000000000000000001.seg", seg1)
		fsys.WriteFile(dir+"/00000000000000000002.seg", seg2)
		st, err := store.OpenFileStore(fsys, dir, store.Config{Name: "S", SyncAlways: true, AllowMsgTTL: true})
		if err != nil {
			return
		}
		defer st.Stop()
		state := st.State(true)
		var sm store.StoreMsg
		n := 0
		for s := uint64(0); n < 1000; n++ {
			m, err := st.LoadNextMsg(nil, s, &sm)
			if errors.Is(err, store.ErrMsgNotFound) {
				break
			}
			if err != nil {
				t.Fatalf("LoadNextMsg: %v", err)
			}
			rec := store.AppendMsgRecord(nil, m.Seq, m.Time, m.TTL, m.Subject, m.Header, m.Data)
			if !bytes.Contains(seg1, rec) && !bytes.Contains(seg2, rec) {
				t.Fatalf("message %d is not a whole record of the input", m.Seq)
			}
			s = m.Seq + 1
		}
		if state.Msgs < uint64(n) {
			t.Fatalf("State says %d messages, loaded %d", state.Msgs, n)
		}
		// The store keeps working on whatever it made of the bytes.
		if _, _, err := st.StoreMsg("after", nil, []byte("x"), 0); err != nil && !errors.Is(err, store.ErrMaxMsgs) {
			t.Fatalf("StoreMsg after open: %v", err)
		}
	})
}
