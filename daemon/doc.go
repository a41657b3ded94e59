// Package daemon runs natsd: it turns the config file and flags into typed
// options (Load, Build), owns the lifecycle of every component (Start, Run,
// Shutdown), and handles signals, logging, the pid and ports files, and —
// on reload — building new options, validating them, diffing them against
// the running ones and applying the difference.
//
// It is the only package that knows about all the others: cmd/natsd calls
// it, and it wires server, cluster, monitor and systemd together.
package daemon
