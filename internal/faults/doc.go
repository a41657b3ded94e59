// Package faults is natsd's fault suite: real natsd processes on loopback,
// real nats.go clients, and one fault at a time done to them — a node
// killed with SIGKILL and restarted on the same ports, a node frozen with
// SIGSTOP past its peers' route ping limit, a second connection between two
// servers that already have a route, a route flooded by a publisher faster
// than it, 50 rewrites of a node's config (some of them half-written files)
// under traffic, and 20,000 client connections opened and closed against
// one node.
//
// Each scenario promises, and asserts:
//   - no message loss on the paths the fault does not touch: counting
//     publishers send sequence numbers, counting subscribers see every
//     sequence exactly once and in order, between nodes the fault leaves
//     alone;
//   - no leaked file descriptors (/proc/<pid>/fd) and no leaked goroutines
//     (the "goroutines" field of /varz) in the natsd processes: after the
//     fault has healed, both are back to what they were before it, within a
//     small slack stated in the test;
//   - bounded memory: VmRSS (/proc/<pid>/status), sampled through the
//     fault, stays under a bound stated per scenario;
//   - recovery: after the fault, the mesh is whole again and traffic flows
//     through the node the fault touched.
//
// The package holds only tests (and this file) so that `go test ./...`
// runs it as its own test binary, in parallel with the other packages. The
// whole suite takes about a minute of wall time under -race on two cores;
// every wait in it is bounded.
//
// Run it, or one fault alone:
//
//	go test -race -count=1 ./internal/faults/ -v
//	go test -race -count=1 ./internal/faults/ -v -run TestFaultKillRestart
//
// The scenarios are TestFaultKillRestart, TestFaultStoppedPeer,
// TestFaultDuplicateRoute, TestFaultRouteFlood, TestFaultReloadStorm and
// TestFaultConnChurn. Each logs a "numbers:" line (messages, fds,
// goroutines, peak RSS). The flood and the churn run alone (they take all
// the CPU); the others run in parallel with each other after them.
//
// NATSD_BIN runs the suite against another binary, such as the reference
// nats-server: its /varz has no goroutine count, so that check is skipped
// for it (and only for it), and its behaviour under a fault is what natsd's
// is compared with.
package faults
