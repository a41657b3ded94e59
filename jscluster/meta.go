package jscluster

import (
	"encoding/json"
	"sort"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream"
	"github.com/natsd/natsd/jscluster/raftdriver"
)

// The meta group's log is a list of assignments: a stream made or changed
// (its config, its group's name and peers), a stream deleted. Every
// member applies them in the same order, so every member knows every
// stream; a server among a stream's peers also opens its replica and
// joins its group. Nothing is compacted yet: a restart replays the whole
// list (it is small: one entry per create, update or delete).

// metaOp is one meta entry.
type metaOp struct {
	Op      string                  `json:"op"` // "stream" (create or update) or "delete"
	Account string                  `json:"account"`
	Name    string                  `json:"name"`
	Config  *jetstream.StreamConfig `json:"config,omitempty"`
	Group   string                  `json:"group,omitempty"`
	Peers   []string                `json:"peers,omitempty"` // server names
	Created time.Time               `json:"created,omitempty"`
	// Reply and Type: who to answer, and how; Origin: the server that
	// proposed (it answers a delete).
	Reply  string `json:"reply,omitempty"`
	Type   string `json:"type,omitempty"`
	Origin uint64 `json:"origin,omitempty"`
}

// assignment is a stream as the meta group knows it.
type assignment struct {
	account, name string
	cfg           jetstream.StreamConfig
	group         string
	peers         []string
	created       time.Time
}

type metaState struct {
	streams map[string]map[string]*assignment // account → name → …
	names   map[uint64]string                 // every server named in an assignment
	removed map[string]bool                   // servers taken out by peer-remove: never added back
	// leadTerm and wantLead: the meta leader serves once it has applied
	// its term's first entry (as a stream's leader does).
	leadTerm uint64
	wantLead bool
}

func newMetaState() metaState {
	return metaState{streams: map[string]map[string]*assignment{}, names: map[uint64]string{}, removed: map[string]bool{}}
}

// metaSM is the meta group's state machine.
type metaSM struct{ c *Cluster }

func (m *metaSM) LeaderChanged(leader, term uint64) {
	c := m.c
	c.mu.Lock()
	c.meta.wantLead, c.meta.leadTerm = leader == c.self, term
	c.mu.Unlock()
	if leader != c.self {
		c.metaLeading.Store(false)
	}
	if leader == 0 {
		c.log.Info("JetStream meta group has no leader", zap.Uint64("term", term))
		return
	}
	c.log.Info("JetStream meta group leader", zap.String("leader", c.nameOf(leader)), zap.Uint64("term", term))
}

func (m *metaSM) Apply(entries []*raftpb.Entry) {
	c := m.c
	for _, e := range entries {
		if e.GetType() != raftpb.EntryNormal {
			continue
		}
		if len(e.Data) == 0 {
			c.mu.Lock()
			lead := c.meta.wantLead && e.GetTerm() == c.meta.leadTerm
			c.mu.Unlock()
			if lead && !c.metaLeading.Swap(true) {
				c.metaLeaderSince.Store(time.Now().UnixNano())
				c.adviseMetaLeader()
			}
			continue
		}
		var op metaOp
		if err := json.Unmarshal(e.Data, &op); err != nil {
			c.log.Error("JetStream meta entry does not decode; skipped", zap.Uint64("index", e.GetIndex()), zap.Error(err))
			continue
		}
		c.applyMeta(&op)
	}
}

func (c *Cluster) applyMeta(op *metaOp) {
	switch op.Op {
	case "stream":
		if op.Config == nil {
			return
		}
		c.mu.Lock()
		acc := c.meta.streams[op.Account]
		if acc == nil {
			acc = map[string]*assignment{}
			c.meta.streams[op.Account] = acc
		}
		a := acc[op.Name]
		isNew := a == nil
		if isNew {
			a = &assignment{account: op.Account, name: op.Name, group: op.Group, peers: op.Peers, created: op.Created}
			acc[op.Name] = a
		}
		if len(op.Peers) > 0 {
			a.peers = op.Peers
		}
		for _, n := range a.peers {
			c.meta.names[NodeID(n)] = n
		}
		a.cfg = *op.Config
		mine := a.hasPeer(c.cfg.Name)
		g := c.groups[a.group]
		c.mu.Unlock()
		if g != nil {
			g.setWanted(a.peers)
		}
		switch {
		case !mine && g != nil:
			// Moved off this server: the group's leader removes it, then
			// reconcileGroups deletes the replica. Until then it is
			// still a member and keeps its config current.
			g.update(a.cfg, "", "")
		case !mine:
		case g == nil:
			c.openStreamGroup(a, op.Reply, op.Type, !isNew)
		default:
			g.update(a.cfg, op.Reply, op.Type)
		}
	case "remove-peer":
		c.mu.Lock()
		c.meta.removed[op.Name] = true
		c.mu.Unlock()
	case "delete":
		c.mu.Lock()
		a := c.meta.streams[op.Account][op.Name]
		if a != nil {
			delete(c.meta.streams[op.Account], op.Name)
		}
		var g *streamGroup
		if a != nil {
			g = c.groups[a.group]
			delete(c.groups, a.group)
		}
		c.mu.Unlock()
		if g != nil {
			g.replica.AdviseDeleted()
			g.close(true)
		}
		if op.Origin == c.self {
			c.cfg.Engine.Respond(op.Account, op.Reply, op.Type, nil, nil)
		}
	}
}

func (a *assignment) hasPeer(name string) bool {
	for _, p := range a.peers {
		if p == name {
			return true
		}
	}
	return false
}

// Streams are the account's assigned streams (jetstream.Cluster).
func (c *Cluster) Streams(account string) []jetstream.StreamConfig {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]jetstream.StreamConfig, 0, len(c.meta.streams[account]))
	for _, a := range c.meta.streams[account] {
		out = append(out, a.cfg)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Stream is one assigned stream's config (jetstream.Cluster).
func (c *Cluster) Stream(account, name string) (jetstream.StreamConfig, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.meta.streams[account][name]; a != nil {
		return a.cfg, true
	}
	return jetstream.StreamConfig{}, false
}

// ProposeStream hands a create, update or delete to the meta group
// (jetstream.Cluster); this server leads it.
func (c *Cluster) ProposeStream(account, name string, cfg *jetstream.StreamConfig, reply, typ string) *jetstream.APIError {
	op := metaOp{Op: "delete", Account: account, Name: name, Reply: reply, Type: typ, Origin: c.self}
	if cfg != nil {
		op.Op, op.Config = "stream", cfg
		c.mu.Lock()
		a := c.meta.streams[account][name]
		if a != nil {
			op.Group, op.Peers, op.Created = a.group, a.peers, a.created
		}
		c.mu.Unlock()
		if a != nil && cfg.Replicas != len(a.peers) {
			peers, apiErr := c.newPeers(a, cfg.Replicas, "")
			if apiErr != nil {
				return apiErr
			}
			op.Peers = peers
		}
		if a == nil {
			peers, apiErr := c.place(cfg)
			if apiErr != nil {
				return apiErr
			}
			op.Group, op.Peers, op.Created = newGroupName(cfg.Replicas), peers, time.Now().UTC()
		}
	}
	b, err := json.Marshal(&op)
	if err != nil {
		return jetstream.NewAPIError(10008)
	}
	if err := c.drv.Propose(metaGroup, b); err != nil {
		return jetstream.NewAPIError(10008) // JetStream system temporarily unavailable
	}
	return nil
}

// StepDownMeta hands the meta group's leadership to another member.
func (c *Cluster) StepDownMeta() *jetstream.APIError {
	if err := c.drv.TransferLeader(metaGroup, 0); err != nil {
		return jetstream.NewAPIError(10008)
	}
	return nil
}

// confChangeAdd adds a server to a group, as a voter or a learner.
func confChangeAdd(id uint64, learner bool) *raftpb.ConfChangeV2 {
	t := raftpb.ConfChangeAddNode
	if learner {
		t = raftpb.ConfChangeAddLearnerNode
	}
	return &raftpb.ConfChangeV2{Changes: []*raftpb.ConfChangeSingle{{Type: &t, NodeId: &id}}}
}

// adviseMetaLeader announces that this server leads the meta group now
// ($JS.EVENT.ADVISORY.DOMAIN.LEADER_ELECTED, in the system account):
// every member, this server first and current.
func (c *Cluster) adviseMetaLeader() {
	st, ok := c.drv.Status(metaGroup)
	if !ok {
		return
	}
	self := &jetstream.PeerInfo{Name: c.nameOf(c.self), Current: true, Peer: idToken(c.self)}
	c.cfg.Engine.AdviseMetaLeader(self.Peer, append([]*jetstream.PeerInfo{self}, c.replicas(st)...), c.cfg.ClusterName)
}

// MetaInfo is /jsz's meta_cluster (jetstream asks for it).
func (c *Cluster) MetaInfo() *jetstream.MetaClusterInfo {
	mi := &jetstream.MetaClusterInfo{Name: c.cfg.ClusterName, Peer: idToken(c.self)}
	if c.cfg.MixedWith != nil {
		mi.MixedWith = c.cfg.MixedWith()
	}
	st, ok := c.drv.Status(metaGroup)
	if !ok {
		return mi
	}
	mi.Size = len(st.Voters)
	if st.Leader != 0 {
		mi.Leader = c.nameOf(st.Leader)
	}
	mi.Replicas = c.replicas(st)
	return mi
}

// Health is /healthz's check (jetstream asks): the meta group has a
// leader this server follows and is not held; each stream replica here
// has a leader, is not held or rebuilding, and has applied what it knows
// to be committed.
func (c *Cluster) Health(metaOnly bool) string {
	st, ok := c.drv.Status(metaGroup)
	if !ok || st.Leader == 0 {
		return "JetStream has not established contact with a meta leader"
	}
	if st.Hold != raftdriver.HoldNone {
		return "JetStream meta group is repairing its log"
	}
	if metaOnly {
		return ""
	}
	c.mu.Lock()
	groups := make([]*streamGroup, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	sort.Slice(groups, func(i, j int) bool { return groups[i].stream < groups[j].stream })
	for _, g := range groups {
		gs, ok := c.drv.Status(g.name)
		if !ok || gs.Leader == 0 || gs.Hold != raftdriver.HoldNone || gs.Applied < gs.Commit {
			return "JetStream stream '" + g.account + " > " + g.stream + "' is not current"
		}
	}
	return ""
}
