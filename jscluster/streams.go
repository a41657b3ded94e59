package jscluster

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream"
	"github.com/natsd/natsd/jscluster/raftdriver"
)

// A stream's group on this server: the Raft group (in the driver) and the
// stream's replica (in jetstream), joined. It is the replica's
// jetstream.Replicator and the group's raftdriver.StateMachine.
type streamGroup struct {
	c                     *Cluster
	account, stream, name string
	peers                 []uint64
	replica               *jetstream.Replica
	leader                atomic.Uint64
	leaderSince           atomic.Int64 // Unix ns
	term                  uint64       // with leader; the apply goroutine's only
	// install: the snapshot a rebuilt store must reach before the first
	// entry applies (repair.go); touched on the apply goroutine only.
	install   *raftpb.Snapshot
	installed atomic.Bool // the rebuild's snapshot is in (or none was needed)
	// wanted are the peers the meta group assigned (membership.go);
	// lastChange is when this server, leading, last changed the group.
	wantedMu   sync.Mutex
	wanted     []uint64
	lastChange time.Time
}

func (g *streamGroup) setWanted(names []string) {
	ids := make([]uint64, 0, len(names))
	for _, n := range names {
		ids = append(ids, NodeID(n))
	}
	g.wantedMu.Lock()
	g.wanted = ids
	g.wantedMu.Unlock()
}

func (g *streamGroup) wantedPeers() []uint64 {
	g.wantedMu.Lock()
	defer g.wantedMu.Unlock()
	return g.wanted
}

// openStreamGroup opens this server's replica of an assigned stream and
// starts (or restarts) its group. join: the group exists without this
// server, whose leader adds it (membership.go); else the peers form it.
func (c *Cluster) openStreamGroup(a *assignment, reply, typ string, join bool) {
	g := &streamGroup{c: c, account: a.account, stream: a.name, name: a.group}
	for _, n := range a.peers {
		g.peers = append(g.peers, NodeID(n))
	}
	g.setWanted(a.peers)
	bootstrap := g.peers
	if join {
		bootstrap = nil
	}
	rep, err := c.cfg.Engine.OpenReplica(a.account, a.cfg, a.created, g, reply, typ)
	if err != nil {
		c.log.Error("Stream replica did not open", zap.String("account", a.account), zap.String("stream", a.name), zap.Error(err))
		return
	}
	g.replica = rep
	if rep.Rebuild {
		c.noteRebuild(g)
	}
	c.mu.Lock()
	c.groups[g.name] = g
	c.mu.Unlock()
	if err := c.drv.AddGroup(g.name, bootstrap, rep.Applied(), g); err != nil {
		c.log.Error("Stream group did not start", zap.String("stream", a.name), zap.String("group", g.name), zap.Error(err))
		return
	}
	c.applyHold(g.name)
	if bootstrap != nil && bootstrap[0] == c.self && rep.Applied() == 0 {
		// A new group: its first placed peer campaigns at once instead of
		// waiting out an election timeout (a create answers ~1 s sooner).
		_ = c.drv.Campaign(g.name)
	}
}

// update applies a committed config change; the leader answers.
func (g *streamGroup) update(cfg jetstream.StreamConfig, reply, typ string) {
	if err := g.replica.Update(cfg); err != nil {
		g.c.log.Error("Stream replica update failed", zap.String("stream", g.stream), zap.Error(err))
	}
	g.replica.Answer(reply, typ)
}

// close stops the group; with del the stream was deleted: its log and
// files go.
func (g *streamGroup) close(del bool) {
	if del {
		_ = g.c.drv.RemoveGroup(g.name)
	}
	g.replica.Close(del)
}

// --- raftdriver.StateMachine ---

func (g *streamGroup) Apply(entries []*raftpb.Entry) {
	g.rebuildStore()
	for _, e := range entries {
		if e.GetType() == raftpb.EntryNormal {
			g.replica.Apply(e.GetIndex(), e.GetTerm(), e.GetData())
		} else {
			// A membership change: nothing for the stream, but its index
			// is applied (term 0: never a leader's first entry).
			g.replica.Apply(e.GetIndex(), 0, nil)
		}
	}
}

func (g *streamGroup) LeaderChanged(leader, term uint64) {
	g.rebuildStore()
	prev, prevTerm := g.leader.Swap(leader), g.term
	g.term = term
	if prev != leader {
		g.leaderSince.Store(time.Now().UnixNano())
	}
	if prev == g.c.self && leader == 0 && term == prevTerm {
		// This server led and now knows no leader in the same term: Raft's
		// check-quorum made it step down, for want of a majority (a
		// transfer or a new leader's vote comes with a higher term). Not
		// when it was removed from the group (it steps down so too).
		if st, ok := g.c.drv.Status(g.name); ok && slices.Contains(st.Voters, g.c.self) {
			g.replica.QuorumLost(g.c.membersAsSeen(st))
		}
	}
	g.replica.LeaderChanged(leader == g.c.self, term)
}

// --- jetstream.Replicator ---

func (g *streamGroup) Propose(data []byte) error { return g.c.drv.Propose(g.name, data) }

func (g *streamGroup) Compact(index uint64, snapshot []byte) {
	if err := g.c.cfg.Journal.Compact(g.name, index, snapshot); err != nil {
		g.c.log.Warn("Stream group log not compacted", zap.String("stream", g.stream), zap.Error(err))
	}
}

func (g *streamGroup) SelfID() uint64 { return g.c.self }

// SelfPeer is this server's peer id as STREAM.INFO and the advisories
// show it.
func (g *streamGroup) SelfPeer() string { return idToken(g.c.self) }

func (g *streamGroup) StepDown() error { return g.c.drv.TransferLeader(g.name, 0) }

// Info is the group as STREAM.INFO shows it: the leader, and each other
// replica with how far behind it is (known on the leader).
func (g *streamGroup) Info() *jetstream.ClusterInfo {
	ci := &jetstream.ClusterInfo{Name: g.c.cfg.ClusterName, RaftGroup: g.name}
	st, ok := g.c.drv.Status(g.name)
	if !ok {
		return ci
	}
	if st.Leader != 0 {
		ci.Leader = g.c.nameOf(st.Leader)
		if ns := g.leaderSince.Load(); ns > 0 {
			t := time.Unix(0, ns).UTC()
			ci.LeaderSince = &t
		}
	}
	ci.Replicas = g.c.replicas(st)
	return ci
}

func (g *streamGroup) Peers() int { return len(g.peers) }

// StepDownTo hands leadership to the named replica (a step-down's
// placement.preferred).
func (g *streamGroup) StepDownTo(name string) error {
	id := NodeID(name)
	if !slices.Contains(g.wantedPeers(), id) {
		return fmt.Errorf("preferred server %q is not a replica of the stream", name)
	}
	if id == g.c.self {
		return nil
	}
	return g.c.drv.TransferLeader(g.name, id)
}

// Committed is how far this server's journal knows the group committed.
func (g *streamGroup) Committed() uint64 {
	hs, _, err := g.c.cfg.Journal.Storage(g.name).InitialState()
	if err != nil {
		return 0
	}
	return hs.GetCommit()
}

// replicas are a group's members but its leader, as STREAM.INFO and /jsz
// show them: how far each is behind and when it was last heard from
// (known on the leader only).
func (c *Cluster) replicas(st raftdriver.Status) []*jetstream.PeerInfo {
	var out []*jetstream.PeerInfo
	for _, id := range append(append([]uint64{}, st.Voters...), st.Learners...) {
		if id == st.Leader {
			continue
		}
		pi := &jetstream.PeerInfo{Name: c.nameOf(id), Peer: idToken(id)}
		if pr, ok := st.Progress[id]; ok {
			pi.Current = pr.Match >= st.Commit
			if pr.Match < st.Commit {
				pi.Lag = st.Commit - pr.Match
			}
			if !pr.LastSeen.IsZero() {
				pi.Active = time.Since(pr.LastSeen)
			}
			pi.Offline = !pr.Active
		}
		out = append(out, pi)
	}
	return out
}

// membersAsSeen is every member of a group, this server too, with when
// each was last heard from: what a follower knows (no progress) after
// losing its leadership.
func (c *Cluster) membersAsSeen(st raftdriver.Status) []*jetstream.PeerInfo {
	var out []*jetstream.PeerInfo
	for _, id := range append(append([]uint64{}, st.Voters...), st.Learners...) {
		pi := &jetstream.PeerInfo{Name: c.nameOf(id), Peer: idToken(id), Current: id == c.self}
		if seen, ok := st.Seen[id]; ok && !seen.IsZero() && id != c.self {
			pi.Active = time.Since(seen)
		}
		out = append(out, pi)
	}
	return out
}
