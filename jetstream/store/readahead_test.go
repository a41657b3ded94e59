package store_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"sync/atomic"
	"testing"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/jetstream/store/faultfs"
)

// sizedPayload is message i's data: its id, then filler up to a size that
// varies from a few bytes to more than the largest read-ahead.
func sizedPayload(i int, rng *rand.Rand) []byte {
	n := rng.Intn(300)
	switch rng.Intn(20) {
	case 0:
		n = 5000 + rng.Intn(20000)
	case 1:
		n = 70000 + rng.Intn(10000) // above readAheadMax
	}
	return append([]byte(fmt.Sprintf("msg-%06d.", i)), bytes.Repeat([]byte{byte('a' + i%26)}, n)...)
}

// Loads in log order into one StoreMsg (what a consumer's delivery loop
// does, and what read-ahead serves) give every message as stored, across
// segments, with the tail growing meanwhile, messages removed, erased and
// truncated ahead of the reader, and random loads into the same StoreMsg
// in between.
func TestLoadsInOrderThroughReadAhead(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewSource(seed))
			fsys := faultfs.New()
			st := openFault(t, fsys, store.Config{Name: "S", SyncAlways: true}, 256<<10)
			defer st.Stop()
			want := map[uint64][]byte{} // data; the subject is s.<len(data)%7>
			put := func(i int) {
				data := sizedPayload(i, rng)
				seq, _, err := st.StoreMsg(fmt.Sprintf("s.%d", len(data)%7), nil, data, 0)
				if err != nil {
					t.Fatal(err)
				}
				want[seq] = data
			}
			id := 0
			for ; id < 1500; id++ {
				put(id)
			}
			var sm, other store.StoreMsg
			next, loaded := uint64(1), 0
			for {
				m, err := st.LoadNextMsg(nil, next, &sm)
				if errors.Is(err, store.ErrMsgNotFound) {
					break
				}
				if err != nil {
					t.Fatalf("LoadNextMsg(%d): %v", next, err)
				}
				w, ok := want[m.Seq]
				if !ok {
					t.Fatalf("LoadNextMsg(%d) gave %d, which is not in the stream", next, m.Seq)
				}
				if !bytes.Equal(m.Data, w) || m.Subject != fmt.Sprintf("s.%d", len(w)%7) || m.Header != nil {
					t.Fatalf("message %d: got %.20q (%d bytes), want %.20q (%d bytes)", m.Seq, m.Data, len(m.Data), w, len(w))
				}
				next, loaded = m.Seq+1, loaded+1
				switch r := rng.Intn(100); {
				case r < 5 && id < 4000: // the tail grows
					for range 1 + rng.Intn(50) {
						put(id)
						id++
					}
				case r < 8: // removed ahead of the reader
					s := next + uint64(rng.Intn(40))
					if _, ok := want[s]; ok {
						if _, err := st.RemoveMsg(s); err != nil {
							t.Fatal(err)
						}
						delete(want, s)
					}
				case r < 10: // erased ahead of the reader
					s := next + uint64(rng.Intn(40))
					if _, ok := want[s]; ok {
						if _, err := st.EraseMsg(s); err != nil {
							t.Fatal(err)
						}
						delete(want, s)
					}
				case r < 11 && loaded > 200: // truncated ahead, and the same sequences given again
					cut := next + uint64(rng.Intn(30))
					if cut < st.State(false).LastSeq {
						if err := st.Truncate(cut); err != nil {
							t.Fatal(err)
						}
						for s := range want {
							if s > cut {
								delete(want, s)
							}
						}
						for range 1 + rng.Intn(60) {
							put(id)
							id++
						}
					}
				case r < 16: // a random load into the same StoreMsg breaks the order
					s := uint64(1 + rng.Intn(int(next)))
					m, err := st.LoadMsg(s, &sm)
					if w, ok := want[s]; ok {
						if err != nil || !bytes.Equal(m.Data, w) {
							t.Fatalf("LoadMsg(%d) between: %v", s, err)
						}
					} else if !errors.Is(err, store.ErrMsgNotFound) {
						t.Fatalf("LoadMsg(%d) of a removed message: %v", s, err)
					}
				case r < 18: // and one into another StoreMsg changes nothing
					s := uint64(1 + rng.Intn(int(next)))
					if w, ok := want[s]; ok {
						if m, err := st.LoadMsg(s, &other); err != nil || !bytes.Equal(m.Data, w) {
							t.Fatalf("LoadMsg(%d) into another: %v", s, err)
						}
					}
				}
			}
			n := 0
			for s := range want {
				if s < next {
					n++
				}
			}
			if loaded != n || len(want) != n {
				t.Fatalf("loaded %d messages in order, the stream has %d (%d below %d)", loaded, len(want), n, next)
			}
			if lost := st.State(false).Lost; lost != nil {
				t.Fatalf("lost: %+v", lost)
			}
		})
	}
}

// countingFS counts the reads of the files it opens.
type countingFS struct {
	*faultfs.FS
	reads *atomic.Int64
}

func (c countingFS) OpenFile(name string, flag int, perm fs.FileMode) (store.File, error) {
	f, err := c.FS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return countingFile{f, c.reads}, nil
}

type countingFile struct {
	store.File
	reads *atomic.Int64
}

func (c countingFile) ReadAt(p []byte, off int64) (int, error) {
	c.reads.Add(1)
	return c.File.ReadAt(p, off)
}

// Loads in order read ahead: far fewer reads than messages. A record
// damaged on disk is still found by the reads that read ahead over it: it
// is reported and not served, its neighbours are.
func TestReadAheadVerifiesEveryRecord(t *testing.T) {
	fsys := faultfs.New()
	var reads atomic.Int64
	cfg := store.Config{Name: "S", SyncAlways: true}
	st, err := store.OpenFileStoreSegMax(countingFS{fsys, &reads}, dir, cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Stop()
	for i := 1; i <= 100; i++ {
		if _, _, err := st.StoreMsg("s", nil, payload(i), 0); err != nil {
			t.Fatal(err)
		}
	}
	f, off := recordOffset(t, fsys, "s", payload(50))
	if err := fsys.FlipBit(f, off+store.RecHdrLen+1+3, 2); err != nil {
		t.Fatal(err)
	}
	var sm store.StoreMsg
	var got []uint64
	reads.Store(0)
	for next := uint64(1); ; {
		m, err := st.LoadNextMsg(nil, next, &sm)
		if err != nil {
			break
		}
		if !bytes.Equal(m.Data, payload(int(m.Seq))) {
			t.Fatalf("message %d served as %q", m.Seq, m.Data)
		}
		got = append(got, m.Seq)
		next = m.Seq + 1
	}
	if len(got) != 99 || got[48] != 49 || got[49] != 51 {
		t.Fatalf("loaded %d messages (…%v…), want 1–100 without 50", len(got), got[45:min(len(got), 52)])
	}
	if lost := st.State(false).Lost; lost == nil || len(lost.Msgs) != 1 || lost.Msgs[0] != 50 {
		t.Fatalf("lost %+v, want message 50", lost)
	}
	// 100 records of ~40 bytes: a direct read, then read-aheads of 4 KiB
	// and more.
	if n := reads.Load(); n > 5 {
		t.Fatalf("%d reads for 100 loads in order", n)
	}
}
