// Package journal is a server's Raft journal: one log for every Raft group
// the server takes part in (the JetStream meta group, each replicated
// stream), so that one write and one fsync make a whole round of every
// group's entries and hard states durable (group commit across groups;
// docs/clustered-jetstream.md measured 2.2–2.7× over a log per group).
//
// Save appends a round; Storage answers etcd/raft's reads of one group
// (raft.Storage) from memory; Compact drops a group's entries once its
// state machine has made them durable elsewhere; Drop forgets a group;
// Damaged and Witness say which groups Open found damaged or behind, and
// where their logs must get before they may vote.
// OpenMemory keeps it all in memory only; Open keeps it in a directory
// and reads it back. The journal knows nothing of streams: a group is a
// name and its log.
//
// # Files and records
//
// The directory holds segments, NNNNNNNNNN.seg, numbered upwards and only
// ever appended to. A record is a 16-byte header, the group's name and a
// body (record.go): entries (a run, protobuf as etcd/raft encodes them),
// a hard state, a snapshot applied, a membership (SetConfState), a
// compaction (the snapshot Compact made, data included), a drop, a
// repair (Repaired). The
// header carries two CRC-32C (Castagnoli): one over the header and name,
// one over the body, so that a damaged body is pinned on its group and
// reading goes on at the next record.
//
// Save encodes its round (per group: snapshot, entries, hard state, in
// that order, so that any prefix of a round is a consistent state),
// appends it with one write and fsyncs; only then does memory change.
// SetConfState, Compact and Drop write a record each and fsync too. When
// any of them returns nil, what it did survives a crash. A failed write
// (a full disk) is cut off again and the journal goes on; a failed fsync
// stops it (what is on disk is then unknown): every later change fails.
//
// # Checkpoints and releasing segments
//
// A segment is begun when the last one has reached Options.SegmentSize
// (and at every Open). It opens with a checkpoint: for each group, its
// hard state, membership, snapshot (with data), last index and term, why
// it is damaged if it is (until Repaired), and
// — when they are few (at most 1/16 of a segment per group, 1/4 in all) —
// its entries after the snapshot; then a closing record with the count.
//
// Segments before segment k are deleted when k's checkpoint is complete
// and covers them: for every group still alive with entries in them, the
// checkpoint either copied the group's entries or its snapshot index is
// at or past the highest of them. Replay starting at k then misses
// nothing: every older record is an entry since compacted or copied, or
// state the checkpoint restates, or belongs to a dropped group. Deletion
// goes oldest first, each removal made durable before the next, so a
// crash never leaves a hole in the numbering. A group that neither
// compacts nor stays short keeps the segments holding its entries (the
// layer above makes a lagging group flush and compact).
//
// # Reading back, and damage
//
// Open replays every segment, oldest first, into the groups' in-memory
// logs (raft never reads the disk): a run of entries at or below a
// group's last index replaces the suffix (conflict truncation); a
// compaction or snapshot cuts the front; a drop removes the group; a
// checkpoint restates a group and is checked: the log read so far must
// reach its last index and term.
//
// A bad record at the end of the last segment whose header does not
// check, or that runs past the end of the file, is a torn tail: the round
// being written when the power went, never acknowledged. It is cut
// (the witness, below, tells it from acknowledged rounds lost at the
// end). Everything else is damage, and never fails Open:
//
//   - a record whose header checks but whose body does not (or a record
//     cut short in a segment that is not the last): its group is damaged;
//   - a header that does not check, with readable records after it: the
//     reader finds the next record that checks, and every group with a
//     record after the damage in that segment is damaged (whose record
//     was lost is unknown); with nothing readable after it (not the last
//     segment), every group with a record in that segment is;
//   - entries that do not join the group's log (something before them is
//     lost), a checkpoint the log does not reach (a segment missing or
//     damaged before), a commit index past the last entry.
//
// A damaged group's log is cut before the damage: its later records whose
// entries do not join the cut log are left out (what follows a gap cannot
// be trusted); those that join — a leader sending the lost entries again
// — are kept. Its commit index is brought back to its last entry (etcd/
// raft refuses a commit past the log). Damaged reports each such group
// with the reason, file and offset, logged at error level; the layer
// above keeps it from voting and campaigning until a leader has brought
// it back (docs/clustered-jetstream.md, "Repair"), and then calls
// Repaired, which writes a record saying so. Until then every Open
// reports the group again: from the damaged records while they are
// there (cutting the same way, which keeps what was repaired since), and
// from the reason each checkpoint carries once they are released.
//
// # The witness
//
// The segments alone cannot tell a cut end (a truncated or deleted
// newest segment, a flipped header in the last record) from a torn tail:
// both end where the last readable record does. The witness file,
// "witness" beside the segments (witness.go), says how far each group's
// log reached when it was last acknowledged. It is a table of 512-byte
// slots, one per group: the group's name in a record of its own, and two
// 64-byte copies of (term, vote, commit, last index, last term), each
// with its own CRC-32C and a sequence number, and a hash of the name so
// that a copy is never taken for another group's. Copies are written
// alternately: a torn write leaves the other, older one. A header (two
// copies too) says up to which sequence number writes completed.
//
// Each Save writes the slots of the groups whose last index, last term or
// hard state it changes, and the header, after the segment's write and
// before both fsyncs, which run at the same time (+10–25 % a round
// measured in the design, against +60 % one after the other); the round
// is acknowledged when both are durable. Drop frees the group's slot (a
// copy saying so), Repaired writes it again; Compact and SetConfState
// change nothing it holds. A freed slot is the next new group's, the
// lowest first; the file grows only when none is free.
//
// At Open, after replay, a slot's newest copy is held against its
// group's log: the log must reach its last index with the same term, and
// the hard state its commit. A group that does not is damaged ("behind"),
// as is one with a slot and no records at all, one whose slot is
// unreadable in both copies (only outside damage does that), and one
// whose name record is unreadable while an acknowledged copy names it by
// hash. Witness gives the point the log must reach; the slot keeps saying
// it (whatever the group saves meanwhile) until Repaired, so every Open
// until then reports the group again.
//
// A crash in the middle of a round may leave its witness write on disk
// and its segment write not (each file keeps what it likes of what was
// not fsynced): such a copy is newer than what the header says completed,
// and is not held against the log; the copy before it is (the log must
// reach that one, or this one). Open then makes the last segment durable,
// rewrites every slot that differs from its log (marked as written by
// Open, of a log already durable), frees the slots of groups whose drop
// record was read, and writes a header saying all writes so far
// completed, in a second fsync, so that a crash in between never leaves
// the mark without the slots. Close writes that header too, so that the
// very last round before a clean shutdown is held against the log.
//
// What remains: the last round before a crash cannot be told from one
// the crash cut, so an acknowledged round cut off the end of the log
// after a crash, before another round or a Close, goes unnoticed. And if
// the segment's fsync finished and the witness's did not, the older copy
// may describe a suffix the log has since replaced (a conflict rewrote
// it): the group is then found behind wrongly, and catches up from the
// leader, slower but never unsafe. A missing witness file (a journal
// from before it) checks nothing that once; Open makes a new one.
package journal
