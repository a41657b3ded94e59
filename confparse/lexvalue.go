package confparse

import (
	"fmt"
	"strings"
)

// The states that scan values: lexValue dispatches on the first byte to
// the state for maps, arrays, the three kinds of string, numbers (with
// dates and addresses) and bare words. Each ends by returning
// lx.afterValue(), the state for what may follow a value where it stands.

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
