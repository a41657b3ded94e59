package confparse

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// corpusDir returns the shared corpus: $CONFPARSE_CORPUS, or
// ../shared/testdata/confparse next to the repository root (found by
// walking up to go.mod, so the test works from any package directory).
// ok is false when the variable is unset and the default does not exist.
func corpusDir(tb testing.TB) (dir string, ok bool) {
	if d := os.Getenv("CONFPARSE_CORPUS"); d != "" {
		return d, true
	}
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for d := wd; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			dir = filepath.Join(d, "..", "shared", "testdata", "confparse")
			_, err := os.Stat(dir)
			return dir, err == nil
		}
		if filepath.Dir(d) == d {
			return "", false
		}
	}
}

// corpusEnv is the environment the corpus was produced with: only PATH and
// HOME=/home/natsd.
func corpusEnv(name string) (string, bool) {
	switch name {
	case "HOME":
		return "/home/natsd", true
	case "PATH":
		return os.Getenv("PATH"), true
	}
	return "", false
}

// corpusFiles returns the .conf files under dir, relative to it, sorted.
func corpusFiles(tb testing.TB, dir string) []string {
	var files []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".conf") {
			rel, err := filepath.Rel(dir, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(files)
	return files
}

// TestCorpus parses every NAME.conf of the shared corpus and compares the
// tree with NAME.expected.json, or checks that it fails on the line given
// in NAME.error.txt. A .conf with neither is only there to be included.
func TestCorpus(t *testing.T) {
	dir, ok := corpusDir(t)
	if !ok {
		t.Fatal("shared corpus not found (../shared/testdata/confparse next to the repository); set CONFPARSE_CORPUS")
	}
	files := corpusFiles(t, dir)
	if len(files) == 0 {
		t.Fatalf("no .conf files under %s", dir)
	}
	var checked int
	for _, rel := range files {
		base := filepath.Join(dir, filepath.FromSlash(strings.TrimSuffix(rel, ".conf")))
		want, errJSON := os.ReadFile(base + ".expected.json")
		wantErr, errTxt := os.ReadFile(base + ".error.txt")
		if errJSON != nil && errTxt != nil {
			t.Run(rel, func(t *testing.T) { t.Skip("no expected result: only included by other files") })
			continue
		}
		checked++
		t.Run(rel, func(t *testing.T) {
			doc, err := ParseFile(base+".conf", &Options{LookupEnv: corpusEnv})
			if errJSON == nil {
				if err != nil {
					t.Fatalf("unexpected error:\n%v", joinErrors(err))
				}
				checkTypedJSON(t, doc.Root, want)
				return
			}
			if err == nil {
				t.Fatalf("parsed, want an error like %q", strings.TrimSpace(string(wantErr)))
			}
			t.Logf("reference: %s", strings.TrimSpace(string(wantErr)))
			t.Logf("ours:      %v", err)
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is %T, want a non-empty ErrorList", err)
			}
			if line, ok := referenceLine(string(wantErr)); ok && list[0].Pos.Line != line {
				t.Errorf("error on line %d, reference on line %d", list[0].Pos.Line, line)
			}
		})
	}
	t.Logf("%d corpus files with an expected result", checked)
}

// referenceLine extracts the line number from a reference error message:
// "Parse error on line N: …", "… on line N can not be found", or a
// "file:line:col" position.
func referenceLine(msg string) (int, bool) {
	for _, re := range []*regexp.Regexp{
		regexp.MustCompile(`\bon line (\d+)\b`),
		regexp.MustCompile(`\.conf:(\d+):\d+`),
	} {
		if m := re.FindStringSubmatch(msg); m != nil {
			n, err := strconv.Atoi(m[1])
			return n, err == nil
		}
	}
	return 0, false
}

// checkTypedJSON compares n's TypedJSON with want as JSON values, and
// reports the differing paths.
func checkTypedJSON(t *testing.T, n *Node, want []byte) {
	t.Helper()
	got, err := n.TypedJSON()
	if err != nil {
		t.Fatalf("TypedJSON: %v", err)
	}
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("TypedJSON output is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatalf("expected file is not JSON: %v", err)
	}
	if !reflect.DeepEqual(g, w) {
		var diffs []string
		jsonDiff("$", g, w, &diffs)
		t.Errorf("tree differs from the expected one:\n%s", strings.Join(diffs, "\n"))
	}
}

func jsonDiff(path string, got, want any, out *[]string) {
	gm, gok := got.(map[string]any)
	wm, wok := want.(map[string]any)
	if gok && wok {
		keys := map[string]bool{}
		for k := range gm {
			keys[k] = true
		}
		for k := range wm {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		for _, k := range sorted {
			jsonDiff(path+"."+k, gm[k], wm[k], out)
		}
		return
	}
	ga, gok := got.([]any)
	wa, wok := want.([]any)
	if gok && wok && len(ga) == len(wa) {
		for i := range ga {
			jsonDiff(fmt.Sprintf("%s[%d]", path, i), ga[i], wa[i], out)
		}
		return
	}
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.Marshal(got)
		wj, _ := json.Marshal(want)
		*out = append(*out, fmt.Sprintf("%s: got %s, want %s", path, gj, wj))
	}
}

// joinErrors prints every error of an ErrorList, one per line.
func joinErrors(err error) string {
	var list ErrorList
	if !errors.As(err, &list) {
		return err.Error()
	}
	lines := make([]string, len(list))
	for i, e := range list {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}
