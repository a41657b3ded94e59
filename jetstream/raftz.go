package jetstream

import "time"

// RaftzGroup is one Raft group as /raftz and $SYS.REQ.SERVER.*.RAFTZ show
// it, with nats-server v2.15.2's field names (recorded from a 3-node
// cluster: see jscluster's raftz test). natsd leaves out what it does not
// have: nats-server's internal queue lengths (ipq_*) and a log per group
// ("wal": natsd keeps one journal for all of a server's groups).
type RaftzGroup struct {
	ID            string                     `json:"id"`
	State         string                     `json:"state"`
	Size          int                        `json:"size"`
	QuorumNeeded  int                        `json:"quorum_needed"`
	Observer      bool                       `json:"observer,omitempty"`
	Committed     uint64                     `json:"committed"`
	Applied       uint64                     `json:"applied"`
	CatchingUp    bool                       `json:"catching_up,omitempty"`
	Leader        string                     `json:"leader,omitempty"`
	LeaderSince   *time.Time                 `json:"leader_since,omitempty"`
	EverHadLeader bool                       `json:"ever_had_leader"`
	Term          uint64                     `json:"term"`
	Vote          string                     `json:"voted_for,omitempty"`
	PTerm         uint64                     `json:"pterm"`
	PIndex        uint64                     `json:"pindex"`
	SystemAcc     bool                       `json:"system_account"`
	TrafficAcc    string                     `json:"traffic_account"`
	Peers         map[string]*RaftzGroupPeer `json:"peers"`
}

// RaftzGroupPeer is one of the group's other members.
type RaftzGroupPeer struct {
	Name string `json:"name"`
	// Known: this server knows the peer (has heard from it, or the meta
	// group names it).
	Known bool `json:"known"`
	// LastReplicatedIndex is known on the leader only.
	LastReplicatedIndex uint64 `json:"last_replicated_index,omitempty"`
	// LastSeen is how long ago the peer was last heard from in this
	// group, as a Go duration ("148.7ms").
	LastSeen string `json:"last_seen,omitempty"`
}

// Raftz is by account, then by group name.
type Raftz map[string]map[string]*RaftzGroup

// ErrNoRaftNodes is what /raftz says on a server that runs no Raft group
// (nats-server's words, with 404).
const ErrNoRaftNodes = "No Raft nodes registered"

// Raftz are this server's Raft groups: with account "", the system
// account's (the meta group), else that account's streams'; with group,
// only that group. ok is false when this server runs no Raft group (not
// clustered).
func (e *Engine) Raftz(account, group string) (rz Raftz, ok bool) {
	if e == nil || e.cluster == nil {
		return nil, false
	}
	rc, has := e.cluster.(interface {
		Raftz(account, group string) Raftz
	})
	if !has {
		return nil, false
	}
	return rc.Raftz(account, group), true
}
