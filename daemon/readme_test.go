package daemon

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsd/natsd/confparse"
)

// TestDocConfigExamples checks that every config example in README.md and
// docs/*.md parses and builds without errors, so the docs cannot drift from
// what natsd accepts (CoreDNS's TestReadme idea). An example is a fenced
// block tagged conf:
//
//	```conf
//	listen: 127.0.0.1:4222
//	```
//
// Untagged fences (error output, shell sessions) are not checked. Warnings
// are allowed: an example may show a key natsd does not serve yet.
func TestDocConfigExamples(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{filepath.Join("..", "README.md")}, docs...)
	n := 0
	for _, doc := range docs {
		src, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		found, problems := checkConfExamples(doc, src)
		n += found
		for _, p := range problems {
			t.Error(p)
		}
	}
	t.Logf("%d conf-tagged examples in %d documents", n, len(docs))
}

// checkConfExamples parses and builds every conf-tagged block of the
// Markdown document doc, returning how many there are and what is wrong.
func checkConfExamples(doc string, src []byte) (n int, problems []string) {
	for _, ex := range confBlocks(src) {
		n++
		name := fmt.Sprintf("%s:%d", filepath.ToSlash(doc), ex.line)
		// Parsed under the document's name, so an include resolves next
		// to it; the environment is empty so the result is stable.
		d, err := confparse.Parse(doc, ex.text, &confparse.Options{
			LookupEnv: func(string) (string, bool) { return "", false }})
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: example does not parse:\n%s", name, listErrors(err, doc, ex.line)))
			continue
		}
		if _, diag := Build(d, nil); len(diag.Errors) > 0 {
			problems = append(problems, fmt.Sprintf("%s: example does not build:\n%s", name, listErrors(diag.Errors, doc, ex.line)))
		}
	}
	return n, problems
}

type confBlock struct {
	line int // of the opening fence, 1-based
	text []byte
}

// confBlocks returns the fenced blocks of a Markdown document whose info
// string's first word is "conf". A fence is ``` or longer (or ~~~),
// possibly indented; it ends at a fence of the same character at least as
// long.
func confBlocks(src []byte) []confBlock {
	var out []confBlock
	var cur *confBlock
	var fence string
	sc := bufio.NewScanner(bytes.NewReader(src))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		trimmed := strings.TrimLeft(text, " ")
		if fence == "" {
			f := fenceOf(trimmed)
			if f == "" {
				continue
			}
			fence = f
			info := strings.Fields(trimmed[len(f):])
			if len(info) > 0 && info[0] == "conf" {
				cur = &confBlock{line: line}
			}
			continue
		}
		if f := fenceOf(trimmed); strings.HasPrefix(f, fence) && strings.TrimSpace(trimmed[len(f):]) == "" {
			if cur != nil {
				out = append(out, *cur)
			}
			cur, fence = nil, ""
			continue
		}
		if cur != nil {
			cur.text = append(cur.text, text...)
			cur.text = append(cur.text, '\n')
		}
	}
	return out
}

// fenceOf returns the run of three or more backticks or tildes s starts
// with, or "".
func fenceOf(s string) string {
	if s == "" || (s[0] != '`' && s[0] != '~') {
		return ""
	}
	n := 0
	for n < len(s) && s[n] == s[0] {
		n++
	}
	if n < 3 {
		return ""
	}
	return s[:n]
}

// listErrors writes one error a line, positions in doc moved down by the
// line of the fence so that they are lines of the Markdown file.
func listErrors(err error, doc string, fence int) string {
	var b strings.Builder
	if l, ok := err.(confparse.ErrorList); ok {
		for _, e := range l {
			c := *e
			if c.Pos.File == doc && c.Pos.Line > 0 {
				c.Pos.Line += fence
			}
			b.WriteString("\t" + c.Error() + "\n")
		}
		return b.String()
	}
	return "\t" + err.Error() + "\n"
}

func TestConfBlocks(t *testing.T) {
	md := "# t\n```conf\nport: 1\n```\n```sh\nnatsd\n```\n````conf extra\na: 1\n```\nb: 2\n````\n~~~\nc\n~~~\n"
	got := confBlocks([]byte(md))
	if len(got) != 2 || got[0].line != 2 || string(got[0].text) != "port: 1\n" ||
		got[1].line != 8 || string(got[1].text) != "a: 1\n```\nb: 2\n" {
		t.Fatalf("confBlocks = %+v", got)
	}
	// The check itself fails on a bad example, and passes a good one.
	md = "```conf\nport: 4222\njetstream {}\n```\n\n```conf\nport: \"abc\"\n```\n\n```conf\ncluster {\n```\n"
	n, problems := checkConfExamples("x.md", []byte(md))
	if n != 3 || len(problems) != 2 || !strings.Contains(problems[0], "x.md:6: example does not build") ||
		!strings.Contains(problems[0], "x.md:7:7: port: expected a port number") ||
		!strings.Contains(problems[1], "x.md:10: example does not parse") ||
		!strings.Contains(problems[1], "x.md:12:1: unexpected end of file") {
		t.Fatalf("checkConfExamples: %d examples, problems %q", n, problems)
	}
}

// TestDefaultConfig loads the embedded default.conf, as `natsd` with no -c
// does: nats-server's defaults, clients on 0.0.0.0:4222, nothing else.
func TestDefaultConfig(t *testing.T) {
	o, diag, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(diag.Warnings) > 0 {
		t.Errorf("default.conf warns: %v", diag.Warnings)
	}
	if o.Server.Host != "0.0.0.0" || o.Server.Port != 4222 {
		t.Errorf("default.conf listens on %s:%d, want 0.0.0.0:4222", o.Server.Host, o.Server.Port)
	}
	if o.Cluster.Enabled() || o.Monitor.Enabled() || o.Server.Auth.Required() {
		t.Errorf("default.conf enables more than the client listener: cluster %v, monitor %v, auth %v",
			o.Cluster.Enabled(), o.Monitor.Enabled(), o.Server.Auth.Required())
	}
	if o.ConfigFile != "" || o.Files != nil {
		t.Errorf("default config has ConfigFile %q, Files %q; want none", o.ConfigFile, o.Files)
	}
	// With flags but no file, the same default applies.
	o, _, err = Load(&Flags{Port: 5000, Set: map[string]bool{"port": true}})
	if err != nil {
		t.Fatal(err)
	}
	if o.Server.Host != "0.0.0.0" || o.Server.Port != 5000 {
		t.Errorf("default.conf with -p 5000 listens on %s:%d", o.Server.Host, o.Server.Port)
	}
}
