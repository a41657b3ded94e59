package store_test

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand"
	"slices"
	"testing"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/server/subject"
)

// model is the obviously-right store the conformance tests compare both
// stores with: a map and brute force, no limits.
type model struct {
	msgs map[uint64]store.StoreMsg
	last uint64
}

func newModel() *model { return &model{msgs: map[uint64]store.StoreMsg{}} }

func (m *model) seqs() []uint64 { return slices.Sorted(maps.Keys(m.msgs)) }

func (m *model) first() uint64 {
	if len(m.msgs) == 0 {
		return m.last + 1
	}
	return slices.Min(slices.Collect(maps.Keys(m.msgs)))
}

func matchAny(filters []string, subj string) bool {
	if len(filters) == 0 {
		return true
	}
	for _, f := range filters {
		if f == "" || f == ">" || subject.Matches(f, subj) {
			return true
		}
	}
	return false
}

func (m *model) filtered(seq uint64, f string) store.SimpleState {
	var ss store.SimpleState
	for _, s := range m.seqs() {
		if s >= seq && matchAny([]string{f}, m.msgs[s].Subject) {
			if ss.Msgs == 0 {
				ss.First = s
			}
			ss.Last = s
			ss.Msgs++
		}
	}
	return ss
}

func (m *model) numPending(seq uint64, filters []string, lps bool) uint64 {
	var n uint64
	lastOf := map[string]uint64{}
	for _, s := range m.seqs() {
		sm := m.msgs[s]
		if !matchAny(filters, sm.Subject) {
			continue
		}
		lastOf[sm.Subject] = s
		if s >= seq && !lps {
			n++
		}
	}
	if lps {
		for _, s := range lastOf {
			if s >= seq {
				n++
			}
		}
	}
	return n
}

func (m *model) next(filters []string, start uint64) (uint64, bool) {
	for _, s := range m.seqs() {
		if s >= start && matchAny(filters, m.msgs[s].Subject) {
			return s, true
		}
	}
	return 0, false
}

func (m *model) lastMatch(f string) (uint64, bool) {
	seqs := m.seqs()
	for i := len(seqs) - 1; i >= 0; i-- {
		if matchAny([]string{f}, m.msgs[seqs[i]].Subject) {
			return seqs[i], true
		}
	}
	return 0, false
}

func (m *model) subjects(f string) map[string]store.SimpleState {
	out := map[string]store.SimpleState{}
	for _, s := range m.seqs() {
		sm := m.msgs[s]
		if !matchAny([]string{f}, sm.Subject) {
			continue
		}
		ss := out[sm.Subject]
		if ss.Msgs == 0 {
			ss.First = s
		}
		ss.Last = s
		ss.Msgs++
		out[sm.Subject] = ss
	}
	return out
}

func (m *model) deleted() []uint64 {
	var d []uint64
	if len(m.msgs) == 0 {
		return nil
	}
	for s := m.first(); s <= m.last; s++ {
		if _, ok := m.msgs[s]; !ok {
			d = append(d, s)
		}
	}
	return d
}

var (
	modelSubjects = []string{"a.b", "a.c", "a.b.c", "b.x.y", "b.z.y", "c", "d.1", "d.2", "d.3", "e.f.g.h"}
	modelFilters  = []string{"", ">", "a.b", "a.*", "a.>", "*.x.*", "b.*.y", "c", "nope", "d.*", "*", "e.>"}
)

// checkAgainst compares every query of st with the model.
func checkAgainst(t *testing.T, st store.Store, m *model, rng *rand.Rand) {
	t.Helper()
	got := st.State(true)
	want := store.StreamState{Msgs: uint64(len(m.msgs)), FirstSeq: m.first(), LastSeq: m.last}
	if got.Msgs != want.Msgs || got.FirstSeq != want.FirstSeq || got.LastSeq != want.LastSeq {
		t.Fatalf("state: got msgs=%d first=%d last=%d, want msgs=%d first=%d last=%d",
			got.Msgs, got.FirstSeq, got.LastSeq, want.Msgs, want.FirstSeq, want.LastSeq)
	}
	if d := m.deleted(); !slices.Equal(got.Deleted, d) || got.NumDeleted != len(d) {
		t.Fatalf("deleted: got %v (%d), want %v", got.Deleted, got.NumDeleted, d)
	}
	if n := len(m.subjects("")); got.NumSubjects != n {
		t.Fatalf("NumSubjects %d, want %d", got.NumSubjects, n)
	}
	var sm store.StoreMsg
	for s := m.first(); s <= m.last+1; s++ {
		want, ok := m.msgs[s]
		g, err := st.LoadMsg(s, &sm)
		if !ok {
			if err != store.ErrMsgNotFound {
				t.Fatalf("LoadMsg(%d) = %v, %v; want not found", s, g, err)
			}
			continue
		}
		if err != nil || !sameMsg(g, &want) {
			t.Fatalf("LoadMsg(%d) = %+v, %v; want %+v", s, g, err, want)
		}
	}
	for range 8 {
		seq := uint64(rng.Intn(int(m.last) + 3))
		f := modelFilters[rng.Intn(len(modelFilters))]
		if g, w := st.FilteredState(seq, f), m.filtered(seq, f); g != w {
			t.Fatalf("FilteredState(%d, %q) = %+v, want %+v", seq, f, g, w)
		}
		if g, w := st.SubjectsState(f), m.subjects(f); !maps.Equal(g, w) {
			t.Fatalf("SubjectsState(%q) = %v, want %v", f, g, w)
		}
		filters := []string{f}
		if rng.Intn(3) == 0 {
			filters = append(filters, modelFilters[rng.Intn(len(modelFilters))])
		}
		if rng.Intn(5) == 0 {
			filters = nil
		}
		for _, lps := range []bool{false, true} {
			if g, w := st.NumPending(seq, filters, lps), m.numPending(seq, filters, lps); g != w {
				t.Fatalf("NumPending(%d, %q, %v) = %d, want %d", seq, filters, lps, g, w)
			}
		}
		ws, wok := m.next(filters, seq)
		g, err := st.LoadNextMsg(filters, seq, &sm)
		if wok != (err == nil) || wok && g.Seq != ws {
			t.Fatalf("LoadNextMsg(%q, %d) = %v, %v; want %d, %v", filters, seq, g, err, ws, wok)
		}
		ws, wok = m.lastMatch(f)
		g, err = st.LoadLastMsg(f, &sm)
		if wok != (err == nil) || wok && g.Seq != ws {
			t.Fatalf("LoadLastMsg(%q) = %v, %v; want %d, %v", f, g, err, ws, wok)
		}
		ws, wok = 0, false
		for _, s := range m.seqs() {
			if s <= seq {
				ws, wok = s, true
			}
		}
		g, err = st.LoadPrevMsg(seq, &sm)
		if wok != (err == nil) || wok && g.Seq != ws {
			t.Fatalf("LoadPrevMsg(%d) = %v, %v; want %d, %v", seq, g, err, ws, wok)
		}
	}
}

func sameMsg(g, w *store.StoreMsg) bool {
	return g.Seq == w.Seq && g.Subject == w.Subject && bytes.Equal(g.Header, w.Header) &&
		bytes.Equal(g.Data, w.Data) && g.Time == w.Time && g.TTL == w.TTL
}

// randomOps applies n random operations to st and m alike.
func randomOps(t *testing.T, st store.Store, m *model, rng *rand.Rand, n int) {
	t.Helper()
	for range n {
		switch op := rng.Intn(100); {
		case op < 60:
			subj := modelSubjects[rng.Intn(len(modelSubjects))]
			var hdr []byte
			if rng.Intn(3) == 0 {
				hdr = []byte(fmt.Sprintf("NATS/1.0\r\nK: %d\r\n\r\n", rng.Intn(1000)))
			}
			data := make([]byte, rng.Intn(64))
			rng.Read(data)
			seq, ts, err := st.StoreMsg(subj, hdr, data, 0)
			if err != nil {
				t.Fatalf("StoreMsg: %v", err)
			}
			if seq != m.last+1 {
				t.Fatalf("StoreMsg seq %d, want %d", seq, m.last+1)
			}
			m.last = seq
			m.msgs[seq] = store.StoreMsg{Subject: subj, Header: hdr, Data: data, Seq: seq, Time: ts}
		case op < 80:
			if len(m.msgs) == 0 {
				continue
			}
			seqs := m.seqs()
			s := seqs[rng.Intn(len(seqs))]
			if rng.Intn(4) == 0 {
				s = seqs[0]
			}
			ok, err := st.RemoveMsg(s)
			if err != nil || !ok {
				t.Fatalf("RemoveMsg(%d) = %v, %v", s, ok, err)
			}
			delete(m.msgs, s)
		case op < 84:
			subj := modelFilters[rng.Intn(len(modelFilters))]
			if subj == "" || subj == ">" {
				continue // a whole purge now and then is below
			}
			keep := uint64(rng.Intn(3))
			n, err := st.Purge(subj, 0, keep)
			if err != nil {
				t.Fatal(err)
			}
			var match []uint64
			for _, s := range m.seqs() {
				if matchAny([]string{subj}, m.msgs[s].Subject) {
					match = append(match, s)
				}
			}
			var want uint64
			if uint64(len(match)) > keep {
				for _, s := range match[:uint64(len(match))-keep] {
					delete(m.msgs, s)
					want++
				}
			}
			if n != want {
				t.Fatalf("Purge(%q, keep %d) = %d, want %d", subj, keep, n, want)
			}
		case op < 87:
			to := m.first() + uint64(rng.Intn(5))
			if _, err := st.Compact(to); err != nil {
				t.Fatal(err)
			}
			for s := range m.msgs {
				if s < to {
					delete(m.msgs, s)
				}
			}
			if len(m.msgs) == 0 && to > m.last+1 {
				m.last = to - 1
			}
		case op < 90:
			k := uint64(rng.Intn(4))
			if err := st.SkipMsgs(k); err != nil {
				t.Fatal(err)
			}
			m.last += k
		case op < 92:
			if m.last < 3 {
				continue
			}
			to := m.last - uint64(rng.Intn(3))
			if err := st.Truncate(to); err != nil {
				t.Fatal(err)
			}
			for s := range m.msgs {
				if s > to {
					delete(m.msgs, s)
				}
			}
			m.last = to
		case op < 93:
			if _, err := st.Purge("", 0, 0); err != nil {
				t.Fatal(err)
			}
			clear(m.msgs)
		}
	}
}
