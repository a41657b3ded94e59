package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/daemon"
	"github.com/natsd/natsd/internal/testutil"
)

// The packaged seed.conf keeps JetStream off; its commented jetstream { }
// example, uncommented, loads and keeps the store in natsd.service's
// StateDirectory (packaging/test/check-packages.sh checks the same on the
// built package). Without store_dir natsd puts the store in
// $STATE_DIRECTORY, which systemd sets from StateDirectory=.

// stateDirectory is natsd.service's StateDirectory= (a name under
// /var/lib).
func stateDirectory(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "packaging", "systemd", "natsd.service"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "StateDirectory="); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatal("natsd.service has no StateDirectory=")
	return ""
}

func TestSeedConfJetStreamExample(t *testing.T) {
	seed := filepath.Join(testutil.RepoRoot(), "packaging", "seed.conf")
	o, _, err := daemon.Load(&daemon.Flags{ConfigFile: seed})
	if err != nil {
		t.Fatal(err)
	}
	if o.JetStream.Enabled {
		t.Fatal("the shipped seed.conf turns JetStream on")
	}
	// The example: from "# jetstream {" to "# }", uncommented (as
	// check-packages.sh's sed does).
	f, err := os.Open(seed)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var example []string
	sc := bufio.NewScanner(f)
	for in := false; sc.Scan(); {
		l := sc.Text()
		in = in || l == "# jetstream {"
		if in {
			example = append(example, strings.TrimPrefix(strings.TrimPrefix(l, "#"), " "))
			if l == "# }" {
				break
			}
		}
	}
	if len(example) < 3 {
		t.Fatalf("no jetstream { } example in %s", seed)
	}
	path := testutil.WriteFile(t, "jetstream.conf", strings.Join(example, "\n")+"\n")
	o, _, err = daemon.Load(&daemon.Flags{ConfigFile: path})
	if err != nil {
		t.Fatalf("the jetstream example does not load: %v\n%s", err, strings.Join(example, "\n"))
	}
	if want := "/var/lib/" + stateDirectory(t); !o.JetStream.Enabled || o.JetStream.StoreDir != want {
		t.Fatalf("the jetstream example: enabled %v, store_dir %q, want %q (natsd.service's StateDirectory)", o.JetStream.Enabled, o.JetStream.StoreDir, want)
	}
}

// Under systemd (STATE_DIRECTORY set; systemd joins several with ':'),
// `jetstream {}` without store_dir stores in the first.
func TestJetStreamStoreDirFromStateDirectory(t *testing.T) {
	t.Parallel()
	state, other, ports := t.TempDir(), t.TempDir(), t.TempDir()
	conf := testutil.WriteFile(t, "js.conf", "listen: 127.0.0.1:-1\njetstream {}\n")
	p := testutil.StartEnv(t, []string{"STATE_DIRECTORY=" + state + ":" + other}, testutil.NatsdBin(t), "-c", conf, "--ports_file_dir", ports)
	testutil.Eventually(t, 10*time.Second, func() error {
		files, _ := filepath.Glob(filepath.Join(ports, "*.ports"))
		if len(files) == 0 {
			return errors.New("no ports file yet")
		}
		b, err := os.ReadFile(files[0])
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &p.Ports); err != nil || len(p.Ports.Nats) == 0 {
			return fmt.Errorf("ports file %q: %v", b, err)
		}
		return nil
	})
	_, js := jsConnect(t, p.ClientURL())
	if _, err := js.CreateStream(jsCtx(t), jetstream.StreamConfig{Name: "HERE", Subjects: []string{"here"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, "jetstream", "$G", "streams", "HERE", "meta.json")); err != nil {
		t.Fatalf("the stream is not in $STATE_DIRECTORY: %v\n%s", err, p.Log())
	}
	if entries, _ := os.ReadDir(other); len(entries) > 0 {
		t.Fatalf("the second state directory was used: %v", entries)
	}
	if !strings.Contains(p.Log(), "store_dir="+state) {
		t.Fatalf("the log does not name the store:\n%s", p.Log())
	}
}
