package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// A record on disk is a 16-byte header, the group's name, then the body:
//
//	[0:4]   CRC-32C of header[4:16] and the name (the header's own check)
//	[4:8]   CRC-32C of the body
//	[8:12]  body length
//	[12]    kind
//	[13]    name length (1–255)
//	[14:16] zero
//
// Two checks, not one: a header that checks out gives the record's
// extent and its group even when the body is damaged, so that damage is
// pinned on one group and reading goes on at the next record; only a
// damaged header leaves a stretch of the file without an owner.
const (
	headerSize = 16
	// maxBody bounds a body so that a damaged length that happens to pass
	// a check cannot make a reader allocate without limit.
	maxBody = 1 << 30
)

type kind uint8

const (
	kEntries    kind = 1 + iota // a run of entries (conflicting suffix replaced)
	kHardState                  // term, vote, commit
	kSnapshot                   // a snapshot applied: the log restarts at its index
	kConfState                  // SetConfState
	kCompact                    // Compact: the snapshot it made; entries ≤ its index gone
	kDrop                       // the group is forgotten
	kState                      // a group's state in a segment's opening checkpoint
	kCheckpoint                 // end of the opening checkpoint (name "*"): group count
	kRepaired                   // Repaired: the group's damage is behind it
	kindEnd
)

func (k kind) String() string {
	names := [...]string{"?", "entries", "hardstate", "snapshot", "confstate", "compact", "drop", "state", "checkpoint", "repaired"}
	if k < kindEnd {
		return names[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends one record to buf.
func appendRecord(buf []byte, k kind, group string, body []byte) []byte {
	var h [headerSize]byte
	binary.LittleEndian.PutUint32(h[4:], crc32.Checksum(body, castagnoli))
	binary.LittleEndian.PutUint32(h[8:], uint32(len(body)))
	h[12] = byte(k)
	h[13] = byte(len(group))
	c := crc32.Update(crc32.Checksum(h[4:], castagnoli), castagnoli, []byte(group))
	binary.LittleEndian.PutUint32(h[0:], c)
	buf = append(buf, h[:]...)
	buf = append(buf, group...)
	return append(buf, body...)
}

// record is one decoded record; body aliases the buffer read from.
type record struct {
	kind  kind
	group string
	body  []byte
	size  int // header + name + body
}

var (
	errShort      = errors.New("record runs past the end of the file")
	errHeader     = errors.New("record header fails its checksum")
	errBody       = errors.New("record body fails its checksum")
	errKind       = errors.New("unknown record kind")
	errBodyFormat = errors.New("record body does not decode")
)

// decodeRecord reads the record at the start of b. A header error
// (errShort before the name is complete, errHeader) means the record's
// extent and group are unknown; errBody, errKind and an errShort for the
// body come with rec.group and rec.size set.
func decodeRecord(b []byte) (rec record, err error) {
	if len(b) < headerSize {
		return rec, errShort
	}
	nameLen := int(b[13])
	if nameLen == 0 || len(b) < headerSize+nameLen {
		if nameLen == 0 {
			return rec, errHeader
		}
		return rec, errShort
	}
	c := crc32.Update(crc32.Checksum(b[4:headerSize], castagnoli), castagnoli, b[headerSize:headerSize+nameLen])
	if c != binary.LittleEndian.Uint32(b[0:]) || b[14] != 0 || b[15] != 0 {
		return rec, errHeader
	}
	bodyLen := binary.LittleEndian.Uint32(b[8:])
	if bodyLen > maxBody {
		return rec, errHeader
	}
	rec.kind = kind(b[12])
	rec.group = string(b[headerSize : headerSize+nameLen])
	rec.size = headerSize + nameLen + int(bodyLen)
	if len(b) < rec.size {
		return rec, errShort
	}
	rec.body = b[headerSize+nameLen : rec.size]
	if crc32.Checksum(rec.body, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return rec, errBody
	}
	if rec.kind == 0 || rec.kind >= kindEnd {
		return rec, errKind
	}
	return rec, nil
}

// Bodies. Protobuf messages are etcd/raft's own encoding of its types.

func appendEntries(buf []byte, ents []*raftpb.Entry) ([]byte, error) {
	var err error
	for _, e := range ents {
		buf = binary.AppendUvarint(buf, uint64(proto.Size(e)))
		if buf, err = (proto.MarshalOptions{}).MarshalAppend(buf, e); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

func decodeEntries(b []byte) ([]*raftpb.Entry, error) {
	var out []*raftpb.Entry
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return nil, errBodyFormat
		}
		e := &raftpb.Entry{}
		if err := proto.Unmarshal(b[w:w+int(n)], e); err != nil {
			return nil, errBodyFormat
		}
		if prev := len(out) - 1; prev >= 0 && (e.GetIndex() != out[prev].GetIndex()+1 || e.GetIndex() == 0) {
			return nil, errBodyFormat
		}
		out = append(out, e)
		b = b[w+int(n):]
	}
	if len(out) == 0 {
		return nil, errBodyFormat
	}
	return out, nil
}

func marshal(m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		// Only invalid UTF-8 in a proto3 string fails, and raftpb has none.
		panic(fmt.Sprintf("journal: marshal %T: %v", m, err))
	}
	return b
}

func unmarshal(b []byte, m proto.Message) error {
	if err := proto.Unmarshal(b, m); err != nil {
		return errBodyFormat
	}
	return nil
}

// groupState is a kState body: what a group is at a segment's start, so
// that the segments before can go once its entries in them are compacted
// (or copied here).
type groupState struct {
	lastIndex, lastTerm uint64
	hs                  *raftpb.HardState // nil: never set
	cs                  *raftpb.ConfState // nil: never set (the snapshot's then)
	snap                *raftpb.Snapshot
	// tail, when copied, is every entry after the snapshot (to lastIndex).
	tail     []*raftpb.Entry
	withTail bool
	// damaged is why the group is damaged ("" if it is not): carried from
	// checkpoint to checkpoint until Repaired, so that releasing the
	// segment with the damage does not forget it.
	damaged string
}

func appendState(buf []byte, s *groupState) []byte {
	buf = binary.LittleEndian.AppendUint64(buf, s.lastIndex)
	buf = binary.LittleEndian.AppendUint64(buf, s.lastTerm)
	var flags byte
	if s.hs != nil {
		flags |= 1
	}
	if s.cs != nil {
		flags |= 2
	}
	var hs, cs []byte
	if s.hs != nil {
		hs = marshal(s.hs)
	}
	if s.cs != nil {
		cs = marshal(s.cs)
	}
	if s.withTail {
		flags |= 4
	}
	buf = append(buf, flags)
	for _, b := range [][]byte{hs, cs, marshal(s.snap), []byte(s.damaged)} {
		buf = binary.AppendUvarint(buf, uint64(len(b)))
		buf = append(buf, b...)
	}
	// Only entries in memory, which marshalled once already: cannot fail.
	buf, _ = appendEntries(buf, s.tail)
	return buf
}

func decodeState(b []byte) (*groupState, error) {
	if len(b) < 17 {
		return nil, errBodyFormat
	}
	s := &groupState{lastIndex: binary.LittleEndian.Uint64(b), lastTerm: binary.LittleEndian.Uint64(b[8:])}
	flags := b[16]
	b = b[17:]
	var parts [4][]byte
	for i := range parts {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return nil, errBodyFormat
		}
		parts[i], b = b[w:w+int(n)], b[w+int(n):]
	}
	if flags&1 != 0 {
		s.hs = &raftpb.HardState{}
		if err := unmarshal(parts[0], s.hs); err != nil {
			return nil, err
		}
	}
	if flags&2 != 0 {
		s.cs = &raftpb.ConfState{}
		if err := unmarshal(parts[1], s.cs); err != nil {
			return nil, err
		}
	}
	s.snap = &raftpb.Snapshot{}
	if err := unmarshal(parts[2], s.snap); err != nil {
		return nil, err
	}
	s.damaged = string(parts[3])
	if flags&4 != 0 {
		s.withTail = true
		if len(b) > 0 {
			var err error
			if s.tail, err = decodeEntries(b); err != nil {
				return nil, err
			}
		}
		first, want := s.snap.GetMetadata().GetIndex()+1, s.lastIndex-s.snap.GetMetadata().GetIndex()
		if s.lastIndex < first-1 || uint64(len(s.tail)) != want || (len(s.tail) > 0 && s.tail[0].GetIndex() != first) {
			return nil, errBodyFormat
		}
	} else if len(b) > 0 {
		return nil, errBodyFormat
	}
	return s, nil
}
