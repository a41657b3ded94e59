package raftdriver

import (
	"errors"
	"fmt"
	"maps"
	"sort"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
)

// SnapshotApplier is what a StateMachine also implements to be handed the
// snapshots its group receives (a replica so far behind that the leader
// no longer has the entries it needs). ApplySnapshot is called on the
// group's apply goroutine, in order with Apply: the entries that follow
// it continue from its index.
type SnapshotApplier interface {
	ApplySnapshot(s *raftpb.Snapshot)
}

// More errors of the driver's calls.
var (
	ErrBadGroupName     = errors.New("raftdriver: group name must be 1 to 65535 bytes")
	ErrNoTransferTarget = errors.New("raftdriver: no active voter to transfer leadership to")
	ErrHeld             = errors.New("raftdriver: the group is held out of elections")
)

// Raft's limits for every group. A message carries at most 1 MiB of
// entries (a batch to one server is split at the same size); 256 appends
// may be in flight to one follower; a leader refuses proposals once
// 16 MiB are uncommitted (back-pressure instead of unbounded memory when
// a quorum is slow).
const (
	maxSizePerMsg             = 1 << 20
	maxInflightMsgs           = 256
	maxUncommittedEntriesSize = 16 << 20
)

// group is one Raft group: touched by the driver goroutine only, except
// apply (its own goroutine, behind a queue).
type group struct {
	name  string
	rn    *raft.RawNode
	apply *applier
	cs    *raftpb.ConfState

	lead, term                 uint64
	isLeader                   bool
	reportedLead, reportedTerm uint64
	// lastSeen is when each peer's messages were last stepped.
	lastSeen map[uint64]time.Time
	// hold keeps the group out of elections (hold.go).
	hold Hold
	// saved is the term and vote on disk: a leader's appends may leave
	// before its own fsync only while they stay what is saved.
	saved durableHS
	self  uint64
}

type durableHS struct{ term, vote uint64 }

// mostCaughtUp is the active voter (not this server) with the highest
// match index, on a leader; 0 when there is none.
func (g *group) mostCaughtUp() uint64 {
	voters := map[uint64]bool{}
	for _, id := range g.cs.GetVoters() {
		voters[id] = true
	}
	var best, match uint64
	for id, pr := range g.rn.Status().Progress {
		if id == g.self || !voters[id] || !pr.RecentActive {
			continue
		}
		if best == 0 || pr.Match > match || (pr.Match == match && id < best) {
			best, match = id, pr.Match
		}
	}
	return best
}

// AddGroup starts running group name, whose log is Log.Storage(name).
// peers are its first voters when that log is empty: every initial peer
// bootstraps with the same list. When the log holds state (a restart)
// peers is ignored. A server added to an existing group passes nil peers
// with an empty log and waits for the leader to reach it. Entries up to
// applied (the state machine's own record) are not handed to sm again.
func (d *Driver) AddGroup(name string, peers []uint64, applied uint64, sm StateMachine) error {
	if name == "" || len(name) > maxGroupName {
		return ErrBadGroupName
	}
	var err error
	if derr := d.do(func() { err = d.addGroup(name, peers, applied, sm) }); derr != nil {
		return derr
	}
	return err
}

func (d *Driver) addGroup(name string, peers []uint64, applied uint64, sm StateMachine) error {
	if d.groups[name] != nil {
		return ErrGroupExists
	}
	st := d.cfg.Log.Storage(name)
	hs, cs, err := st.InitialState()
	if err != nil {
		return fmt.Errorf("raftdriver: group %s: %w", name, err)
	}
	first, err := st.FirstIndex()
	if err != nil {
		return fmt.Errorf("raftdriver: group %s: %w", name, err)
	}
	last, err := st.LastIndex()
	if err != nil {
		return fmt.Errorf("raftdriver: group %s: %w", name, err)
	}
	empty := last == 0 && raft.IsEmptyHardState(hs)
	// Raft panics on an applied index outside [first-1, commit]. Past
	// the commit means the state machine holds what the log lost; before
	// the log's start, that it misses what only a snapshot has: both are
	// damage to report, not to crash on.
	if applied > hs.GetCommit() {
		d.log.Error("raft group applied past its log's commit", zap.String("group", name),
			zap.Uint64("applied", applied), zap.Uint64("commit", hs.GetCommit()))
		applied = hs.GetCommit()
	}
	if !empty && applied < first-1 {
		d.log.Error("raft group applied before its log's start", zap.String("group", name),
			zap.Uint64("applied", applied), zap.Uint64("first", first))
		applied = first - 1
	}
	var rst raft.Storage = st
	if empty {
		applied = 0
	} else if at, err := confStateAt(st, applied); err != nil {
		d.log.Error("raft group membership at its applied index unknown: the journal's is used",
			zap.String("group", name), zap.Uint64("applied", applied), zap.Error(err))
	} else {
		cs = at
		rst = restartStorage{Storage: st, cs: at}
	}
	rn, err := raft.NewRawNode(&raft.Config{
		ID:                        d.cfg.ID,
		ElectionTick:              d.cfg.ElectionTicks,
		HeartbeatTick:             d.cfg.HeartbeatTicks,
		Storage:                   rst,
		Applied:                   applied,
		MaxSizePerMsg:             maxSizePerMsg,
		MaxInflightMsgs:           maxInflightMsgs,
		MaxUncommittedEntriesSize: maxUncommittedEntriesSize,
		PreVote:                   true,
		CheckQuorum:               true,
		StepDownOnRemoval:         true,
		// A follower drops a proposal instead of forwarding it: the
		// leader's ingest is the one place proposals come from, so that
		// a change of leader cannot make one entry arrive twice.
		DisableProposalForwarding: true,
		Logger:                    d.rlog,
	})
	if err != nil {
		return fmt.Errorf("raftdriver: group %s: %w", name, err)
	}
	if empty && len(peers) > 0 {
		ps := make([]raft.Peer, len(peers))
		for i, id := range peers {
			ps[i] = raft.Peer{ID: id}
		}
		if err := rn.Bootstrap(ps); err != nil {
			return fmt.Errorf("raftdriver: group %s: %w", name, err)
		}
	}
	g := &group{
		name:     name,
		rn:       rn,
		cs:       cs,
		term:     hs.GetTerm(),
		saved:    durableHS{hs.GetTerm(), hs.GetVote()},
		lastSeen: map[uint64]time.Time{},
		apply:    newApplier(sm, applied),
		self:     d.cfg.ID,
	}
	d.groups[name] = g
	d.stateMu.Lock()
	d.leading[name] = false
	d.stateMu.Unlock()
	go g.apply.run()
	return nil
}

// RemoveGroup stops running group name (its apply goroutine included,
// after the call in progress: not to be called from that group's own
// Apply) and drops its log.
func (d *Driver) RemoveGroup(name string) error {
	var g *group
	if err := d.do(func() {
		g = d.groups[name]
		if g == nil {
			return
		}
		delete(d.groups, name)
		d.stateMu.Lock()
		delete(d.leading, name)
		d.stateMu.Unlock()
	}); err != nil {
		return err
	}
	if g == nil {
		return ErrUnknownGroup
	}
	g.apply.stop()
	return d.cfg.Log.Drop(name)
}

// Propose queues data as an entry of group name; it returns once the driver
// has it queued. ErrNotLeader when this server did not lead the group at
// the end of the driver's last round. If leadership is lost between that
// check and the driver taking the proposal, Raft drops it (counted): the
// outcome of a proposal is only ever what Apply is handed.
func (d *Driver) Propose(name string, data []byte) error {
	d.mu.Lock()
	stopped := d.stopped
	d.mu.Unlock()
	if stopped {
		return ErrStopped
	}
	d.stateMu.Lock()
	lead, ok := d.leading[name]
	d.stateMu.Unlock()
	if !ok {
		return ErrUnknownGroup
	}
	if !lead {
		return ErrNotLeader
	}
	fn := func() {
		g := d.groups[name]
		if g == nil {
			return
		}
		if err := g.rn.Propose(data); err != nil {
			d.droppedProposals.Add(1)
		}
	}
	select {
	case d.reqs <- fn:
		return nil
	case <-d.done:
		return ErrStopped
	}
}

// onGroup runs fn with group's state on the driver goroutine.
func (d *Driver) onGroup(name string, fn func(g *group) error) error {
	var err error
	if derr := d.do(func() {
		g := d.groups[name]
		if g == nil {
			err = ErrUnknownGroup
			return
		}
		err = fn(g)
	}); derr != nil {
		return derr
	}
	return err
}

// ProposeConfChange proposes a membership change (the leader only). The
// change takes effect when it is applied, which Apply sees; Raft turns a
// change proposed while another is still unapplied into an empty entry.
func (d *Driver) ProposeConfChange(name string, cc *raftpb.ConfChangeV2) error {
	return d.onGroup(name, func(g *group) error {
		if !g.isLeader {
			return ErrNotLeader
		}
		if err := g.rn.ProposeConfChange(cc); err != nil {
			if errors.Is(err, raft.ErrProposalDropped) {
				return ErrNotLeader
			}
			return err
		}
		return nil
	})
}

// TransferLeader asks the group's leader (this server) to hand leadership
// to server to; to 0 picks the most caught-up voter heard from within an
// election timeout.
func (d *Driver) TransferLeader(name string, to uint64) error {
	return d.onGroup(name, func(g *group) error {
		if !g.isLeader {
			return ErrNotLeader
		}
		if to == 0 {
			to = g.mostCaughtUp()
			if to == 0 {
				return ErrNoTransferTarget
			}
		}
		g.rn.TransferLeader(to)
		return nil
	})
}

// Campaign makes this server campaign for leadership of group now.
func (d *Driver) Campaign(name string) error {
	return d.onGroup(name, func(g *group) error {
		if g.hold != HoldNone {
			return ErrHeld
		}
		return g.rn.Campaign()
	})
}

// Status is group's Raft state as the driver goroutine sees it now.
func (d *Driver) Status(name string) (Status, bool) {
	var s Status
	err := d.onGroup(name, func(g *group) error {
		rs := g.rn.Status()
		s = Status{
			ID:       d.cfg.ID,
			Leader:   rs.Lead,
			Term:     rs.HardState.GetTerm(),
			Commit:   rs.HardState.GetCommit(),
			Applied:  g.apply.applied.Load(),
			Vote:     rs.HardState.GetVote(),
			State:    roleName(rs.RaftState),
			Voters:   append([]uint64(nil), g.cs.GetVoters()...),
			Learners: append([]uint64(nil), g.cs.GetLearners()...),
			Hold:     g.hold,
			Seen:     maps.Clone(g.lastSeen),
		}
		if st := d.cfg.Log.Storage(name); st != nil {
			s.LastIndex, _ = st.LastIndex()
			s.LastTerm, _ = st.Term(s.LastIndex)
		}
		if rs.RaftState == raft.StateLeader {
			s.Progress = make(map[uint64]PeerProgress, len(rs.Progress))
			for id, pr := range rs.Progress {
				p := PeerProgress{Match: pr.Match, Active: pr.RecentActive, LastSeen: g.lastSeen[id]}
				if id == d.cfg.ID {
					p.Active, p.LastSeen = true, time.Now()
				}
				s.Progress[id] = p
			}
		}
		return nil
	})
	return s, err == nil
}

// Groups are the names of the groups the driver runs, sorted.
func (d *Driver) Groups() []string {
	var out []string
	_ = d.do(func() {
		for name := range d.groups {
			out = append(out, name)
		}
	})
	sort.Strings(out)
	return out
}

// roleName names a Raft role for Status.
func roleName(st raft.StateType) string {
	switch st {
	case raft.StateLeader:
		return "leader"
	case raft.StateCandidate:
		return "candidate"
	case raft.StatePreCandidate:
		return "pre-candidate"
	}
	return "follower"
}
