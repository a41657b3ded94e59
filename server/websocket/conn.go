package websocket

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/natsd/natsd/server/outbuf"
)

// Config is what a Conn is told at the upgrade.
type Config struct {
	// Compress: permessage-deflate was negotiated (without context
	// takeover either way: each message is compressed on its own).
	Compress bool
	// MaxFrame bounds a data frame's payload, and a compressed message's
	// compressed size; past it the connection is closed with 1009. A
	// frame's payload is streamed, so the bound is a sanity check, not a
	// buffer size. 0 means DefaultMaxFrame.
	MaxFrame uint64
	// CloseStatus is asked, when the connection is closed without a
	// protocol error or a close frame from the client, for the close
	// frame to send: code 0 sends none.
	CloseStatus func() (code int, reason string)
	// MaxWriteFrame bounds the payload of a frame the server sends: a
	// larger write goes out as several frames (the client protocol is a
	// byte stream, so a frame may end anywhere). nats.go 1.53 and later
	// close the connection on a frame over 8 × the max_payload their INFO
	// gave (64 MiB at most), and the writer of a client that fell behind
	// takes everything pending at once: see MaxWriteFrameFor. 0 means
	// DefaultMaxWriteFrame; SetMaxWriteFrame changes it.
	MaxWriteFrame int
}

// DefaultMaxWriteFrame is MaxWriteFrame's default: nats.go's limit for
// the default max_payload of 1 MiB.
const DefaultMaxWriteFrame = 8 << 20

// MaxWriteFrameFor is the largest frame a client told maxPayload accepts:
// what nats.go allows (8 × max_payload, at most 64 MiB).
func MaxWriteFrameFor(maxPayload int) int {
	const limit = 64 << 20
	if maxPayload <= 0 || maxPayload > limit/8 {
		return limit
	}
	return 8 * maxPayload
}

// DefaultMaxFrame is MaxFrame's default: nats-server's default max_pending.
const DefaultMaxFrame = 64 << 20

// closeWriteTimeout bounds the write of a close frame.
const closeWriteTimeout = time.Second

// Conn is a server's side of a WebSocket connection as a net.Conn: Read
// returns the payload of the client's data frames, unmasked and, when
// compressed, inflated; Write and WriteBuffers send what they are given as
// one binary frame. Control frames are answered by the reader: a ping with
// a pong, a close with the same close (then Read returns the client's
// *CloseError). Whatever the client sends that RFC 6455 forbids ends Read
// with a *CloseError, and Close then sends that status before closing the
// socket.
//
// One goroutine reads and one writes (WriteBuffers); the reader's pongs and
// close echo are serialised with the writer's frames.
type Conn struct {
	net.Conn // the socket (TCP, or the TLS session of wss)
	cfg      Config

	// The reader's; raw bytes from the socket are rbuf[r:w].
	rbuf   []byte
	r, w   int
	st     readState
	h      header // the frame being read
	pos    int    // offset in its payload, for the mask
	remain uint64 // its payload bytes still to come
	inMsg  bool   // a data message awaits its final frame
	zmsg   bool   // that message is compressed
	zbuf   []byte // a compressed message's payload so far
	infl   io.ReadCloser
	ctrl   [maxControlPayload]byte
	nctrl  int
	err    error // sticky: what Read returns once the payload is drained

	status   atomic.Pointer[CloseError] // a protocol error the reader found: what Close sends
	maxWrite atomic.Int64               // Config.MaxWriteFrame, changed by SetMaxWriteFrame

	// The writers' (the connection's writer, the reader's control
	// frames, Close), under wmu.
	wmu     sync.Mutex
	closed  bool // a close frame went out, or Close ran: no frame follows
	hdr     [maxHeader]byte
	hdrs    []byte // the headers of a write split into frames
	vec     [][]byte
	scratch net.Buffers
}

type readState uint8

const (
	stHeader     readState = iota
	stPayload              // a data frame, uncompressed: straight to the caller
	stCompressed           // a data frame of a compressed message: collected
	stControl              // a ping, pong or close: collected
)

// NewConn makes a Conn of nc after a successful upgrade. buffered is what
// was read from nc past the upgrade request (a client may send its first
// frames at once).
func NewConn(nc net.Conn, buffered []byte, cfg Config) *Conn {
	if cfg.MaxFrame == 0 {
		cfg.MaxFrame = DefaultMaxFrame
	}
	c := &Conn{Conn: nc, cfg: cfg}
	c.SetMaxWriteFrame(cfg.MaxWriteFrame)
	if len(buffered) > 0 {
		c.rbuf = append(make([]byte, 0, max(len(buffered), minReadBuf)), buffered...)
		c.w = len(buffered)
		c.rbuf = c.rbuf[:cap(c.rbuf)]
	}
	return c
}

// SetMaxWriteFrame bounds the frames sent from the next write on (0:
// DefaultMaxWriteFrame). The server lowers it when CONNECT puts the client
// in an account with a smaller max_payload.
func (c *Conn) SetMaxWriteFrame(n int) {
	if n <= 0 {
		n = DefaultMaxWriteFrame
	}
	c.maxWrite.Store(int64(max(n, minWriteFrame)))
}

// minWriteFrame keeps a tiny limit from splitting writes into a frame per
// few bytes.
const minWriteFrame = 4 << 10

// Compressed reports whether permessage-deflate is on.
func (c *Conn) Compressed() bool { return c.cfg.Compress }

// minReadBuf is the smallest read buffer: room for the longest header.
const minReadBuf = 64

// Read returns the payload of the client's data frames: as much as is
// buffered, or, when nothing is, what one read of the socket brings.
func (c *Conn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.sizeBuffer(len(p))
	n := 0
	for n < len(p) {
		if c.infl != nil {
			k, err := c.infl.Read(p[n:])
			n += k
			switch {
			case err == io.EOF:
				c.endInflate()
			case err != nil:
				c.endInflate()
				c.fail(&CloseError{Code: CloseInvalidPayload, Reason: "invalid compressed data"})
			}
			continue
		}
		if c.err != nil {
			break
		}
		k, more := c.decode(p[n:])
		n += k
		if more || c.err != nil {
			continue
		}
		// The buffered bytes are used up (or hold part of a header).
		if n > 0 {
			break // hand over what there is; the next Read reads on
		}
		if err := c.fill(); err != nil {
			c.err = err
		}
	}
	if n > 0 {
		return n, nil
	}
	return 0, c.err
}

// sizeBuffer follows the caller's read size (which grows with load and
// shrinks when idle) while nothing is buffered.
func (c *Conn) sizeBuffer(want int) {
	if c.r != c.w {
		return
	}
	want = max(want, minReadBuf)
	if len(c.rbuf) < want || len(c.rbuf) > 4*want {
		c.rbuf = make([]byte, want)
		c.r, c.w = 0, 0
	}
}

// fill reads from the socket into the buffer, keeping a partial header.
func (c *Conn) fill() error {
	if c.r == c.w {
		c.r, c.w = 0, 0
	} else if len(c.rbuf)-c.w < maxHeader {
		c.w = copy(c.rbuf, c.rbuf[c.r:c.w])
		c.r = 0
	}
	k, err := c.Conn.Read(c.rbuf[c.w:])
	c.w += k
	if k > 0 {
		return nil // an error comes back with the next read
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// decode goes through the buffered bytes: it puts the payload of data frames
// in p and returns how much, with more false when it needs more bytes from
// the socket to go on.
func (c *Conn) decode(p []byte) (n int, more bool) {
	avail := c.w - c.r
	switch c.st {
	case stHeader:
		h, hn, perr := parseHeader(c.rbuf[c.r:c.w], c.cfg.MaxFrame)
		if perr != nil {
			c.fail(perr)
			return 0, false
		}
		if hn == 0 {
			return 0, false
		}
		c.r += hn
		c.begin(h)
		return 0, true
	case stPayload:
		if avail == 0 {
			return 0, false
		}
		k := int(min(uint64(min(len(p), avail)), c.remain))
		c.pos = unmaskCopy(p[:k], c.rbuf[c.r:c.r+k], c.h.key, c.pos)
		c.r += k
		c.remain -= uint64(k)
		if c.remain == 0 {
			c.endData()
		}
		return k, true
	case stCompressed:
		if avail == 0 {
			return 0, false
		}
		k := int(min(uint64(avail), c.remain))
		at := len(c.zbuf)
		c.zbuf = append(c.zbuf, c.rbuf[c.r:c.r+k]...)
		c.pos = unmaskCopy(c.zbuf[at:], c.zbuf[at:], c.h.key, c.pos)
		c.r += k
		c.remain -= uint64(k)
		if c.remain == 0 {
			c.endData()
		}
		return 0, true
	case stControl:
		if avail == 0 {
			return 0, false
		}
		k := int(min(uint64(avail), c.remain))
		c.pos = unmaskCopy(c.ctrl[c.nctrl:c.nctrl+k], c.rbuf[c.r:c.r+k], c.h.key, c.pos)
		c.nctrl += k
		c.r += k
		c.remain -= uint64(k)
		if c.remain == 0 {
			c.control()
		}
		return 0, true
	}
	return 0, false
}

// begin starts reading the frame of header h, refusing what the state of
// the connection forbids: a continuation with no message to continue, a new
// message before the last one ended, RSV1 where it means nothing; with
// nats-server's reasons (recorded).
func (c *Conn) begin(h header) {
	c.h, c.pos, c.remain = h, 0, h.length
	if isControl(h.op) {
		if h.rsv1 {
			c.fail(protocolError("compressed control frame"))
			return
		}
		c.st, c.nctrl = stControl, 0
		if c.remain == 0 {
			c.control()
		}
		return
	}
	if h.op == opContinuation {
		switch {
		case !c.inMsg:
			c.fail(protocolError("invalid continuation frame"))
			return
		case h.rsv1:
			c.fail(protocolError("invalid continuation frame"))
			return
		}
	} else {
		switch {
		case c.inMsg:
			// nats-server's reason text (recorded).
			c.fail(protocolError("new message started before final frame for previous message was received"))
			return
		case h.rsv1 && !c.cfg.Compress:
			c.fail(protocolError("compressed frame received without negotiated permessage-deflate"))
			return
		}
		c.inMsg, c.zmsg = true, h.rsv1
	}
	c.st = stPayload
	if c.zmsg {
		if uint64(len(c.zbuf))+h.length > c.cfg.MaxFrame {
			c.fail(&CloseError{Code: CloseMessageTooBig, Reason: "compressed message over the limit of " + strconv.FormatUint(c.cfg.MaxFrame, 10) + " bytes"})
			return
		}
		c.st = stCompressed
	}
	if c.remain == 0 {
		c.endData()
	}
}

// endData ends a data frame; the final frame of a compressed message starts
// inflating it.
func (c *Conn) endData() {
	c.st = stHeader
	if !c.h.fin {
		return
	}
	c.inMsg = false
	if c.zmsg {
		c.zmsg = false
		c.startInflate()
	}
}

// control acts on a ping, pong or close whose payload is in ctrl.
func (c *Conn) control() {
	c.st = stHeader
	payload := c.ctrl[:c.nctrl]
	switch c.h.op {
	case opPing:
		c.writeControl(opPong, payload)
	case opPong:
	case opClose:
		switch {
		case len(payload) == 0:
			c.writeControl(opClose, nil)
			c.err = &CloseError{Code: 1005, Peer: true} // "no status received"
		case len(payload) == 1:
			c.fail(protocolError("close frame payload cannot be 1 byte"))
		default:
			code := int(binary.BigEndian.Uint16(payload))
			reason := payload[2:]
			switch {
			case !validCloseCode(code):
				c.fail(protocolError("invalid close status code " + strconv.Itoa(code)))
			case !utf8.Valid(reason):
				// nats-server's status and reason (recorded).
				c.fail(&CloseError{Code: CloseInvalidPayload, Reason: "invalid utf8 body in close frame"})
			default:
				// Echo the client's status, as nats-server does.
				c.writeControl(opClose, payload)
				c.err = &CloseError{Code: code, Reason: string(reason), Peer: true}
			}
		}
	}
}

// fail ends reading with a protocol error; Close sends its status.
func (c *Conn) fail(e *CloseError) {
	c.err = e
	c.status.CompareAndSwap(nil, e)
}

// Status is the protocol error the reader found (nil: none).
func (c *Conn) Status() *CloseError { return c.status.Load() }

// writeControl sends a control frame from the reader. A close marks the
// connection closed: no frame may follow it.
func (c *Conn) writeControl(op byte, payload []byte) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return
	}
	var b [2 + maxControlPayload]byte
	frame := append(appendHeader(b[:0], op, false, len(payload)), payload...)
	if _, err := c.Conn.Write(frame); err != nil {
		c.closed = true
		return
	}
	if op == opClose {
		c.closed = true
	}
}

// Write sends p as one binary frame.
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.WriteBuffers([][]byte{p})
	return int(n), err
}

// WriteBuffers sends bufs as one binary frame: the header and the buffers
// in one writev (or, on TLS, one batch of records), without copying them;
// compressed into one frame when permessage-deflate is on and there is
// enough to be worth it. It returns the payload bytes written.
func (c *Conn) WriteBuffers(bufs [][]byte) (int64, error) {
	total := 0
	for _, b := range bufs {
		total += len(b)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	if total == 0 {
		return 0, nil
	}
	limit := int(c.maxWrite.Load())
	if c.cfg.Compress && total >= compressMin {
		return c.writeCompressed(bufs, total, limit)
	}
	var hlen int
	if total <= limit {
		h := appendHeader(c.hdr[:0], opBinary, false, total)
		c.vec = append(append(c.vec[:0], h), bufs...)
		hlen = len(h)
	} else {
		hlen = c.splitFrames(bufs, total, limit)
	}
	n, err := outbuf.WriteTo(c.Conn, c.vec, &c.scratch)
	clear(c.vec) // keep no reference to the caller's chunks
	return max(n-int64(hlen), 0), err
}

// splitFrames puts bufs in c.vec as frames of at most limit bytes each,
// a header before each, slicing a chunk where a frame ends (no copy), and
// returns the headers' length.
func (c *Conn) splitFrames(bufs [][]byte, total, limit int) int {
	frames := (total + limit - 1) / limit
	// The headers are slices of c.hdrs: room for all of them first, so
	// that appending does not move the ones already in c.vec.
	if need := frames * maxServerHeader; cap(c.hdrs) < need {
		c.hdrs = make([]byte, 0, need)
	}
	c.hdrs = c.hdrs[:0]
	c.vec = c.vec[:0]
	left, room := total, 0
	for _, b := range bufs {
		for len(b) > 0 {
			if room == 0 {
				room = min(limit, left)
				at := len(c.hdrs)
				c.hdrs = appendHeader(c.hdrs, opBinary, false, room)
				c.vec = append(c.vec, c.hdrs[at:])
				left -= room
			}
			k := min(len(b), room)
			c.vec = append(c.vec, b[:k])
			b, room = b[k:], room-k
		}
	}
	return len(c.hdrs)
}

// SetCloseStatus sets the close frame Close sends, unless a protocol error
// already set one.
func (c *Conn) SetCloseStatus(code int, reason string) {
	c.status.CompareAndSwap(nil, &CloseError{Code: code, Reason: reason})
}

// Close sends a close frame, unless one went out or the writer is in the
// middle of a frame (a write stuck on a slow client: the frame could not
// follow it), then closes the socket. The status is the protocol error the
// reader found, or else Config.CloseStatus's.
func (c *Conn) Close() error {
	sent := false
	if c.wmu.TryLock() {
		if !c.closed {
			c.closed = true
			code, reason := 0, ""
			if e := c.status.Load(); e != nil {
				code, reason = e.Code, e.Reason
			} else if c.cfg.CloseStatus != nil {
				code, reason = c.cfg.CloseStatus()
			}
			if code != 0 {
				var b [2 + maxControlPayload]byte
				payload := closePayload(b[2:2], code, reason)
				frame := append(appendHeader(b[:0], opClose, false, len(payload)), payload...)
				_ = c.Conn.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
				_, err := c.Conn.Write(frame)
				sent = err == nil
			}
		}
		c.wmu.Unlock()
	}
	if sent {
		c.linger()
		return nil
	}
	return c.Conn.Close()
}

// closeLinger is how long a closed connection keeps reading what the
// client still sends, after the server's close frame.
const closeLinger = time.Second

// linger ends a connection the server closed the way RFC 6455 §7.1.1
// asks: the server's side is shut (FIN after the close frame) and what the
// client still sends is read and dropped until it closes too, or for
// closeLinger. Closing at once would answer the client's next frame (a
// PING right behind a refused CONNECT, say: nats.go writes them
// separately over WebSocket) with a reset, and a reset discards the -ERR
// and the close frame not yet read on the client's side.
func (c *Conn) linger() {
	raw := c.Conn
	if r, ok := raw.(interface{ Raw() net.Conn }); ok {
		raw = r.Raw() // wss: the TCP socket under the session
	}
	if cw, ok := raw.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = raw.SetReadDeadline(time.Now().Add(closeLinger))
	go func() {
		_, _ = io.Copy(io.Discard, raw)
		_ = c.Conn.Close()
	}()
}

// writeCompressed deflates bufs into one frame, or into one frame per
// limit/2 bytes of input when there is more: deflate's output of that much
// stays under limit, whatever the input.
func (c *Conn) writeCompressed(bufs [][]byte, total, limit int) (int64, error) {
	z := getDeflater()
	defer putDeflater(z)
	piece := max(limit/2, 1)
	in := 0 // input bytes in the deflater
	for _, b := range bufs {
		for len(b) > 0 {
			k := min(len(b), piece-in)
			_, _ = z.w.Write(b[:k])
			b, in = b[k:], in+k
			if in == piece {
				if err := c.flushCompressed(z); err != nil {
					return 0, err
				}
				in = 0
			}
		}
	}
	if in > 0 {
		if err := c.flushCompressed(z); err != nil {
			return 0, err
		}
	}
	return int64(total), nil
}

// flushCompressed sends what z deflated as one frame (a message of its
// own: no context is kept between messages) and resets z.
func (c *Conn) flushCompressed(z *deflater) error {
	_ = z.w.Flush()
	out := z.buf.Bytes()
	out = bytes.TrimSuffix(out, deflateTail[:4]) // the sync flush's marker, as RFC 7692 §7.2.1 says
	h := appendHeader(c.hdr[:0], opBinary, true, len(out))
	c.vec = append(c.vec[:0], h, out)
	_, err := outbuf.WriteTo(c.Conn, c.vec, &c.scratch)
	clear(c.vec)
	z.buf.Reset()
	z.w.Reset(&z.buf)
	return err
}
