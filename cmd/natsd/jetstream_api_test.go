package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// The JetStream API and what the system account says of JetStream answer
// as nats-server v2.15.2 does: the recorder that made the reference corpus
// (../shared/tools/apirecord → ../shared/testdata/jsapi) is run against
// natsd, and each case it records must equal the reference's.
//
// Cases of the app and lim users (JetStream) must be byte for byte the
// same after the recorder's normalizations: every reply, error code,
// status header, sequence and byte count. The system account's cases
// carry machine facts (memory, CPU, config digests) that no two servers
// share, so their JetStream parts must have the same JSON keys at every
// level, except what natsd leaves out or adds on purpose
// (sysKeyExceptions).
func TestJetStreamAPIMatchesReference(t *testing.T) {
	t.Parallel()
	natsd := testutil.NatsdBin(t)
	recorder := buildRecorder(t)
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, recorder, "-server", natsd, "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("apirecord against natsd: %v\n%s", err, b)
	}
	refDir := filepath.Join(testutil.SharedDir(), "testdata", "jsapi")
	files, _ := filepath.Glob(filepath.Join(refDir, "*.json"))
	if len(files) < 30 {
		t.Fatalf("%d recorded cases in %s", len(files), refDir)
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(strings.TrimSuffix(name, ".json"), func(t *testing.T) {
			ref, got := readCase(t, f), readCase(t, filepath.Join(out, name))
			if len(ref.Steps) != len(got.Steps) {
				t.Fatalf("%d steps, reference %d", len(got.Steps), len(ref.Steps))
			}
			for i := range ref.Steps {
				compareStep(t, ref.User, i, &ref.Steps[i], &got.Steps[i])
			}
		})
	}
}

// sysKeyExceptions are keys natsd's system-account replies differ in on
// purpose: nats-server's JetStream feature flags (natsd has none of those
// features), and natsd's sync policy (always fsync, which nats-server's
// JSON has no key for).
var sysKeyExceptions = []string{"feature_flags", "sync_always", "sync_interval"}

type recordedCase struct {
	User  string         `json:"user"`
	Steps []recordedStep `json:"steps"`
}

type recordedStep struct {
	Send *struct {
		Subject string `json:"subject"`
	} `json:"send"`
	Note     string        `json:"note"`
	Received []recordedMsg `json:"received"`
}

type recordedMsg struct {
	Subject     string              `json:"subject"`
	Reply       string              `json:"reply"`
	Headers     map[string][]string `json:"headers"`
	Payload     string              `json:"payload"`
	PayloadJSON any                 `json:"payload_json"`
}

func readCase(t *testing.T, path string) *recordedCase {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c recordedCase
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &c
}

func compareStep(t *testing.T, user string, i int, ref, got *recordedStep) {
	t.Helper()
	what := ref.Note
	if ref.Send != nil {
		what = ref.Send.Subject + " " + what
	}
	if len(ref.Received) != len(got.Received) {
		t.Errorf("step %d (%s): %d messages, reference %d\n natsd: %s\n ref:   %s", i, what, len(got.Received), len(ref.Received),
			summary(got.Received), summary(ref.Received))
		return
	}
	for j := range ref.Received {
		r, g := &ref.Received[j], &got.Received[j]
		if user != "sys" {
			if r.Subject != g.Subject || r.Reply != g.Reply || !sameHeaders(r.Headers, g.Headers) || r.Payload != g.Payload {
				t.Errorf("step %d (%s) message %d:\n natsd: %s %s %v %s\n ref:   %s %s %v %s", i, what, j,
					g.Subject, g.Reply, g.Headers, g.Payload, r.Subject, r.Reply, r.Headers, r.Payload)
			}
			continue
		}
		rm, rok := r.PayloadJSON.(map[string]any)
		gm, gok := g.PayloadJSON.(map[string]any)
		if !rok || !gok {
			if r.Payload != g.Payload || !sameHeaders(r.Headers, g.Headers) {
				t.Errorf("step %d (%s) message %d:\n natsd: %v %s\n ref:   %v %s", i, what, j, g.Headers, g.Payload, r.Headers, r.Payload)
			}
			continue
		}
		// The JetStream parts: all of a JSZ reply, the "jetstream" parts of
		// the others (their other keys are the monitoring endpoints', checked
		// by their own tests).
		all := ref.Send != nil && strings.HasSuffix(ref.Send.Subject, ".JSZ")
		if rk, gk := keysWithout(rm, all), keysWithout(gm, all); rk != gk {
			t.Errorf("step %d (%s) message %d keys:\n natsd: %s\n ref:   %s", i, what, j, gk, rk)
		}
	}
}

func summary(ms []recordedMsg) string {
	var s []string
	for _, m := range ms {
		p := m.Payload
		if len(p) > 120 {
			p = p[:120] + "…"
		}
		s = append(s, m.Subject+" "+p)
	}
	return strings.Join(s, " | ")
}

func sameHeaders(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// keysWithout is keysDeep (sysacct_test.go) over an object, leaving out
// sysKeyExceptions at any level; arrays of objects contribute the keys of
// their elements.
func keysWithout(m map[string]any, all bool) string {
	var keys []string
	var walk func(prefix string, v any)
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, val := range x {
				if slices.Contains(sysKeyExceptions, k) {
					continue
				}
				if all || strings.Contains(prefix+k, "jetstream") {
					keys = append(keys, prefix+k)
				}
				walk(prefix+k+".", val)
			}
		case []any:
			for _, e := range x {
				walk(prefix, e)
			}
		}
	}
	walk("", m)
	slices.Sort(keys)
	return strings.Join(slices.Compact(keys), " ")
}

// buildRecorder builds ../shared/tools/apirecord (its own module) once.
func buildRecorder(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testutil.SharedDir(), "tools", "apirecord")
	bin := filepath.Join(t.TempDir(), "apirecord")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, ".")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the recorder in %s: %v\n%s", dir, err, b)
	}
	return bin
}
