package jscluster

import (
	"encoding/json"
	"errors"
	"slices"
	"sort"
	"strconv"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream"
	"github.com/natsd/natsd/jscluster/raftdriver"
)

// Membership of stream groups: the meta group decides a stream's peers
// (placement, a change of replicas, peer-remove); the stream group's
// leader then changes the group to match, one change at a time — a new
// server joins as a learner, is promoted to voter once it has caught up,
// and a server no longer wanted is removed — and a server removed from a
// group deletes its replica once its group says so. Doing it from the
// leader, at its pace, keeps a quorum of the old members while the group
// changes (removing two of three at once would leave none to commit the
// change).

const reconcileEvery = time.Second

// newPeers is the assignment's peers changed to want replicas, without
// removed: peers are kept in order, extra ones placed, surplus ones
// dropped from the end.
func (c *Cluster) newPeers(a *assignment, want int, removed string) ([]string, *jetstream.APIError) {
	var keep []string
	for _, p := range a.peers {
		if p != removed {
			keep = append(keep, p)
		}
	}
	if len(keep) > want {
		return keep[:want], nil
	}
	if len(keep) == want {
		return keep, nil
	}
	cfg := a.cfg
	cfg.Replicas = want
	cands, apiErr := c.placeExcluding(&cfg, append(slices.Clone(keep), removed))
	if apiErr != nil {
		return nil, apiErr
	}
	for _, p := range cands {
		if len(keep) == want {
			break
		}
		keep = append(keep, p)
	}
	if len(keep) < want {
		return nil, jetstream.NewAPIErrorf(10005, errors.New("insufficient resources"))
	}
	return keep, nil
}

// RemovePeer is `nats server raft peer-remove` (jetstream asks it of the
// meta leader): the server leaves the meta group for good, and each
// stream it held a replica of gets another server instead (or one replica
// fewer when there is none).
func (c *Cluster) RemovePeer(name, id string) *jetstream.APIError {
	var target uint64
	switch {
	case name != "":
		target = NodeID(name)
	case id != "":
		v, err := strconv.ParseUint(id, 36, 64)
		if err != nil {
			return jetstream.NewAPIError(10044)
		}
		target = v
		name = c.nameOf(v)
	default:
		return jetstream.NewAPIError(10044)
	}
	st, ok := c.drv.Status(metaGroup)
	if !ok || (!slices.Contains(st.Voters, target) && !slices.Contains(st.Learners, target)) {
		return jetstream.NewAPIError(10044) // server is not a member of the cluster
	}
	if target == c.self {
		// The leader removing itself: hand over first, and let the next
		// leader do it when asked again.
		_ = c.drv.TransferLeader(metaGroup, 0)
		return jetstream.NewAPIError(10008)
	}
	cc := &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{{Type: raftpb.ConfChangeRemoveNode.Enum(), NodeId: &target}}}
	if err := c.drv.ProposeConfChange(metaGroup, cc); err != nil {
		return jetstream.NewAPIError(10008)
	}
	if err := c.proposeMeta(&metaOp{Op: "remove-peer", Name: name}); err != nil {
		return jetstream.NewAPIError(10008)
	}
	c.mu.Lock()
	var moves []*assignment
	for _, acc := range c.meta.streams {
		for _, a := range acc {
			if a.hasPeer(name) {
				moves = append(moves, a)
			}
		}
	}
	c.mu.Unlock()
	for _, a := range moves {
		peers, apiErr := c.newPeers(a, a.cfg.Replicas, name)
		if apiErr != nil {
			// No server to move it to: one replica fewer.
			peers, _ = c.newPeers(a, max(len(a.peers)-1, 1), name)
		}
		cfg := a.cfg
		cfg.Replicas = len(peers)
		op := &metaOp{Op: "stream", Account: a.account, Name: a.name, Config: &cfg, Group: a.group, Peers: peers, Created: a.created}
		if err := c.proposeMeta(op); err != nil {
			return jetstream.NewAPIError(10008)
		}
	}
	c.log.Info("JetStream: server removed from the cluster", zap.String("peer", name), zap.Int("streams_moved", len(moves)))
	return nil
}

// reconcileGroups has every stream group this server leads move one step
// toward the peers the meta group wants, and removes this server's
// replicas of the groups it is no longer a member of.
func (c *Cluster) reconcileGroups() {
	c.mu.Lock()
	groups := make([]*streamGroup, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	for _, g := range groups {
		want := g.wantedPeers()
		st, ok := c.drv.Status(g.name)
		if !ok {
			continue
		}
		if !slices.Contains(want, c.self) {
			if !slices.Contains(st.Voters, c.self) && !slices.Contains(st.Learners, c.self) && st.Leader != c.self {
				c.dropGroup(g, "no longer a member of the group")
			}
			continue
		}
		if st.Leader != c.self || time.Since(g.lastChange) < reconcileEvery {
			continue
		}
		if cc, what := nextChange(st, want, c.self); cc != nil {
			g.lastChange = time.Now()
			if cc == transferLeadership {
				_ = c.drv.TransferLeader(g.name, 0)
				continue
			}
			if err := c.drv.ProposeConfChange(g.name, cc); err != nil {
				c.log.Warn("Stream group change not proposed", zap.String("stream", g.stream), zap.String("change", what), zap.Error(err))
				continue
			}
			c.log.Info("Stream group changing", zap.String("stream", g.stream), zap.String("change", what))
		}
	}
}

var transferLeadership = &raftpb.ConfChangeV2{}

// nextChange is the next step from st's membership to want: a removal
// first (shrinking never waits for anyone), then adding a learner, then
// promoting a learner that has caught up. A leader that must go hands
// over first.
func nextChange(st raftdriver.Status, want []uint64, self uint64) (*raftpb.ConfChangeV2, string) {
	one := func(t raftpb.ConfChangeType, id uint64) *raftpb.ConfChangeV2 {
		return &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{{Type: t.Enum(), NodeId: &id}}}
	}
	members := append(append([]uint64{}, st.Voters...), st.Learners...)
	sort.Slice(members, func(i, j int) bool { return members[i] < members[j] })
	for _, id := range members {
		if !slices.Contains(want, id) {
			if id == self {
				return transferLeadership, "leader hands over before leaving"
			}
			return one(raftpb.ConfChangeRemoveNode, id), "remove " + idToken(id)
		}
	}
	for _, id := range want {
		if !slices.Contains(members, id) {
			return one(raftpb.ConfChangeAddLearnerNode, id), "add learner " + idToken(id)
		}
	}
	for _, id := range st.Learners {
		if pr, ok := st.Progress[id]; ok && pr.Match >= st.Commit {
			return one(raftpb.ConfChangeAddNode, id), "promote " + idToken(id)
		}
	}
	return nil, ""
}

// dropGroup removes this server's replica of a group it left.
func (c *Cluster) dropGroup(g *streamGroup, why string) {
	c.mu.Lock()
	if c.groups[g.name] != g {
		c.mu.Unlock()
		return
	}
	delete(c.groups, g.name)
	c.mu.Unlock()
	g.close(true)
	c.log.Info("Stream replica removed from this server", zap.String("stream", g.stream), zap.String("why", why))
}

// proposeMeta proposes a meta entry (this server leads the meta group).
func (c *Cluster) proposeMeta(op *metaOp) error {
	op.Origin = c.self
	b, err := json.Marshal(op)
	if err != nil {
		return err
	}
	return c.drv.Propose(metaGroup, b)
}
