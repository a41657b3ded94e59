// Package outbuf is a connection's queue of bytes to write, kept in pooled
// fixed-size chunks. Appending never regrows and copies one big buffer (a
// burst of large messages used to allocate about five times what it
// delivered, and the garbage drove the GC); the writer hands the chunks to
// the socket in one writev and gives them back to the pool, so an idle
// connection holds no buffer at all.
package outbuf

import (
	"net"
	"sync"
)

// ChunkSize is the size of a pooled chunk.
const ChunkSize = 32 * 1024

// maxFree bounds the chunks kept for reuse (8 MiB).
const maxFree = 256

var pool struct {
	mu   sync.Mutex
	free [][]byte
}

func getChunk(n int) []byte {
	if n > ChunkSize {
		return make([]byte, 0, n)
	}
	pool.mu.Lock()
	if k := len(pool.free); k > 0 {
		c := pool.free[k-1]
		pool.free[k-1] = nil
		pool.free = pool.free[:k-1]
		pool.mu.Unlock()
		return c[:0]
	}
	pool.mu.Unlock()
	return make([]byte, 0, ChunkSize)
}

func putChunks(cs [][]byte) {
	pool.mu.Lock()
	for _, c := range cs {
		if cap(c) == ChunkSize && len(pool.free) < maxFree {
			pool.free = append(pool.free, c[:0])
		}
	}
	pool.mu.Unlock()
}

// Queue is one connection's outbound bytes. It is not safe for concurrent
// use: the connection's lock guards it, and the writer takes the chunks out
// (Take) to write them without the lock.
type Queue struct {
	chunks   [][]byte
	spare    [][]byte // the other chunk list, swapped with chunks by Take
	queued   int
	inflight int
}

// Pending is what is queued plus what the writer is writing: the number the
// slow-consumer limit checks.
func (q *Queue) Pending() int { return q.queued + q.inflight }

// Queued is what is waiting for the writer.
func (q *Queue) Queued() int { return q.queued }

// Tail returns the last chunk if it has room for n more bytes, else a new
// chunk (with at least n bytes of room). Append at most n bytes to it and
// hand it back with Commit.
func (q *Queue) Tail(n int) []byte {
	if k := len(q.chunks); k > 0 {
		if c := q.chunks[k-1]; cap(c)-len(c) >= n {
			return c
		}
	}
	c := getChunk(n)
	q.chunks = append(q.chunks, c)
	return c
}

// Commit records what was appended to the chunk Tail returned.
func (q *Queue) Commit(b []byte) {
	k := len(q.chunks) - 1
	q.queued += len(b) - len(q.chunks[k])
	q.chunks[k] = b
}

// Write appends p, spreading it over as many chunks as it needs.
func (q *Queue) Write(p []byte) {
	for len(p) > 0 {
		c := q.Tail(1)
		n := min(cap(c)-len(c), len(p))
		q.Commit(append(c, p[:n]...))
		p = p[n:]
	}
}

// Take hands every queued chunk to the writer. They count as in flight
// until Done.
func (q *Queue) Take() [][]byte {
	out := q.chunks
	q.chunks, q.spare = q.spare[:0], nil
	q.inflight, q.queued = q.queued, 0
	return out
}

// Done returns the chunks of a finished write (from Take) to the pool.
func (q *Queue) Done(bufs [][]byte) {
	putChunks(bufs)
	clear(bufs)
	q.spare = bufs[:0]
	q.inflight = 0
}

// Reset drops everything queued (the connection is going away).
func (q *Queue) Reset() {
	putChunks(q.chunks)
	clear(q.chunks)
	q.chunks = q.chunks[:0]
	q.queued = 0
}

// BuffersWriter is a connection that writes a batch of chunks better than
// one Write each: a TLS session, which cannot use writev (tlsconf.Conn
// gathers its records into few writes instead).
type BuffersWriter interface {
	WriteBuffers(bufs [][]byte) (int64, error)
}

// WriteTo writes bufs (from Take) to conn in one writev where the platform
// has it, or with conn's own WriteBuffers. scratch is the writer's reusable
// slice of slice headers, since the write consumes them.
func WriteTo(conn net.Conn, bufs [][]byte, scratch *net.Buffers) (int64, error) {
	if bw, ok := conn.(BuffersWriter); ok {
		return bw.WriteBuffers(bufs)
	}
	*scratch = append((*scratch)[:0], bufs...)
	nb := *scratch
	n, err := nb.WriteTo(conn)
	clear(*scratch)
	return n, err
}
