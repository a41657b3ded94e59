package confparse

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The lexer is a pull lexer in the style of text/template/parse: nextItem
// runs state functions until one of them emits an item, with no goroutine
// or channel. The grammar is context-sensitive (a key ends at ':' but an
// unquoted value does not; a newline may follow a key but not a ':'), so
// the states carry the context, and a stack of open maps and arrays tells
// the state after a value where to return (lexTopValueEnd, lexMapValueEnd or
// lexArrayValueEnd).
//
// The lexer checks the whole syntax; the parser trusts the order of items
// (but still refuses, without panicking, a sequence it does not expect).
// The first syntax error ends lexing: after it the lexer returns the same
// error item forever.
//
// The lexer works on bytes, not runes: every delimiter of the grammar is
// ASCII, so a byte >= 0x80 (part of a UTF-8 sequence, valid or not) never
// ends anything and belongs to the key or string around it. That is also
// why columns are byte columns.

// maxDepth bounds the nesting of maps and arrays, so that hostile input
// cannot exhaust the stack of the recursive-descent parser.
const maxDepth = 100

type itemType uint8

const (
	itemError      itemType = iota // val: the message
	itemEOF                        // end of input
	itemKey                        // val: the key, quotes removed
	itemInclude                    // the include keyword; the next item is its file name (itemString)
	itemString                     // val: the text, escapes decoded
	itemBool                       // raw: true, no, On, …
	itemInt                        // raw: digits, sign and size suffix, e.g. -2KB
	itemFloat                      // raw: e.g. 3.14
	itemTime                       // raw: e.g. 2016-05-04T18:53:41Z
	itemVariable                   // val: the name, without '$'
	itemMapStart                   // '{'
	itemMapEnd                     // '}'
	itemArrayStart                 // '['
	itemArrayEnd                   // ']'
)

var itemNames = [...]string{
	itemError: "error", itemEOF: "EOF", itemKey: "key", itemInclude: "include",
	itemString: "string", itemBool: "bool", itemInt: "int", itemFloat: "float",
	itemTime: "time", itemVariable: "variable", itemMapStart: "{", itemMapEnd: "}",
	itemArrayStart: "[", itemArrayEnd: "]",
}

func (t itemType) String() string {
	if int(t) < len(itemNames) {
		return itemNames[t]
	}
	return fmt.Sprintf("item(%d)", int(t))
}

// item is one token. line and col are where it starts.
type item struct {
	typ  itemType
	line int
	col  int
	val  string // decoded text (strings, keys, names) or error message
	raw  string // source text of the token
}

// Byte classes, looked up in a table so that the scanning loops cost one
// load and one test per byte.
const (
	clSpace    = 1 << iota // ' ' '\t': separates tokens within a line
	clNewline              // '\n' '\r': ends a line ('\r' so that CRLF works; only '\n' counts lines)
	clBlank                // space, newline, '\v', '\f': skipped between entries
	clValueEnd             // ends an unquoted value (and a number)
	clKeyEnd               // ends an unquoted key
	clDigit                // '0'-'9'
	clSuffix               // size suffix letters k m g t p e, any case
)

var class [256]uint8

func init() {
	for _, c := range " \t" {
		class[c] |= clSpace | clBlank | clValueEnd | clKeyEnd
	}
	for _, c := range "\n\r" {
		class[c] |= clNewline | clBlank | clValueEnd | clKeyEnd
	}
	class['\v'] |= clBlank
	class['\f'] |= clBlank
	// An unquoted value runs to a blank or one of , ; ] } (so that
	// "{nkey: ABC}" and "[a, b]" work); ':' '=' '#' and quotes are part of it,
	// which is why 127.0.0.1:4222 and nats://h:4222 need no quotes.
	for _, c := range ",;]}" {
		class[c] |= clValueEnd
	}
	// An unquoted key also ends at a separator, and at an opening bracket so
	// that "cluster{" and "routes[" start a value.
	for _, c := range "=:,;[]{}" {
		class[c] |= clKeyEnd
	}
	for c := '0'; c <= '9'; c++ {
		class[c] |= clDigit
	}
	for _, c := range "kmgtpeKMGTPE" {
		class[c] |= clSuffix
	}
	class[0] |= clValueEnd | clKeyEnd // peek's end-of-input marker
}

func is(c byte, cl uint8) bool { return class[c]&cl != 0 }

// frame is an open map or array (or the optional braces around the whole
// file), with where it was opened for "unexpected end of file" messages.
type frame struct {
	kind      byte // '{', '[', or 'o' for the outer braces
	line, col int

	// The key whose value this is, restored when the frame closes so that
	// messages after a nested value name the right key.
	key             string
	keyLine, keyCol int
}

type stateFn func(*lexer) stateFn

type lexer struct {
	src       string
	pos       int // next byte to read
	line      int // line of src[pos]
	lineStart int // offset of the first byte of line

	start     int // start of the token being scanned
	startLine int
	startCol  int

	state  stateFn
	frames []frame
	out    item
	ready  bool

	keyLine, keyCol int    // last key, for messages about its value
	key             string //
	seenEntry       bool   // a key was seen, so '{' can no longer open outer braces
	buf             []byte // scratch for strings with escapes
}

func newLexer(src string) *lexer {
	lx := &lexer{src: src, line: 1, state: lexStart}
	return lx
}

// nextItem returns the next item. After EOF or an error it keeps returning
// that item.
func (lx *lexer) nextItem() item {
	lx.ready = false
	for !lx.ready && lx.state != nil {
		lx.state = lx.state(lx)
	}
	return lx.out
}

func (lx *lexer) eof() bool { return lx.pos >= len(lx.src) }

// peek returns the next byte, or 0 at the end of input (NUL bytes are
// refused up front, so 0 is unambiguous).
func (lx *lexer) peek() byte {
	if lx.pos < len(lx.src) {
		return lx.src[lx.pos]
	}
	return 0
}

func (lx *lexer) peekAt(off int) byte {
	if lx.pos+off < len(lx.src) {
		return lx.src[lx.pos+off]
	}
	return 0
}

// advance moves past one byte, counting lines.
func (lx *lexer) advance() {
	if lx.pos < len(lx.src) {
		if lx.src[lx.pos] == '\n' {
			lx.line++
			lx.lineStart = lx.pos + 1
		}
		lx.pos++
	}
}

// advanceTo moves to offset n (>= pos), counting the lines in between.
func (lx *lexer) advanceTo(n int) {
	skipped := lx.src[lx.pos:n]
	if k := strings.Count(skipped, "\n"); k > 0 {
		lx.line += k
		lx.lineStart = lx.pos + strings.LastIndexByte(skipped, '\n') + 1
	}
	lx.pos = n
}

func (lx *lexer) col() int { return lx.pos - lx.lineStart + 1 }

// mark starts a token at the current position.
func (lx *lexer) mark() {
	lx.start, lx.startLine, lx.startCol = lx.pos, lx.line, lx.col()
}

func (lx *lexer) emit(t itemType, val string) {
	lx.out = item{typ: t, line: lx.startLine, col: lx.startCol, val: val, raw: lx.src[lx.start:lx.pos]}
	lx.ready = true
}

// errorf emits an error at the current position and stops the lexer.
func (lx *lexer) errorf(format string, args ...any) stateFn {
	return lx.errorAt(lx.line, lx.col(), format, args...)
}

func (lx *lexer) errorAt(line, col int, format string, args ...any) stateFn {
	lx.out = item{typ: itemError, line: line, col: col, val: fmt.Sprintf(format, args...)}
	lx.ready = true
	return nil
}

// errorAfterLineEnd reports a line end where something else was needed.
// The position is the start of the next line: nats-server reports these
// errors with the line number after the newline, and the corpus pins that
// line number.
func (lx *lexer) errorAfterLineEnd(format string, args ...any) stateFn {
	if lx.peek() == '\r' {
		lx.advance()
	}
	if lx.peek() == '\n' {
		lx.advance()
	}
	return lx.errorf(format, args...)
}

// found describes the byte at the current position for messages.
func (lx *lexer) found() string {
	if lx.eof() {
		return "end of file"
	}
	switch c := lx.peek(); c {
	case '\n', '\r':
		return "end of line"
	default:
		r, _ := utf8.DecodeRuneInString(lx.src[lx.pos:])
		if r == utf8.RuneError {
			return fmt.Sprintf("byte %#02x", c)
		}
		return fmt.Sprintf("%q", r)
	}
}

func (lx *lexer) skipSpace() {
	for is(lx.peek(), clSpace) {
		lx.pos++
	}
}

// skipBlank skips spaces and line ends.
func (lx *lexer) skipBlank() {
	for lx.pos < len(lx.src) && is(lx.src[lx.pos], clBlank) {
		lx.advance()
	}
}

// atComment reports whether a comment (# or //) starts here.
func (lx *lexer) atComment() bool {
	c := lx.peek()
	return c == '#' || (c == '/' && lx.peekAt(1) == '/')
}

// skipComment moves to the end of the line (not past the newline).
func (lx *lexer) skipComment() {
	if i := strings.IndexByte(lx.src[lx.pos:], '\n'); i >= 0 {
		lx.pos += i
	} else {
		lx.pos = len(lx.src)
	}
}

// skipBlankAndComments skips what may separate entries or array elements.
func (lx *lexer) skipBlankAndComments() {
	for {
		lx.skipBlank()
		if !lx.atComment() {
			return
		}
		lx.skipComment()
	}
}

func (lx *lexer) push(kind byte) bool {
	if len(lx.frames) >= maxDepth {
		return false
	}
	lx.frames = append(lx.frames, frame{kind: kind, line: lx.line, col: lx.col(),
		key: lx.key, keyLine: lx.keyLine, keyCol: lx.keyCol})
	return true
}

func (lx *lexer) top() (frame, bool) {
	if n := len(lx.frames); n > 0 {
		return lx.frames[n-1], true
	}
	return frame{}, false
}

func (lx *lexer) pop() {
	f := lx.frames[len(lx.frames)-1]
	lx.key, lx.keyLine, lx.keyCol = f.key, f.keyLine, f.keyCol
	lx.frames = lx.frames[:len(lx.frames)-1]
}

// afterValue returns the state that follows a complete value: what may
// come after it depends on the enclosing map, array or top level.
func (lx *lexer) afterValue() stateFn {
	if f, ok := lx.top(); ok {
		switch f.kind {
		case '{':
			return lexMapValueEnd
		case '[':
			return lexArrayValueEnd
		}
	}
	return lexTopValueEnd
}

// unterminated reports the end of input inside an open map or array.
func (lx *lexer) unterminated(f frame) stateFn {
	switch f.kind {
	case '[':
		return lx.errorf("unexpected end of file in array started at %d:%d; expected ']'", f.line, f.col)
	case 'o':
		return lx.errorf("unexpected end of file in the block around the file started at %d:%d; expected '}'", f.line, f.col)
	}
	return lx.errorf("unexpected end of file in map started at %d:%d; expected '}'", f.line, f.col)
}

// lexStart refuses NUL bytes (a config file is text, and a NUL usually
// means a corrupt file) and skips a UTF-8 byte order mark, which some
// Windows editors write.
func lexStart(lx *lexer) stateFn {
	if i := strings.IndexByte(lx.src, 0); i >= 0 {
		lx.advanceTo(i)
		return lx.errorf("NUL byte in input; a configuration file must be text")
	}
	if strings.HasPrefix(lx.src, "\xef\xbb\xbf") {
		lx.pos = 3
		lx.lineStart = 3 // columns count from after the BOM
	}
	return lexTop
}

// lexTop scans between top-level entries:
//
//	top = [ "{" ] { entry } [ "}" ] EOF
//
// The braces around the whole file are allowed only as its first token.
func lexTop(lx *lexer) stateFn {
	lx.skipBlankAndComments()
	lx.mark()
	f, inOuter := lx.top()
	inOuter = inOuter && f.kind == 'o'
	switch c := lx.peek(); {
	case lx.eof():
		if inOuter {
			return lx.unterminated(f)
		}
		lx.emit(itemEOF, "")
		return nil
	case c == '{' && !lx.seenEntry && !inOuter:
		lx.push('o')
		lx.pos++
		return lexTop
	case c == '}' && inOuter:
		lx.pos++
		lx.pop()
		return lexAfterOuter
	}
	lx.seenEntry = true
	return lexKey
}

// lexAfterOuter allows only blank space and comments after the '}' that
// closes the braces around the file.
func lexAfterOuter(lx *lexer) stateFn {
	lx.skipBlankAndComments()
	lx.mark()
	if !lx.eof() {
		return lx.errorf("unexpected %s after the '}' that closes the braces around the file", lx.found())
	}
	lx.emit(itemEOF, "")
	return nil
}

// lexTopValueEnd follows a top-level value:
//
//	value-end = { space } [ comment ] ( newline | "," | ";" | EOF )
func lexTopValueEnd(lx *lexer) stateFn {
	lx.skipSpace()
	if lx.atComment() {
		lx.skipComment()
		return lexTop
	}
	switch c := lx.peek(); {
	case lx.eof():
		return lexTop
	case is(c, clNewline), c == ',', c == ';':
		lx.advance()
		return lexTop
	case c == '}':
		if f, ok := lx.top(); ok && f.kind == 'o' {
			return lexTop
		}
	}
	return lx.errorf("expected a newline, ',' or ';' after the value of %q, found %s", lx.key, lx.found())
}

// lexMapKeyStart scans between the entries of a map:
//
//	map = "{" { entry } "}"
func lexMapKeyStart(lx *lexer) stateFn {
	lx.skipBlankAndComments()
	lx.mark()
	if lx.eof() {
		f, _ := lx.top()
		return lx.unterminated(f)
	}
	if lx.peek() == '}' {
		lx.pos++
		lx.pop()
		lx.emit(itemMapEnd, "")
		return lx.afterValue()
	}
	lx.seenEntry = true
	return lexKey
}

// lexMapValueEnd follows a value inside a map:
//
//	value-end = { space } [ comment ] ( newline | "," | ";" | "}" )
func lexMapValueEnd(lx *lexer) stateFn {
	lx.skipSpace()
	if lx.atComment() {
		lx.skipComment()
		return lexMapKeyStart
	}
	switch c := lx.peek(); {
	case lx.eof():
		f, _ := lx.top()
		return lx.unterminated(f)
	case is(c, clNewline), c == ',', c == ';':
		lx.advance()
		return lexMapKeyStart
	case c == '}':
		return lexMapKeyStart
	}
	return lx.errorf("expected ',', ';', a newline or '}' after the value of %q, found %s", lx.key, lx.found())
}

// lexKey scans a key, quoted or not, or the include keyword:
//
//	entry = key [ "=" | ":" ] value | "include" path
//	key   = '"' { char } '"' | "'" { char } "'" | bare
//
// Quoted keys take their text as is (no escapes), as in nats-server.
func lexKey(lx *lexer) stateFn {
	lx.mark()
	switch c := lx.peek(); c {
	case '"', '\'':
		lx.pos++
		i := strings.IndexByte(lx.src[lx.pos:], c)
		if i < 0 {
			lx.advanceTo(len(lx.src))
			return lx.errorf("unexpected end of file in quoted key started at %d:%d; expected %q", lx.startLine, lx.startCol, c)
		}
		lx.advanceTo(lx.pos + i + 1)
		lx.emitKey(lx.src[lx.start+1 : lx.pos-1])
		return lexKeyEnd
	case '=', ':', ',', ';', '[', ']', '{', '}':
		return lx.errorf("expected a key, found %s", lx.found())
	}
	for !is(lx.peek(), clKeyEnd) {
		lx.pos++
	}
	key := lx.src[lx.start:lx.pos]
	// "include" followed by blank space is the include directive, whatever
	// its case. "include: x" and "include = x" are ordinary keys.
	if len(key) == len("include") && strings.EqualFold(key, "include") && is(lx.peek(), clBlank) {
		p := lx.pos
		for p < len(lx.src) && is(lx.src[p], clSpace) {
			p++
		}
		if p >= len(lx.src) || (lx.src[p] != '=' && lx.src[p] != ':') {
			lx.emit(itemInclude, "")
			return lexIncludePath
		}
	}
	lx.emitKey(key)
	return lexKeyEnd
}

func (lx *lexer) emitKey(key string) {
	lx.key, lx.keyLine, lx.keyCol = key, lx.startLine, lx.startCol
	lx.emit(itemKey, key)
}

// lexKeyEnd scans what separates a key from its value. Line ends may come
// before the separator (so "cluster" and "{" may sit on separate lines, as
// nats-server allows) but not after it.
func lexKeyEnd(lx *lexer) stateFn {
	lx.skipBlank()
	if c := lx.peek(); c == '=' || c == ':' {
		lx.pos++
		lx.skipSpace()
	}
	return lexValue
}

// lexArrayValue scans between the elements of an array:
//
//	array = "[" [ value { ( "," | ";" | newline ) value } [ "," | ";" ] ] "]"
func lexArrayValue(lx *lexer) stateFn {
	lx.skipBlankAndComments()
	lx.mark()
	switch c := lx.peek(); {
	case lx.eof():
		f, _ := lx.top()
		return lx.unterminated(f)
	case c == ']':
		lx.pos++
		lx.pop()
		lx.emit(itemArrayEnd, "")
		return lx.afterValue()
	case c == ',' || c == ';':
		return lx.errorf("unexpected %s in array; expected a value or ']'", lx.found())
	}
	return lexValue
}

// lexArrayValueEnd follows an element of an array.
func lexArrayValueEnd(lx *lexer) stateFn {
	lx.skipSpace()
	if lx.atComment() {
		lx.skipComment()
		return lexArrayValue
	}
	switch c := lx.peek(); {
	case lx.eof():
		f, _ := lx.top()
		return lx.unterminated(f)
	case is(c, clNewline), c == ',', c == ';':
		lx.advance()
		return lexArrayValue
	case c == ']':
		return lexArrayValue
	}
	return lx.errorf("expected ',' or ']' after an array element, found %s", lx.found())
}

// lexIncludePath scans the file name after the include keyword:
//
//	include = "include" space ( '"' name '"' | "'" name "'" | bare )
//
// Quoted names take their text as is (no escapes), as in nats-server.
func lexIncludePath(lx *lexer) stateFn {
	lx.skipSpace()
	lx.mark()
	switch c := lx.peek(); {
	case lx.eof():
		return lx.errorf("expected a file name after include, found end of file")
	case is(c, clNewline):
		return lx.errorAfterLineEnd("expected a file name after include, found end of line")
	case c == '"' || c == '\'':
		lx.pos++
		i := strings.IndexByte(lx.src[lx.pos:], c)
		if i < 0 {
			lx.advanceTo(len(lx.src))
			return lx.errorf("unexpected end of file in include file name started at %d:%d; expected %q", lx.startLine, lx.startCol, c)
		}
		lx.advanceTo(lx.pos + i + 1)
		lx.emit(itemString, lx.src[lx.start+1:lx.pos-1])
		return lx.afterValue()
	case c == '{' || c == '[' || c == '(' || is(c, clValueEnd):
		return lx.errorf("expected a file name after include, found %s", lx.found())
	}
	for !is(lx.peek(), clValueEnd) {
		lx.pos++
	}
	lx.emit(itemString, lx.src[lx.start:lx.pos])
	return lx.afterValue()
}
