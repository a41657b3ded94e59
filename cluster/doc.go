// Package cluster is natsd's clustering: the route listener, solicited and
// gossiped routes, interest propagation and message forwarding, speaking
// nats-server's route protocol so that natsd and nats-server nodes can share
// a cluster. With cluster.tls every route, dialed or accepted, handshakes
// before any route protocol and both sides verify (tls.go).
package cluster
