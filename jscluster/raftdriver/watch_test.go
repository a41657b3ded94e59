package raftdriver

import (
	"fmt"
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3/raftpb"

	"github.com/natsd/natsd/jetstream/journal"
)

// watchedLog is a server's journal with a record of what the driver did
// with it: how many Saves, in which rounds, how many groups each, and
// what each group holds durably (term, vote, last index) once a Save
// returned — the state every message the server sends must not run ahead
// of.
type watchedLog struct {
	*journal.Journal
	drv atomic.Pointer[Driver]

	mu         sync.Mutex
	saves      int
	saveRounds map[uint64]int // round → Saves in it
	maxGroups  int
	dupGroup   bool
	durable    map[string]*durableState
	checked    map[raftpb.MessageType]int
	// lazyBad: a round saved without an fsync held more than commit
	// indexes (entries, a snapshot, a new term or vote).
	lazyBad string
	lazy    int
	early   int // appends sent ahead of the sender's fsync
}

func (w *watchedLog) lazyRounds() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lazy
}

// SaveNoSync counts a round written without an fsync; it makes nothing
// durable, and may hold nothing but commit indexes.
func (w *watchedLog) SaveNoSync(updates []journal.Update) error {
	var round uint64
	if d := w.drv.Load(); d != nil {
		round = d.rounds.Load()
	}
	if err := w.Journal.SaveNoSync(updates); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.saves++
	w.lazy++
	w.saveRounds[round]++
	for _, u := range updates {
		ds := w.durable[u.Group]
		hs := u.HardState
		switch {
		case len(u.Entries) > 0, u.Snapshot != nil && u.Snapshot.GetMetadata().GetIndex() > 0:
			w.lazyBad = "entries or a snapshot of " + u.Group
		case hs != nil && (ds == nil || hs.GetTerm() != ds.term || hs.GetVote() != ds.vote):
			w.lazyBad = "a term or vote of " + u.Group
		}
	}
	return nil
}

type durableState struct {
	term, vote, last uint64
}

func newWatchedLog(j *journal.Journal) *watchedLog {
	return &watchedLog{
		Journal:    j,
		saveRounds: map[uint64]int{},
		durable:    map[string]*durableState{},
		checked:    map[raftpb.MessageType]int{},
	}
}

func (w *watchedLog) Save(updates []journal.Update) error {
	var round uint64
	if d := w.drv.Load(); d != nil {
		round = d.rounds.Load()
	}
	if err := w.Journal.Save(updates); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.saves++
	w.saveRounds[round]++
	w.maxGroups = max(w.maxGroups, len(updates))
	seen := map[string]bool{}
	for _, u := range updates {
		if seen[u.Group] {
			w.dupGroup = true
		}
		seen[u.Group] = true
		ds := w.durable[u.Group]
		if ds == nil {
			ds = &durableState{}
			w.durable[u.Group] = ds
		}
		if s := u.Snapshot; s != nil && s.GetMetadata().GetIndex() > 0 {
			ds.last = max(ds.last, s.GetMetadata().GetIndex())
		}
		if n := len(u.Entries); n > 0 {
			// Entries replace the log from the first one on.
			ds.last = u.Entries[n-1].GetIndex()
		}
		if hs := u.HardState; hs != nil && (hs.GetTerm() != 0 || hs.GetVote() != 0 || hs.GetCommit() != 0) {
			ds.term, ds.vote = hs.GetTerm(), hs.GetVote()
		}
	}
	return nil
}

// checkSent says what is wrong with server sending m of group now: a
// message whose term, vote or acknowledged entries are not yet durable.
func (w *watchedLog) checkSent(group string, m *raftpb.Message) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	ds := w.durable[group]
	if ds == nil {
		ds = &durableState{}
	}
	typ := m.GetType()
	switch typ {
	case raftpb.MessageType_MsgPreVote, raftpb.MessageType_MsgPreVoteResp:
		// A pre-vote is for a term not yet taken and promises nothing.
		return nil
	}
	w.checked[typ]++
	if m.GetTerm() > ds.term {
		return fmt.Errorf("%s of %s in term %d sent with term %d durable", typ, group, m.GetTerm(), ds.term)
	}
	switch typ {
	case raftpb.MessageType_MsgVoteResp:
		if !m.GetReject() && ds.term == m.GetTerm() && ds.vote != m.GetTo() {
			return fmt.Errorf("vote for %d in %s term %d sent with vote %d durable", m.GetTo(), group, m.GetTerm(), ds.vote)
		}
	case raftpb.MessageType_MsgAppResp:
		if !m.GetReject() && m.GetIndex() > ds.last {
			return fmt.Errorf("append of %s acknowledged to %d with %d durable", group, m.GetIndex(), ds.last)
		}
	case raftpb.MessageType_MsgApp:
		// A leader's appends may leave before its own fsync (its term
		// and vote are durable: checked above); what it may not do is
		// tell a follower entries are committed that it has not saved.
		if c := m.GetCommit(); c > ds.last {
			return fmt.Errorf("append of %s says committed to %d with %d durable", group, c, ds.last)
		}
		if end := m.GetIndex() + uint64(len(m.GetEntries())); end > ds.last {
			w.early++
		}
	}
	return nil
}

func (w *watchedLog) stats() (saves, maxGroups int, multi bool, dup bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.saveRounds {
		if n > 1 {
			multi = true
		}
	}
	return w.saves, w.maxGroups, multi, w.dupGroup
}

func (w *watchedLog) checkedCount(t raftpb.MessageType) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.checked[t]
}
