// Package server is the single-node core of natsd: client connections, the
// client protocol, subject routing and delivery, limits, authentication and
// permissions, and the data behind the monitoring endpoints.
//
// A Server serves the listeners it is given (Serve) and knows nothing of how
// they were made: the daemon binds them or takes them from systemd. Each
// client connection has two goroutines: a reader that parses and delivers,
// and a writer that drains the connection's outbound buffer. A publisher
// never waits for a subscriber: delivery appends to the subscriber's buffer
// under its lock, and the writer is signalled once per read. A subscriber
// whose buffer outgrows max_pending, or whose writes outlast write_deadline,
// is cut off as a slow consumer.
//
// TLS (tls.go): on a listener with a tls block a client is registered at
// accept and its handshake runs on its reader's goroutine, in nats-server's
// order (INFO first, handshake first, or optional); the certificates come
// from the store the daemon gives (SetTLS), and verify_and_map names the
// client's user from its certificate.
//
// Clustering plugs in from outside through the Router interface and the
// remote-interest methods (AddRemoteSub, RemoveRemoteSub): routes are
// subscribers in the same subject trie, so queue groups are served once across
// the cluster with each server weighted by its member count.
package server
