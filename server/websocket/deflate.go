package websocket

import (
	"bytes"
	"compress/flate"
	"io"
	"sync"
)

// permessage-deflate (RFC 7692) without context takeover either way: every
// message is deflated on its own with a sync flush, whose final
// 00 00 ff ff is left off on the wire. So a connection keeps no
// compression state between messages: the deflaters and inflaters (tens of
// KiB each) are pooled and taken only while a message is compressed or
// inflated, and 10,000 idle clients hold none.

// compressMin is the smallest payload worth compressing: below it the
// frame goes out as is (nats-server leaves PONG and short messages
// uncompressed too, recorded). Each frame says which it is (RSV1).
const compressMin = 64

// deflateTail ends a message for the inflater: the marker the sender left
// off, then an empty final stored block so that the inflater reports
// io.EOF at the end of the message instead of reading on.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

type deflater struct {
	w   *flate.Writer
	buf bytes.Buffer
}

var deflaters = sync.Pool{New: func() any {
	z := &deflater{}
	// BestSpeed: the server compresses every batch it sends a compressing
	// client; the ratio on protocol text is close to the default level's.
	z.w, _ = flate.NewWriter(&z.buf, flate.BestSpeed)
	return z
}}

func getDeflater() *deflater {
	z := deflaters.Get().(*deflater)
	z.buf.Reset()
	z.w.Reset(&z.buf)
	return z
}

// maxPooledBuf: a deflater whose output buffer grew past this (a large
// batch) is not kept.
const maxPooledBuf = 256 << 10

func putDeflater(z *deflater) {
	if z.buf.Cap() > maxPooledBuf {
		return
	}
	deflaters.Put(z)
}

var inflaters sync.Pool

// startInflate serves the compressed message in zbuf to Read.
func (c *Conn) startInflate() {
	c.zbuf = append(c.zbuf, deflateTail...)
	src := bytes.NewReader(c.zbuf) // an io.ByteReader: the inflater adds no buffer
	if r, ok := inflaters.Get().(io.ReadCloser); ok {
		_ = r.(flate.Resetter).Reset(src, nil)
		c.infl = r
		return
	}
	c.infl = flate.NewReader(src)
}

// maxKeptZbuf: a connection keeps its compressed-message buffer for the
// next message up to this size (most messages are small; an idle client
// should not hold a large one).
const maxKeptZbuf = 4 << 10

// endInflate returns the inflater; the message buffer is kept for the next
// compressed message unless it grew.
func (c *Conn) endInflate() {
	inflaters.Put(c.infl)
	c.infl = nil
	if cap(c.zbuf) > maxKeptZbuf {
		c.zbuf = nil
	} else {
		c.zbuf = c.zbuf[:0]
	}
}
