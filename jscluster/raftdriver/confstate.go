package raftdriver

import (
	"fmt"
	"math"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/confchange"
	"go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"
)

// confStateAt is the group's membership after its entries up to applied:
// the log's snapshot's membership with the configuration changes of the
// entries after it, up to applied, replayed.
//
// Why not the membership the journal recorded (SetConfState)? The driver
// records a change when it hands the entry to the state machine, so after
// a crash the journal may hold changes the state machine had not applied
// yet. Raft hands those entries again (they are after applied) and
// applies their changes a second time: harmless for adding or removing a
// node, fatal for entering a joint configuration twice (raft panics:
// "config is already joint"). Starting from the membership at applied
// makes the replay exact.
func confStateAt(st raft.Storage, applied uint64) (*raftpb.ConfState, error) {
	snap, err := st.Snapshot()
	if err != nil {
		return nil, err
	}
	first, err := st.FirstIndex()
	if err != nil {
		return nil, err
	}
	last, err := st.LastIndex()
	if err != nil {
		return nil, err
	}
	if first-1 != snap.GetMetadata().GetIndex() {
		return nil, fmt.Errorf("log starts at %d, its snapshot is at %d", first, snap.GetMetadata().GetIndex())
	}
	trk := tracker.MakeProgressTracker(maxInflightMsgs, 0)
	cs := snap.GetMetadata().GetConfState()
	if cs == nil {
		cs = &raftpb.ConfState{}
	}
	cfg, prs, err := confchange.Restore(confchange.Changer{Tracker: trk, LastIndex: last}, cs)
	if err != nil {
		return nil, err
	}
	trk.Config, trk.Progress = cfg, prs
	if applied < first {
		return trk.ConfState(), nil
	}
	ents, err := st.Entries(first, applied+1, math.MaxUint64)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		var cc *raftpb.ConfChangeV2
		switch e.GetType() {
		case raftpb.EntryType_EntryConfChange:
			v1 := new(raftpb.ConfChange)
			if err := proto.Unmarshal(e.GetData(), v1); err != nil {
				return nil, fmt.Errorf("entry %d: %w", e.GetIndex(), err)
			}
			cc = v1.AsV2()
		case raftpb.EntryType_EntryConfChangeV2:
			cc = new(raftpb.ConfChangeV2)
			if err := proto.Unmarshal(e.GetData(), cc); err != nil {
				return nil, fmt.Errorf("entry %d: %w", e.GetIndex(), err)
			}
		default:
			continue
		}
		chg := confchange.Changer{Tracker: trk, LastIndex: last}
		var err error
		if cc.LeaveJoint() {
			cfg, prs, err = chg.LeaveJoint()
		} else if autoLeave, ok := cc.EnterJoint(); ok {
			cfg, prs, err = chg.EnterJoint(autoLeave, cc.GetChanges()...)
		} else {
			cfg, prs, err = chg.Simple(cc.GetChanges()...)
		}
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", e.GetIndex(), err)
		}
		trk.Config, trk.Progress = cfg, prs
	}
	return trk.ConfState(), nil
}

// restartStorage is a group's storage whose InitialState says the
// membership at the state machine's applied index (confStateAt).
type restartStorage struct {
	raft.Storage
	cs *raftpb.ConfState
}

func (s restartStorage) InitialState() (*raftpb.HardState, *raftpb.ConfState, error) {
	hs, _, err := s.Storage.InitialState()
	return hs, s.cs, err
}
