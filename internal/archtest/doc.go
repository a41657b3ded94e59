// Package archtest holds one test: that natsd's packages import only what
// docs/architecture.md says they may, so that the arrows between packages
// stay one-way (cmd → daemon → {cluster, …} → server → leaves) and the
// leaves stay free of the server.
package archtest
