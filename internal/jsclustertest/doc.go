// Package jsclustertest runs clustered JetStream fault tests against real
// server processes: a Cluster of 3 or 5 natsd nodes (built with
// -tags natsd_testhooks) or of nats-server v2.15.2 nodes, the reference, on
// loopback with free ports. Any package's tests can use it; only tests
// should.
//
// # Cluster
//
// Start writes one configuration file per node and waits until the nodes
// have a JetStream meta leader and every /healthz answers 200. Node i
// (0-based) is server_name n<i+1>. The configuration, the same for both
// kinds (natsd reads nats-server's format), is exactly:
//
//	server_name: n1
//	listen: 127.0.0.1:<client port>
//	http: 127.0.0.1:<monitoring port>
//	cluster {
//	  name: jsc-<6 random digits>
//	  listen: 127.0.0.1:<cluster port>
//	  routes: [
//	    nats-route://127.0.0.1:<n1's cluster port>
//	    nats-route://127.0.0.1:<n2's cluster port>
//	    nats-route://127.0.0.1:<n3's cluster port>
//	  ]
//	}
//	jetstream {
//	  store_dir: "<test temp dir>/n1/store"
//	  sync_interval: always
//	}
//
// Every node's routes name every node, itself included (a server ignores
// its own route). The process runs as `<bin> -c <file> --ports_file_dir
// <dir>`; natsd also gets NATSD_TEST_ROUTE_BLOCK_FILE naming the node's
// route-drop file. With Options.CoreOnly the jetstream block is left out
// (a core NATS cluster: the harness's own partition test runs on natsd so
// today). The cluster name is unique per cluster, so that a node never
// joins another test's cluster through a port reused meanwhile; a port
// taken by another process between the check and the bind starts the
// cluster again on other ports.
//
// Faults, per node: Kill9 (SIGKILL), Stop and Cont (SIGSTOP, SIGCONT: a
// hung node whose sockets stay open), Restart (after Kill9: the same file,
// so the same ports and store directory). Partition(groups...) cuts the
// cluster apart through natsd's route-drop hook (cluster/testhooks.go:
// each node's file lists the nodes outside its group); Heal empties the
// files. nats-server has no such hook: Partition and Heal return
// ErrPartitionUnsupported, so a test that needs a partition runs for
// natsd only and says so, rather than pass without one.
//
// Clients: Connect(i) prefers node i and fails over to the others;
// ConnectOnly(i) stays on node i (a client inside a partition). Both
// notice a dead or stopped server within a few seconds.
//
// Observing: MetaLeader reads /jsz meta_cluster.leader; StreamLeader asks
// the JetStream API (stream info cluster.leader); MakeStreamLeader moves a
// stream's leadership to a node (step-down with placement.preferred);
// NodeStreamState is one node's own replica (its
// /jsz?accounts=true&streams=true), which WaitCaughtUp uses to see a
// restarted or resumed node catch up; NumRoutes counts the peers a node
// has routes to (/routez, distinct remote_id).
//
// Every process ends with the test (t.Cleanup; a stopped one is continued
// first), and every wait is bounded.
//
// # AckLog
//
// An AckLog records every publish acknowledgement a test's clients
// received. Verify reads each acknowledged sequence back through the
// stream's leader ($JS.API.STREAM.MSG.GET, never a direct get that a
// lagging replica may answer) and fails the test naming every message lost
// or changed, and any sequence acknowledged for two different messages.
// VerifyEachReplica does it once with each running node leading.
//
// # Linearizability
//
// StartKV starts a workload of several KV clients, each connected to a
// different node first, doing random put, get and compare-and-set
// (nats.go's kv.Update on the revision) on a few keys, recording each
// operation's call and return times; KVRun.Stop ends it and returns the
// history. CheckKV checks it with porcupine
// (github.com/anishathalye/porcupine) against a model of one key with
// revisions (the history is partitioned by key): revisions only grow, a
// get sees the last write, a cas applies exactly when the key is at the
// expected revision. An operation whose outcome is unknown (a timeout, a
// lost connection) is recorded open-ended: its return is the end of the
// history, so it may take effect at any point after its call, or never; a
// get whose outcome is unknown is left out. A cas refused with err_code
// 10164 (nats-server's answer while another write to the key is in flight)
// only says it did not apply. On a violation porcupine's HTML
// visualisation and the history as text are written to files (the test's
// artifact directory with go test -artifacts, else a new directory under
// the system's temporary directory) and their paths reported.
//
// Gets are nats.go's kv.Get (ReadDirect: a direct get, which nats-server
// answers from any replica and which the tests found not linearizable
// there) or a read through the leader (ReadLeader:
// $JS.API.STREAM.MSG.GET with last_by_subj).
package jsclustertest
