package confparse

import (
	"strconv"
	"strings"
	"time"
)

// Pos is a position in a configuration file. Line and Col are 1-based; Col
// counts bytes, not runes, so that it can be computed without decoding UTF-8
// and matches what editors that report byte columns (and go/token) show. A
// tab counts as one byte. The zero Line means "the whole file" (used for
// errors such as a file that cannot be opened).
type Pos struct {
	File string
	Line int
	Col  int
}

// String returns "file:line:col", leaving out the parts that are unknown
// (Line or Col zero), in the manner of go/token.Position.
func (p Pos) String() string {
	s := p.File
	if p.Line > 0 {
		if s != "" {
			s += ":"
		}
		s += strconv.Itoa(p.Line)
		if p.Col > 0 {
			s += ":" + strconv.Itoa(p.Col)
		}
	}
	if s == "" {
		s = "-"
	}
	return s
}

// less orders positions by file name, then line, then column.
func (p Pos) less(q Pos) bool {
	if p.File != q.File {
		return p.File < q.File
	}
	if p.Line != q.Line {
		return p.Line < q.Line
	}
	return p.Col < q.Col
}

// Kind is the type of a Node. The zero Kind is not a valid kind, so that a
// zero Node is recognisably unset.
type Kind uint8

// The kinds of value the grammar produces.
const (
	Map Kind = iota + 1
	Array
	String
	Int
	Float
	Bool
	Time
)

var kindNames = [...]string{
	Map:    "map",
	Array:  "array",
	String: "string",
	Int:    "int",
	Float:  "float",
	Bool:   "bool",
	Time:   "time",
}

// String returns the lower-case name of the kind ("map", "int", …), the
// word the corpus's typed JSON uses for scalars.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "invalid"
}

// Node is one value of the configuration tree. Only the field that matches
// Kind is meaningful (Str for String, Items for Array, and so on).
//
// The tree is read-only once returned: a value that came from a $VAR is a
// copy of the definition's node, but its Items or Entries are shared with
// the definition.
type Node struct {
	Kind Kind
	// Pos is where the value starts. For a value that came from a $VAR
	// reference it is the position of the reference, so that an error about
	// the value points at the line that uses it; the children of such a
	// value keep the positions of their definition.
	Pos Pos
	// Raw is the source text of a scalar as written, quotes included (for
	// example 2m, 1KB, yes, "yes"), so that messages can quote what the user
	// wrote. For a value from a variable it is the text of the definition.
	Raw string

	Str   string    // Kind String
	Int   int64     // Kind Int, size suffix applied
	Float float64   // Kind Float
	Bool  bool      // Kind Bool
	Time  time.Time // Kind Time, in UTC

	Items   []*Node  // Kind Array
	Entries []*Entry // Kind Map, in source order of first definition
}

// Entry is one key of a map and its value.
type Entry struct {
	Key    string // as written, case kept, quotes removed
	KeyPos Pos    // position of the (latest) definition's key
	Value  *Node
	// Shadowed holds the key positions of earlier definitions of the same
	// key that this one replaced, oldest first, so that a warning can point
	// at every definition. A later definition replaces the value whole and
	// keeps the entry's place in Entries.
	Shadowed []Pos
	// UsedAsVariable is true when some $VAR reference resolved to this
	// entry; the daemon uses it to avoid warning about variable
	// definitions as unknown options.
	UsedAsVariable bool
}

// Get returns the entry of a map node whose key is exactly key, or nil
// when there is none or n is not a map. It scans the entries, which is fast
// for the map sizes configurations have.
func (n *Node) Get(key string) *Entry {
	if n == nil || n.Kind != Map {
		return nil
	}
	for _, e := range n.Entries {
		if e.Key == key {
			return e
		}
	}
	return nil
}

// Lookup is Get with key compared case-insensitively, because NATS option
// names are case-insensitive. Keys that differ only in case are distinct
// entries (as in nats-server); Lookup then returns the last of them in
// source order, matching "the later definition wins".
func (n *Node) Lookup(key string) *Entry {
	if n == nil || n.Kind != Map {
		return nil
	}
	for i := len(n.Entries) - 1; i >= 0; i-- {
		if e := n.Entries[i]; strings.EqualFold(e.Key, key) {
			return e
		}
	}
	return nil
}

// Document is the result of parsing a configuration file.
type Document struct {
	Root *Node // Kind Map
	// Files lists every file the parse read or tried to read: the main
	// file first, then included files in the order first met, each once,
	// as cleaned paths. The daemon watches these for hot reload; a missing
	// include is listed too, so that creating it triggers a reload. For
	// Parse, the name is listed as the main file unless it is empty.
	Files []string
}
