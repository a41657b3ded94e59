package server

import (
	"bytes"
	"strconv"
)

// The header work of message tracing: finding the trace headers in a
// message's header block, rewriting one, and reading the block into the
// map a trace event reports. Header blocks come from clients and peers, so
// these functions take any bytes (FuzzTraceHeaders).

// Message tracing's headers, spelled as nats-server matches them: the
// name's case matters ("nats-trace-dest" is an ordinary header, recorded
// from v2.15.2), except traceparent's (W3C trace context: any case).
const (
	hdrTraceDest    = "Nats-Trace-Dest"
	hdrTraceOnly    = "Nats-Trace-Only"
	hdrTraceHop     = "Nats-Trace-Hop"
	hdrTraceOrigin  = "Nats-Trace-Origin-Account"
	hdrTraceParent  = "traceparent"
	hdrAcceptEnc    = "Accept-Encoding"
	traceDisabled   = "trace disabled" // not a subject: a Nats-Trace-Dest that turns tracing off downstream
	hdrStatusLine   = "NATS/1.0\r\n"
	hdrContentGzip  = "NATS/1.0\r\nContent-Encoding: gzip\r\n\r\n"
	headerEndMarker = "\r\n\r\n"
)

// traceHeader returns the value of the first header named key (exactly),
// trimmed of blanks, and whether there is one. nats-server looks only in a
// block whose status line is a plain "NATS/1.0" (a block with a status,
// "NATS/1.0 503", is not traced: recorded), and only at the start of a line
// with the colon right after the name ("Nats-Trace-Dest :x" is not one).
func traceHeader(h []byte, key headerKey) ([]byte, bool) {
	if !bytes.HasPrefix(h, statusLine) {
		return nil, false
	}
	// Search from the CRLF that ends the status line, so that every match
	// starts a line.
	rest := h[len(statusLine)-2:]
	i := bytes.Index(rest, key)
	if i < 0 {
		return nil, false
	}
	return lineValue(rest[i+len(key):]), true
}

// headerKey is what traceHeader looks for: "\r\n<name>:", made once so
// that the lookup allocates nothing.
type headerKey []byte

func newHeaderKey(name string) headerKey { return headerKey("\r\n" + name + ":") }

var (
	statusLine  = []byte(hdrStatusLine)
	keyDest     = newHeaderKey(hdrTraceDest)
	keyOnly     = newHeaderKey(hdrTraceOnly)
	keyHop      = newHeaderKey(hdrTraceHop)
	keyOrigin   = newHeaderKey(hdrTraceOrigin)
	keyAcceptEn = newHeaderKey(hdrAcceptEnc)
)

// traceHeaderFold is traceHeader with the name matched in any case (for
// traceparent). It walks the lines: this runs only for accounts that
// configured msg_trace.
func traceHeaderFold(h []byte, key string) ([]byte, bool) {
	if !bytes.HasPrefix(h, statusLine) {
		return nil, false
	}
	for line := range headerLines(h) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if ok && bytes.EqualFold(k, []byte(key)) {
			return bytes.TrimSpace(v), true
		}
	}
	return nil, false
}

// lineValue is the rest of the line b starts in, trimmed of blanks.
func lineValue(b []byte) []byte {
	if j := bytes.Index(b, []byte("\r\n")); j >= 0 {
		b = b[:j]
	}
	return bytes.Trim(b, " \t")
}

// headerLines yields the header lines of block h (the status line and the
// blank line that ends the block left out).
func headerLines(h []byte) func(yield func([]byte) bool) {
	return func(yield func([]byte) bool) {
		i := bytes.Index(h, []byte("\r\n"))
		if i < 0 {
			return
		}
		rest := h[i+2:]
		for len(rest) > 0 {
			j := bytes.Index(rest, []byte("\r\n"))
			if j < 0 {
				j = len(rest)
			}
			line := rest[:j]
			rest = rest[min(j+2, len(rest)):]
			if len(line) == 0 {
				return
			}
			if !yield(line) {
				return
			}
		}
	}
}

// headerMap reads a header block as a trace event's "request.header": every
// header, names as written (not canonicalized), values trimmed, in order.
func headerMap(h []byte) map[string][]string {
	var m map[string][]string
	for line := range headerLines(h) {
		k, v, ok := bytes.Cut(line, []byte{':'})
		if !ok || len(k) == 0 {
			continue
		}
		if m == nil {
			m = map[string][]string{}
		}
		key := string(k)
		m[key] = append(m[key], string(bytes.TrimSpace(v)))
	}
	return m
}

// setHeader returns a copy of header block h without any header named key
// (exactly) and with "key: value" added last, as nats-server rewrites
// Nats-Trace-Dest and adds Nats-Trace-Hop (recorded). h must be a block
// ending in a blank line.
func setHeader(h []byte, key, value string) []byte {
	out := make([]byte, 0, len(h)+len(key)+len(value)+4)
	end := bytes.Index(h, []byte("\r\n"))
	if end < 0 || !bytes.HasSuffix(h, []byte(headerEndMarker)) {
		// Not a well-formed block (the parser checked the status line
		// only): start a fresh one rather than guess.
		out = append(out, hdrStatusLine...)
	} else {
		out = append(out, h[:end+2]...)
		for line := range headerLines(h) {
			if k, _, ok := bytes.Cut(line, []byte{':'}); ok && string(k) == key {
				continue
			}
			out = append(append(out, line...), '\r', '\n')
		}
	}
	out = append(out, key...)
	out = append(out, ": "...)
	out = append(out, value...)
	return append(out, "\r\n\r\n"...)
}

// traceOnlyValue reports whether a Nats-Trace-Only value asks for tracing
// without delivery: "true", "on" (any case) or "1", as v2.15.2 reads it
// ("yes", "t", "false", "0" deliver: recorded).
func traceOnlyValue(v []byte) bool {
	return bytes.EqualFold(v, []byte("true")) || bytes.EqualFold(v, []byte("on")) || bytes.Equal(v, []byte("1"))
}

// traceparentSampled reports whether a W3C traceparent value
// ("version-traceid-parentid-flags") has its sampled flag set. As
// v2.15.2 reads it (recorded): four dash-separated fields, the last two
// hex digits whose lowest bit is the flag; the other fields are not
// checked.
func traceparentSampled(v []byte) bool {
	if bytes.Count(v, []byte{'-'}) != 3 {
		return false
	}
	flags := v[bytes.LastIndexByte(v, '-')+1:]
	if len(flags) != 2 {
		return false
	}
	n, err := strconv.ParseUint(string(flags), 16, 8)
	return err == nil && n&1 == 1
}

// acceptsGzip reports whether an Accept-Encoding value names gzip (any
// case, anywhere in the list, as v2.15.2 reads it: "br, GZIP;q=1" gets
// gzip). natsd answers snappy/s2 requests uncompressed, which clients
// read like any event without Content-Encoding.
func acceptsGzip(v []byte) bool {
	return bytes.Contains(bytes.ToLower(v), []byte("gzip"))
}
