package confparse

import (
	"os"
	"strings"
	"testing"
)

// TestDocExample parses the example configuration in the package
// documentation, so that the documentation cannot drift from the grammar.
func TestDocExample(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	// The example is the first indented block of the package comment.
	var example []string
	for _, line := range strings.Split(string(src), "\n") {
		if rest, ok := strings.CutPrefix(line, "//\t"); ok {
			example = append(example, rest)
		} else if len(example) > 0 {
			break
		}
	}
	if len(example) < 5 {
		t.Fatalf("no example found in doc.go")
	}
	doc, err := Parse("doc.go example", []byte(strings.Join(example, "\n")), nil)
	if err != nil {
		t.Fatal(joinErrors(err))
	}
	want := `{"cluster":{"listen":{"string":"127.0.0.1:6222"},"routes":[{"string":"nats://10.0.0.2:6222"},{"string":"nats://10.0.0.3:6222"}]},` +
		`"limits":{"max_payload":{"int":"1048576"},"max_pending":{"int":"64000000"}},"port":{"int":"4222"}}`
	if got := typed(t, doc.Root); got != want {
		t.Errorf("doc example:\n got %s\nwant %s", got, want)
	}
}
