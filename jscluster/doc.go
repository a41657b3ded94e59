// Package jscluster is clustered JetStream: the meta group that assigns
// streams to servers, and one Raft group per stream that replicates what
// is published to it (issue 18; the design and its measurements are in
// docs/clustered-jetstream.md).
//
// Its parts:
//
//	cluster.go     the Cluster: start, stop, what jetstream asks of it
//	transport.go   Raft messages as NATS messages in the system account,
//	               one subject per server ($NATSD.RAFT.<id>)
//	peers.go       who else runs clustered JetStream (hellos every second)
//	meta.go        the meta group's state: streams, their groups and peers
//	placement.go   which servers a new stream's replicas go to
//	streams.go     a stream's group: the jetstream.Replicator of a replica
//	catchup.go     a replica far behind fetches messages from its leader
//
// The Raft groups run in one driver (raftdriver) and keep their logs in
// one journal per server (jetstream/journal). jetstream does the storing
// and serving; this package tells it what to store and when it leads. It
// talks to the server only through the system account's internal
// subscriptions, as sysacct does.
package jscluster
