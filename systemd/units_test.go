package systemd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// unitDir holds the unit files natsd ships.
const unitDir = "../packaging/systemd"

var (
	serviceUnit = "natsd.service"
	socketUnits = []string{"natsd.socket", "natsd-cluster.socket", "natsd-monitor.socket", "natsd-websocket.socket"}
)

// unitSettings reads a unit file into section → key → values, in order.
func unitSettings(t *testing.T, path string) map[string]map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: cannot read line %q", path, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestUnitFileNames: the socket units name their sockets with exactly the
// names Listeners takes, one each, and all point at natsd.service.
func TestUnitFileNames(t *testing.T) {
	var names []string
	for _, u := range socketUnits {
		s := unitSettings(t, filepath.Join(unitDir, u))["Socket"]
		if got := s["FileDescriptorName"]; len(got) != 1 {
			t.Errorf("%s: FileDescriptorName=%v, want one", u, got)
			continue
		}
		names = append(names, s["FileDescriptorName"][0])
		if got := s["ListenStream"]; len(got) != 1 {
			t.Errorf("%s: ListenStream=%v, want one (Listeners takes one socket per name)", u, got)
		}
		if got := s["Service"]; len(got) != 1 || got[0] != serviceUnit {
			t.Errorf("%s: Service=%v, want %s", u, got, serviceUnit)
		}
		if a := s["Accept"]; len(a) > 0 && a[len(a)-1] != "no" {
			t.Errorf("%s: Accept=%v; natsd takes listening sockets", u, a)
		}
	}
	slices.Sort(names)
	if want := slices.Sorted(slices.Values(listenerNames)); !slices.Equal(names, want) {
		t.Errorf("FileDescriptorName= of the socket units: %v, want %v", names, want)
	}

	svc := unitSettings(t, filepath.Join(unitDir, serviceUnit))["Service"]
	for k, want := range map[string]string{
		"Type":       "notify",
		"ExecStart":  "/usr/bin/natsd -c /etc/nats/seed.conf",
		"ExecReload": "/usr/bin/natsd reload",
		"User":       "nats",
		"Group":      "nats",
	} {
		if got := svc[k]; len(got) != 1 || got[0] != want {
			t.Errorf("%s: %s=%v, want %s", serviceUnit, k, got, want)
		}
	}
	if raf := strings.Join(svc["RestrictAddressFamilies"], " "); !strings.Contains(raf, "AF_UNIX") {
		t.Errorf("%s: RestrictAddressFamilies=%s lacks AF_UNIX, which NOTIFY_SOCKET needs", serviceUnit, raf)
	}
}

// TestUnitFilesVerify runs systemd-analyze verify on the shipped units,
// and systemd-analyze security on the service.
//
// verify fails when ExecStart= names a file that is not executable, and
// /usr/bin/natsd exists only where natsd is installed. So the test copies
// the units to a temporary directory and changes one thing: ExecStart=
// points at this test binary, which verify checks but does not run.
// make systemd-test verifies the unchanged units inside a container with
// natsd installed at /usr/bin/natsd. ExecReload= (natsd reload) is
// pointed at the test binary the same way.
func TestUnitFilesVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Fatalf("systemd-analyze not found (Debian package systemd); run make test-deps: %v", err)
	}
	dir := t.TempDir()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, u := range append([]string{serviceUnit}, socketUnits...) {
		b, err := os.ReadFile(filepath.Join(unitDir, u))
		if err != nil {
			t.Fatal(err)
		}
		if u == serviceUnit {
			const from = "ExecStart=/usr/bin/natsd "
			if n := strings.Count(string(b), from); n != 1 {
				t.Fatalf("%s has %d lines %q, want 1", u, n, from)
			}
			b = []byte(strings.Replace(string(b), from, "ExecStart="+exe+" ", 1))
			const reload = "ExecReload=/usr/bin/natsd "
			if n := strings.Count(string(b), reload); n != 1 {
				t.Fatalf("%s has %d lines %q, want 1", u, n, reload)
			}
			b = []byte(strings.Replace(string(b), reload, "ExecReload="+exe+" ", 1))
		}
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}

	cmd := exec.Command(analyze, append([]string{"verify"}, paths...)...)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		// verify prints warnings (unknown keys, bad values) even when it
		// exits 0: any output is a failure.
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}

	// Exposure 1.1 (internally 11) when written; fail if hardening drops.
	const threshold = "15"
	cmd = exec.Command(analyze, "security", "--offline=yes", "--threshold="+threshold, "--no-pager", paths[0])
	out, err := cmd.CombinedOutput()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if err != nil {
		t.Errorf("systemd-analyze security --threshold=%s: %v\n%s", threshold, err, out)
	} else {
		t.Log(lines[len(lines)-1])
	}
}
