package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/natsd/natsd/daemon"
	"github.com/natsd/natsd/internal/testutil"
)

// TestDocCommandLines checks every natsd command line that README.md and
// docs/*.md show in an sh block: its flags parse, and the options they make
// (with the config file they name) load without errors, so a documented
// command cannot drift from what natsd accepts. /etc/nats/seed.conf is the
// packaged packaging/seed.conf. (daemon's TestDocConfigExamples checks the
// config examples.)
func TestDocCommandLines(t *testing.T) {
	root := testutil.RepoRoot()
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	docs = append([]string{filepath.Join(root, "README.md")}, docs...)
	n := 0
	for _, doc := range docs {
		src, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range testutil.MarkdownBlocks(src) {
			if b.Lang != "sh" {
				continue
			}
			for i, line := range strings.Split(string(b.Text), "\n") {
				args := natsdArgs(line)
				if args == nil {
					continue
				}
				n++
				where := filepath.Base(doc) + ":" + strconv.Itoa(b.Line+1+i)
				for j, a := range args {
					if a == "/etc/nats/seed.conf" {
						args[j] = filepath.Join(root, "packaging", "seed.conf")
					}
				}
				cl, err := parseFlags(args, &bytes.Buffer{})
				if err != nil {
					t.Errorf("%s: natsd %s: %v", where, strings.Join(args, " "), err)
					continue
				}
				if cl.signal != "" || cl.help || cl.version {
					continue
				}
				if _, _, err := daemon.Load(cl.flags); err != nil {
					t.Errorf("%s: natsd %s: %v", where, strings.Join(args, " "), err)
				}
			}
		}
	}
	if n < 7 {
		t.Fatalf("found %d natsd command lines in the docs; README.md alone shows 7", n)
	}
	t.Logf("%d natsd command lines checked", n)
}

// natsdArgs returns the arguments of a shell line that runs natsd
// (bin/natsd, ./bin/natsd or natsd), without a trailing # comment, or nil.
func natsdArgs(line string) []string {
	if i := strings.Index(line, "#"); i >= 0 {
		line = line[:i]
	}
	f := strings.Fields(line)
	if len(f) == 0 {
		return nil
	}
	switch f[0] {
	case "bin/natsd", "./bin/natsd", "natsd":
		return f[1:]
	}
	return nil
}

// The error README.md shows for a bad cluster port is the one natsd -t
// prints for it (the file named as given on the command line).
func TestReadmeConfigError(t *testing.T) {
	const shown = "seed.conf:7:9: cluster.port: must be 1-65535 (or -1 for a random port), found 70000"
	readme, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "\n"+shown+"\n") {
		t.Fatalf("README.md no longer shows %q: change this test with it", shown)
	}
	dir := t.TempDir()
	conf := "listen: 127.0.0.1:4222\nhttp: 127.0.0.1:8222\n\n# one node\nserver_name: a\ncluster {\n  port: 70000\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "seed.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-t", "-c", "seed.conf"}, &stdout, &stderr); code != 1 || strings.TrimSpace(stderr.String()) != shown {
		t.Fatalf("natsd -t -c seed.conf: exit %d, stderr %q, want 1 and %q", code, stderr.String(), shown)
	}
}
