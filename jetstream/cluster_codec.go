package jetstream

import (
	"encoding/binary"
	"errors"
)

// What a replicated stream's Raft group commits: one entry per ingest
// batch, purge or message delete, in a small binary form (a version byte
// first, so that the form can change). Every replica applies the same
// entries in the same order; what the outcome depends on — the time a
// message is stamped with above all — travels in the entry, so that every
// replica decides alike.

const (
	entryVersion = 1

	entryPublish   = 1 // a batch of publishes
	entryPurge     = 2 // STREAM.PURGE
	entryMsgDelete = 3 // STREAM.MSG.DELETE
)

var errBadEntry = errors.New("jetstream: replicated entry does not decode")

// replEntry is one decoded entry.
type replEntry struct {
	kind   byte
	origin uint64 // the server that proposed it: it alone answers
	ts     int64  // the leader's clock when proposed (Unix ns)
	msgs   []*inMsg
	// purge / delete
	reply   string
	subject string
	seq     uint64
	keep    uint64
	noErase bool
	body    []byte // consumer entries: JSON
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodePublish is the entry of a batch of publishes.
func encodePublish(dst []byte, origin uint64, ts int64, batch []*inMsg) []byte {
	// One allocation of the right size: an entry is the bulk of what a
	// replicated publish costs, and growing it by appends copied it over
	// and over (seen in a profile of the R3 pub async row).
	size := 2 + 8 + 8 + binary.MaxVarintLen64
	for _, im := range batch {
		size += len(im.subject) + len(im.reply) + len(im.hdr) + len(im.data) + 4*binary.MaxVarintLen64
	}
	if cap(dst)-len(dst) < size {
		dst = append(make([]byte, 0, len(dst)+size), dst...)
	}
	dst = append(dst, entryVersion, entryPublish)
	dst = binary.BigEndian.AppendUint64(dst, origin)
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	n := 0
	for _, im := range batch {
		if im.barrier == nil {
			n++
		}
	}
	dst = binary.AppendUvarint(dst, uint64(n))
	for _, im := range batch {
		if im.barrier != nil {
			continue
		}
		dst = appendString(dst, im.subject)
		dst = appendString(dst, im.reply)
		dst = appendBytes(dst, im.hdr)
		dst = appendBytes(dst, im.data)
	}
	return dst
}

// encodeOp is the entry of a purge or a message delete.
func encodeOp(kind byte, origin uint64, ts int64, reply, subject string, seq, keep uint64, noErase bool) []byte {
	b := []byte{entryVersion, kind}
	b = binary.BigEndian.AppendUint64(b, origin)
	b = binary.BigEndian.AppendUint64(b, uint64(ts))
	b = appendString(b, reply)
	b = appendString(b, subject)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, keep)
	if noErase {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	return b
}

type entryReader struct {
	b   []byte
	err bool
}

func (r *entryReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = true
		r.b = nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *entryReader) bytes() []byte {
	n := r.uvarint()
	if r.err || n > uint64(len(r.b)) {
		r.err = true
		r.b = nil
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *entryReader) u64() uint64 {
	if len(r.b) < 8 {
		r.err = true
		r.b = nil
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

// decodeEntry reads an entry; the messages' slices point into b.
func decodeEntry(b []byte) (*replEntry, error) {
	if len(b) < 2 || b[0] != entryVersion {
		return nil, errBadEntry
	}
	e := &replEntry{kind: b[1]}
	r := entryReader{b: b[2:]}
	e.origin = r.u64()
	e.ts = int64(r.u64())
	switch e.kind {
	case entryPublish:
		n := r.uvarint()
		// Each message takes at least four bytes: no count can promise
		// more than the entry holds.
		if n > uint64(len(r.b))/4+1 {
			return nil, errBadEntry
		}
		e.msgs = make([]*inMsg, 0, n)
		for range n {
			im := &inMsg{}
			im.subject = string(r.bytes())
			im.reply = string(r.bytes())
			if h := r.bytes(); len(h) > 0 {
				im.hdr = h
			}
			im.data = r.bytes()
			if r.err {
				return nil, errBadEntry
			}
			e.msgs = append(e.msgs, im)
		}
	case entryPurge, entryMsgDelete:
		e.reply = string(r.bytes())
		e.subject = string(r.bytes())
		e.seq = r.uvarint()
		e.keep = r.uvarint()
		if len(r.b) != 1 {
			return nil, errBadEntry
		}
		e.noErase = r.b[0] == 1
		r.b = r.b[1:]
	case entryConsumer, entryConsumerDelete, entryConsumerOps:
		e.body, r.b = r.b, nil
	default:
		return nil, errBadEntry
	}
	if r.err || len(r.b) != 0 {
		return nil, errBadEntry
	}
	return e, nil
}
