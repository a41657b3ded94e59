package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// The config watcher never serves a partial write (docs/reload.md, "What
// the watcher applies").

// authOK checks, at one moment, that the client listener is where it was
// and still demands credentials.
func authOK(url string) error {
	nc, err := nats.Connect(url, nats.UserInfo("u", "p"), nats.Timeout(time.Second), nats.NoReconnect())
	if err != nil {
		return fmt.Errorf("a client with credentials cannot connect to %s: %v", url, err)
	}
	nc.Close()
	nc, err = nats.Connect(url, nats.Timeout(time.Second), nats.NoReconnect())
	if err == nil {
		nc.Close()
		return errors.New("a client without credentials was let in: authorization is off")
	}
	return nil
}

// holdsFor checks cond over and over for d: the negative half of a test,
// which can only watch for a bounded time (several debounce periods).
func holdsFor(t *testing.T, d time.Duration, cond func() error) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); {
		if err := cond(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A writer that writes part of the file, pauses far longer than the
// debounce, then finishes: natsd serves the old config throughout (auth on,
// listener where it was, every setting kept) and applies the whole file
// once the writer closes it.
func TestWatchNeverServesHalfWrittenFile(t *testing.T) {
	const auth = "authorization { user: u, password: p }\n"
	cases := map[string]struct{ half, rest string }{
		// The half parses and drops authorization.
		"cut before authorization": {"", auth + "max_connections: 5\nmax_payload: 2KB\n"},
		// The half parses, keeps authorization and most settings: only
		// the writer's close says it is not complete.
		"cut before the last line": {auth + "max_payload: 2KB\n", "max_connections: 5\n"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			port := testutil.FreePort(t)
			head := fmt.Sprintf("http: 127.0.0.1:-1\nlisten: 127.0.0.1:%d\n", port)
			c.half = head + c.half
			n := startConfNode(t, head+auth+"max_connections: 5\nmax_payload: 1MB\n", 0)
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			varz := func() map[string]any { return httpGet(t, n.MonitorURL()+"/varz") }

			f, err := os.OpenFile(n.path, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.WriteString(c.half); err != nil {
				t.Fatal(err)
			}
			// The watcher has looked at the half-written file and waits for
			// the writer: it says so once.
			testutil.Eventually(t, syncWait, func() error {
				if !strings.Contains(n.Log(), "Config file is being written") {
					return errors.New("natsd did not say it waits for the writer")
				}
				return nil
			})
			// The writer goes on pausing, seven debounce periods more (the
			// condition under test, not a wait for an outcome): the old
			// config serves throughout.
			holdsFor(t, 1400*time.Millisecond, func() error {
				if err := authOK(url); err != nil {
					return err
				}
				if v := varz()["max_connections"].(float64); v != 5 {
					return fmt.Errorf("max_connections is %v: part of the half-written file was applied", v)
				}
				return nil
			})
			if strings.Contains(n.Log(), "Reloaded") {
				t.Fatal("natsd reloaded the half-written file")
			}
			if _, err := f.WriteString(c.rest); err != nil {
				t.Fatal(err)
			}
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			testutil.Eventually(t, 5*time.Second, func() error {
				if v := varz()["max_payload"].(float64); v != 2048 {
					return fmt.Errorf("max_payload %v: the complete file is not applied", v)
				}
				return nil
			})
			if err := authOK(url); err != nil {
				t.Fatal(err)
			}
			if v := varz()["max_connections"].(float64); v != 5 {
				t.Fatalf("max_connections is %v after the complete file", v)
			}
			if k := strings.Count(n.Log(), "Reloaded server configuration"); k != 1 {
				t.Fatalf("%d reloads, want the one of the complete file", k)
			}
		})
	}
}

// A config file (or an include) truncated to nothing is held back: the old
// config keeps serving, /varz and systemd's STATUS say it is held, and
// SIGHUP applies it.
func TestWatchHoldsEmptiedFile(t *testing.T) {
	for _, emptied := range []string{"natsd.conf", "auth.conf"} {
		t.Run(emptied, func(t *testing.T) {
			t.Parallel()
			ns := newNotifySocket(t)
			dir := t.TempDir()
			conf := filepath.Join(dir, "natsd.conf")
			writeFile(t, conf, "include auth.conf\nmax_payload: 1MB\n")
			writeFile(t, filepath.Join(dir, "auth.conf"), "authorization { user: u, password: p }\n")
			port, httpPort := testutil.FreePort(t), testutil.FreePort(t)
			p := testutil.StartEnv(t, []string{"NOTIFY_SOCKET=" + ns.path}, testutil.NatsdBin(t),
				"-c", conf, "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-m", strconv.Itoa(httpPort))
			if m := ns.next(t, 10*time.Second); !strings.HasPrefix(m, "READY=1") {
				t.Fatalf("first notify message %q", m)
			}
			url := fmt.Sprintf("nats://127.0.0.1:%d", port)
			varzURL := fmt.Sprintf("http://127.0.0.1:%d/varz", httpPort)

			if err := os.Truncate(filepath.Join(dir, emptied), 0); err != nil {
				t.Fatal(err)
			}
			var held string
			testutil.Eventually(t, 5*time.Second, func() error {
				if err := authOK(url); err != nil {
					t.Fatal(err)
				}
				held, _ = httpGet(t, varzURL)["last_reload_error"].(string)
				if held == "" {
					return errors.New("no reload outcome in /varz yet")
				}
				return nil
			})
			if !strings.Contains(held, "held back") || !strings.Contains(held, "client authorization would be removed") ||
				!strings.Contains(held, emptied+" sets nothing") || !strings.Contains(held, "SIGHUP") {
				t.Fatalf("last_reload_error %q does not say the reload is held, why, and how to apply it", held)
			}
			if !strings.Contains(p.Log(), "It would change: ") || !strings.Contains(p.Log(), "authorization.user: u -> ") {
				t.Fatalf("the log does not say what the held config would change:\n%s", p.Log())
			}
			if !waitStatus(t, ns, "reload held back") {
				t.Fatal("systemd STATUS does not say the reload is held")
			}
			if err := authOK(url); err != nil {
				t.Fatal(err)
			}

			p.Signal(syscall.SIGHUP) // the operator confirms
			testutil.Eventually(t, 5*time.Second, func() error {
				nc, err := nats.Connect(url, nats.Timeout(time.Second))
				if err != nil {
					return fmt.Errorf("SIGHUP did not apply the emptied file: %v", err)
				}
				nc.Close()
				return nil
			})
			if e, ok := httpGet(t, varzURL)["last_reload_error"]; ok && e != "" {
				t.Fatalf("last_reload_error %q after the SIGHUP applied the file", e)
			}
			// The SIGHUP applied it, not the watcher on its own: had the
			// watcher applied it before, there would be a file-change
			// reload; after, it would find nothing to change.
			testutil.Eventually(t, syncWait, func() error {
				if !strings.Contains(p.Log(), "Reloaded server configuration (SIGHUP)") {
					return errors.New("no SIGHUP reload in the log")
				}
				return nil
			})
			if strings.Contains(p.Log(), "Reloaded server configuration (file change)") {
				t.Fatal("the watcher applied the held config on its own")
			}
		})
	}
}

// waitStatus reports whether a STATUS= containing want arrives within a few
// seconds.
func waitStatus(t *testing.T, ns *notifySocket, want string) bool {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case m, ok := <-ns.msgs:
			if !ok {
				return false
			}
			if s, _ := field(m, "STATUS"); strings.Contains(s, want) {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Whole saves apply on their own: an editor's rename, `cp` over the file,
// and a Kubernetes ConfigMap update (a "..data" symlink swap), each twice.
func TestWatchAppliesWholeSaves(t *testing.T) {
	conf := func(payload string) string {
		return "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\nmax_payload: " + payload + "\n"
	}
	saves := map[string]struct {
		setup func(t *testing.T, dir string) string // returns the path natsd reads
		save  func(t *testing.T, dir, path, content string)
	}{
		"editor rename": {
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "natsd.conf") },
			save:  func(t *testing.T, _, path, content string) { saveAtomically(t, path, content) },
		},
		"cp over": {
			setup: func(t *testing.T, dir string) string { return filepath.Join(dir, "natsd.conf") },
			save: func(t *testing.T, _, path, content string) {
				src := testutil.WriteFile(t, "new.conf", content)
				if out, err := exec.Command("cp", src, path).CombinedOutput(); err != nil {
					t.Fatalf("cp: %v %s", err, out)
				}
			},
		},
		"kubernetes ..data swap": {
			// natsd.conf -> ..data/natsd.conf, ..data -> ..<version>
			setup: func(t *testing.T, dir string) string {
				path := filepath.Join(dir, "natsd.conf")
				if err := os.Symlink("..data/natsd.conf", path); err != nil {
					t.Fatal(err)
				}
				return path
			},
			save: func(t *testing.T, dir, _, content string) {
				version := filepath.Join(dir, fmt.Sprintf("..%d", time.Now().UnixNano()))
				if err := os.Mkdir(version, 0o755); err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(version, "natsd.conf"), content)
				tmp := filepath.Join(dir, "..data_tmp")
				if err := os.Symlink(filepath.Base(version), tmp); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
					t.Fatal(err)
				}
			},
		},
	}
	for name, s := range saves {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := s.setup(t, dir)
			s.save(t, dir, path, conf("1MB"))
			p := testutil.Start(t, testutil.NatsdBin(t), "-c", path)
			for _, want := range []int{2048, 4096} {
				s.save(t, dir, path, conf(strconv.Itoa(want)))
				testutil.Eventually(t, 5*time.Second, func() error {
					if v := httpGet(t, p.MonitorURL()+"/varz")["max_payload"].(float64); int(v) != want {
						return fmt.Errorf("max_payload %v, want %d", v, want)
					}
					return nil
				})
			}
		})
	}
}
