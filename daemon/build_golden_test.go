package daemon

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/confparse"
)

var update = flag.Bool("update", false, "rewrite daemon/testdata/options/*.golden from the current output")

// optionsDir holds the golden inputs: every *.conf directly in it is a case;
// files that cases include live in its subfolders. It is absolute, as the
// golden test runs in a directory of generated certificates.
var optionsDir = func() string {
	d, err := filepath.Abs(filepath.Join("testdata", "options"))
	if err != nil {
		panic(err)
	}
	return d
}()

// TestBuildGolden loads each testdata/options/NAME.conf as natsd -c would
// (Load with only ConfigFile set) and compares a rendering of the result
// with NAME.golden: the options that differ from Go's zero value, one
// "Field.Path: value" line each, then the warnings and the errors as natsd
// prints them, with the testdata directory stripped from file names.
//
// Run `go test ./daemon -run TestBuildGolden -update` after a deliberate
// change and review the diff of the .golden files.
//
// The cases run in a temporary directory holding certs/ (goldenCerts): TLS
// cases name certificate files relative to it, as nats-server reads them
// relative to the working directory, so that no key is committed.
func TestBuildGolden(t *testing.T) {
	t.Chdir(goldenCerts(t))
	files, err := filepath.Glob(filepath.Join(optionsDir, "*.conf"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden inputs in %s: %v", optionsDir, err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".conf")
		t.Run(name, func(t *testing.T) {
			o, diag, err := Load(&Flags{ConfigFile: file})
			got := renderLoad(o, diag, err)
			checkPositions(t, diag, err)

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
				t.Errorf("%s: output differs from %s (run with -update and review the diff)\n--- got\n%s--- want\n%s",
					file, golden, got, want)
			}
		})
	}
}

// checkPositions insists that every problem found in a config file names
// the line and column at fault, not just the file.
func checkPositions(t *testing.T, diag *Diagnostics, err error) {
	t.Helper()
	var all confparse.ErrorList
	if diag != nil {
		all = append(append(all, diag.Errors...), diag.Warnings...)
	} else {
		var list confparse.ErrorList
		if !errors.As(err, &list) {
			if err != nil {
				t.Errorf("Load error is %T, not a confparse.ErrorList: %v", err, err)
			}
			return
		}
		all = list
	}
	for _, e := range all {
		if e.Pos.Line == 0 || e.Pos.Col == 0 {
			t.Errorf("no line:col in %q", e.Error())
		}
	}
}

// renderLoad is the golden text for one Load.
func renderLoad(o *Options, diag *Diagnostics, err error) string {
	var b strings.Builder
	b.WriteString("# options\n")
	if o == nil {
		b.WriteString("(none: Load failed)\n")
	} else {
		renderValue(&b, "", reflect.ValueOf(*o))
	}
	var warnings, errs confparse.ErrorList
	if diag != nil {
		warnings, errs = diag.Warnings, diag.Errors
	} else if err != nil && !errors.As(err, &errs) {
		errs = confparse.ErrorList{{Msg: err.Error()}}
	}
	writeList(&b, "warnings", warnings)
	writeList(&b, "errors", errs)
	return b.String()
}

func writeList(b *strings.Builder, title string, l confparse.ErrorList) {
	if len(l) == 0 {
		return
	}
	fmt.Fprintf(b, "# %s\n", title)
	for _, e := range l {
		c := *e
		c.Pos.File = relName(c.Pos.File)
		// Messages that quote a path (an include not found) quote it as
		// the tests see it from the package directory.
		c.Msg = strings.ReplaceAll(c.Msg, optionsDir, filepath.Join("testdata", "options"))
		c.Includes = append([]confparse.Pos(nil), e.Includes...)
		for i := range c.Includes {
			c.Includes[i].File = relName(c.Includes[i].File)
		}
		b.WriteString(c.Error() + "\n")
	}
}

// relName strips the testdata directory from a file name, so goldens do
// not depend on where the tests run.
func relName(name string) string {
	if r, err := filepath.Rel(optionsDir, name); err == nil && !strings.HasPrefix(r, "..") {
		return filepath.ToSlash(r)
	}
	return name
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	urlPtrType   = reflect.TypeFor[*url.URL]()
)

// renderValue writes one "path: value" line per non-zero leaf of v, in field
// order. Durations and URLs are written as their String; string slices on
// one line; Digest (a hash of the tree) is left out.
func renderValue(b *strings.Builder, path string, v reflect.Value) {
	if v.IsZero() {
		return
	}
	switch {
	case v.Type() == durationType:
		fmt.Fprintf(b, "%s: %s\n", path, time.Duration(v.Int()))
		return
	case v.Type() == urlPtrType:
		fmt.Fprintf(b, "%s: %s\n", path, v.Interface().(*url.URL))
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		renderValue(b, path, v.Elem())
	case reflect.Struct:
		for i := range v.NumField() {
			f := v.Type().Field(i)
			if !f.IsExported() || (path == "" && f.Name == "Digest") {
				continue
			}
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			renderValue(b, p, v.Field(i))
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.String {
			q := make([]string, v.Len())
			for i := range q {
				s := v.Index(i).String()
				if path == "Files" {
					s = relName(s)
				}
				q[i] = strconv.Quote(s)
			}
			fmt.Fprintf(b, "%s: [%s]\n", path, strings.Join(q, ", "))
			return
		}
		for i := range v.Len() {
			renderValue(b, fmt.Sprintf("%s[%d]", path, i), v.Index(i))
		}
	case reflect.String:
		s := v.String()
		if path == "ConfigFile" {
			s = relName(s)
		}
		fmt.Fprintf(b, "%s: %q\n", path, s)
	default:
		fmt.Fprintf(b, "%s: %v\n", path, v.Interface())
	}
}
