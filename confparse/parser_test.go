package confparse

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// memFS is an in-memory file system for includes, keyed by slash path.
type memFS map[string]string

func (m memFS) read(path string) ([]byte, error) {
	if s, ok := m[filepath.ToSlash(path)]; ok {
		return []byte(s), nil
	}
	return nil, &fs.PathError{Op: "open", Path: path, Err: fs.ErrNotExist}
}

func testOptions(env map[string]string, files memFS) *Options {
	return &Options{
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		readFile:  files.read,
	}
}

// parseTest parses src as t.conf with the given environment and files.
func parseTest(src string, env map[string]string, files memFS) (*Document, error) {
	return Parse("t.conf", []byte(src), testOptions(env, files))
}

func mustParse(t *testing.T, src string, env map[string]string, files memFS) *Document {
	t.Helper()
	doc, err := parseTest(src, env, files)
	if err != nil {
		t.Fatalf("parse %q:\n%s", src, joinErrors(err))
	}
	return doc
}

func typed(t *testing.T, n *Node) string {
	t.Helper()
	b, err := n.TypedJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestValues pins each rule of the grammar by the tree it builds.
func TestValues(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"separators", "a: 1\nb = 2\nc 3\nd:4\ne=5\nf   \"six\"",
			`{"a":{"int":"1"},"b":{"int":"2"},"c":{"int":"3"},"d":{"int":"4"},"e":{"int":"5"},"f":{"string":"six"}}`},
		{"empty file", "", `{}`},
		{"only comments", "# a\n// b\n", `{}`},
		{"outer braces", "{ a: 1, b: [2] }", `{"a":{"int":"1"},"b":[{"int":"2"}]}`},
		{"empty outer braces", "{}", `{}`},
		{"sizes 1000", "a: 1k\nb: 2M\nc: 3g\nd: 1t\ne: 1p\nf: 1e",
			`{"a":{"int":"1000"},"b":{"int":"2000000"},"c":{"int":"3000000000"},"d":{"int":"1000000000000"},"e":{"int":"1000000000000000"},"f":{"int":"1000000000000000000"}}`},
		{"sizes 1024", "a: 1kb\nb: 1KI\nc: 1Kib\nd: 1mb\ne: 1gi\nf: 1TiB\ng: 1pb\nh: 1eb",
			`{"a":{"int":"1024"},"b":{"int":"1024"},"c":{"int":"1024"},"d":{"int":"1048576"},"e":{"int":"1073741824"},"f":{"int":"1099511627776"},"g":{"int":"1125899906842624"},"h":{"int":"1152921504606846976"}}`},
		{"negative and suffix", "a: -42\nb: -2k\nc: -0", `{"a":{"int":"-42"},"b":{"int":"-2000"},"c":{"int":"0"}}`},
		{"int extremes", "a: 9223372036854775807\nb: -9223372036854775808\nc: 8e",
			`{"a":{"int":"9223372036854775807"},"b":{"int":"-9223372036854775808"},"c":{"int":"8000000000000000000"}}`},
		{"floats", "a: 3.14\nb: -0.5\nc: 0.0", `{"a":{"float":"3.14"},"b":{"float":"-0.5"},"c":{"float":"0"}}`},
		{"digit strings", "a: 1e3\nb: 2s\nc: 1m30s\nd: 0x1F\ne: 10.2.3\nf: 5e7bcd\ng: 1_000",
			`{"a":{"string":"1e3"},"b":{"string":"2s"},"c":{"string":"1m30s"},"d":{"string":"0x1F"},"e":{"string":"10.2.3"},"f":{"string":"5e7bcd"},"g":{"string":"1_000"}}`},
		{"bools", "a: true\nb: FALSE\nc: Yes\nd: no\ne: ON\nf: off\ng: \"true\"\nh: 'no'",
			`{"a":{"bool":true},"b":{"bool":false},"c":{"bool":true},"d":{"bool":false},"e":{"bool":true},"f":{"bool":false},"g":{"string":"true"},"h":{"string":"no"}}`},
		{"date", "a: 2016-05-04T18:53:41Z", `{"a":{"time":"2016-05-04T18:53:41Z"}}`},
		{"addresses", "a: 127.0.0.1\nb: 127.0.0.1:4222\nc: \"::1\"\nd: nats://u:p@h:4222",
			`{"a":{"string":"127.0.0.1"},"b":{"string":"127.0.0.1:4222"},"c":{"string":"::1"},"d":{"string":"nats://u:p@h:4222"}}`},
		{"strings", `a: "x \"y\" \t \\ \x41"` + "\nb: 'raw \\n'\nc: bare?\n",
			`{"a":{"string":"x \"y\" \t \\ A"},"b":{"string":"raw \\n"},"c":{"string":"bare?"}}`},
		{"unquoted with quote and backslash", "a: it's\nb: C:\\x\\y", `{"a":{"string":"it's"},"b":{"string":"C:\\x\\y"}}`},
		{"block string", "t (\n  line 1\n  line 2\n)\nafter: 1",
			`{"after":{"int":"1"},"t":{"string":"\n  line 1\n  line 2\n"}}`},
		{"quoted keys", `"a b": 1` + "\n'c.d': 2\n\"\": 3", `{"":{"int":"3"},"a b":{"int":"1"},"c.d":{"int":"2"}}`},
		{"nested", "a { b { c: [1, 2, {d: e}] } }", `{"a":{"b":{"c":[{"int":"1"},{"int":"2"},{"d":{"string":"e"}}]}}}`},
		{"arrays", "a: []\nb: [1,]\nc: [\n  x\n  y,\n  z;\n]\nd: [[1], [2, [3]]]",
			`{"a":[],"b":[{"int":"1"}],"c":[{"string":"x"},{"string":"y"},{"string":"z"}],"d":[[{"int":"1"}],[{"int":"2"},[{"int":"3"}]]]}`},
		{"maps", "a {}\nb: { x: 1, y: 2; z: 3, }\nc = {\n  p: 1\n\n  q: 2\n}",
			`{"a":{},"b":{"x":{"int":"1"},"y":{"int":"2"},"z":{"int":"3"}},"c":{"p":{"int":"1"},"q":{"int":"2"}}}`},
		{"brace on the next line", "cluster\n{\n  port: 1\n}", `{"cluster":{"port":{"int":"1"}}}`},
		{"comments everywhere", "# c\na: 1 # c\nb { # c\n  c: 2 // c\n  // c\n}\nd: [ # c\n  1 # c\n]\n",
			`{"a":{"int":"1"},"b":{"c":{"int":"2"}},"d":[{"int":"1"}]}`},
		{"CRLF", "a: 1\r\nb {\r\n  c: x\r\n}\r\nd: [1,\r\n 2]\r\n", `{"a":{"int":"1"},"b":{"c":{"string":"x"}},"d":[{"int":"1"},{"int":"2"}]}`},
		{"duplicate replaces whole", "a { x: 1 }\na { y: 2 }\nb: 1\nb: [2]", `{"a":{"y":{"int":"2"}},"b":[{"int":"2"}]}`},
		{"keys differing in case", "Port: 1\nport: 2", `{"Port":{"int":"1"},"port":{"int":"2"}}`},
		{"bcrypt", "p: $2a$11$3kIDaCxw.Glsl1.u5nKa6eUnNDLV5HV9tIuUp7EHhMt6Nm9myW1aS",
			`{"p":{"string":"$2a$11$3kIDaCxw.Glsl1.u5nKa6eUnNDLV5HV9tIuUp7EHhMt6Nm9myW1aS"}}`},
		{"unicode", "name: \"café ✓\"\nraw: héllo", `{"name":{"string":"café ✓"},"raw":{"string":"héllo"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustParse(t, tt.src, nil, nil)
			if got := typed(t, doc.Root); got != tt.want {
				t.Errorf("parse %q:\n got %s\nwant %s", tt.src, got, tt.want)
			}
		})
	}
}

// TestErrors pins error messages and positions: the first error of the
// list, formatted.
func TestErrors(t *testing.T) {
	tests := []struct {
		name, src string
		env       map[string]string
		want      string
	}{
		{"missing brace", "cluster {\n  port: 6222\n", nil, "t.conf:3:1: unexpected end of file in map started at 1:9; expected '}'"},
		{"missing value", "# x\ntrace:\n", nil, `t.conf:3:1: expected a value for "trace" (2:1), found end of line`},
		{"key alone at EOF", "a: 1\nb", nil, `t.conf:2:2: expected a value for "b" (2:1), found end of file`},
		{"undefined variable", "x: 1\nport: $FOO", nil, `t.conf:2:7: variable "$FOO" is not defined`},
		{"defined later", "a: $B\nB: 1", nil, `t.conf:1:4: variable "$B" is not defined`},
		{"defined in a sibling block", "m { X: 1 }\na: $X", nil, `t.conf:2:4: variable "$X" is not defined`},
		{"env cycle", "a: $X", map[string]string{"X": "$Y", "Y": "[$X]"}, `t.conf:1:4: variable "$X": variable "$Y": variable "$X": reference cycle $X -> $Y -> $X`},
		{"bad env value", "a: $X", map[string]string{"X": "a b"}, `t.conf:1:4: variable "$X": environment value "a b": expected a newline, ',' or ';' after the value of "X", found 'b'`},
		{"env include", "a: $X", map[string]string{"X": "{ include /etc/passwd }"}, `t.conf:1:4: variable "$X": environment value "{ include /etc/passwd }": include is not allowed in an environment variable's value`},
		{"overflow", "a: 9223372036854775808", nil, "t.conf:1:4: integer 9223372036854775808 is out of range"},
		{"suffix overflow", "a: 10e", nil, "t.conf:1:4: integer 10e is out of range"},
		{"unknown suffix", "a: 1kbb", nil, `t.conf:1:4: unknown size suffix "kbb" in 1kbb; use k, m, g, t, p or e for powers of 1000, with b, i or ib for powers of 1024`},
		{"bad date", "a: 2016-13-04T18:53:41Z", nil, `t.conf:1:4: invalid date 2016-13-04T18:53:41Z: month out of range`},
		{"invalid escape", `a: "\q"`, nil, `t.conf:1:5: invalid escape '\q' in string; only \t \n \r \" \\ and \xHH are allowed`},
		{"too deep", "a: " + strings.Repeat("{b: ", maxDepth+1), nil, "t.conf:1:404: maps and arrays nested more than 100 deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTest(tt.src, tt.env, nil)
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("parse %q: err = %v, want an ErrorList", tt.src, err)
			}
			if got := list[0].Error(); got != tt.want {
				t.Errorf("parse %q:\n got %s\nwant %s", tt.src, got, tt.want)
			}
		})
	}
}

// TestErrorsCollected checks that errors that do not break the syntax are
// all reported, sorted, and that a syntax error still stops the file.
func TestErrorsCollected(t *testing.T) {
	_, err := parseTest("a: $X\nb: 99999999999999999999\nc { d: $Y }\ne: [1, $Z]\nf: \"\\q\"\ng: $W", nil, nil)
	got := joinErrors(err)
	want := strings.Join([]string{
		`t.conf:1:4: variable "$X" is not defined`,
		`t.conf:2:4: integer 99999999999999999999 is out of range`,
		`t.conf:3:8: variable "$Y" is not defined`,
		`t.conf:4:8: variable "$Z" is not defined`,
		`t.conf:5:5: invalid escape '\q' in string; only \t \n \r \" \\ and \xHH are allowed`,
	}, "\n")
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if s := err.Error(); !strings.HasSuffix(s, "(and 4 more errors)") {
		t.Errorf("Error() = %q, want the first error and (and 4 more errors)", s)
	}
}

func TestPositions(t *testing.T) {
	src := "port: 4222\n" +
		"cluster {\n" +
		"\tlisten = 127.0.0.1:6222\n" +
		"  routes [\n" +
		"    nats://a:1, \"nats://b:2\"\n" +
		"  ]\n" +
		"}\n" +
		"é: 'x'\n" +
		"P: 1k\n" +
		"q: $P\n"
	doc := mustParse(t, src, nil, nil)
	root := doc.Root
	cluster := root.Get("cluster").Value
	routes := cluster.Get("routes").Value
	check := func(name string, got Pos, want string) {
		t.Helper()
		if got.String() != want {
			t.Errorf("%s at %s, want %s", name, got, want)
		}
	}
	check("root", root.Pos, "t.conf:1:1")
	check("port key", root.Get("port").KeyPos, "t.conf:1:1")
	check("port value", root.Get("port").Value.Pos, "t.conf:1:7")
	check("cluster key", root.Get("cluster").KeyPos, "t.conf:2:1")
	check("cluster value", cluster.Pos, "t.conf:2:9")
	check("listen key (after a tab: byte columns)", cluster.Get("listen").KeyPos, "t.conf:3:2")
	check("listen value", cluster.Get("listen").Value.Pos, "t.conf:3:11")
	check("routes value", routes.Pos, "t.conf:4:10")
	check("routes[0]", routes.Items[0].Pos, "t.conf:5:5")
	check("routes[1]", routes.Items[1].Pos, "t.conf:5:17")
	check("é value (after 2 bytes)", root.Get("é").Value.Pos, "t.conf:8:5")
	check("q value from $P", root.Get("q").Value.Pos, "t.conf:10:4")
	if n := root.Get("q").Value; n.Raw != "1k" || n.Int != 1000 {
		t.Errorf("q = %+v, want Raw 1k, Int 1000 (the definition's)", n)
	}
	if !root.Get("P").UsedAsVariable || root.Get("port").UsedAsVariable {
		t.Error("UsedAsVariable: want P marked and port not")
	}
	if got := root.Get("é").Value.Raw; got != "'x'" {
		t.Errorf("Raw of a quoted string = %q, want the quotes kept", got)
	}
}

func TestDuplicates(t *testing.T) {
	doc := mustParse(t, "a: 1\nb: 2\na { x: 1 }\nA: 3\na: [4]\n", nil, nil)
	root := doc.Root
	var keys []string
	for _, e := range root.Entries {
		keys = append(keys, e.Key)
	}
	if got := strings.Join(keys, ","); got != "a,b,A" {
		t.Errorf("keys %s, want a,b,A (a keeps its first place)", got)
	}
	a := root.Get("a")
	if a.KeyPos.Line != 5 || a.Value.Kind != Array {
		t.Errorf("a at %s kind %s, want line 5, array", a.KeyPos, a.Value.Kind)
	}
	if got := fmt.Sprint(a.Shadowed); got != "[t.conf:1:1 t.conf:3:1]" {
		t.Errorf("Shadowed %s", got)
	}
	if e := root.Lookup("A"); e == nil || e.Key != "A" {
		t.Errorf("Lookup(A) = %v, want the entry A", e)
	}
	if e := root.Lookup("B"); e == nil || e.Key != "b" {
		t.Errorf("Lookup(B) = %v, want b", e)
	}
	if root.Get("B") != nil || root.Get("missing") != nil || root.Get("a").Value.Get("x") != nil {
		t.Error("Get must be exact and return nil for a non-map")
	}
	var nilNode *Node
	if nilNode.Get("a") != nil || nilNode.Lookup("a") != nil {
		t.Error("Get and Lookup on a nil node must return nil")
	}
}

func TestVariables(t *testing.T) {
	env := map[string]string{
		"HOME": "/home/natsd", "SIZE": "2kb", "LIST": "[1, two]", "MAP": "{a: 1, b: $SIZE}",
		"EMPTY": "", "QUOTED": `"a b"`, "REF": "$SIZE", "COMMENTED": "5 # five",
	}
	tests := []struct{ name, src, want string }{
		{"from the file", "P: 4222\nport: $P", `{"P":{"int":"4222"},"port":{"int":"4222"}}`},
		{"innermost first", "X: 1\nm { X: 2, a: $X }\nb: $X", `{"X":{"int":"1"},"b":{"int":"1"},"m":{"X":{"int":"2"},"a":{"int":"2"}}}`},
		{"enclosing map", "X: 1\nm { n { a: $X } }", `{"X":{"int":"1"},"m":{"n":{"a":{"int":"1"}}}}`},
		{"inside arrays", "X: 1\na: [$X, {b: $X}]", `{"X":{"int":"1"},"a":[{"int":"1"},{"b":{"int":"1"}}]}`},
		{"latest definition", "X: 1\na: $X\nX: 2\nb: $X", `{"X":{"int":"2"},"a":{"int":"1"},"b":{"int":"2"}}`},
		{"map copied", "P { u: a }\nq: $P", `{"P":{"u":{"string":"a"}},"q":{"u":{"string":"a"}}}`},
		{"file before env", "HOME: here\nh: $HOME", `{"HOME":{"string":"here"},"h":{"string":"here"}}`},
		{"env string", "h: $HOME", `{"h":{"string":"/home/natsd"}}`},
		{"env parsed", "s: $SIZE", `{"s":{"int":"2048"}}`},
		{"env array", "l: $LIST", `{"l":[{"int":"1"},{"string":"two"}]}`},
		{"env map referencing env", "m: $MAP", `{"m":{"a":{"int":"1"},"b":{"int":"2048"}}}`},
		{"env empty", "e: $EMPTY", `{"e":{"string":""}}`},
		{"env quoted", "q: $QUOTED", `{"q":{"string":"a b"}}`},
		{"env reference", "r: $REF", `{"r":{"int":"2048"}}`},
		{"env comment", "c: $COMMENTED", `{"c":{"int":"5"}}`},
		{"quoted is not a variable", `a: "$HOME"`, `{"a":{"string":"$HOME"}}`},
		{"bcrypt", "a: $2a$10$x", `{"a":{"string":"$2a$10$x"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := mustParse(t, tt.src, env, nil)
			if got := typed(t, doc.Root); got != tt.want {
				t.Errorf("parse %q:\n got %s\nwant %s", tt.src, got, tt.want)
			}
		})
	}

	t.Run("copy is positioned", func(t *testing.T) {
		doc := mustParse(t, "P { u: a }\nq: $P\nm: $MAP", env, nil)
		p, q, m := doc.Root.Get("P").Value, doc.Root.Get("q").Value, doc.Root.Get("m").Value
		if p == q {
			t.Error("variable value is the definition's node, want a copy")
		}
		if q.Pos.String() != "t.conf:2:4" || q.Entries[0].KeyPos.String() != "t.conf:1:5" {
			t.Errorf("copy at %s, its key at %s; want the reference 2:4 and the definition 1:5", q.Pos, q.Entries[0].KeyPos)
		}
		if m.Entries[1].Value.Pos.String() != "t.conf:3:4" {
			t.Errorf("env value child at %s, want the reference 3:4", m.Entries[1].Value.Pos)
		}
	})

	t.Run("expansion is bounded", func(t *testing.T) {
		// Each line doubles the size of the previous one: 2^40 values.
		var b strings.Builder
		b.WriteString("v0: [1, 1]\n")
		for i := 1; i <= 40; i++ {
			fmt.Fprintf(&b, "v%d: [$v%d, $v%d]\n", i, i-1, i-1)
		}
		start := time.Now()
		_, err := parseTest(b.String(), nil, nil)
		if err == nil || !strings.Contains(err.Error(), "variables expand to more than") {
			t.Fatalf("err = %v, want the expansion limit", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("took %v", d)
		}
	})
}

func TestIncludes(t *testing.T) {
	files := memFS{
		"dir/main.conf":       "port: 1\ninclude sub/part.conf\nINCLUDE \"auth.conf\"\nafter: $U\ninclude: not_a_directive\n",
		"dir/sub/part.conf":   "cluster { include 'deeper.conf' }\nport: 2\n",
		"dir/sub/deeper.conf": "name: c1\n",
		"dir/auth.conf":       "U: bob\nauthorization { user: $U }\n",
		"dir/bad.conf":        "include nested_bad.conf\n",
		"dir/nested_bad.conf": "a: 1\nb: $NOPE\n",
		"dir/cyc_a.conf":      "include cyc_b.conf\n",
		"dir/cyc_b.conf":      "include ./cyc_a.conf\n",
		"dir/self.conf":       "x: 1\ninclude self.conf\n",
		"dir/outer_var.conf":  "X: 1\ninclude uses_x.conf\n",
		"dir/uses_x.conf":     "y: $X\n",
		"dir/missing.conf":    "a: 1\ninclude nothere.conf\nb: $NOPE\n",
	}
	opts := testOptions(nil, files)
	parse := func(name string) (*Document, error) {
		return Parse(name, []byte(files[name]), opts)
	}

	doc, err := parse("dir/main.conf")
	if err != nil {
		t.Fatal(joinErrors(err))
	}
	want := `{"U":{"string":"bob"},"after":{"string":"bob"},"authorization":{"user":{"string":"bob"}},"cluster":{"name":{"string":"c1"}},"include":{"string":"not_a_directive"},"port":{"int":"2"}}`
	if got := typed(t, doc.Root); got != want {
		t.Errorf("merged tree:\n got %s\nwant %s", got, want)
	}
	if got := strings.Join(doc.Files, " "); got != "dir/main.conf dir/sub/part.conf dir/sub/deeper.conf dir/auth.conf" {
		t.Errorf("Files = %s", got)
	}
	if e := doc.Root.Get("port"); e.KeyPos.String() != "dir/sub/part.conf:2:1" || fmt.Sprint(e.Shadowed) != "[dir/main.conf:1:1]" {
		t.Errorf("port from the include at %s shadowing %v", e.KeyPos, e.Shadowed)
	}
	if name := doc.Root.Get("cluster").Value.Get("name"); name.Value.Pos.String() != "dir/sub/deeper.conf:1:7" {
		t.Errorf("included value at %s", name.Value.Pos)
	}

	errTests := []struct{ file, want string }{
		{"dir/bad.conf", `dir/nested_bad.conf:2:4: variable "$NOPE" is not defined (included from dir/bad.conf:1:1)`},
		{"dir/cyc_a.conf", `dir/cyc_b.conf:1:9: include cycle: dir/cyc_a.conf -> dir/cyc_b.conf -> dir/cyc_a.conf (included from dir/cyc_a.conf:1:1)`},
		{"dir/self.conf", `dir/self.conf:2:9: include cycle: dir/self.conf -> dir/self.conf`},
		{"dir/outer_var.conf", `dir/uses_x.conf:1:4: variable "$X" is not defined (included from dir/outer_var.conf:2:1)`},
		{"dir/missing.conf", "dir/missing.conf:2:9: include file \"nothere.conf\": open dir/nothere.conf: file does not exist\n" +
			`dir/missing.conf:3:4: variable "$NOPE" is not defined`},
	}
	for _, tt := range errTests {
		doc, err := parse(tt.file)
		if got := joinErrors(err); err == nil || got != tt.want {
			t.Errorf("%s:\n got %v\nwant %s", tt.file, got, tt.want)
		}
		if doc == nil || doc.Files[0] != tt.file {
			t.Errorf("%s: want a Document with Files even on error, got %+v", tt.file, doc)
		}
	}
	_, err = parse("dir/missing.conf")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false for a missing include")
	}
	if doc, _ := parse("dir/missing.conf"); strings.Join(doc.Files, " ") != "dir/missing.conf dir/nothere.conf" {
		t.Errorf("Files %v, want the missing include listed for watching", doc.Files)
	}
}

func TestDigest(t *testing.T) {
	base := mustParse(t, "a: 1k\nb { c: [x, 'y'] }\nd: true", nil, nil).Digest()
	same := []string{
		"# comment\nb = { c = [\"x\", y] }   // c\nd: yes\na: 1000\n",
		"{ a: 1000, b { c: [x; y] }, d: on }",
		"a: 1k\r\nb {\r\n  c: [x, 'y']\r\n}\r\nd: true\r\n",
		"a: 2\nb { c: [x, 'y'] }\nd: true\na: 1k",
	}
	for _, src := range same {
		if got := mustParse(t, src, nil, nil).Digest(); got != base {
			t.Errorf("digest of %q differs from the equal config's", src)
		}
	}
	differ := []string{
		"a: 1001\nb { c: [x, 'y'] }\nd: true",
		"a: \"1k\"\nb { c: [x, 'y'] }\nd: true",
		"a: 1k\nb { c: [y, 'x'] }\nd: true",
		"a: 1k\nb { c: [x, 'y'] }\nd: true\ne: {}",
		"a: 1k\nb { c: [x, 'y'] }\nD: true",
		"a: 1k\nb { c: [x, \"y\\xff\"] }\nd: true",
	}
	for _, src := range differ {
		if got := mustParse(t, src, nil, nil).Digest(); got == base {
			t.Errorf("digest of %q equals the base config's", src)
		}
	}
	if len(base) != 64 {
		t.Errorf("digest %q is not hex SHA-256", base)
	}
	// Invalid UTF-8 differs from its replacement character in the digest,
	// though TypedJSON shows both as U+FFFD.
	a := mustParse(t, "a: \"\xff\"", nil, nil)
	b := mustParse(t, "a: \"\uFFFD\"", nil, nil)
	if a.Digest() == b.Digest() || typed(t, a.Root) != typed(t, b.Root) {
		t.Error("want equal TypedJSON but different digests for \\xff and U+FFFD")
	}
	var nilDoc *Document
	if nilDoc.Digest() != (&Document{Root: &Node{Kind: Map}}).Digest() {
		t.Error("nil document should digest as an empty map")
	}
}

func TestTypedJSONEscapes(t *testing.T) {
	n := &Node{Kind: Map, Entries: []*Entry{
		{Key: "k\"\n", Value: &Node{Kind: String, Str: "\x01\t\u2028<&>é\xff"}},
		{Key: "f", Value: &Node{Kind: Float, Float: 1e21}},
		{Key: "t", Value: &Node{Kind: Time, Time: time.Date(2020, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600))}},
	}}
	want := `{"f":{"float":"1e+21"},"k\"\n":{"string":"\u0001\t\u2028<&>é�"},"t":{"time":"2020-01-02T02:04:05Z"}}`
	if got := typed(t, n); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if _, err := (&Node{}).TypedJSON(); err == nil {
		t.Error("TypedJSON of a zero node should fail")
	}
	if _, err := (&Node{Kind: Array, Items: []*Node{nil}}).TypedJSON(); err == nil {
		t.Error("TypedJSON with a nil item should fail")
	}
	broken := &Node{Kind: Map, Entries: []*Entry{{Key: "b", Value: &Node{Kind: Int}}, nil, {Key: "a"}}}
	if _, err := broken.TypedJSON(); err == nil {
		t.Error("TypedJSON with a nil entry should fail")
	}
	if d := (&Document{Root: broken}).Digest(); len(d) != 64 {
		t.Error("Digest of a hand-built tree with nil parts should still work")
	}
}

func TestErrorList(t *testing.T) {
	var l ErrorList
	if l.Err() != nil {
		t.Fatal("empty list: Err() must be nil")
	}
	l.Add(Pos{File: "b.conf", Line: 1, Col: 1}, "in b")
	l.Add(Pos{File: "a.conf", Line: 9, Col: 1}, "late in a")
	l = append(l, &Error{Pos: Pos{File: "inc.conf", Line: 1, Col: 1}, Msg: "in include", Includes: []Pos{{File: "a.conf", Line: 2, Col: 1}}})
	l.Add(Pos{File: "a.conf", Line: 2, Col: 5}, "after the include directive")
	l.Sort()
	var got []string
	for _, e := range l {
		got = append(got, e.Error())
	}
	if strings.Join(got, "\n") != strings.Join([]string{
		"inc.conf:1:1: in include (included from a.conf:2:1)",
		"a.conf:2:5: after the include directive",
		"a.conf:9:1: late in a",
		"b.conf:1:1: in b",
	}, "\n") {
		t.Errorf("sorted:\n%s", strings.Join(got, "\n"))
	}
	if s := l.Err().Error(); s != "inc.conf:1:1: in include (included from a.conf:2:1) (and 3 more errors)" {
		t.Errorf("Error() = %q", s)
	}
	e := &Error{Pos: Pos{File: "c.conf", Line: 1, Col: 2}, Msg: "m", Includes: []Pos{{File: "a.conf", Line: 3, Col: 1}, {File: "b.conf", Line: 2, Col: 1}}}
	if s := e.Error(); s != "c.conf:1:2: m (included from b.conf:2:1, a.conf:3:1)" {
		t.Errorf("nested include chain: %q", s)
	}
	if s := (Pos{File: "x.conf"}).String(); s != "x.conf" {
		t.Errorf("Pos without line = %q", s)
	}
}

func TestKindString(t *testing.T) {
	want := map[Kind]string{Map: "map", Array: "array", String: "string", Int: "int", Float: "float", Bool: "bool", Time: "time", 0: "invalid", 200: "invalid"}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("Kind(%d).String() = %q, want %q", k, k.String(), s)
		}
	}
}

func TestParseFile(t *testing.T) {
	dir := t.TempDir()
	main := filepath.Join(dir, "main.conf")
	writeFile(t, main, "include inc.conf\na: $B")
	writeFile(t, filepath.Join(dir, "inc.conf"), "B: 2")
	doc, err := ParseFile(main, nil)
	if err != nil {
		t.Fatal(joinErrors(err))
	}
	if got := typed(t, doc.Root); got != `{"B":{"int":"2"},"a":{"int":"2"}}` {
		t.Errorf("tree %s", got)
	}
	if len(doc.Files) != 2 || doc.Files[1] != filepath.Join(dir, "inc.conf") {
		t.Errorf("Files %v", doc.Files)
	}

	_, err = ParseFile(filepath.Join(dir, "none.conf"), nil)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "none.conf: open ") {
		t.Errorf("missing main file: %v", err)
	}
	_, err = ParseFile(dir, nil)
	if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Errorf("directory as config: %v", err)
	}
	t.Setenv("CONFPARSE_TEST_VAR", "7")
	doc, err = Parse("x.conf", []byte("a: $CONFPARSE_TEST_VAR"), nil)
	if err != nil || doc.Root.Get("a").Value.Int != 7 {
		t.Errorf("nil Options should use os.LookupEnv: %v", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
