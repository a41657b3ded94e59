package tlsconf

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net"
	"sync"
	"time"
)

// Conn is a TLS connection as natsd's connections use it: the *tls.Conn for
// reading and writing, over the TCP socket it was made on.
//
// Close closes the TCP socket at once, without the close_notify alert
// crypto/tls would send first: that alert waits for the session's write
// lock, held by a writer blocked on a peer that reads nothing (a slow
// consumer), and then for the peer itself for up to five seconds, while
// natsd closes a connection precisely so that nothing waits on it. Peers
// see the end of the TCP stream, which every NATS client and server reads
// as a closed connection.
type Conn struct {
	*tls.Conn
	raw   net.Conn
	batch *batchConn // under the session: gathers WriteBuffers' records
}

// Server makes the server side of a TLS connection on raw; nothing happens
// until Handshake.
func Server(raw net.Conn, cfg *tls.Config) *Conn {
	b := &batchConn{Conn: raw}
	return &Conn{Conn: tls.Server(b, cfg), raw: raw, batch: b}
}

// Client makes the client side of a TLS connection on raw (a route natsd
// dials); nothing happens until Handshake.
func Client(raw net.Conn, cfg *tls.Config) *Conn {
	b := &batchConn{Conn: raw}
	return &Conn{Conn: tls.Client(b, cfg), raw: raw, batch: b}
}

// Handshake runs the handshake, bounded by timeout (a timeout of 0 or less
// fails at once, as a negative tls timeout does in nats-server). ctx ends
// it early (shutdown). The deadline is cleared afterwards.
func (c *Conn) Handshake(ctx context.Context, timeout time.Duration) error {
	_ = c.raw.SetDeadline(time.Now().Add(timeout))
	err := c.HandshakeContext(ctx)
	_ = c.raw.SetDeadline(time.Time{})
	return err
}

// Close closes the TCP socket (see Conn).
func (c *Conn) Close() error { return c.raw.Close() }

// Raw is the TCP socket under the session.
func (c *Conn) Raw() net.Conn { return c.raw }

// Session is what monitoring shows of a TLS connection: the protocol
// version as nats-server writes it ("1.3"), the cipher suite's name, the
// peer's certificate chain as it was presented, and whether the handshake
// came before INFO (handshake_first).
type Session struct {
	Version     string
	CipherSuite string
	PeerCerts   []PeerCert
	First       bool
}

// PeerCert is one certificate the peer presented (/connz tls_peer_certs).
type PeerCert struct {
	Subject string // RFC 4514, as Go prints it
	// SPKISHA256 and CertSHA256 are hex SHA-256 of the certificate's
	// SubjectPublicKeyInfo (what pinned_certs lists) and of its DER.
	SPKISHA256 string
	CertSHA256 string
}

// SessionOf describes the session of a completed handshake.
func SessionOf(cs tls.ConnectionState) *Session {
	s := &Session{Version: Version(cs.Version).String(), CipherSuite: tls.CipherSuiteName(cs.CipherSuite)}
	for _, pc := range cs.PeerCertificates {
		s.PeerCerts = append(s.PeerCerts, PeerCert{Subject: pc.Subject.String(), SPKISHA256: sha256Hex(pc.RawSubjectPublicKeyInfo), CertSHA256: sha256Hex(pc.Raw)})
	}
	return s
}

// IsHandshakeRecord reports whether b, the first byte a peer sent, starts
// a TLS handshake record (a ClientHello): how a server that also accepts
// plain text (allow_non_tls, handshake_first with a fallback) tells a TLS
// client from a plain one.
func IsHandshakeRecord(b byte) bool { return b == 0x16 }

// Replay is raw with prefix — bytes already read from it to tell TLS from
// plain text — put back in front of what it reads next.
func Replay(raw net.Conn, prefix []byte) net.Conn {
	if len(prefix) == 0 {
		return raw
	}
	return &replayConn{Conn: raw, prefix: prefix}
}

type replayConn struct {
	net.Conn
	prefix []byte
}

func (r *replayConn) Read(b []byte) (int, error) {
	if len(r.prefix) > 0 {
		n := copy(b, r.prefix)
		r.prefix = r.prefix[n:]
		return n, nil
	}
	return r.Conn.Read(b)
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// WriteBuffers writes bufs (a connection's queued chunks) as TLS records
// and hands them to the socket in writes of up to batchFlush bytes, where
// writing each chunk with Write would make one system call per record
// (crypto/tls writes every record to the socket as it seals it), and
// net.Buffers' writev cannot reach the socket under a *tls.Conn.
func (c *Conn) WriteBuffers(bufs [][]byte) (int64, error) {
	c.batch.begin()
	var n int64
	for _, b := range bufs {
		k, err := c.Conn.Write(b)
		n += int64(k)
		if err != nil {
			c.batch.end()
			return n, err
		}
	}
	return n, c.batch.end()
}

// batchFlush is how many sealed bytes a batch gathers before it writes
// them: four full TLS records.
const batchFlush = 64 * 1024

var batchPool = sync.Pool{New: func() any { b := make([]byte, 0, batchFlush+maxRecord); return &b }}

// maxRecord is a sealed TLS record's largest size (16 KiB of plaintext
// and the overhead).
const maxRecord = 16*1024 + 256

// batchConn is the socket as the TLS session writes to it. Between begin
// and end it gathers what the session writes (in a pooled buffer, so that
// an idle connection holds none) and writes it to the socket every
// batchFlush bytes and at the end; otherwise it writes through. A session
// may write from the reader's goroutine too (a TLS 1.3 KeyUpdate answer):
// mu keeps the two in order.
type batchConn struct {
	net.Conn
	mu  sync.Mutex
	buf *[]byte // nil: not batching
}

func (b *batchConn) begin() {
	b.mu.Lock()
	b.buf = batchPool.Get().(*[]byte)
	b.mu.Unlock()
}

func (b *batchConn) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buf == nil {
		return b.Conn.Write(p)
	}
	*b.buf = append(*b.buf, p...)
	if len(*b.buf) >= batchFlush {
		if err := b.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (b *batchConn) flushLocked() error {
	_, err := b.Conn.Write(*b.buf)
	*b.buf = (*b.buf)[:0]
	return err
}

// end writes what the batch gathered and stops gathering.
func (b *batchConn) end() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	err := b.flushLocked()
	if cap(*b.buf) <= batchFlush+maxRecord {
		batchPool.Put(b.buf)
	}
	b.buf = nil
	return err
}
