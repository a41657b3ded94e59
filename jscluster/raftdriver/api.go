package raftdriver

import (
	"errors"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream/journal"
)

// Log is where the driver keeps every group's Raft log: *journal.Journal.
type Log interface {
	// Save makes a round durable (one fsync for every group in it).
	Save(updates []journal.Update) error
	// Storage is a group's log as etcd/raft reads it.
	Storage(group string) raft.Storage
	// SetConfState records a group's membership once a change is applied.
	SetConfState(group string, cs *raftpb.ConfState) error
	// Drop forgets a group.
	Drop(group string) error
}

// Transport carries Raft messages between servers.
type Transport interface {
	// Send hands one batch (frames, see AppendFrame) for server to. It
	// must not block; it may drop (Raft retransmits).
	Send(to uint64, batch []byte)
}

// StateMachine is a group's user: it is handed what the group commits.
type StateMachine interface {
	// Apply is handed committed entries in order, on the group's own
	// goroutine (never the driver's), so it may take its time: only this
	// group waits. Configuration changes are applied to Raft by the
	// driver before they are passed here.
	Apply(entries []*raftpb.Entry)
	// LeaderChanged says who leads the group now (0: no one known) in
	// which term; called on the group's apply goroutine, in order with
	// Apply.
	LeaderChanged(leader, term uint64)
}

// Config is a driver's.
type Config struct {
	ID        uint64 // this server's Raft node id (never 0)
	Log       Log
	Transport Transport
	// Tick is Raft's clock (default 100ms); a follower campaigns after
	// ElectionTicks (default 10) to twice that without a leader; a leader
	// heartbeats every HeartbeatTicks (default 1).
	Tick           time.Duration
	ElectionTicks  int
	HeartbeatTicks int
	Logger         *zap.Logger
}

// Errors of the driver's calls.
var (
	ErrUnknownGroup = errors.New("raftdriver: no such group")
	ErrNotLeader    = errors.New("raftdriver: not the group's leader")
	ErrStopped      = errors.New("raftdriver: stopped")
	ErrGroupExists  = errors.New("raftdriver: group exists")
)

// Status is a group's Raft state, as this server sees it.
type Status struct {
	ID, Leader, Term, Commit, Applied uint64
	// Vote is whom this server voted for in Term; State its role
	// ("leader", "follower", "candidate", "pre-candidate").
	Vote             uint64
	State            string
	Voters, Learners []uint64
	// Seen is when each peer was last heard from in this group.
	Seen map[uint64]time.Time
	// Progress is known on the leader only: each peer's match index and
	// when it was last heard from.
	Progress map[uint64]PeerProgress
	// LastIndex and LastTerm are the end of this server's durable log.
	LastIndex, LastTerm uint64
	Hold                Hold
}

// PeerProgress is what a leader knows of one follower.
type PeerProgress struct {
	Match    uint64
	Active   bool // heard from within an election timeout
	LastSeen time.Time
}
