package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/natsd/natsd/"

// allowed lists, for each package of natsd, the packages of natsd its
// production code may import directly (tests may import more, such as
// internal/testutil). It is the table in docs/architecture.md: change both
// together. A package missing here fails the test, so a new package must
// say where it stands.
var allowed = map[string][]string{
	"cmd/natsd":               {"daemon"},
	"daemon":                  {"cluster", "confparse", "jetstream", "jetstream/journal", "jscluster", "server", "server/authcallout", "server/jwtauth", "server/monitor", "server/subject", "server/websocket", "systemd", "sysacct", "tlsconf"},
	"jetstream":               {"jetstream/store", "server", "server/subject"},
	"jetstream/store":         {},
	"jetstream/store/faultfs": {"jetstream/store"},
	"jetstream/journal":       {"jetstream/store"},
	"jscluster":               {"jetstream", "jetstream/journal", "jscluster/raftdriver", "server"},
	"jscluster/raftdriver":    {"jetstream/journal"},
	"sysacct":                 {"cluster", "jetstream", "server", "server/monitor"},
	"cluster":                 {"server", "server/conn", "server/wire", "server/subject", "server/outbuf", "tlsconf"},
	"server/monitor":          {"cluster", "jetstream", "server", "server/subject"},
	"server/jwtauth":          {"server"},
	"server/authcallout":      {"server", "server/jwtauth"},
	"server":                  {"server/conn", "server/wire", "server/subject", "server/outbuf", "server/websocket", "tlsconf"},
	"server/websocket":        {"server/outbuf"},
	"server/conn":             {"server/outbuf", "server/wire"},
	"server/wire":             {},
	"server/subject":          {},
	"server/outbuf":           {},
	"confparse":               {},
	"tlsconf":                 {},
	"systemd":                 {},
	"internal/testutil":       {},
	"internal/jsclustertest":  {"internal/testutil"},
	"internal/archtest":       {},
	"internal/faults":         {},
	"bench/runner":            {},
	"bench/idleclients":       {},
}

func TestImportsFollowTheArchitecture(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(fields[0], module)
		may, known := allowed[pkg]
		if !known {
			t.Errorf("package %s is not in the architecture table (internal/archtest, docs/architecture.md)", pkg)
			continue
		}
		seen++
		for _, imp := range fields[1:] {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			dep := strings.TrimPrefix(imp, module)
			if !slices.Contains(may, dep) {
				t.Errorf("%s imports %s, which docs/architecture.md does not allow", pkg, dep)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("only %d packages listed: is go list seeing the module?", seen)
	}
}

// The leaves that parse untrusted input stay standard-library only: they
// are fuzzed and benchmarked alone, and log nothing.
func TestLeavesUseOnlyTheStandardLibrary(t *testing.T) {
	for _, pkg := range []string{"confparse", "server/wire", "server/subject", "server/outbuf", "server/websocket", "tlsconf"} {
		out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", module+pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if dep != module+pkg && !strings.HasPrefix(dep, module+"server/") {
				t.Errorf("%s depends on %s: it must use only the standard library", pkg, dep)
			}
		}
	}
}
