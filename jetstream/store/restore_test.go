package store_test

import (
	"testing"
	"time"

	"github.com/natsd/natsd/jetstream/store"
)

// StoreMsgAt puts a message back with its sequence and time (a restore):
// the gaps before it are interior deletes, the times are kept (max_age
// and SeqForTime see them), a TTL counts from the kept time, and all of
// it survives a reopen. A sequence at or below the last is refused.
func TestStoreMsgAt(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			cfg := store.Config{Name: "R", AllowMsgTTL: true}
			st := k.open(t, cfg)
			base := time.Now().Add(-time.Hour).UnixNano()
			at := []struct {
				seq uint64
				ts  int64
				ttl int64
			}{{5, base, 0}, {6, base + 10, 0}, {9, base + 20, 7200}, {12, base + int64(time.Minute), 0}}
			for _, m := range at {
				if err := st.StoreMsgAt(m.seq, m.ts, "r.x", []byte("NATS/1.0\r\nK: v\r\n\r\n"), []byte("data"), m.ttl); err != nil {
					t.Fatalf("StoreMsgAt(%d): %v", m.seq, err)
				}
			}
			if err := st.StoreMsgAt(12, base+int64(2*time.Minute), "r.x", nil, nil, 0); err == nil {
				t.Fatal("StoreMsgAt of the last sequence again: no error")
			}
			if err := st.StoreMsgAt(3, base, "r.x", nil, nil, 0); err == nil {
				t.Fatal("StoreMsgAt below the last sequence: no error")
			}
			check := func(st store.Store) {
				t.Helper()
				wantSeqs(t, st, 5, 6, 9, 12)
				s := st.State(true)
				if s.FirstSeq != 5 || s.LastSeq != 12 || s.Msgs != 4 || s.NumDeleted != 4 {
					t.Fatalf("state %+v", s)
				}
				for _, m := range at {
					sm, err := st.LoadMsg(m.seq, nil)
					if err != nil || sm.Time != m.ts || sm.TTL != m.ttl || string(sm.Data) != "data" || sm.Subject != "r.x" {
						t.Fatalf("message %d: %+v %v", m.seq, sm, err)
					}
				}
				if got := st.SeqForTime(time.Unix(0, base+15)); got != 9 {
					t.Fatalf("SeqForTime: %d, want 9", got)
				}
				// A new message comes after them, at a time of now.
				seq, ts, err := st.StoreMsg("r.y", nil, []byte("new"), 0)
				if err != nil || seq != s.LastSeq+1 || ts < time.Now().Add(-time.Minute).UnixNano() {
					t.Fatalf("StoreMsg after restored ones: %d %d %v", seq, ts, err)
				}
				if err := st.Truncate(s.LastSeq); err != nil {
					t.Fatal(err)
				}
			}
			check(st)
			if k.reopen != nil {
				check(k.reopen(t, st, cfg))
			}
		})
	}
}

// A restored message older than max_age is gone at once: the limits
// apply to the times kept.
func TestStoreMsgAtMaxAge(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			st := k.open(t, store.Config{Name: "R", MaxAge: time.Minute})
			old := time.Now().Add(-time.Hour).UnixNano()
			if err := st.StoreMsgAt(1, old, "r.x", nil, []byte("old"), 0); err != nil {
				t.Fatal(err)
			}
			if err := st.StoreMsgAt(2, time.Now().UnixNano(), "r.x", nil, []byte("new"), 0); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for st.State(false).Msgs != 1 {
				if time.Now().After(deadline) {
					t.Fatalf("state %+v: the hour-old message is kept under max_age 1m", st.State(false))
				}
				time.Sleep(10 * time.Millisecond)
			}
			wantSeqs(t, st, 2)
		})
	}
}
