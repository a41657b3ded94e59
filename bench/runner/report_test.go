package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSelected(t *testing.T) {
	for _, tc := range []struct {
		only, id string
		want     bool
	}{
		{"", "pub16", true},
		{"", "kvget", true},
		{"pub16", "pub16", true},
		{"pub16", "pubsub16", false},
		{"js", "jspubasync", true},
		{"js", "kvget", true},
		{"js", "pub16", false},
		{"js", "rss", false},
		{"rss, jsfetch", "jsfetch", true},
		{"jsfetch", "jsconsume", false},
		{"jsr3", "jsr3pubasync", true},
		{"jsr3", "jsr3consume", true},
		{"jsr3", "jspubasync", false},
		{"js", "jsr3pubsync", false},
		{"", "jsr3pubsync", true},
	} {
		if got := selected(tc.only, tc.id); got != tc.want {
			t.Errorf("selected(%q, %q) = %v, want %v", tc.only, tc.id, got, tc.want)
		}
	}
}

// Each section has its own block: writing one leaves the other's figures
// as they were.
func TestWriteDocBlocks(t *testing.T) {
	path := filepath.Join(t.TempDir(), "performance.md")
	doc := "# perf\n\nhand-written\n\n" + beginMarker + "\nold core\n" + endMarker + "\n\nbetween\n\n" +
		jsBeginMarker + "\nold js\n" + jsEndMarker + "\n\ntail\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeDoc(path, jsBeginMarker, jsEndMarker, "new js\n"); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(doc, "old js", "new js", 1)
	if string(b) != want {
		t.Fatalf("after writing the js block:\n%s\nwant:\n%s", b, want)
	}
	if err := writeDoc(path, beginMarker, endMarker, "new core\n"); err != nil {
		t.Fatal(err)
	}
	b, _ = os.ReadFile(path)
	if want = strings.Replace(want, "old core", "new core", 1); string(b) != want {
		t.Fatalf("after writing the core block:\n%s\nwant:\n%s", b, want)
	}
}

// A file without the js markers gets the block appended.
func TestWriteDocAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "performance.md")
	if err := os.WriteFile(path, []byte("# perf\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeDoc(path, jsBeginMarker, jsEndMarker, "js\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	if want := "# perf\n\n" + jsBeginMarker + "\njs\n" + jsEndMarker + "\n"; string(b) != want {
		t.Fatalf("got %q, want %q", b, want)
	}
}

// natscli v0.5.0's summary lines, as `nats bench js|kv` print them.
func TestJSRateLine(t *testing.T) {
	for _, tc := range []struct {
		out  string
		want string
	}{
		{"NATS JetStream asynchronous publisher stats: 128,654 msgs/sec ~ 16 MiB/sec ~ min: 2,163.21us", "128,654"},
		{"NATS JetStream synchronous publisher stats: 3,436 msgs/sec ~ 430 KiB/sec", "3,436"},
		{"\nNATS JetStream durable consumer (callback) stats: 173,532 msgs/sec ~ 21 MiB/sec\n", "173,532"},
		{"NATS JetStream KV putter stats: 2,689 msgs/sec ~ 336 KiB/sec", "2,689"},
		{"NATS JetStream KV getter stats: 812 msgs/sec ~ 101 KiB/sec", "812"},
	} {
		m := reJSRate.FindStringSubmatch(tc.out)
		if m == nil || m[1] != tc.want {
			t.Errorf("%q: got %v, want %s", tc.out, m, tc.want)
		}
	}
}

// Only the comparison with the same durability is held to the goal.
func TestJSTableMarksBelowGoal(t *testing.T) {
	r := newJSRow("x", "x row", "msgs/s", "msgs/s", "", true, false)
	nd, always, lazy := jsKinds(serverKind{Name: "natsd"}, serverKind{Name: "nats-server"})
	for round := range 3 {
		r.add(round, nd, 90, true)
		r.add(round, always, 100, true)
		r.add(round, lazy, 200, true)
	}
	tab := jsTable([]jsRow{r})
	if !strings.Contains(tab, "**0.90** ⚠") {
		t.Errorf("0.90 against always not marked:\n%s", tab)
	}
	if !strings.Contains(tab, "**0.45** |") {
		t.Errorf("0.45 against the lazy default marked or missing:\n%s", tab)
	}
	if jsFlagged([]jsRow{r}) == "" {
		t.Error("jsFlagged lists nothing")
	}
	r2 := newJSRow("y", "y row", "msgs/s", "msgs/s", "", true, false)
	for round := range 3 {
		r2.add(round, nd, 100, true)
		r2.add(round, always, 100, true)
		r2.add(round, lazy, 200, true)
	}
	if f := jsFlagged([]jsRow{r2}); f != "" {
		t.Errorf("1.00 listed as below the goal: %s", f)
	}
}
