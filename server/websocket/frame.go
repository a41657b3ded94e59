package websocket

import (
	"encoding/binary"
	"strconv"
)

// RFC 6455 §5.2: the frame header.
//
//	 0               1               2               3
//	+-+-+-+-+-------+-+-------------+-------------------------------+
//	|F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//	|I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//	|N|V|V|V|       |S|             |                               |
//	+-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//	|    masking key (0 or 4 bytes, client to server only)           |
//	+---------------------------------------------------------------+

// Opcodes.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// Close status codes (RFC 6455 §7.4.1) natsd sends or checks.
const (
	CloseNormal          = 1000
	CloseGoingAway       = 1001
	CloseProtocolError   = 1002
	CloseInvalidPayload  = 1007
	ClosePolicyViolation = 1008
	CloseMessageTooBig   = 1009
	CloseInternalError   = 1011
)

const (
	finBit  = 0x80
	rsv1Bit = 0x40 // permessage-deflate: the message is compressed
	rsv23   = 0x30
	maskBit = 0x80

	// maxControlPayload is the longest ping, pong or close payload.
	maxControlPayload = 125
	// maxHeader is the longest frame header: 2 + 8 (length) + 4 (key).
	maxHeader = 14
	// maxServerHeader is the longest header the server sends (no key).
	maxServerHeader = 10
)

func isControl(op byte) bool { return op&0x8 != 0 }

// header is one decoded frame header.
type header struct {
	fin, rsv1 bool
	op        byte
	length    uint64
	key       [4]byte // the client's masking key
}

// parseHeader decodes the header at the start of b. It returns the number
// of bytes it takes, or 0 when b does not hold all of it yet. Everything a
// server must refuse in a client's header, whatever state the connection is
// in, is refused here: reserved bits other than RSV1, an unknown opcode, a
// missing mask, a control frame that is fragmented or longer than 125
// bytes, a 64-bit length with its top bit set, and a frame longer than
// maxFrame. The reasons are nats-server v2.15.2's where it has the case
// (recorded from its log: most of its close frames are lost), so that a
// client sees the same words from either.
func parseHeader(b []byte, maxFrame uint64) (h header, n int, err *CloseError) {
	if len(b) < 2 {
		return h, 0, nil
	}
	b0, b1 := b[0], b[1]
	h.fin, h.rsv1, h.op = b0&finBit != 0, b0&rsv1Bit != 0, b0&0x0f
	switch {
	case b0&rsv23 != 0:
		return h, 0, protocolError("reserved bits RSV2/RSV3 set")
	case h.op > opBinary && h.op < opClose || h.op > opPong:
		return h, 0, protocolError("unknown opcode " + strconv.Itoa(int(h.op)))
	case b1&maskBit == 0:
		// nats-server's reason text (recorded).
		return h, 0, protocolError("mask bit missing")
	}
	n = 2
	switch l := b1 & 0x7f; l {
	case 126:
		if len(b) < n+2 {
			return h, 0, nil
		}
		h.length = uint64(binary.BigEndian.Uint16(b[n:]))
		n += 2
	case 127:
		if len(b) < n+8 {
			return h, 0, nil
		}
		h.length = binary.BigEndian.Uint64(b[n:])
		n += 8
		if h.length>>63 != 0 {
			return h, 0, protocolError("invalid payload length")
		}
	default:
		h.length = uint64(l)
	}
	if isControl(h.op) {
		switch {
		case !h.fin:
			return h, 0, protocolError("control frame does not have final bit set")
		case h.length > maxControlPayload:
			return h, 0, protocolError("control frame length bigger than maximum allowed of 125 bytes")
		}
	} else if h.length > maxFrame {
		return h, 0, &CloseError{Code: CloseMessageTooBig, Reason: "frame of " + strconv.FormatUint(h.length, 10) + " bytes, over the limit of " + strconv.FormatUint(maxFrame, 10)}
	}
	if len(b) < n+4 {
		return h, 0, nil
	}
	copy(h.key[:], b[n:n+4])
	return h, n + 4, nil
}

// appendHeader appends a server frame's header (never masked) for a final
// frame of op with a payload of length bytes.
func appendHeader(b []byte, op byte, compressed bool, length int) []byte {
	b0 := finBit | op
	if compressed {
		b0 |= rsv1Bit
	}
	switch {
	case length < 126:
		return append(b, b0, byte(length))
	case length < 1<<16:
		return binary.BigEndian.AppendUint16(append(b, b0, 126), uint16(length))
	default:
		return binary.BigEndian.AppendUint64(append(b, b0, 127), uint64(length))
	}
}

// unmaskCopy copies src to dst (as many bytes as both hold) undoing the
// client's mask, key rotated by pos (the frame's payload offset), and
// returns the position after. Every byte a client sends passes through
// here, so it works 32 bytes per iteration, on fixed-size windows the
// compiler checks the bounds of once (3-5 times faster than 8 bytes at a
// time with a check each).
func unmaskCopy(dst, src []byte, key [4]byte, pos int) int {
	n := min(len(dst), len(src))
	dst, src = dst[:n], src[:n]
	k := [4]byte{key[pos&3], key[(pos+1)&3], key[(pos+2)&3], key[(pos+3)&3]}
	k32 := binary.LittleEndian.Uint32(k[:])
	k64 := uint64(k32) | uint64(k32)<<32
	i := 0
	for ; i+32 <= n; i += 32 {
		d, s := dst[i:i+32:i+32], src[i:i+32:i+32]
		binary.LittleEndian.PutUint64(d[0:], binary.LittleEndian.Uint64(s[0:])^k64)
		binary.LittleEndian.PutUint64(d[8:], binary.LittleEndian.Uint64(s[8:])^k64)
		binary.LittleEndian.PutUint64(d[16:], binary.LittleEndian.Uint64(s[16:])^k64)
		binary.LittleEndian.PutUint64(d[24:], binary.LittleEndian.Uint64(s[24:])^k64)
	}
	for ; i+8 <= n; i += 8 {
		binary.LittleEndian.PutUint64(dst[i:], binary.LittleEndian.Uint64(src[i:])^k64)
	}
	for ; i < n; i++ {
		dst[i] = src[i] ^ k[i&3]
	}
	return pos + n
}

// CloseError is why a connection ends with a close frame: the status code
// and reason it carries. A protocol error the reader finds is one; so is
// the close frame a client sent (Peer).
type CloseError struct {
	Code   int
	Reason string
	// Peer: the client closed the connection with this status (and got
	// it echoed back); otherwise natsd refused what the client sent.
	Peer bool
}

func (e *CloseError) Error() string {
	if e.Peer {
		return "websocket: closed by the client: " + strconv.Itoa(e.Code) + " " + e.Reason
	}
	return "websocket: " + e.Reason + " (close " + strconv.Itoa(e.Code) + ")"
}

func protocolError(reason string) *CloseError {
	return &CloseError{Code: CloseProtocolError, Reason: reason}
}

// validCloseCode reports whether a client may send code in a close frame
// (RFC 6455 §7.4): 1000-1003, 1007-1011, and 3000-4999; 1004-1006 and 1015
// are never sent on the wire.
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1011:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// closePayload is a close frame's payload: the code and as much of reason
// as fits in 125 bytes, cut on a UTF-8 boundary.
func closePayload(b []byte, code int, reason string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	if len(reason) > maxControlPayload-2 {
		cut := maxControlPayload - 2
		for cut > 0 && reason[cut]&0xc0 == 0x80 {
			cut-- // a continuation byte: back to the start of its rune
		}
		reason = reason[:cut]
	}
	return append(b, reason...)
}
