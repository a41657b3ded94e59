// Package daemon runs natsd: it turns the config file and flags into typed
// options (Load, Build), owns the lifecycle of every component (Start, Run,
// Shutdown), and handles signals, logging, the pid and ports files, and —
// on reload — building new options, validating them, diffing them against
// the running ones and applying the difference.
//
// The listeners (client, cluster, monitor) are rows of one endpoint table
// (endpoints.go) that start, reload and shutdown all go through; one
// lifecycle owner (lifecycle.go) serialises reload and shutdown and tracks
// every goroutine the daemon starts; the reload diff (diff.go) is the only
// place that decides what a reload changes. The daemon owns the TLS
// certificate stores and reloads them when their files change (tls.go).
//
// It is the only package that knows about all the others: cmd/natsd calls
// it, and it wires server, cluster, monitor and systemd together.
package daemon
