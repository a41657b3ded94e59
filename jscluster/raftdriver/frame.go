package raftdriver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A batch is what one Transport.Send carries: frames back to back, each
//
//	[u32 length][u32 CRC-32C][u16 group-name length][group name][protobuf raftpb.Message]
//
// big-endian. length counts every byte after itself (the checksum
// included), so a reader can step over a frame whose checksum fails
// without trusting anything inside it; the checksum covers everything
// after itself. The frame is self-delimiting because a NATS message (the
// transport) may carry many, and checksummed because a route carries
// bytes the server did not produce itself (a flipped bit must become a
// dropped message, which Raft retransmits, never a wrong one).

const (
	frameHeader = 4 + 4 + 2 // length, checksum, name length
	// maxGroupName is what the u16 of a frame can say.
	maxGroupName = 1<<16 - 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrBadBatch is returned by DecodeBatch for a batch whose framing does
// not parse (a length that runs past the batch, or too short to hold a
// frame's header).
var ErrBadBatch = errors.New("raftdriver: malformed raft batch")

// AppendFrame appends m, addressed to group, to dst as one frame. group
// must be at most 65,535 bytes (AddGroup refuses longer names); a longer
// one, or a message that cannot be marshalled, appends nothing.
func AppendFrame(dst []byte, group string, m *raftpb.Message) []byte {
	if len(group) > maxGroupName {
		return dst
	}
	start := len(dst)
	dst = append(dst, make([]byte, frameHeader)...)
	binary.BigEndian.PutUint16(dst[start+8:], uint16(len(group)))
	dst = append(dst, group...)
	out, err := proto.MarshalOptions{}.MarshalAppend(dst, m)
	if err != nil || uint64(len(out)-start-4) > math.MaxUint32 {
		return dst[:start]
	}
	dst = out
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	binary.BigEndian.PutUint32(dst[start+4:], crcOf(dst[start+8:]))
	return dst
}

// DecodeBatch calls fn for every good frame of batch, in order. A frame
// whose checksum fails, or whose checksummed content does not unmarshal,
// is skipped (Raft retransmits); a batch whose framing does not parse
// stops with ErrBadBatch (the frames before it were delivered). It never
// panics, whatever batch holds. The messages fn is handed do not alias
// batch.
func DecodeBatch(batch []byte, fn func(group string, m *raftpb.Message)) error {
	_, err := decodeBatch(batch, fn)
	return err
}

// decodeBatch is DecodeBatch that also says how many frames it skipped,
// for the driver's counters.
func decodeBatch(batch []byte, fn func(group string, m *raftpb.Message)) (skipped int, err error) {
	for off := 0; off < len(batch); {
		rest := batch[off:]
		if len(rest) < frameHeader {
			return skipped, fmt.Errorf("%w: %d trailing bytes at offset %d", ErrBadBatch, len(rest), off)
		}
		n := binary.BigEndian.Uint32(rest)
		if n < frameHeader-4 || uint64(n) > uint64(len(rest)-4) {
			return skipped, fmt.Errorf("%w: frame length %d at offset %d, %d bytes left", ErrBadBatch, n, off, len(rest)-4)
		}
		frame := rest[4 : 4+n]
		off += 4 + int(n)
		body := frame[4:]
		if crcOf(body) != binary.BigEndian.Uint32(frame) {
			skipped++
			continue
		}
		nameLen := int(binary.BigEndian.Uint16(body))
		if nameLen > len(body)-2 {
			skipped++
			continue
		}
		name := string(body[2 : 2+nameLen])
		m := new(raftpb.Message)
		if err := proto.Unmarshal(body[2+nameLen:], m); err != nil {
			skipped++
			continue
		}
		fn(name, m)
	}
	return skipped, nil
}

func crcOf(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }
