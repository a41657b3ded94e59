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

// lexValue scans the start of a value and hands over to the state for its
// kind:
//
//	value = map | array | '"'string'"' | "'"raw"'" | "(" block ")" |
//	        number | date | bool | "$"variable | bare
func lexValue(lx *lexer) stateFn {
	lx.skipSpace()
	lx.mark()
	c := lx.peek()
	switch {
	case lx.eof():
		return lx.errorf("expected %s, found end of file", lx.wanted())
	case is(c, clNewline):
		return lx.errorAfterLineEnd("expected %s, found end of line", lx.wanted())
	case c == '[' || c == '{':
		if !lx.push(c) {
			return lx.errorf("maps and arrays nested more than %d deep", maxDepth)
		}
		lx.pos++
		if c == '[' {
			lx.emit(itemArrayStart, "")
			return lexArrayValue
		}
		lx.emit(itemMapStart, "")
		return lexMapKeyStart
	case c == '"':
		return lexDubQuotedString
	case c == '\'':
		return lexQuotedString
	case c == '(':
		return lexBlockString
	case is(c, clDigit) || (c == '-' && is(lx.peekAt(1), clDigit)):
		return lexNumber
	case c == '-':
		return lx.errorf("expected a digit after '-'; quote the value to make it a string")
	case c == '.':
		if is(lx.peekAt(1), clDigit) {
			return lx.errorf("a number must start with a digit (write 0%s)", lx.bareWord())
		}
		return lx.errorf("an unquoted value cannot start with '.'; quote %q to make it a string", lx.bareWord())
	case c == ',' || c == ';' || c == ']' || c == '}':
		return lx.errorf("expected %s, found %s", lx.wanted(), lx.found())
	}
	return lexBare
}

// wanted names the value lexValue is looking for, for messages.
func (lx *lexer) wanted() string {
	if f, ok := lx.top(); ok && f.kind == '[' {
		return fmt.Sprintf("a value in the array started at %d:%d", f.line, f.col)
	}
	return fmt.Sprintf("a value for %q (%d:%d)", lx.key, lx.keyLine, lx.keyCol)
}

// bareWord returns the unquoted word starting at the current position, for
// messages.
func (lx *lexer) bareWord() string {
	end := lx.pos
	for end < len(lx.src) && !is(lx.src[end], clValueEnd) {
		end++
	}
	return lx.src[lx.pos:end]
}

// lexBare scans an unquoted value to its end (a blank or one of , ; ] }) and
// classifies it: a boolean word, a $variable, or a string. It also finishes
// words that started like numbers but are not (1e3, 2s, 0x1F).
func lexBare(lx *lexer) stateFn {
	for !is(lx.peek(), clValueEnd) {
		lx.pos++
	}
	word := lx.src[lx.start:lx.pos]
	switch {
	case isBool(word):
		lx.emit(itemBool, word)
	case word[0] == '$' && !strings.HasPrefix(word, "$2a$"):
		// "$2a$…" is bcrypt text, taken literally as nats-server does.
		if len(word) == 1 {
			return lx.errorAt(lx.startLine, lx.startCol, "'$' must be followed by a variable name")
		}
		lx.emit(itemVariable, word[1:])
	default:
		lx.emit(itemString, word)
	}
	return lx.afterValue()
}

func isBool(w string) bool {
	switch len(w) {
	case 2:
		return strings.EqualFold(w, "on") || strings.EqualFold(w, "no")
	case 3:
		return strings.EqualFold(w, "off") || strings.EqualFold(w, "yes")
	case 4:
		return strings.EqualFold(w, "true")
	case 5:
		return strings.EqualFold(w, "false")
	}
	return false
}

// lexNumber scans a value that starts with a digit (or '-' and a digit):
//
//	int    = [ "-" ] digits [ suffix ]      suffix = (k|m|g|t|p|e) { b | i }, any case
//	float  = [ "-" ] digits "." digits
//	date   = dddd "-" dd "-" dd "T" dd ":" dd ":" dd "Z"
//	addr   = digits "." digits "." { digit | "." | ":" | "-" }   (a string: 127.0.0.1:4222)
//
// Anything else that starts with a digit is an unquoted string (1e3, 2s,
// 1m30s), except that a float or address followed by other text is an
// error, as in nats-server (266.0.0.1:foo).
func lexNumber(lx *lexer) stateFn {
	signed := lx.peek() == '-'
	if signed {
		lx.pos++
	}
	for is(lx.peek(), clDigit) {
		lx.pos++
	}
	c := lx.peek()
	switch {
	case is(c, clValueEnd):
		lx.emit(itemInt, "")
		return lx.afterValue()
	case c == '-':
		if signed || lx.pos-lx.start != 4 {
			return lx.errorf("unexpected '-' in %q: a date must be in ISO 8601 Zulu form YYYY-MM-DDTHH:MM:SSZ; quote the value to make it a string", lx.src[lx.start:lx.pos]+lx.bareWord())
		}
		return lexDate
	case c == '.':
		lx.pos++
		if !is(lx.peek(), clDigit) {
			return lx.errorf("expected a digit after '.' in a number, found %s", lx.found())
		}
		for is(lx.peek(), clDigit) {
			lx.pos++
		}
		if lx.peek() == '.' {
			// A second dot: an IP address, perhaps with a port.
			for c := lx.peek(); is(c, clDigit) || c == '.' || c == ':' || c == '-'; c = lx.peek() {
				lx.pos++
			}
			if !is(lx.peek(), clValueEnd) {
				return lx.errorf("unexpected %s in address %q; quote the value to make it a string", lx.found(), lx.src[lx.start:lx.pos])
			}
			lx.emit(itemString, lx.src[lx.start:lx.pos])
			return lx.afterValue()
		}
		if !is(lx.peek(), clValueEnd) {
			return lx.errorf("unexpected %s after the number %s; quote the value to make it a string", lx.found(), lx.src[lx.start:lx.pos])
		}
		lx.emit(itemFloat, "")
		return lx.afterValue()
	case is(c, clSuffix):
		lx.pos++
		for c := lx.peek(); c == 'b' || c == 'B' || c == 'i' || c == 'I'; c = lx.peek() {
			lx.pos++
		}
		if is(lx.peek(), clValueEnd) {
			lx.emit(itemInt, "")
			return lx.afterValue()
		}
	}
	return lexBare
}

// lexDate scans the rest of an ISO 8601 Zulu date after its year. The
// parser checks that the fields are in range.
func lexDate(lx *lexer) stateFn {
	const layout = "-00-00T00:00:00Z" // '0' stands for any digit
	for i := 0; i < len(layout); i++ {
		c := lx.peek()
		if layout[i] == '0' && !is(c, clDigit) || layout[i] != '0' && c != layout[i] {
			want := "a digit"
			if layout[i] != '0' {
				want = fmt.Sprintf("%q", layout[i])
			}
			return lx.errorf("expected %s in date (ISO 8601 Zulu form YYYY-MM-DDTHH:MM:SSZ), found %s", want, lx.found())
		}
		lx.pos++
	}
	if !is(lx.peek(), clValueEnd) {
		return lx.errorf("unexpected %s after the date %s", lx.found(), lx.src[lx.start:lx.pos])
	}
	lx.emit(itemTime, "")
	return lx.afterValue()
}

// lexDubQuotedString scans a double-quoted string. It may span lines. The
// escapes are \t \n \r \" \\ and \xHH (one byte); any other is an error,
// as in nats-server.
func lexDubQuotedString(lx *lexer) stateFn {
	lx.pos++ // opening quote
	seg := lx.pos
	escaped := false
	buf := lx.buf[:0]
	for {
		i := strings.IndexAny(lx.src[lx.pos:], "\"\\")
		if i < 0 {
			lx.advanceTo(len(lx.src))
			return lx.errorf("unexpected end of file in string started at %d:%d; expected '\"'", lx.startLine, lx.startCol)
		}
		lx.advanceTo(lx.pos + i)
		if lx.peek() == '"' {
			var val string
			if escaped {
				buf = append(buf, lx.src[seg:lx.pos]...)
				val = string(buf)
				lx.buf = buf[:0]
			} else {
				val = lx.src[seg:lx.pos]
			}
			lx.pos++
			lx.emit(itemString, val)
			return lx.afterValue()
		}
		// A backslash.
		escaped = true
		buf = append(buf, lx.src[seg:lx.pos]...)
		line, col := lx.line, lx.col()
		lx.pos++
		switch c := lx.peek(); c {
		case 't':
			buf = append(buf, '\t')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case '"', '\\':
			buf = append(buf, c)
		case 'x':
			h, ok1 := unhex(lx.peekAt(1))
			l, ok2 := unhex(lx.peekAt(2))
			if !ok1 || !ok2 {
				return lx.errorAt(line, col, "\\x must be followed by two hexadecimal digits")
			}
			buf = append(buf, h<<4|l)
			lx.pos += 2
		default:
			if lx.eof() {
				return lx.errorf("unexpected end of file in string started at %d:%d; expected '\"'", lx.startLine, lx.startCol)
			}
			what := lx.found()
			if what[0] == '\'' {
				what = "'\\" + what[1:]
			} else {
				what = "backslash and " + what
			}
			return lx.errorAt(line, col, "invalid escape %s in string; only \\t \\n \\r \\\" \\\\ and \\xHH are allowed", what)
		}
		lx.pos++
		seg = lx.pos
	}
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// lexQuotedString scans a single-quoted string: raw text up to the next
// quote, with no escapes. It may span lines.
func lexQuotedString(lx *lexer) stateFn {
	lx.pos++
	i := strings.IndexByte(lx.src[lx.pos:], '\'')
	if i < 0 {
		lx.advanceTo(len(lx.src))
		return lx.errorf("unexpected end of file in string started at %d:%d; expected \"'\"", lx.startLine, lx.startCol)
	}
	lx.advanceTo(lx.pos + i + 1)
	lx.emit(itemString, lx.src[lx.start+1:lx.pos-1])
	return lx.afterValue()
}

// lexBlockString scans a block string: everything after '(' up to a ')' that
// stands alone at the start of a line, newlines kept (the newline before
// the ')' included), as in nats-server. CRLF line ends are turned into LF,
// so that a file saved with either gives the same value (and digest).
func lexBlockString(lx *lexer) stateFn {
	lx.pos++
	body := lx.pos
	for from := body; ; {
		i := strings.Index(lx.src[from:], "\n)")
		if i < 0 {
			lx.advanceTo(len(lx.src))
			return lx.errorf("unexpected end of file in block string started at %d:%d; expected ')' alone on a line", lx.startLine, lx.startCol)
		}
		end := from + i + 1 // the ')'
		rest := lx.src[end+1:]
		if rest == "" || rest[0] == '\n' || strings.HasPrefix(rest, "\r\n") {
			val := lx.src[body:end]
			if strings.IndexByte(val, '\r') >= 0 {
				val = strings.ReplaceAll(val, "\r\n", "\n")
			}
			lx.advanceTo(end + 1)
			lx.emit(itemString, val)
			return lx.afterValue()
		}
		from = end
	}
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
