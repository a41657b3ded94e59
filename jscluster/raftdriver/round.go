package raftdriver

import (
	"slices"
	"time"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/natsd/natsd/jetstream/journal"
)

// noSyncLog is a Log that can write a round without an fsync.
type noSyncLog interface {
	SaveNoSync(updates []journal.Update) error
}

type groupReady struct {
	g  *group
	rd raft.Ready
	// early: the group leads, and this round changes neither its term
	// nor its vote, so its appends go out before the round's fsync
	// (Raft thesis §10.2.1): the leader's own entries count toward a
	// commit only once the fsync is done (etcd/raft's self-ack comes at
	// Advance), so what commits is still on a quorum's disks.
	early bool
	// stableApplied: the round's committed entries were already on this
	// server's disk, and were handed to the apply goroutine before the
	// round's save (stableCommitted).
	stableApplied bool
}

type snapSent struct {
	g  *group
	to uint64
}

// receive steps every message of a received batch into its group.
func (d *Driver) receive(batch []byte, now time.Time) {
	skipped, err := decodeBatch(batch, func(name string, m *raftpb.Message) {
		g := d.groups[name]
		if g == nil {
			// A group removed here, or not yet added (a new replica
			// whose AddGroup has not run): Raft retransmits.
			d.unknownGroup.Add(1)
			return
		}
		if from := m.GetFrom(); from != 0 {
			g.lastSeen[from] = now
		}
		if g.refuses(m) {
			d.heldRefused.Add(1)
			return
		}
		// Errors are for messages Raft does not take (a response from a
		// peer no longer in the group, a local type off the wire): they
		// are dropped, as Raft expects of lost messages.
		_ = g.rn.Step(m)
	})
	if skipped > 0 {
		d.badFrames.Add(uint64(skipped))
	}
	if err != nil {
		d.badBatches.Add(1)
		d.log.Debug("raft batch dropped", zapError(err))
	}
}

// round performs one round for every group that is ready: save all of
// their hard states, entries and snapshots with one Log.Save (one fsync),
// then — only then — send their messages, hand what they committed to
// their apply goroutines, Advance. Sending nothing before the save is
// stricter than etcd/raft requires and is what makes a vote or an
// append's acknowledgement a promise the sender keeps after a crash.
func (d *Driver) round() error {
	rs := d.readies[:0]
	for _, g := range d.groups {
		if g.rn.HasReady() {
			rs = append(rs, groupReady{g: g, rd: g.rn.Ready()})
		}
	}
	if len(rs) == 0 {
		return nil
	}
	d.rounds.Add(1)
	var updates []journal.Update
	mustSync := false
	for i := range rs {
		r := &rs[i]
		// etcd/raft's MustSync covers entries, term and vote; a snapshot
		// must be durable too before the follower answers for it.
		mustSync = mustSync || r.rd.MustSync || (r.rd.Snapshot != nil && !raft.IsEmptySnap(r.rd.Snapshot))
		hs := r.rd.HardState
		if raft.IsEmptyHardState(hs) {
			hs = nil
		}
		snap := r.rd.Snapshot
		if snap != nil && raft.IsEmptySnap(snap) {
			snap = nil
		}
		if hs == nil && snap == nil && len(r.rd.Entries) == 0 {
			continue
		}
		updates = append(updates, journal.Update{Group: r.g.name, HardState: hs, Entries: r.rd.Entries, Snapshot: snap})
	}
	for i := range rs {
		r := &rs[i]
		hs := r.rd.HardState
		same := hs == nil || raft.IsEmptyHardState(hs) || (hs.GetTerm() == r.g.saved.term && hs.GetVote() == r.g.saved.vote)
		r.early = r.g.isLeader && r.rd.SoftState == nil && same
	}
	d.sendPart(rs, true)
	// Committed entries this server saved in an earlier round need not
	// wait for this round's fsync: on a leader, that is what the clients'
	// acknowledgements wait for while new proposals are being saved.
	for i := range rs {
		r := &rs[i]
		if stableCommitted(&r.rd) {
			r.g.apply.push([]applyItem{{ents: slices.Clone(r.rd.CommittedEntries)}})
			r.stableApplied = true
		}
	}
	if len(updates) > 0 {
		save := d.cfg.Log.Save
		if lazy, ok := d.cfg.Log.(noSyncLog); ok && !mustSync {
			// Only commit indexes moved (etcd/raft's MustSync is false):
			// written, not fsynced; a restart learns them again.
			save = lazy.SaveNoSync
		}
		if err := save(updates); err != nil {
			return fatal("save", err)
		}
		d.saves.Add(1)
		for i := range rs {
			if hs := rs[i].rd.HardState; hs != nil && !raft.IsEmptyHardState(hs) {
				rs[i].g.saved = durableHS{hs.GetTerm(), hs.GetVote()}
			}
		}
	}
	d.sendPart(rs, false)
	for i := range rs {
		if err := d.handOver(rs[i].g, &rs[i].rd, rs[i].stableApplied); err != nil {
			return err
		}
		rs[i].g.rn.Advance(rs[i].rd)
	}
	// A snapshot is one message here (no streaming yet): once handed to
	// the transport it is as finished as it will be; if it was lost the
	// follower's rejection makes the leader send another.
	for _, s := range d.snaps {
		s.g.rn.ReportSnapshot(s.to, raft.SnapshotFinish)
	}
	d.snaps = d.snaps[:0]
	for i := range rs {
		rs[i] = groupReady{}
	}
	d.readies = rs[:0]
	return nil
}

// send batches the round's messages per destination server: one
// Transport.Send per server per round, split at maxBatchBytes.
// sendPart sends a round's messages, batched per destination: with early,
// only the appends of the groups that may send them before the fsync;
// else everything else.
func (d *Driver) sendPart(rs []groupReady, early bool) {
	var bufs map[uint64][]byte
	for i := range rs {
		g := rs[i].g
		if early && !rs[i].early {
			continue
		}
		for _, m := range rs[i].rd.Messages {
			if rs[i].early && (m.GetType() == raftpb.MessageType_MsgApp) != early {
				continue
			}
			to := m.GetTo()
			if to == d.cfg.ID || to == 0 {
				continue
			}
			if g.hold != HoldNone && isVoteRequest(m) {
				// A held group's election never leaves this server: it
				// cannot win, so it cannot lead.
				d.heldRefused.Add(1)
				continue
			}
			if bufs == nil {
				bufs = map[uint64][]byte{}
			}
			buf := bufs[to]
			prev := len(buf)
			buf = AppendFrame(buf, g.name, m)
			if len(buf) > maxBatchBytes && prev > 0 {
				frame := append([]byte(nil), buf[prev:]...)
				d.cfg.Transport.Send(to, buf[:prev:prev])
				d.sentBatches.Add(1)
				buf = frame
			}
			bufs[to] = buf
			if m.GetType() == raftpb.MessageType_MsgSnap {
				d.snaps = append(d.snaps, snapSent{g: g, to: to})
			}
		}
	}
	for to, buf := range bufs {
		if len(buf) > 0 {
			d.cfg.Transport.Send(to, buf)
			d.sentBatches.Add(1)
		}
	}
}

// stableCommitted reports whether a Ready's committed entries may be
// applied before the Ready is saved: all of them were saved in earlier
// rounds (this Ready's own entries, if any, all come after them: none
// replaces one of them), and none is a snapshot or a membership change
// (those are recorded with the Log, in order, by handOver). Applying an
// entry that is committed and on this server's disk is what Raft allows
// at any time; only an entry of this very round would have to wait for
// its fsync (etcd/raft hands committed entries that are not yet stable
// to a synchronous caller, trusting it to save first).
func stableCommitted(rd *raft.Ready) bool {
	ce := rd.CommittedEntries
	if len(ce) == 0 || (rd.Snapshot != nil && !raft.IsEmptySnap(rd.Snapshot)) {
		return false
	}
	if len(rd.Entries) > 0 && rd.Entries[0].GetIndex() <= ce[len(ce)-1].GetIndex() {
		return false
	}
	for _, e := range ce {
		if t := e.GetType(); t == raftpb.EntryType_EntryConfChange || t == raftpb.EntryType_EntryConfChangeV2 {
			return false
		}
	}
	return true
}

// handOver applies the Ready's configuration changes to Raft and queues,
// in order, its snapshot, its committed entries (unless the round already
// queued them: stableApplied) and a change of leader for the group's
// apply goroutine.
func (d *Driver) handOver(g *group, rd *raft.Ready, stableApplied bool) error {
	var items []applyItem
	if snap := rd.Snapshot; snap != nil && !raft.IsEmptySnap(snap) {
		g.cs = snap.GetMetadata().GetConfState()
		items = append(items, applyItem{snap: snap})
	}
	if len(rd.CommittedEntries) > 0 && !stableApplied {
		for _, e := range rd.CommittedEntries {
			var cc raftpb.ConfChangeI
			switch e.GetType() {
			case raftpb.EntryType_EntryConfChange:
				v1 := new(raftpb.ConfChange)
				if err := proto.Unmarshal(e.GetData(), v1); err != nil {
					return fatal("conf change of "+g.name, err)
				}
				cc = v1
			case raftpb.EntryType_EntryConfChangeV2:
				v2 := new(raftpb.ConfChangeV2)
				if err := proto.Unmarshal(e.GetData(), v2); err != nil {
					return fatal("conf change of "+g.name, err)
				}
				cc = v2
			default:
				continue
			}
			cs := g.rn.ApplyConfChange(cc)
			// Recorded before the entry is handed on, so that a restart
			// that skips it (applied) starts from this membership.
			if err := d.cfg.Log.SetConfState(g.name, cs); err != nil {
				return fatal("conf state of "+g.name, err)
			}
			g.cs = cs
		}
		ents := make([]*raftpb.Entry, len(rd.CommittedEntries))
		copy(ents, rd.CommittedEntries)
		items = append(items, applyItem{ents: ents})
	}
	if hs := rd.HardState; hs != nil && !raft.IsEmptyHardState(hs) {
		g.term = hs.GetTerm()
	}
	if ss := rd.SoftState; ss != nil {
		g.lead = ss.Lead
		lead := ss.RaftState == raft.StateLeader
		if lead != g.isLeader {
			g.isLeader = lead
			d.stateMu.Lock()
			if _, ok := d.leading[g.name]; ok {
				d.leading[g.name] = lead
			}
			d.stateMu.Unlock()
		}
	}
	// A leader is reported once per term it is known in; "no leader" only
	// when it follows a known one (not at every term of an election).
	if g.lead != g.reportedLead || (g.lead != 0 && g.term != g.reportedTerm) {
		g.reportedLead, g.reportedTerm = g.lead, g.term
		items = append(items, applyItem{leaderChanged: true, leader: g.lead, term: g.term})
	}
	if len(items) > 0 {
		g.apply.push(items)
	}
	return nil
}
