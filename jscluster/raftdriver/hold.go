package raftdriver

import (
	"go.etcd.io/raft/v3/raftpb"
)

// Hold keeps a group out of elections while its replica is not whole
// (docs/clustered-jetstream.md, "Repair"): a replica whose log lost
// entries it had acknowledged must not vote, or a candidate without those
// entries could win with its vote; a replica whose state machine lost
// data must not lead.
type Hold int

const (
	// HoldNone: the group takes part in elections.
	HoldNone Hold = iota
	// HoldCampaign: the group does not campaign: its vote requests do
	// not leave this server, and a leadership transfer to it is ignored;
	// it votes. (It is still ticked: a replica that is not ticked thinks
	// its old leader's lease never ends and refuses every vote.)
	// A leader put on hold hands its leadership to another voter.
	HoldCampaign
	// HoldVote: HoldCampaign, and vote requests (and pre-votes) for the
	// group are not stepped: it neither campaigns nor votes, while it
	// still takes appends and snapshots from a leader to catch up.
	HoldVote
)

// SetHold sets a group's hold.
func (d *Driver) SetHold(name string, h Hold) error {
	return d.onGroup(name, func(g *group) error {
		g.hold = h
		if h != HoldNone && g.isLeader {
			if to := g.mostCaughtUp(); to != 0 {
				g.rn.TransferLeader(to)
			}
		}
		return nil
	})
}

func isVoteRequest(m *raftpb.Message) bool {
	t := m.GetType()
	return t == raftpb.MessageType_MsgVote || t == raftpb.MessageType_MsgPreVote
}

// refuses reports whether a held g does not step m.
func (g *group) refuses(m *raftpb.Message) bool {
	switch m.GetType() {
	case raftpb.MessageType_MsgTimeoutNow:
		return g.hold != HoldNone
	case raftpb.MessageType_MsgVote, raftpb.MessageType_MsgPreVote:
		return g.hold == HoldVote
	}
	return false
}
