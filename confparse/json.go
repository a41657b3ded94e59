package confparse

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TypedJSON returns the tree in the typed JSON form of the shared corpus:
// a map is an object (keys sorted), an array an array, and a scalar a
// one-key object naming its kind: {"int":"1024"} (64-bit, as a string),
// {"float":"3.14"}, {"bool":true}, {"string":"x"},
// {"time":"2016-05-04T18:53:41Z"} (RFC 3339, UTC). Positions are left out.
// Invalid UTF-8 in strings becomes U+FFFD, as with encoding/json.
func (n *Node) TypedJSON() ([]byte, error) {
	return appendTyped(nil, n)
}

func appendTyped(b []byte, n *Node) ([]byte, error) {
	if n == nil {
		return nil, errors.New("confparse: TypedJSON of a nil node")
	}
	var err error
	switch n.Kind {
	case Map:
		if slices.Contains(n.Entries, nil) {
			return nil, fmt.Errorf("confparse: TypedJSON of a map with a nil entry at %s", n.Pos)
		}
		b = append(b, '{')
		for i, e := range sortedEntries(n) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, e.Key)
			b = append(b, ':')
			if b, err = appendTyped(b, e.Value); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case Array:
		b = append(b, '[')
		for i, v := range n.Items {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendTyped(b, v); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case String:
		b = append(b, `{"string":`...)
		b = appendJSONString(b, n.Str)
	case Int:
		b = append(b, `{"int":"`...)
		b = strconv.AppendInt(b, n.Int, 10)
		b = append(b, '"')
	case Float:
		b = append(b, `{"float":"`...)
		b = strconv.AppendFloat(b, n.Float, 'g', -1, 64)
		b = append(b, '"')
	case Bool:
		b = append(b, `{"bool":`...)
		b = strconv.AppendBool(b, n.Bool)
	case Time:
		b = append(b, `{"time":"`...)
		b = n.Time.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	default:
		return nil, fmt.Errorf("confparse: TypedJSON of a node of invalid kind %d at %s", n.Kind, n.Pos)
	}
	return append(b, '}'), nil
}

// sortedEntries returns the entries of a map ordered by key, the canonical
// order of TypedJSON and Digest.
func sortedEntries(n *Node) []*Entry {
	if slices.IsSortedFunc(n.Entries, cmpEntry) {
		return n.Entries
	}
	s := slices.Clone(n.Entries)
	slices.SortFunc(s, cmpEntry)
	return s
}

func cmpEntry(a, b *Entry) int {
	if a == nil || b == nil { // only in hand-built trees; sort them first
		return boolCmp(b == nil) - boolCmp(a == nil)
	}
	return strings.Compare(a.Key, b.Key)
}

func boolCmp(v bool) int {
	if v {
		return 1
	}
	return 0
}

// appendJSONString appends s as a JSON string. Control characters and
// U+2028/U+2029 are escaped; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\uFFFD"...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Digest returns the hex SHA-256 of the canonical form of the tree: kinds,
// keys (sorted) and values, not positions, comments, layout, the order of
// keys, or how a value was written (1k and 1000 are equal). Two documents
// with equal trees have equal digests, so a reload can skip a file that was
// only touched or re-commented.
//
// The canonical form is a small binary encoding rather than TypedJSON so
// that strings are hashed byte for byte (TypedJSON folds invalid UTF-8 to
// U+FFFD, which would make a changed byte invisible).
func (d *Document) Digest() string {
	root := &Node{Kind: Map}
	if d != nil && d.Root != nil {
		root = d.Root
	}
	h := sha256.New()
	// The encoding is streamed into the hash in chunks, not built whole.
	buf := appendCanonical(make([]byte, 0, 8<<10), root, func(b []byte) []byte {
		h.Write(b)
		return b[:0]
	})
	h.Write(buf)
	return hex.EncodeToString(h.Sum(nil))
}

// appendCanonical encodes n as a kind byte followed by its value; strings
// and counts are length-prefixed, so the encoding is unambiguous.
// flush is called when b passes 4 KiB and returns the buffer to go on
// with.
func appendCanonical(b []byte, n *Node, flush func([]byte) []byte) []byte {
	if len(b) > 4<<10 {
		b = flush(b)
	}
	if n == nil {
		return append(b, 0)
	}
	b = append(b, byte(n.Kind))
	switch n.Kind {
	case Map:
		b = binary.AppendUvarint(b, uint64(len(n.Entries)))
		for _, e := range sortedEntries(n) {
			if e == nil {
				b = append(b, 0)
				continue
			}
			b = binary.AppendUvarint(b, uint64(len(e.Key)))
			b = append(b, e.Key...)
			b = appendCanonical(b, e.Value, flush)
		}
	case Array:
		b = binary.AppendUvarint(b, uint64(len(n.Items)))
		for _, v := range n.Items {
			b = appendCanonical(b, v, flush)
		}
	case String:
		b = binary.AppendUvarint(b, uint64(len(n.Str)))
		b = append(b, n.Str...)
	case Int:
		b = binary.BigEndian.AppendUint64(b, uint64(n.Int))
	case Float:
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(n.Float))
	case Bool:
		if n.Bool {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	case Time:
		b = binary.BigEndian.AppendUint64(b, uint64(n.Time.Unix()))
		b = binary.BigEndian.AppendUint32(b, uint32(n.Time.Nanosecond()))
	}
	return b
}
