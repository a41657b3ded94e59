package daemon

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loadString loads content as natsd.conf in dir (written over any earlier
// one).
func loadString(t *testing.T, dir, content string) *Options {
	t.Helper()
	path := filepath.Join(dir, "natsd.conf")
	writeTestFile(t, path, content)
	o, _, err := Load(&Flags{ConfigFile: path})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestHoldReasons(t *testing.T) {
	const full = "listen: 127.0.0.1:4333\nhttp: 127.0.0.1:8333\nmax_payload: 2KB\nping_interval: \"1m\"\n" +
		"authorization { user: u, password: p }\ncluster {\n  name: c\n  listen: 127.0.0.1:6333\n" +
		"  authorization { user: r, password: rp }\n}\n"
	cases := []struct {
		name, next string
		want       []string // substrings, one per reason; none: applied
	}{
		{name: "an ordinary edit", next: strings.Replace(full, "2KB", "4KB", 1)},
		{name: "a listener moved", next: strings.Replace(full, "4333", "4444", 1)},
		{name: "token instead of users", next: strings.Replace(full, "user: u, password: p", "token: s3cret", 1)},
		{name: "clustering removed with its authorization",
			next: full[:strings.Index(full, "cluster {")]},
		{name: "emptied", next: "",
			want: []string{"natsd.conf sets nothing (it set 13 values)", "client authorization would be removed",
				"no listener is configured any more"}},
		{name: "cut after three lines", next: full[:strings.Index(full, "ping_interval")],
			want: []string{"natsd.conf sets 3 values, under half of the 13", "client authorization would be removed"}},
		{name: "client authorization dropped",
			next: strings.Replace(full, "authorization { user: u, password: p }\n", "", 1),
			want: []string{"client authorization would be removed"}},
		{name: "route authorization dropped",
			next: strings.Replace(full, "  authorization { user: r, password: rp }\n", "", 1),
			want: []string{"route authorization would be removed"}},
		{name: "every listener setting dropped",
			next: strings.NewReplacer("listen: 127.0.0.1:4333\nhttp: 127.0.0.1:8333\n", "",
				"cluster {\n  name: c\n  listen: 127.0.0.1:6333\n  authorization { user: r, password: rp }\n}\n",
				"max_connections: 100\nmax_control_line: 2KB\nwrite_deadline: \"5s\"\n").Replace(full),
			want: []string{"no listener is configured any more"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			cur := loadString(t, dir, full)
			next := loadString(t, dir, c.next)
			got := holdReasons(cur, next, Diff(cur, next))
			if len(got) != len(c.want) {
				t.Fatalf("reasons %q, want %d like %q", got, len(c.want), c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("reason %d is %q, want it to say %q", i, got[i], w)
				}
			}
		})
	}
}

// An emptied include is held back like an emptied main file.
func TestHoldReasonsEmptiedInclude(t *testing.T) {
	dir := t.TempDir()
	inc := filepath.Join(dir, "auth.conf")
	writeTestFile(t, inc, "authorization { users: [ { user: a, password: b } ] }\n")
	cur := loadString(t, dir, "include auth.conf\nmax_payload: 2KB\n")
	writeTestFile(t, inc, "")
	next := loadString(t, dir, "include auth.conf\nmax_payload: 2KB\n")
	got := holdReasons(cur, next, Diff(cur, next))
	if len(got) != 2 || !strings.Contains(got[0], "auth.conf sets nothing") || !strings.Contains(got[1], "client authorization") {
		t.Fatalf("reasons %q", got)
	}
}

// A held-back config is applied when the same content is written again (a
// later mtime), not on another look at the same write.
func TestHoldBackConfirmedByRewrite(t *testing.T) {
	var logs bytes.Buffer
	lg, err := newLogger(LogOptions{}, &logs)
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{log: lg}
	dir := t.TempDir()
	cur := loadString(t, dir, "authorization { user: u, password: p }\nmax_payload: 2KB\n")
	next := loadString(t, dir, "max_payload: 2KB\n")
	changes := Diff(cur, next)

	err = d.holdBack(cur, next, changes)
	if _, ok := isHeld(err); !ok {
		t.Fatalf("dropping authorization was not held: %v", err)
	}
	if !strings.Contains(logs.String(), "held back: ") || !strings.Contains(logs.String(), "client authorization would be removed") ||
		!strings.Contains(logs.String(), "It would change: authorization.user: u -> ") {
		t.Fatalf("the log does not say what is held and why:\n%s", logs.String())
	}
	if _, ok := isHeld(d.holdBack(cur, next, changes)); !ok {
		t.Fatal("another look at the same write applied it")
	}
	if n := strings.Count(logs.String(), "held back"); n != 1 {
		t.Fatalf("the same hold was logged %d times", n)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(next.ConfigFile, later, later); err != nil {
		t.Fatal(err)
	}
	if err := d.holdBack(cur, next, changes); err != nil {
		t.Fatalf("the same content written again is still held: %v", err)
	}
	var h *heldError
	if !errors.As(&heldError{reasons: []string{"x"}}, &h) || !strings.Contains(h.Error(), "SIGHUP") {
		t.Fatal("a held error does not say how to apply it")
	}
}
