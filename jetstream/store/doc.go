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
// writes, torn writes, bit flips and a full disk (package faultfs).
//
// The store enforces the stream's limits (max msgs, bytes, age, msgs per
// subject, discard old or new) because only it knows, atomically with the
// append, what the stream holds. Retention by interest or work queue is the
// stream's business: it removes messages with RemoveMsg.
//
// # The index (both stores)
//
// Messages are held by sequence in a map of small values (no allocation
// per message beyond the memory store's copy of the bytes); interior
// deletes are ranges (a mirror skipping 2³² sequences costs one); each
// subject keeps the sorted list of its sequences, so a literal filter is a
// lookup and a binary search, and a wildcard walks the subjects (far fewer
// than the messages), not the messages. Message sizes count against
// MaxBytes as nats-server counts them (checked against v2.15.2: a file
// stream of a 10-byte message on "f.s" and one with an 18-byte header
// holds 108 bytes, a memory stream 76), so that the same limits keep the
// same messages. The memory store is that index with the bytes in it.
//
// # The file store
//
// A directory of segment files (00000000000000000001.seg, …, 8 MiB each)
// holding a log of records (record.go): messages, and every change that
// is not one — a removal, a purge, a compaction, a truncation, a skip, and
// at the start of each segment the stream's first and last sequence.
// Consumers live in consumers/<name>/state. The index lives in memory
// only: at open the store reads every record, which it must do anyway to
// check every checksum, and rebuilds it (about 0.9 s and 240 bytes of
// memory per message for 1 M messages of 128 bytes, page cache warm). An
// index file would save the rebuild but not the read, and would be one
// more thing to get wrong; there is none.
//
// Every change is appended to a pending batch and reaches the index only
// once its record is written (and, with SyncAlways, fsynced): readers see
// only what is on disk, and a failed write (ENOSPC: ErrStoreFull) leaves
// the index as it was, the tail cut back, the store usable once there is
// room. One caller at a time writes the whole batch with one write and
// one fsync while the others append to the next batch and wait (commit.go).
// A new segment is fsynced and its directory too before anything in it is
// acknowledged. Without SyncAlways a message is written (it survives the
// process being killed) but fsynced only every SyncInterval (2 minutes if
// zero, nats-server's default), and an OS crash may lose what was
// acknowledged since.
//
// Removals asked for (RemoveMsg, EraseMsg, Purge, Compact, Truncate,
// SkipMsgs) are committed like messages. Removals by limits and expiry
// are written lazily (within 200 ms, or with the next commit): a restart
// applies the limits again, and UpdateConfig makes them durable before it
// loosens a limit. Whole segments at the front go once the first sequence
// has passed them (only a prefix: a record may remove messages of earlier
// segments, never of later ones); a tail that a purge emptied is replaced
// at once so that its space comes back too. EraseMsg overwrites the
// record with one of the same length and a good checksum.
//
// At open, bytes at the end of the last segment that are not a whole
// record with a good checksum and are followed by none are a torn tail: cut
// and reported in State().Lost. Any other record that fails its checksum is
// a damaged region: the sequences between the messages around it are
// lost, listed in State().Lost with the file and offset, never served
// (LoadMsg gives ErrCorrupt; the walks skip them); the rest of the stream
// reads normally. A record found damaged by a read after open is treated
// the same way. A damaged region that held only a removal cannot be told
// from noise: the removed message comes back, and the region is reported.
//
// # Why a log of our own
//
// Measured on this machine's disk (ext4, 2 shared cores, where fsync
// times vary twofold from run to run), 128-byte messages, every write
// fsynced before it is acknowledged, runs of each alternating: this store
// 2.9–6.3 k msgs/s with one publisher and 36–43 k with 16; pebble v1.1.5
// (Sync writes, which group-commit its WAL) 2.0–6.2 k and 30–55 k; bbolt
// v1.4.3 (Batch) 91 and 1.3 k. bbolt's copy-on-write B+tree fsyncs twice
// per transaction and batches by waiting. Pebble is as fast, but brings
// some 40 modules and background compactions on two cores, its own
// file-system interface, and corruption handling that is not ours to
// choose (a damaged block fails reads of its whole range, damaged
// metadata fails the open), while what is asked here is per-record damage
// reported by sequence with the rest readable. Pebble preallocates and
// recycles its WAL files, which makes each fsync cheaper (measured here:
// 6.9 k fsyncs/s appending to a file, 10 k overwriting one); preallocated
// segments are the known next step for this store.
package store
