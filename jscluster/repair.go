package jscluster

import (
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/jscluster/raftdriver"
)

// Repair (docs/clustered-jetstream.md, "Repair, and why a damaged replica
// can never lead"). Two kinds of damage, found when the server starts:
//
//   - the journal lost entries of a group (a bit flip, a truncated or
//     missing segment: journal.Damaged). The group's log may now lack an
//     entry this server acknowledged, so it must not vote — a candidate
//     without that entry could win with its vote — nor campaign, until its
//     log again reaches what it held before (the witness's last index and
//     commit, else its hard state's commit). Then journal.Repaired.
//   - a stream's store lost messages (jetstream.Replica.Rebuild). Its log
//     is whole, so it votes, but it must not lead until the store is
//     rebuilt from the leader (InstallSnapshot, before any entry applies).
//
// Held groups are released by repairLoop once whole: unavailable for a
// while, never wrong. A majority damaged at once stays held — the group
// has no leader, and says so in the log — until an operator removes the
// damaged peers.

// repairTarget is how far a damaged log must reach again.
type repairTarget struct {
	lastIndex, commit uint64
	reason            string
	since             time.Time
}

type repairs struct {
	mu sync.Mutex
	// logs: groups whose journal log is damaged, held with HoldVote.
	logs map[string]repairTarget
	// stores: stream groups rebuilding their store, held with
	// HoldCampaign.
	stores map[string]bool
}

// witnessed is the journal's witness, when it has one.
type witnessed interface {
	Witness(group string) (lastIndex, lastTerm, commit uint64, ok bool)
}

// noteDamagedLog records, before a group starts, that its log is damaged.
func (c *Cluster) noteDamagedLog(name, reason string) {
	t := repairTarget{reason: reason, since: time.Now()}
	if w, ok := any(c.cfg.Journal).(witnessed); ok {
		if li, _, commit, ok := w.Witness(name); ok {
			t.lastIndex, t.commit = li, commit
		}
	}
	if hs, _, err := c.cfg.Journal.Storage(name).InitialState(); err == nil && hs.GetCommit() > t.commit {
		t.commit = hs.GetCommit()
	}
	c.repair.mu.Lock()
	if c.repair.logs == nil {
		c.repair.logs = map[string]repairTarget{}
	}
	c.repair.logs[name] = t
	c.repair.mu.Unlock()
	c.log.Error("Raft group's log is damaged: it neither votes nor campaigns until a leader has brought it back",
		zap.String("group", name), zap.String("reason", reason), zap.Uint64("must_reach_index", t.lastIndex), zap.Uint64("must_reach_commit", t.commit))
}

// holdFor is the hold a group needs now.
func (c *Cluster) holdFor(name string) raftdriver.Hold {
	c.repair.mu.Lock()
	defer c.repair.mu.Unlock()
	if _, ok := c.repair.logs[name]; ok {
		return raftdriver.HoldVote
	}
	if c.repair.stores[name] {
		return raftdriver.HoldCampaign
	}
	return raftdriver.HoldNone
}

// applyHold sets a group's hold to what it needs (after AddGroup, and
// whenever a repair ends).
func (c *Cluster) applyHold(name string) {
	if err := c.drv.SetHold(name, c.holdFor(name)); err != nil {
		c.log.Warn("Raft group hold not set", zap.String("group", name), zap.Error(err))
	}
}

// repairLoop releases the groups whose logs are whole again.
func (c *Cluster) repairLoop() {
	defer c.wg.Done()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
		c.releaseRebuilt()
		c.reconcileGroups()
		c.repair.mu.Lock()
		pending := make(map[string]repairTarget, len(c.repair.logs))
		for k, v := range c.repair.logs {
			pending[k] = v
		}
		c.repair.mu.Unlock()
		for name, target := range pending {
			st, ok := c.drv.Status(name)
			if !ok || st.Leader == 0 || st.LastIndex < target.lastIndex || st.Commit < target.commit {
				continue
			}
			c.repair.mu.Lock()
			delete(c.repair.logs, name)
			c.repair.mu.Unlock()
			if err := c.cfg.Journal.Repaired(name); err != nil {
				c.log.Warn("Raft group repair not recorded", zap.String("group", name), zap.Error(err))
			}
			c.applyHold(name)
			c.log.Info("Raft group's log is whole again; it votes and campaigns",
				zap.String("group", name), zap.Uint64("last_index", st.LastIndex), zap.Uint64("commit", st.Commit),
				zap.Duration("after", time.Since(target.since).Round(time.Millisecond)))
		}
	}
}

// rebuildStore brings a rebuilt replica's empty store to the state its
// group's log starts from (the journal's snapshot), from the leader,
// before any entry is applied. It runs on the group's apply goroutine.
// The entries after the snapshot then apply as usual; repairLoop lets the
// group lead again once it has applied all it knows to be committed.
func (g *streamGroup) rebuildStore() {
	snap := g.install
	if snap == nil {
		return
	}
	g.install = nil
	if err := g.replica.InstallSnapshot(snap.GetMetadata().GetIndex(), snap.GetData(), g.fetch, g.fetchConsumers); err != nil {
		g.c.log.Error("Stream replica not rebuilt", zap.String("stream", g.stream), zap.Error(err))
		return
	}
	g.installed.Store(true)
}

// noteRebuild records that a stream group's store is being rebuilt, and
// takes the snapshot it must be rebuilt to from the journal (nil when the
// log still starts at its first entry: applying it rebuilds everything).
func (c *Cluster) noteRebuild(g *streamGroup) {
	c.repair.mu.Lock()
	if c.repair.stores == nil {
		c.repair.stores = map[string]bool{}
	}
	c.repair.stores[g.name] = true
	c.repair.mu.Unlock()
	snap, err := c.cfg.Journal.Storage(g.name).Snapshot()
	if err == nil && snap.GetMetadata().GetIndex() > 0 {
		g.install = snap
	} else {
		g.installed.Store(true) // the log holds everything: applying it rebuilds
	}
}

// releaseRebuilt lets stream groups whose store was rebuilt lead again,
// once they have applied everything they know to be committed.
func (c *Cluster) releaseRebuilt() {
	c.repair.mu.Lock()
	var names []string
	for name := range c.repair.stores {
		names = append(names, name)
	}
	c.repair.mu.Unlock()
	for _, name := range names {
		c.mu.Lock()
		g := c.groups[name]
		c.mu.Unlock()
		if g == nil || !g.installed.Load() {
			continue
		}
		st, ok := c.drv.Status(name)
		if !ok || st.Leader == 0 || st.Applied < st.Commit {
			continue
		}
		c.repair.mu.Lock()
		delete(c.repair.stores, name)
		c.repair.mu.Unlock()
		c.applyHold(name)
		c.log.Info("Stream replica rebuilt; it may lead again", zap.String("stream", g.stream), zap.Uint64("applied", st.Applied))
	}
}
