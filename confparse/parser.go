package confparse

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Options adjusts a parse. The zero value (or a nil *Options) is the
// normal behaviour.
type Options struct {
	// LookupEnv resolves $VAR references that no enclosing map defines.
	// nil means os.LookupEnv. Tests pass a fixed environment.
	LookupEnv func(string) (string, bool)

	// readFile stands in for the file system in tests and fuzzing, so that
	// an include cannot reach real files there. nil means the real one.
	readFile func(path string) ([]byte, error)
}

// Limits that keep hostile input from exhausting time or memory.
const (
	// maxExpansion bounds the values that variable references may copy
	// into a document (a chain of maps, each referencing the previous one
	// several times, would otherwise grow exponentially).
	maxExpansion = 1_000_000
	// maxIncludes bounds the include directives one document may follow
	// (a file included twice by a file included twice … also grows
	// exponentially), and maxIncludeDepth how deeply they may nest.
	maxIncludes     = 10_000
	maxIncludeDepth = 50
)

// ParseFile reads and parses the configuration file at path, following its
// includes relative to the directory of each including file.
//
// The error, when not nil, is an ErrorList holding every problem found,
// sorted. The Document is returned even then, whenever path could be
// read or tried, so that a caller can watch doc.Files for a fix; its Root
// is then incomplete and must not be used.
func ParseFile(path string, opts *Options) (*Document, error) {
	s := newSession(opts)
	s.listFile(path)
	data, err := s.read(path)
	if err != nil {
		s.errs = append(s.errs, &Error{Pos: Pos{File: path}, Msg: err.Error(), cause: err})
		return &Document{Files: s.files}, s.errs
	}
	return s.run(path, string(data))
}

// Parse parses src as the configuration file name. name is used in
// positions and to resolve includes (relative to filepath.Dir(name)); it
// need not exist. Errors and the Document are as for ParseFile.
func Parse(name string, src []byte, opts *Options) (*Document, error) {
	s := newSession(opts)
	if name != "" {
		s.listFile(name)
	}
	// The copy made by string() also keeps the tree's strings from
	// aliasing the caller's buffer.
	return s.run(name, string(src))
}

// session is what the parse of one document shares across its main file,
// its includes and the environment values it reads.
type session struct {
	lookupEnv func(string) (string, bool)
	readFile  func(string) ([]byte, error)

	errs   ErrorList
	files  []string
	listed map[string]bool

	including []openFile // files being parsed, main file first: include cycles
	includes  int        // include directives followed so far
	resolving []string   // environment variables being resolved: reference cycles
	budget    int        // values variable references may still copy
}

type openFile struct {
	id   string // absolute path, to recognise a file however it was named
	name string // as shown in positions
}

func newSession(opts *Options) *session {
	s := &session{lookupEnv: os.LookupEnv, budget: maxExpansion}
	if opts != nil {
		if opts.LookupEnv != nil {
			s.lookupEnv = opts.LookupEnv
		}
		s.readFile = opts.readFile
	}
	return s
}

func (s *session) run(name, src string) (*Document, error) {
	s.including = append(s.including, openFile{id: fileID(name), name: name})
	p := s.newParser(name, src, nil, &s.errs)
	root := p.parseFile()
	s.errs.Sort()
	return &Document{Root: root, Files: s.files}, s.errs.Err()
}

// listFile records a file in Document.Files, once.
func (s *session) listFile(path string) {
	c := filepath.Clean(path)
	if s.listed == nil {
		s.listed = make(map[string]bool)
	}
	if !s.listed[c] {
		s.listed[c] = true
		s.files = append(s.files, c)
	}
}

// scope is a map being built. Variables resolve against the open scopes,
// innermost first, and only see the keys set so far: that is what makes
// "only keys defined earlier count" hold without extra bookkeeping.
type scope struct {
	node  *Node
	index map[string]int // key -> index in node.Entries, once the map is big
}

// indexAbove is the size from which a scope keeps a map index, so that a
// map with thousands of keys does not make duplicate detection quadratic,
// while the common small map costs no allocation.
const indexAbove = 16

func (sc *scope) find(key string) int {
	if sc.index != nil {
		if i, ok := sc.index[key]; ok {
			return i
		}
		return -1
	}
	for i, e := range sc.node.Entries {
		if e.Key == key {
			return i
		}
	}
	return -1
}

// set adds e to the map, or, when the key exists, replaces the value of
// the existing entry in place (no merge, as in nats-server) and records
// the shadowed definition.
func (p *parser) set(sci int, e *Entry) {
	sc := &p.scopes[sci]
	if i := sc.find(e.Key); i >= 0 {
		old := sc.node.Entries[i]
		old.Shadowed = append(old.Shadowed, old.KeyPos)
		old.Shadowed = append(old.Shadowed, e.Shadowed...)
		old.KeyPos, old.Value = e.KeyPos, e.Value
		old.UsedAsVariable = old.UsedAsVariable || e.UsedAsVariable
		return
	}
	if sc.node.Entries == nil {
		sc.node.Entries = p.entryList()
	}
	sc.node.Entries = append(sc.node.Entries, e)
	switch n := len(sc.node.Entries); {
	case sc.index != nil:
		sc.index[e.Key] = n - 1
	case n > indexAbove:
		sc.index = make(map[string]int, 2*n)
		for i, e := range sc.node.Entries {
			sc.index[e.Key] = i
		}
	}
}

// parser builds the tree of one file (or one environment value) from the
// lexer's items, resolving variables and includes as it goes.
type parser struct {
	s      *session
	lx     *lexer
	file   string
	chain  []Pos      // include directives that led to this file
	errs   *ErrorList // where errors go
	env    bool       // parsing an environment variable's value
	scopes []scope

	// Nodes, entries, and the first few slots of each map's Entries and
	// each array's Items are carved from slabs: a config has many small
	// values and small maps, and one allocation (or three, growing a
	// slice to 4) per value dominated the profile.
	nodes     []Node
	entries   []Entry
	entryPtrs []*Entry
	nodePtrs  []*Node
}

// listCap is the capacity of the Entries and Items slices carved from the
// slabs; a bigger map or array grows by append as usual (the 3-index
// slice makes append reallocate rather than overwrite the neighbour).
const listCap = 4

func (p *parser) entryList() []*Entry {
	if len(p.entryPtrs) < listCap {
		p.entryPtrs = make([]*Entry, listCap*slabSize(cap(p.entryPtrs)/listCap))
	}
	l := p.entryPtrs[0:0:listCap]
	p.entryPtrs = p.entryPtrs[listCap:]
	return l
}

func (p *parser) itemList() []*Node {
	if len(p.nodePtrs) < listCap {
		p.nodePtrs = make([]*Node, listCap*slabSize(cap(p.nodePtrs)/listCap))
	}
	l := p.nodePtrs[0:0:listCap]
	p.nodePtrs = p.nodePtrs[listCap:]
	return l
}

func (s *session) newParser(file, src string, chain []Pos, errs *ErrorList) *parser {
	return &parser{s: s, lx: newLexer(src), file: file, chain: chain, errs: errs}
}

func (p *parser) pos(it item) Pos { return Pos{File: p.file, Line: it.line, Col: it.col} }

func (p *parser) errorf(pos Pos, format string, args ...any) {
	*p.errs = append(*p.errs, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...), Includes: p.chain})
}

func (p *parser) newNode(k Kind, pos Pos) *Node {
	if len(p.nodes) == 0 {
		p.nodes = make([]Node, slabSize(cap(p.nodes)))
	}
	n := &p.nodes[0]
	p.nodes = p.nodes[1:]
	n.Kind, n.Pos = k, pos
	return n
}

func (p *parser) newEntry(key string, pos Pos, v *Node) *Entry {
	if len(p.entries) == 0 {
		p.entries = make([]Entry, slabSize(cap(p.entries)))
	}
	e := &p.entries[0]
	p.entries = p.entries[1:]
	e.Key, e.KeyPos, e.Value = key, pos, v
	return e
}

// slabSize grows slabs from small (a one-line environment value should not
// pay for a big slab) to a bound (a huge slab would pin memory).
func slabSize(prev int) int {
	switch {
	case prev < 8:
		return 8
	case prev >= 256:
		return 256
	}
	return prev * 2
}

// parseFile parses a whole file:
//
//	file = { entry } EOF
func (p *parser) parseFile() *Node {
	root := p.newNode(Map, Pos{File: p.file, Line: 1, Col: 1})
	p.parseEntries(root, itemEOF)
	return root
}

// parseEntries parses the entries of the map m up to the item end (the
// closing brace, or EOF for a file):
//
//	entries = { key value | include path } end
//
// It returns false after a syntax error, which ends the parse of the file.
func (p *parser) parseEntries(m *Node, end itemType) bool {
	p.scopes = append(p.scopes, scope{node: m})
	sc := len(p.scopes) - 1
	defer func() { p.scopes = p.scopes[:sc] }()
	for {
		it := p.lx.nextItem()
		switch it.typ {
		case end:
			return true
		case itemKey:
			v, ok := p.parseValue(p.lx.nextItem())
			if v != nil {
				p.set(sc, p.newEntry(it.val, p.pos(it), v))
			}
			if !ok {
				return false
			}
		case itemInclude:
			path := p.lx.nextItem()
			if path.typ != itemString {
				return p.unexpected(path)
			}
			p.include(sc, it, path)
		default:
			return p.unexpected(it)
		}
	}
}

// unexpected reports a lexer error, or an item the grammar does not allow
// here (which the lexer's checks should make impossible), and returns
// false to stop the parse.
func (p *parser) unexpected(it item) bool {
	if it.typ == itemError {
		p.errorf(p.pos(it), "%s", it.val)
	} else {
		p.errorf(p.pos(it), "unexpected %s", it.typ)
	}
	return false
}

// parseValue parses the value that starts with it:
//
//	value = scalar | variable | "{" entries "}" | "[" { value } "]"
//
// A nil node with true means the value was wrong (the error is recorded)
// but parsing may go on; false means a syntax error.
func (p *parser) parseValue(it item) (*Node, bool) {
	pos := p.pos(it)
	switch it.typ {
	case itemString:
		n := p.newNode(String, pos)
		n.Str, n.Raw = it.val, it.raw
		return n, true
	case itemBool:
		n := p.newNode(Bool, pos)
		n.Raw = it.raw
		switch strings.ToLower(it.raw) {
		case "true", "yes", "on":
			n.Bool = true
		}
		return n, true
	case itemInt:
		v, err := parseInt(it.raw)
		if err != nil {
			p.errorf(pos, "%v", err)
			return nil, true
		}
		n := p.newNode(Int, pos)
		n.Int, n.Raw = v, it.raw
		return n, true
	case itemFloat:
		v, err := strconv.ParseFloat(it.raw, 64)
		if err != nil {
			p.errorf(pos, "float %s is out of range", it.raw)
			return nil, true
		}
		n := p.newNode(Float, pos)
		n.Float, n.Raw = v, it.raw
		return n, true
	case itemTime:
		t, err := time.Parse("2006-01-02T15:04:05Z", it.raw)
		if err != nil {
			why := "not a valid date"
			if pe, ok := err.(*time.ParseError); ok && pe.Message != "" {
				why = strings.TrimPrefix(pe.Message, ": ")
			}
			p.errorf(pos, "invalid date %s: %s", it.raw, why)
			return nil, true
		}
		n := p.newNode(Time, pos)
		n.Time, n.Raw = t, it.raw
		return n, true
	case itemVariable:
		return p.resolve(it.val, pos), true
	case itemMapStart:
		n := p.newNode(Map, pos)
		return n, p.parseEntries(n, itemMapEnd)
	case itemArrayStart:
		n := p.newNode(Array, pos)
		for {
			it := p.lx.nextItem()
			if it.typ == itemArrayEnd {
				return n, true
			}
			v, ok := p.parseValue(it)
			if v != nil {
				if n.Items == nil {
					n.Items = p.itemList()
				}
				n.Items = append(n.Items, v)
			}
			if !ok {
				return n, false
			}
		}
	}
	return nil, p.unexpected(it)
}

// parseInt converts an integer with an optional size suffix: k, m, g, t,
// p, e are powers of 1000; followed by b, i or ib they are powers of 1024;
// any case. Overflow is an error (nats-server silently wraps).
func parseInt(raw string) (int64, error) {
	i := 0
	if i < len(raw) && raw[i] == '-' {
		i++
	}
	for i < len(raw) && is(raw[i], clDigit) {
		i++
	}
	num, err := strconv.ParseInt(raw[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("integer %s is out of range", raw)
	}
	suffix := raw[i:]
	if suffix == "" {
		return num, nil
	}
	power := strings.IndexByte("kmgtpe", suffix[0]|0x20) + 1 // |0x20: ASCII lower case
	var base int64
	switch strings.ToLower(suffix[1:]) {
	case "":
		base = 1000
	case "b", "i", "ib":
		base = 1024
	}
	if power == 0 || base == 0 {
		return 0, fmt.Errorf("unknown size suffix %q in %s; use k, m, g, t, p or e for powers of 1000, with b, i or ib for powers of 1024", suffix, raw)
	}
	mult := int64(1)
	for range power {
		mult *= base
	}
	if num > math.MaxInt64/mult || num < math.MinInt64/mult {
		return 0, fmt.Errorf("integer %s is out of range", raw)
	}
	return num * mult, nil
}
