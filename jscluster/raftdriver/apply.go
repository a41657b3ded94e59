package raftdriver

import (
	"sync"
	"sync/atomic"

	"go.etcd.io/raft/v3/raftpb"
)

// applyItem is one thing handed to a state machine: a snapshot, a run of
// committed entries, or a change of leader.
type applyItem struct {
	snap          *raftpb.Snapshot
	ents          []*raftpb.Entry
	leaderChanged bool
	leader, term  uint64
}

// applier is a group's apply goroutine and its queue. The queue is
// unbounded so that the driver never waits for a state machine: a slow
// stream delays its own applies, not the other groups' rounds.
type applier struct {
	sm StateMachine

	mu      sync.Mutex
	items   []applyItem
	wake    chan struct{} // cap 1: an item was queued
	quit    chan struct{}
	done    chan struct{}
	stopped sync.Once

	// applied is the index of the last entry the state machine was
	// handed and returned from (or the snapshot it applied).
	applied atomic.Uint64
}

func newApplier(sm StateMachine, applied uint64) *applier {
	a := &applier{
		sm:   sm,
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	a.applied.Store(applied)
	return a
}

// push queues items, in order, and never blocks.
func (a *applier) push(items []applyItem) {
	a.mu.Lock()
	a.items = append(a.items, items...)
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// stop ends the goroutine (after the call in progress) and waits for it.
func (a *applier) stop() {
	a.stopped.Do(func() { close(a.quit) })
	<-a.done
}

func (a *applier) run() {
	defer close(a.done)
	for {
		select {
		case <-a.quit:
			return
		case <-a.wake:
		}
		a.mu.Lock()
		items := a.items
		a.items = nil
		a.mu.Unlock()
		for _, it := range items {
			select {
			case <-a.quit:
				return
			default:
			}
			switch {
			case it.snap != nil:
				if sa, ok := a.sm.(SnapshotApplier); ok {
					sa.ApplySnapshot(it.snap)
				}
				a.applied.Store(it.snap.GetMetadata().GetIndex())
			case it.leaderChanged:
				a.sm.LeaderChanged(it.leader, it.term)
			default:
				a.sm.Apply(it.ents)
				a.applied.Store(it.ents[len(it.ents)-1].GetIndex())
			}
		}
	}
}
