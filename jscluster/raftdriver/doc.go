// Package raftdriver runs every Raft group of one server with etcd/raft:
// one goroutine owns all the groups' RawNodes, ticks them, steps what the
// transport delivers, and for the groups that are ready performs one round
// — their entries and hard states saved to the server's journal with one
// fsync, then their messages sent (batched per destination server), their
// committed entries handed to each group's own apply goroutine.
//
// It knows nothing of streams or of NATS: a group is a name, a state
// machine that is handed committed entries, and a log in the journal; the
// transport is an interface. docs/clustered-jetstream.md explains the
// choices (why etcd/raft, why one journal, when a message may leave).
//
// The rules that make it safe:
//
//   - Nothing of a round is sent before the round's Log.Save returned —
//     not a vote, not an append's acknowledgement — except a leader's own
//     appends when the round changes neither its term nor its vote (they
//     count toward a commit only once its fsync is done). A Save that
//     fails stops the driver: a server that cannot persist takes no part.
//   - A state machine is handed only entries its server has saved:
//     committed entries that an earlier round saved are handed over
//     before the round's own save (a leader's acknowledgements do not
//     wait for the fsync of later proposals); the others after it.
//   - Proposals come from the leader only (Raft's forwarding is off), and
//     one that Raft drops (leadership lost since Propose's check) is lost:
//     what Apply is handed is the only outcome.
//   - Entries handed to Apply, and the data given to Propose, are shared
//     with Raft's log: neither side may modify them.
//   - A restarted group's membership is the one at the state machine's
//     applied index, so that the changes Raft hands again are applied
//     once each.
package raftdriver
