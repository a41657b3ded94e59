package confparse

import (
	"fmt"
	"strings"
	"testing"
)

// lexAll returns the items of src, one string each: type, position and
// value (the decoded text, or the source text for numbers and booleans).
func lexAll(src string) []string {
	lx := newLexer(src)
	var out []string
	for i := 0; i < 1000; i++ {
		it := lx.nextItem()
		v := it.val
		switch it.typ {
		case itemInt, itemFloat, itemBool, itemTime:
			v = it.raw
		}
		s := fmt.Sprintf("%s@%d:%d", it.typ, it.line, it.col)
		if v != "" || it.typ == itemString || it.typ == itemKey {
			s += fmt.Sprintf(" %q", v)
		}
		out = append(out, s)
		if it.typ == itemEOF || it.typ == itemError {
			return out
		}
	}
	return append(out, "TOO MANY ITEMS")
}

func TestLexer(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{"colon", "a: 1", []string{`key@1:1 "a"`, `int@1:4 "1"`, `EOF@1:5`}},
		{"equals", "a = 1", []string{`key@1:1 "a"`, `int@1:5 "1"`, `EOF@1:6`}},
		{"space", "a 1", []string{`key@1:1 "a"`, `int@1:3 "1"`, `EOF@1:4`}},
		{"no space", "a:1\nb=2", []string{`key@1:1 "a"`, `int@1:3 "1"`, `key@2:1 "b"`, `int@2:3 "2"`, `EOF@2:4`}},
		{"terminators on one line", "a: 1; b: 2, c: 3", []string{
			`key@1:1 "a"`, `int@1:4 "1"`, `key@1:7 "b"`, `int@1:10 "2"`, `key@1:13 "c"`, `int@1:16 "3"`, `EOF@1:17`}},
		{"value on the line after a bare key", "cluster\n{\n}", []string{
			`key@1:1 "cluster"`, `{@2:1`, `}@3:1`, `EOF@3:2`}},
		{"key ends at a bracket", "c{}\nr[]", []string{`key@1:1 "c"`, `{@1:2`, `}@1:3`, `key@2:1 "r"`, `[@2:2`, `]@2:3`, `EOF@2:4`}},
		{"quoted keys", `"a b": 1` + "\n'c:d' = 2", []string{`key@1:1 "a b"`, `int@1:8 "1"`, `key@2:1 "c:d"`, `int@2:9 "2"`, `EOF@2:10`}},
		{"dotted key", "foo.bar: x", []string{`key@1:1 "foo.bar"`, `string@1:10 "x"`, `EOF@1:11`}},
		{"comments", "# one\n// two\na: 1 # three\nb: 2 // four\n", []string{
			`key@3:1 "a"`, `int@3:4 "1"`, `key@4:1 "b"`, `int@4:4 "2"`, `EOF@5:1`}},
		{"hash inside a value", "a: x#y", []string{`key@1:1 "a"`, `string@1:4 "x#y"`, `EOF@1:7`}},
		{"double-quoted escapes", `a: "t\tn\nr\rq\"b\\x\x41"`, []string{`key@1:1 "a"`, "string@1:4 \"t\\tn\\nr\\rq\\\"b\\\\xA\"", `EOF@1:26`}},
		{"single-quoted raw", `a: 'x\ny'`, []string{`key@1:1 "a"`, `string@1:4 "x\\ny"`, `EOF@1:10`}},
		{"quoted string spans lines", "a: \"x\ny\"\nb: 1", []string{`key@1:1 "a"`, `string@1:4 "x\ny"`, `key@3:1 "b"`, `int@3:4 "1"`, `EOF@3:5`}},
		{"block string", "t (\n  x )\n)\nb: 1", []string{`key@1:1 "t"`, `string@1:3 "\n  x )\n"`, `key@4:1 "b"`, `int@4:4 "1"`, `EOF@4:5`}},
		{"block string CRLF", "t (\r\nx\r\n)\r\nb: 1", []string{`key@1:1 "t"`, `string@1:3 "\nx\n"`, `key@4:1 "b"`, `int@4:4 "1"`, `EOF@4:5`}},
		{"block string at EOF", "t (\nx\n)", []string{`key@1:1 "t"`, `string@1:3 "\nx\n"`, `EOF@3:2`}},
		{"numbers", "a: [1, -2, 3.5, -0.5, 2k, 1KiB, 1e3, 2s, 0x1F]", []string{
			`key@1:1 "a"`, `[@1:4`, `int@1:5 "1"`, `int@1:8 "-2"`, `float@1:12 "3.5"`, `float@1:17 "-0.5"`,
			`int@1:23 "2k"`, `int@1:27 "1KiB"`, `string@1:33 "1e3"`, `string@1:38 "2s"`, `string@1:42 "0x1F"`, `]@1:46`, `EOF@1:47`}},
		{"number before ] and }", "a: [1]\nb: {c: 2}", []string{
			`key@1:1 "a"`, `[@1:4`, `int@1:5 "1"`, `]@1:6`, `key@2:1 "b"`, `{@2:4`, `key@2:5 "c"`, `int@2:8 "2"`, `}@2:9`, `EOF@2:10`}},
		{"addresses", "a: 127.0.0.1\nb: 10.0.0.1:4222\nc: 127.0.0.1:-1\nd: 10.2.3", []string{
			`key@1:1 "a"`, `string@1:4 "127.0.0.1"`, `key@2:1 "b"`, `string@2:4 "10.0.0.1:4222"`,
			`key@3:1 "c"`, `string@3:4 "127.0.0.1:-1"`, `key@4:1 "d"`, `string@4:4 "10.2.3"`, `EOF@4:10`}},
		{"url and host:port", "a: nats://h:4222\nb: localhost:4222", []string{
			`key@1:1 "a"`, `string@1:4 "nats://h:4222"`, `key@2:1 "b"`, `string@2:4 "localhost:4222"`, `EOF@2:18`}},
		{"date", "d: 2016-05-04T18:53:41Z", []string{`key@1:1 "d"`, `time@1:4 "2016-05-04T18:53:41Z"`, `EOF@1:24`}},
		{"bools", "a: [true, FALSE, Yes, no, on, OFF, \"true\", truex]", []string{
			`key@1:1 "a"`, `[@1:4`, `bool@1:5 "true"`, `bool@1:11 "FALSE"`, `bool@1:18 "Yes"`, `bool@1:23 "no"`,
			`bool@1:27 "on"`, `bool@1:31 "OFF"`, `string@1:36 "true"`, `string@1:44 "truex"`, `]@1:49`, `EOF@1:50`}},
		{"variables", "a: $X\nb: \"$X\"\nc: $2a$11$abc", []string{
			`key@1:1 "a"`, `variable@1:4 "X"`, `key@2:1 "b"`, `string@2:4 "$X"`, `key@3:1 "c"`, `string@3:4 "$2a$11$abc"`, `EOF@3:14`}},
		{"include forms", "include a.conf\nINCLUDE \"b c.conf\"\ninclude\t'd.conf' # x\n", []string{
			`include@1:1`, `string@1:9 "a.conf"`, `include@2:1`, `string@2:9 "b c.conf"`, `include@3:1`, `string@3:9 "d.conf"`, `EOF@4:1`}},
		{"include as a key", "include: x\ninclude = y\nincludes z", []string{
			`key@1:1 "include"`, `string@1:10 "x"`, `key@2:1 "include"`, `string@2:11 "y"`, `key@3:1 "includes"`, `string@3:10 "z"`, `EOF@3:11`}},
		{"include in a map", "m { include x.conf }", []string{`key@1:1 "m"`, `{@1:3`, `include@1:5`, `string@1:13 "x.conf"`, `}@1:20`, `EOF@1:21`}},
		{"outer braces", "{\n  a: 1\n}\n", []string{`key@2:3 "a"`, `int@2:6 "1"`, `EOF@4:1`}},
		{"outer braces one line", "{a: 1, b: 2}", []string{`key@1:2 "a"`, `int@1:5 "1"`, `key@1:8 "b"`, `int@1:11 "2"`, `EOF@1:13`}},
		{"arrays", "a: [\n  1,\n  2\n  3; 4,\n]", []string{
			`key@1:1 "a"`, `[@1:4`, `int@2:3 "1"`, `int@3:3 "2"`, `int@4:3 "3"`, `int@4:6 "4"`, `]@5:1`, `EOF@5:2`}},
		{"array with comments", "a: [ # c\n x # d\n // e\n]", []string{`key@1:1 "a"`, `[@1:4`, `string@2:2 "x"`, `]@4:1`, `EOF@4:2`}},
		{"unquoted ends at , ; ] }", "a: [x,y]\nb: {c: d}", []string{
			`key@1:1 "a"`, `[@1:4`, `string@1:5 "x"`, `string@1:7 "y"`, `]@1:8`, `key@2:1 "b"`, `{@2:4`, `key@2:5 "c"`, `string@2:8 "d"`, `}@2:9`, `EOF@2:10`}},
		{"CRLF", "a: 1\r\nb: x\r\n", []string{`key@1:1 "a"`, `int@1:4 "1"`, `key@2:1 "b"`, `string@2:4 "x"`, `EOF@3:1`}},
		{"BOM", "\xef\xbb\xbfa: 1", []string{`key@1:1 "a"`, `int@1:4 "1"`, `EOF@1:5`}},
		{"byte columns", "é: x\n\tb: y", []string{`key@1:1 "é"`, `string@1:5 "x"`, `key@2:2 "b"`, `string@2:5 "y"`, `EOF@2:6`}},

		// Errors, with their positions.
		{"missing value at line end", "# c\ntrace:\n", []string{`key@2:1 "trace"`, `error@3:1 "expected a value for \"trace\" (2:1), found end of line"`}},
		{"missing value at EOF", "a", []string{`key@1:1 "a"`, `error@1:2 "expected a value for \"a\" (1:1), found end of file"`}},
		{"two bare values", "server_name: abc def", []string{`key@1:1 "server_name"`, `string@1:14 "abc"`,
			`error@1:18 "expected a newline, ',' or ';' after the value of \"server_name\", found 'd'"`}},
		{"unterminated map", "cluster {\n  port: 6222\n", []string{`key@1:1 "cluster"`, `{@1:9`, `key@2:3 "port"`, `int@2:9 "6222"`,
			`error@3:1 "unexpected end of file in map started at 1:9; expected '}'"`}},
		{"unterminated array", "a: [1,", []string{`key@1:1 "a"`, `[@1:4`, `int@1:5 "1"`, `error@1:7 "unexpected end of file in array started at 1:4; expected ']'"`}},
		{"unterminated outer braces", "{ a: 1", []string{`key@1:3 "a"`, `int@1:6 "1"`, `error@1:7 "unexpected end of file in the block around the file started at 1:1; expected '}'"`}},
		{"text after outer braces", "{ a: 1 }\nb: 2", []string{`key@1:3 "a"`, `int@1:6 "1"`, `error@2:1 "unexpected 'b' after the '}' that closes the braces around the file"`}},
		{"unterminated string", "a: \"never ends\nb: 2\n", []string{`key@1:1 "a"`, `error@3:1 "unexpected end of file in string started at 1:4; expected '\"'"`}},
		{"unterminated raw string", "a: 'x", []string{`key@1:1 "a"`, `error@1:6 "unexpected end of file in string started at 1:4; expected \"'\""`}},
		{"unterminated block string", "a (\nx)\n", []string{`key@1:1 "a"`, `error@3:1 "unexpected end of file in block string started at 1:3; expected ')' alone on a line"`}},
		{"unterminated quoted key", "\"a: 1", []string{`error@1:6 "unexpected end of file in quoted key started at 1:1; expected '\"'"`}},
		{"invalid escape", `name: "caf\u00e9"`, []string{`key@1:1 "name"`, `error@1:11 "invalid escape '\\u' in string; only \\t \\n \\r \\\" \\\\ and \\xHH are allowed"`}},
		{"bad hex escape", `a: "\xZ1"`, []string{`key@1:1 "a"`, `error@1:5 "\\x must be followed by two hexadecimal digits"`}},
		{"malformed address", "c {\n  listen: 266.0.0.1:foo\n}", []string{`key@1:1 "c"`, `{@1:3`, `key@2:3 "listen"`,
			`error@2:21 "unexpected 'f' in address \"266.0.0.1:\"; quote the value to make it a string"`}},
		{"float then text", "a: 1.5k", []string{`key@1:1 "a"`, `error@1:7 "unexpected 'k' after the number 1.5; quote the value to make it a string"`}},
		{"dot start", "a: ./x", []string{`key@1:1 "a"`, `error@1:4 "an unquoted value cannot start with '.'; quote \"./x\" to make it a string"`}},
		{"dot float", "a: .5", []string{`key@1:1 "a"`, `error@1:4 "a number must start with a digit (write 0.5)"`}},
		{"minus alone", "a: -x", []string{`key@1:1 "a"`, `error@1:4 "expected a digit after '-'; quote the value to make it a string"`}},
		{"short date", "a: 2016-05-04", []string{`key@1:1 "a"`, `error@1:14 "expected 'T' in date (ISO 8601 Zulu form YYYY-MM-DDTHH:MM:SSZ), found end of file"`}},
		{"dash in number", "a: 10-20", []string{`key@1:1 "a"`,
			`error@1:6 "unexpected '-' in \"10-20\": a date must be in ISO 8601 Zulu form YYYY-MM-DDTHH:MM:SSZ; quote the value to make it a string"`}},
		{"empty value", "a: ,", []string{`key@1:1 "a"`, `error@1:4 "expected a value for \"a\" (1:1), found ','"`}},
		{"separator as key", ": 1", []string{`error@1:1 "expected a key, found ':'"`}},
		{"stray close", "}", []string{`error@1:1 "expected a key, found '}'"`}},
		{"double comma in array", "a: [1,,2]", []string{`key@1:1 "a"`, `[@1:4`, `int@1:5 "1"`, `error@1:7 "unexpected ',' in array; expected a value or ']'"`}},
		{"bad array separator", "a: [1 2]", []string{`key@1:1 "a"`, `[@1:4`, `int@1:5 "1"`, `error@1:7 "expected ',' or ']' after an array element, found '2'"`}},
		{"bad map separator", "a { b: 1 c: 2 }", []string{`key@1:1 "a"`, `{@1:3`, `key@1:5 "b"`, `int@1:8 "1"`,
			`error@1:10 "expected ',', ';', a newline or '}' after the value of \"b\", found 'c'"`}},
		{"key restored after nested map", "a { b: 1 } x", []string{`key@1:1 "a"`, `{@1:3`, `key@1:5 "b"`, `int@1:8 "1"`, `}@1:10`,
			`error@1:12 "expected a newline, ',' or ';' after the value of \"a\", found 'x'"`}},
		{"include without file", "include\nx: 1", []string{`include@1:1`, `error@2:1 "expected a file name after include, found end of line"`}},
		{"include of a map", "include {", []string{`include@1:1`, `error@1:9 "expected a file name after include, found '{'"`}},
		{"dollar alone", "a: $", []string{`key@1:1 "a"`, `error@1:4 "'$' must be followed by a variable name"`}},
		{"NUL", "a: 1\nb: x\x00y", []string{`error@2:5 "NUL byte in input; a configuration file must be text"`}},
		{"too deep", "a: " + strings.Repeat("[", maxDepth+1), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := lexAll(tt.src)
			if tt.want == nil { // only the last item is checked
				if last := got[len(got)-1]; !strings.HasPrefix(last, "error@") {
					t.Errorf("last item %s, want an error", last)
				}
				return
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("lex(%q):\ngot:\n\t%s\nwant:\n\t%s", tt.src, strings.Join(got, "\n\t"), strings.Join(tt.want, "\n\t"))
			}
		})
	}
}

// TestLexerErrorIsSticky checks that the lexer keeps returning its error,
// so that a parser asking again cannot loop or read past it.
func TestLexerErrorIsSticky(t *testing.T) {
	lx := newLexer("a: \"x")
	lx.nextItem()
	first := lx.nextItem()
	for i := 0; i < 3; i++ {
		if it := lx.nextItem(); it != first {
			t.Fatalf("after the error got %v, want %v again", it, first)
		}
	}
}
