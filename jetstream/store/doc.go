// Package store keeps a JetStream stream's messages and its consumers'
// state: in memory, or in files that survive a crash.
//
// The file store's promise is the one nats-server's does not keep (the
// 2025 Jepsen analysis of nats-server 2.12.1): with SyncAlways, a message
// is on disk — written and fsynced — when StoreMsg returns, so the publish
// acknowledgement that follows is true after an OS crash or power loss.
// Concurrent appends share one fsync (group commit). Every record carries a
// checksum verified on read and when the store opens; a torn tail is cut
// back to the last whole record and reported, a corrupt record elsewhere is
// reported by sequence and never returned as data.
//
// All disk access goes through FS, so that tests can inject lost unsynced
// writes, torn writes, bit flips and a full disk.
//
// The store enforces the stream's limits (max msgs, bytes, age, msgs per
// subject, discard old or new) because only it knows, atomically with the
// append, what the stream holds. Retention by interest or work queue is the
// stream's business: it removes messages with RemoveMsg.
package store
