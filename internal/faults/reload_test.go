package faults

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// reloadRSSBoundMiB bounds A through the storm: 50 reloads with debug
// logging toggled must not grow it past the mesh bound.
func reloadRSSBoundMiB() int64 { return meshRSSBoundMiB() }

// How the storm writes A's config file. The partial writes are a writer
// that pauses longer than the watcher's debounce (200 ms) before it has
// written the whole file — a slow `cat > natsd.conf`, scp, a full disk.
type writeKind int

const (
	writeInPlace     writeKind = iota // open with O_TRUNC, write, close
	writeRename                       // write a temporary file, rename it over
	writeHalfAtBlock                  // the file up to the authorization block, pause, the rest
	writeHalfAtByte                   // half the bytes (mid-token), pause, the rest
	writeTruncate                     // truncate(2) the file, pause, write it anew
	writeKinds
)

var writeKindNames = [...]string{"in place", "rename", "half (at the authorization block)", "half (mid-token)", "truncate, then rewrite"}

// partialPause is how long a partial writer pauses: longer than the
// watcher's debounce, so that a watcher that reloads on the debounce alone
// reads the partial file.
const partialPause = 300 * time.Millisecond

// TestFaultReloadStorm: node A of a full mesh has its config rewritten 50
// times under traffic — routes to C removed and added back, debug logging
// on and off, limits changed — two writes in three of them partial (a
// writer pausing past the watcher's debounce with half the file written,
// or the file truncated before it is written again). The config has
// client authorization on; throughout the storm a client without
// credentials probes A: it must be refused every time (A never serves a
// partial config, in which the authorization block, last in the file, is
// missing), and A's client listener must never move. The counted A→B
// traffic loses nothing, no reload fails (A never even reads a half-written
// file), every complete write is applied, and A leaks nothing.
func TestFaultReloadStorm(t *testing.T) {
	t.Parallel()
	if referenceRun() {
		t.Skip("nats-server does not watch its config file (it reloads on SIGHUP): there is no watcher to storm")
	}
	probs := &errList{}
	a, b, c := newNode(t, "A"), newNode(t, "B"), newNode(t, "C")
	all := []*node{a, b, c}
	const user, pass = "faults", "s3cret"
	confA := func(i int) string {
		routes := []*node{a, b}
		if i%4 < 2 {
			routes = append(routes, c)
		}
		return a.render(conf{
			routes: routes,
			// max_payload is unique per write: /varz shows which write A
			// runs on.
			top:    fmt.Sprintf("debug: %v\nmax_payload: %d\nmax_connections: %d\n", i%2 == 0, 100000+i, 1000+i),
			bottom: fmt.Sprintf("authorization {\n  user: %s\n  password: %s\n  timeout: 2\n}\n", user, pass),
		})
	}
	if err := os.WriteFile(a.path, []byte(confA(-4)), 0o644); err != nil { // -4: routes to C, like the last write
		t.Fatal(err)
	}
	a.restart()
	b.start(conf{routes: all})
	c.start(conf{routes: all})
	waitSettled(t, 20*time.Second, all...)

	ab := newStream(t, probs, "A→B", 64, a, []nats.Option{nats.UserInfo(user, pass)}, []*node{b})
	base := baseline(t, a)
	rss := sampleRSS(a)
	ab.run(2*time.Millisecond, 1) // ~500 msgs/s
	ab.flowing(t, 100, 10*time.Second)

	probes := 0
	probe := func() {
		probes++
		refusedWithoutCredentials(t, a)
		// Pacing: a probe every few ms is enough to see a window of a
		// debounce (200 ms), and leaves the CPU to the scenarios that run
		// beside this one.
		time.Sleep(5 * time.Millisecond)
	}
	// probeFor probes A for d: a pause in the writing, or the wait for a
	// reload, is spent checking that A still refuses.
	probeFor := func(d time.Duration) {
		for end := time.Now().Add(d); time.Now().Before(end); {
			probe()
		}
	}
	var kinds [writeKinds]int
	applied := 0
	for i := range 50 {
		content := confA(i)
		kind := writeKind(i % int(writeKinds))
		kinds[kind]++
		writeConfig(t, a.path, content, kind, probeFor)
		if i%7 == 3 && i != 49 {
			continue // a burst: the next write follows at once
		}
		want := 100000 + i
		deadline := time.Now().Add(20 * time.Second)
		for {
			var v struct {
				MaxPayload int `json:"max_payload"`
			}
			if err := a.getJSON("/varz", &v); err != nil {
				t.Fatal(err)
			}
			if v.MaxPayload == want {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("write %d (%s) not applied within 20s: A runs max_payload %d, want %d", i, writeKindNames[kind], v.MaxPayload, want)
			}
			probe()
		}
		applied++
	}
	probe()
	ab.flowing(t, 100, 10*time.Second)
	ab.halt(t)
	msgs := ab.verify(t, 20*time.Second)
	probs.check(t)

	log := a.proc.Log()
	reloads := strings.Count(log, "Reloaded server configuration")
	if n := strings.Count(log, "Failed to reload"); n > 0 {
		i := strings.Index(log, "Failed to reload")
		t.Errorf("%d reloads failed: A read a file still being written (first: %.200s)", n, log[i:])
	}
	waitSettled(t, 20*time.Second, all...)
	u := backToBaseline(t, a, base, 20*time.Second)
	var ks []string
	for k, n := range kinds {
		ks = append(ks, fmt.Sprintf("%d %s", n, writeKindNames[k]))
	}
	t.Logf("numbers: 50 writes (%s), %d waited for and applied, %d reloads logged, %d probes without credentials all refused; %s; A %v → %v; peak RSS %s",
		strings.Join(ks, ", "), applied, reloads, probes, msgs, base, u, rss.stop(t, reloadRSSBoundMiB()))
}

// refusedWithoutCredentials connects to n's client port without
// credentials: the greeting must ask for auth, and CONNECT must be refused
// with -ERR 'Authorization Violation' and a close — never a PONG.
func refusedWithoutCredentials(t *testing.T, n *node) {
	t.Helper()
	c := testutil.DialProto(t, n.addr()) // fails the test if the listener moved
	defer c.Close()
	if c.Info["auth_required"] != true {
		t.Fatalf("%s's greeting does not require auth: %v", n.name, c.Info)
	}
	c.Send("CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")
	lines := c.ReadUntilClosed()
	if slices.Contains(lines, "PONG") || !slices.Contains(lines, "-ERR 'Authorization Violation'") {
		t.Fatalf("%s served a client without credentials: %q", n.name, lines)
	}
}

// writeConfig writes content to path the way kind says; pause is called
// for the partial writers' pause.
func writeConfig(t *testing.T, path, content string, kind writeKind, pause func(time.Duration)) {
	t.Helper()
	switch kind {
	case writeInPlace:
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	case writeRename:
		tmp := filepath.Join(filepath.Dir(path), ".natsd.conf.tmp")
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	case writeHalfAtBlock, writeHalfAtByte:
		cut := len(content) / 2
		if kind == writeHalfAtBlock {
			// What comes before is a complete config, without
			// authorization: the dangerous half.
			cut = strings.Index(content, "authorization {")
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteString(content[:cut]); err != nil {
			t.Fatal(err)
		}
		pause(partialPause)
		if _, err := f.WriteString(content[cut:]); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	case writeTruncate:
		if err := os.Truncate(path, 0); err != nil {
			t.Fatal(err)
		}
		pause(partialPause)
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
