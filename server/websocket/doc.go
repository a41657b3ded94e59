// Package websocket is the server side of RFC 6455 for natsd's WebSocket
// clients: the opening handshake (Accept: the upgrade request, origin
// checks, permessage-deflate negotiation) and a Conn that frames and
// unframes below the connection core. A client on WebSocket is an ordinary
// client whose socket is a Conn: Read gives the client protocol bytes out
// of the client's binary (or text) frames, WriteBuffers sends the
// connection's outbound chunks as one binary frame.
//
// The hot path is written by hand rather than taken from a library: a
// client's frames are unmasked 32 bytes per iteration straight from the
// read buffer into the caller's (one pass, no allocation), and the writer's
// pooled chunks go out behind one frame header in a single writev, without
// being copied — or, past MaxWriteFrame (nats.go refuses a frame over 8 ×
// max_payload), behind several headers, chunks sliced where a frame ends. Libraries that hand out whole messages, or take one []byte
// per write, would copy every message once more (see docs/websocket.md for
// the measurements).
//
// What RFC 6455 forbids from a client — an unmasked frame, a reserved bit,
// an unknown opcode, a fragmented or long control frame, a continuation
// out of place, a frame over the size limit, a bad close frame — ends Read
// with a *CloseError, and Close sends its status and reason before closing
// the socket. A refused upgrade gets an HTTP error.
//
// This package is a leaf: standard library only (and server/outbuf's
// writev), no logging, so it is fuzzed and benchmarked on its own.
package websocket
