package confparse

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden parses each testdata/golden/*.conf (includes in subfolders are
// reached through them) and compares a dump of the tree with every
// position, or the list of errors, with NAME.golden. Run with -update to
// rewrite the golden files after a deliberate change, and review the diff.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "golden", "*.conf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs: %v", err)
	}
	env := map[string]string{"SECRET_SIZE": "'s3cr3t'"}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			opts := &Options{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}
			doc, err := ParseFile(file, opts)
			var b strings.Builder
			if err != nil {
				b.WriteString(joinErrors(err) + "\n")
			} else {
				dumpNode(&b, doc.Root, "")
			}
			fmt.Fprintf(&b, "files: %s\n", strings.Join(doc.Files, " "))
			got := filepath.ToSlash(b.String())
			golden := strings.TrimSuffix(file, ".conf") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from %s (run with -update and review the diff):\n%s", file, golden, got)
			}
		})
	}
}

// dumpNode writes one line per value: key and key position, kind, value,
// source text and value position, with the marks of Entry.
func dumpNode(b *strings.Builder, n *Node, indent string) {
	switch n.Kind {
	case Map:
		for _, e := range n.Entries {
			fmt.Fprintf(b, "%s%q at %s", indent, e.Key, e.KeyPos)
			if e.UsedAsVariable {
				b.WriteString(" (used as variable)")
			}
			for _, s := range e.Shadowed {
				fmt.Fprintf(b, " (shadows %s)", s)
			}
			b.WriteString(" = ")
			dumpValue(b, e.Value, indent)
		}
	case Array:
		for i, v := range n.Items {
			fmt.Fprintf(b, "%s[%d] = ", indent, i)
			dumpValue(b, v, indent)
		}
	}
}

func dumpValue(b *strings.Builder, n *Node, indent string) {
	fmt.Fprintf(b, "%s", n.Kind)
	switch n.Kind {
	case String:
		fmt.Fprintf(b, " %q", n.Str)
	case Int:
		fmt.Fprintf(b, " %d", n.Int)
	case Float:
		fmt.Fprintf(b, " %s", strconv.FormatFloat(n.Float, 'g', -1, 64))
	case Bool:
		fmt.Fprintf(b, " %t", n.Bool)
	case Time:
		fmt.Fprintf(b, " %s", n.Time.Format("2006-01-02T15:04:05Z07:00"))
	}
	if n.Raw != "" {
		fmt.Fprintf(b, " raw %q", n.Raw)
	}
	fmt.Fprintf(b, " at %s\n", n.Pos)
	if n.Kind == Map || n.Kind == Array {
		dumpNode(b, n, indent+"  ")
	}
}
