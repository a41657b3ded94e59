// Package conn is the core every natsd connection shares, whatever speaks on
// it: a client, a route, and later TLS-wrapped, WebSocket and leaf node
// connections. A Conn owns the socket, the outbound queue and the goroutine
// that writes it, the write deadline, closing exactly once with a typed
// Reason, the keepalive PING timer and round-trip time, the auth timer, the
// message counters and the read loop that feeds a protocol parser. The
// connection kinds (server's client, cluster's route) embed a Conn and add
// only what is theirs: their protocol handler, subscriptions, permissions.
//
// One lock per connection: Conn's mutex guards the queue and the Conn's
// state, and the kinds that embed it guard their own state with it too
// (Lock/Unlock), so that delivering a message to a connection takes one lock.
//
// A publisher never waits on a socket: it appends under the lock and wakes
// the writer (Wake), which writes the queued chunks with one writev without
// the lock. When a queue passes half of max_pending, Stall hands producers a
// channel the writer closes once the queue has drained below that again
// (back-pressure); the kinds decide who waits and how long.
//
// The package knows nothing of subjects or accounts and logs nothing: it
// reports to its Owner.
package conn
