package store

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// A segment is a sequence of records. Every record has the same 40-byte
// header, little-endian:
//
//	 0 u32  length of the whole record, header included
//	 4 u32  CRC-32C of bytes 0..3 and 8..length (all but itself)
//	 8 u8   kind
//	 9 u8   zero
//	10 u16  subject length
//	12 u32  header length
//	16 u64  sequence
//	24 i64  a  (message: time, Unix ns)
//	32 i64  b  (message: TTL in seconds)
//	40      subject, header, data
//
// The checksum covers the length, so a flipped length is caught like any
// other flipped bit. The fixed header wastes a few bytes on the small
// records (removals, markers) and keeps the decoder one simple function,
// which is what a fuzzer and a reader at open want.
const recHdrLen = 40

// Record kinds. Markers (everything but kindMsg and kindErased) carry what
// the log must replay to reach the same state as the store had.
const (
	kindMsg      = 1 // a message
	kindDel      = 2 // message seq was removed
	kindErased   = 3 // a message overwritten by EraseMsg (same length)
	kindSkip     = 4 // the last sequence is now seq (SkipMsgs)
	kindCompact  = 5 // everything below seq is removed
	kindTruncate = 6 // everything above seq is removed; seq is the last
	kindPurge    = 7 // Purge(subject, upTo=seq, keep=a)
	kindState    = 8 // a segment's first record: first=a, last=seq, lastTs=b
	kindMax      = 8
)

// maxSeq bounds sequences, far beyond any stream's, so that arithmetic
// on them (last+1, a range's count) never wraps.
const maxSeq = 1 << 62

// maxRecord bounds a record's length: a message is at most 64 MiB in NATS,
// and a length beyond this at open is damage, not a record.
const maxRecord = 1<<26 + 1<<16 + recHdrLen

var crcTable = crc32.MakeTable(crc32.Castagnoli)

var errBadRecord = errors.New("store: bad record")

// recHeader is a record's decoded header.
type recHeader struct {
	length uint32
	kind   byte
	slen   uint16
	hlen   uint32
	seq    uint64
	a, b   int64
}

// appendRecord encodes a record at the end of dst.
func appendRecord(dst []byte, kind byte, seq uint64, a, b int64, subj string, hdr, data []byte) []byte {
	n := recHdrLen + len(subj) + len(hdr) + len(data)
	start := len(dst)
	dst = grow(dst, n)
	rec := dst[start : start+n]
	binary.LittleEndian.PutUint32(rec[0:], uint32(n))
	rec[8], rec[9] = kind, 0
	binary.LittleEndian.PutUint16(rec[10:], uint16(len(subj)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(hdr)))
	binary.LittleEndian.PutUint64(rec[16:], seq)
	binary.LittleEndian.PutUint64(rec[24:], uint64(a))
	binary.LittleEndian.PutUint64(rec[32:], uint64(b))
	p := recHdrLen + copy(rec[recHdrLen:], subj)
	p += copy(rec[p:], hdr)
	copy(rec[p:], data)
	binary.LittleEndian.PutUint32(rec[4:], recCRC(rec))
	return dst
}

// grow extends b by n bytes (contents of the new bytes undefined).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

func recCRC(rec []byte) uint32 {
	c := crc32.Update(0, crcTable, rec[0:4])
	return crc32.Update(c, crcTable, rec[8:])
}

// peekHeader decodes the header at the start of b without checking the
// checksum: enough to know how long the record claims to be. It fails on
// what no record can be.
func peekHeader(b []byte) (recHeader, error) {
	if len(b) < recHdrLen {
		return recHeader{}, errBadRecord
	}
	h := recHeader{
		length: binary.LittleEndian.Uint32(b[0:]),
		kind:   b[8],
		slen:   binary.LittleEndian.Uint16(b[10:]),
		hlen:   binary.LittleEndian.Uint32(b[12:]),
		seq:    binary.LittleEndian.Uint64(b[16:]),
		a:      int64(binary.LittleEndian.Uint64(b[24:])),
		b:      int64(binary.LittleEndian.Uint64(b[32:])),
	}
	if h.length < recHdrLen || h.length > maxRecord || h.kind == 0 || h.kind > kindMax || b[9] != 0 ||
		uint64(recHdrLen)+uint64(h.slen)+uint64(h.hlen) > uint64(h.length) ||
		h.seq > maxSeq || (h.kind == kindState && (h.a < 0 || h.a > maxSeq)) {
		return recHeader{}, errBadRecord
	}
	return h, nil
}

// decodeRecord checks the whole record at the start of b and returns its
// header; the record is b[:h.length]. Nothing that fails the checksum
// comes out of here.
func decodeRecord(b []byte) (recHeader, error) {
	h, err := peekHeader(b)
	if err != nil || uint64(h.length) > uint64(len(b)) {
		return recHeader{}, errBadRecord
	}
	if binary.LittleEndian.Uint32(b[4:]) != recCRC(b[:h.length]) {
		return recHeader{}, errBadRecord
	}
	return h, nil
}

// parts splits a checked message record into subject, header and data.
func (h *recHeader) parts(rec []byte) (subj, hdr, data []byte) {
	s := recHdrLen + int(h.slen)
	e := s + int(h.hlen)
	return rec[recHdrLen:s], rec[s:e:e], rec[e:h.length]
}

// AccountedSize is what a message will count against a stream's and an
// account's bytes once stored, in a file store or (file false) in memory:
// a publish is checked against the limits with it before it is stored.
func AccountedSize(file bool, subj string, hdr, msg []byte) uint64 {
	if file {
		return fileMsgSize(subj, hdr, msg)
	}
	return memMsgSize(subj, hdr, msg)
}

// fileMsgSize is what a message counts against MaxBytes in a file
// stream, as nats-server counts it, so that the same limits keep the same
// number of messages.
func fileMsgSize(subj string, hdr, msg []byte) uint64 {
	if len(hdr) == 0 {
		return uint64(22 + len(subj) + len(msg) + 8)
	}
	return uint64(22 + len(subj) + 4 + len(hdr) + len(msg) + 8)
}
