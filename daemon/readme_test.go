package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsd/natsd/confparse"
	"github.com/natsd/natsd/internal/testutil"
)

// TestDocConfigExamples checks that every config example in README.md and
// docs/*.md parses and builds without errors, so the docs cannot drift from
// what natsd accepts (CoreDNS's TestReadme idea). Building loads the
// certificates a tls block names: the examples name them under
// /etc/nats/tls/ or /run/credentials/natsd.service/ (ca.pem, server.pem,
// server-key.pem), and the check reads certificates it made there instead.
// An example is a fenced block tagged conf:
//
//	```conf
//	listen: 127.0.0.1:4222
//	```
//
// Every fence must say what it holds (conf, sh, text, …): an untagged one
// could be a config example nobody checks. Warnings are allowed: an example
// may show a key natsd does not serve yet. (cmd/natsd's
// TestDocCommandLines checks the natsd command lines of the sh blocks.)
func TestDocConfigExamples(t *testing.T) {
	docs, err := filepath.Glob(filepath.Join("..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{filepath.Join("..", "README.md")}, docs...)
	certs := docCerts(t)
	n := 0
	for _, doc := range docs {
		src, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		found, problems := checkConfExamples(doc, src, certs)
		n += found
		for _, p := range problems {
			t.Error(p)
		}
	}
	t.Logf("%d conf-tagged examples in %d documents", n, len(docs))
}

// docCertDirs are where the docs' examples keep their certificates.
var docCertDirs = []string{"/etc/nats/tls/", "/run/credentials/natsd.service/"}

// docCerts makes the certificates the docs' examples name (ca.pem,
// server.pem, server-key.pem) in a directory of the test's.
func docCerts(t *testing.T) string {
	ca := testutil.NewCA(t, "docs CA")
	c := ca.Issue(t, "nats-1.example.com", "localhost", "127.0.0.1")
	dir := t.TempDir()
	testutil.WriteBytes(t, filepath.Join(dir, "ca.pem"), ca.PEM)
	c.WriteTo(t, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))
	return dir
}

// checkConfExamples parses and builds every conf-tagged block of the
// Markdown document doc, returning how many there are and what is wrong
// (untagged fences included). The certificate paths of docCertDirs are
// read from certs (a directory made by docCerts; "" leaves them as they are).
func checkConfExamples(doc string, src []byte, certs string) (n int, problems []string) {
	for _, ex := range testutil.MarkdownBlocks(src) {
		name := fmt.Sprintf("%s:%d", filepath.ToSlash(doc), ex.Line)
		if ex.Lang == "" {
			problems = append(problems, name+": a fence without a language: tag it (conf, sh, text, …) so that a config example cannot go unchecked")
			continue
		}
		if ex.Lang != "conf" {
			continue
		}
		n++
		if certs != "" {
			for _, d := range docCertDirs {
				ex.Text = []byte(strings.ReplaceAll(string(ex.Text), d, certs+"/"))
			}
		}
		// Parsed under the document's name, so an include resolves next
		// to it; the environment is empty so the result is stable.
		d, err := confparse.Parse(doc, ex.Text, &confparse.Options{
			LookupEnv: func(string) (string, bool) { return "", false }})
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: example does not parse:\n%s", name, listErrors(err, doc, ex.Line)))
			continue
		}
		if _, diag := Build(d, nil); len(diag.Errors) > 0 {
			problems = append(problems, fmt.Sprintf("%s: example does not build:\n%s", name, listErrors(diag.Errors, doc, ex.Line)))
		}
	}
	return n, problems
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

func TestCheckConfExamples(t *testing.T) {
	// The check itself fails on a bad example and an untagged fence, and
	// passes a good one.
	md := "```conf\nport: 4222\njetstream {}\n```\n\n```conf\nport: \"abc\"\n```\n\n```conf\ncluster {\n```\n\n```\nport: 1\n```\n"
	n, problems := checkConfExamples("x.md", []byte(md), "")
	if n != 3 || len(problems) != 3 || !strings.Contains(problems[0], "x.md:6: example does not build") ||
		!strings.Contains(problems[0], "x.md:7:7: port: expected a port number") ||
		!strings.Contains(problems[1], "x.md:10: example does not parse") ||
		!strings.Contains(problems[1], "x.md:12:1: unexpected end of file") ||
		!strings.Contains(problems[2], "x.md:14: a fence without a language") {
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
