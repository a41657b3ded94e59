package confparse

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// fuzzFiles is what includes can reach while fuzzing: never the real file
// system, so that "include /dev/zero" or a huge file cannot stall a run.
var fuzzFiles = memFS{
	"inc.conf":    "a: 1\nm { b: [x, $HOME] }\n",
	"self.conf":   "include self.conf\n",
	"bad.conf":    "a: {",
	"vars.conf":   "V: 2kb\nw: $V\n",
	"deep/x.conf": "include ../inc.conf\n",
}

var fuzzEnv = map[string]string{
	"HOME": "/home/natsd", "SIZE": "2kb", "SELF": "$SELF", "MAP": "{a: $SIZE, b: [1, 2]}", "BAD": "a b",
}

// addCorpusSeeds adds the shared corpus's .conf files as seeds.
func addCorpusSeeds(f *testing.F) {
	dir, ok := corpusDir(f)
	if !ok {
		return
	}
	for _, rel := range corpusFiles(f, dir) {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(rel)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
}

var extraSeeds = []string{
	"include inc.conf\nx: $a\n",
	"include self.conf\n",
	"include deep/x.conf\ninclude bad.conf\ninclude vars.conf\ny: $V",
	"a: $SIZE\nb: $MAP\nc: $SELF\nd: $BAD\n",
	"{ a: [1, 2k, 3.5, 2016-05-04T18:53:41Z, true, \"x\\x41\", 'y', (\nblock\n)\n] }",
	"v0: [1, 1]\nv1: [$v0, $v0]\nv2: [$v1, $v1]\n",
	"a: 127.0.0.1:4222\r\nb { c: $a }\r\n",
}

// FuzzParse checks that no input makes Parse panic or hang, that every
// error has a position, and that a successful parse gives a tree whose
// TypedJSON is valid JSON, whose positions are all set, and whose digest
// is the same on a second parse.
func FuzzParse(f *testing.F) {
	addCorpusSeeds(f)
	for _, s := range extraSeeds {
		f.Add([]byte(s))
	}
	opts := testOptions(fuzzEnv, fuzzFiles)
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse("fuzz.conf", data, opts)
		if doc == nil {
			t.Fatal("nil Document")
		}
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T %v is not a non-empty ErrorList", err, err)
			}
			for _, e := range list {
				if e.Pos.Line < 1 || e.Pos.Col < 1 || e.Msg == "" {
					t.Fatalf("error without a position or message: %q", e.Error())
				}
			}
			return
		}
		if doc.Root == nil || doc.Root.Kind != Map {
			t.Fatal("root is not a map")
		}
		js, err := doc.Root.TypedJSON()
		if err != nil {
			t.Fatalf("TypedJSON: %v", err)
		}
		if !json.Valid(js) {
			t.Fatalf("TypedJSON is not valid JSON: %s", js)
		}
		checkPositions(t, doc.Root)
		d := doc.Digest()
		if d != doc.Digest() {
			t.Fatal("Digest differs on the same document")
		}
		again, err := Parse("fuzz.conf", data, opts)
		if err != nil || again.Digest() != d {
			t.Fatalf("second parse: err %v, digest equal %v", err, err == nil && again.Digest() == d)
		}
	})
}

func checkPositions(t *testing.T, n *Node) {
	if n.Pos.Line < 1 || n.Pos.Col < 1 {
		t.Fatalf("%s value without a position: %+v", n.Kind, n.Pos)
	}
	for _, c := range n.Items {
		checkPositions(t, c)
	}
	for _, e := range n.Entries {
		if e.KeyPos.Line < 1 || e.KeyPos.Col < 1 {
			t.Fatalf("key %q without a position", e.Key)
		}
		checkPositions(t, e.Value)
	}
}

// FuzzLex checks the lexer on its own: it ends with EOF or an error, every
// item but the last consumes input (so at most len+1 items), and items
// come in source order.
func FuzzLex(f *testing.F) {
	addCorpusSeeds(f)
	for _, s := range extraSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lx := newLexer(string(data))
		prevLine, prevCol := 0, 0
		for n := 0; ; n++ {
			if n > len(data)+1 {
				t.Fatalf("more than %d items from %d bytes", n, len(data))
			}
			it := lx.nextItem()
			if it.line < 1 || it.col < 1 {
				t.Fatalf("item %v without a position", it)
			}
			if it.line < prevLine || it.line == prevLine && it.col < prevCol {
				t.Fatalf("item %v at %d:%d comes before the previous one at %d:%d", it.typ, it.line, it.col, prevLine, prevCol)
			}
			prevLine, prevCol = it.line, it.col
			if it.typ == itemEOF || it.typ == itemError {
				return
			}
		}
	})
}
