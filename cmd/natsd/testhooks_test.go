package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
)

// testHookMarks are strings that only natsd's test hooks put in a binary:
// the name of the server's wedge method (function names stay in the
// pclntab of a stripped binary, for tracebacks) and the environment
// variables the hooks read (the daemon's wedge, the cluster's route drop).
var testHookMarks = []string{"WedgeForTest", "NATSD_TEST_WEDGE_FILE", "NATSD_TEST_ROUTE_BLOCK_FILE"}

// The production build — the Makefile's bin/natsd recipe, which the .deb and
// .rpm package — has no test hooks; the binary the tests run has them. The
// second half proves the first can fail: the same search finds the marks in
// a build with the hooks.
func TestProductionBinaryHasNoTestHooks(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make not found: the production build is the Makefile's")
	}
	// The recipe exactly as make would run it, with the output moved to a
	// temporary directory.
	out, err := exec.Command("make", "-C", testutil.RepoRoot(), "-n", "-s", "--no-print-directory",
		"bin/natsd", "VERSION=0.0.0-hookcheck").Output()
	if err != nil {
		t.Fatalf("make -n bin/natsd: %v", err)
	}
	recipe := strings.TrimSpace(string(out))
	if strings.Count(recipe, "\n") != 0 || !strings.Contains(recipe, " -o bin/natsd ") {
		t.Fatalf("unexpected bin/natsd recipe (one go build line writing bin/natsd expected):\n%s", recipe)
	}
	prod := filepath.Join(t.TempDir(), "natsd")
	cmd := exec.Command("bash", "-c", strings.Replace(recipe, " -o bin/natsd ", " -o "+prod+" ", 1))
	cmd.Dir = testutil.RepoRoot()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", recipe, err, b)
	}
	bin, err := os.ReadFile(prod)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range testHookMarks {
		if bytes.Contains(bin, []byte(m)) {
			t.Errorf("the production build (%s) contains %q: a test hook ships", recipe, m)
		}
	}

	withHooks, err := os.ReadFile(testutil.NatsdBin(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range testHookMarks {
		if !bytes.Contains(withHooks, []byte(m)) {
			t.Errorf("the test build (-tags %s) lacks %q: this check would not see a hook", testutil.TestHooksTag, m)
		}
	}
}
