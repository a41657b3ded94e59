package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// Operator mode as docs/accounts.md tells a user to run it: the nsc, natsd
// and nats command lines of its "Operator mode" section are read from the
// doc and run as they are written (nsc v2.11.0, natscli v0.5.0), in a
// fresh home directory, against natsd and nats-server v2.15.2 alike. Only
// the port differs: the doc's 127.0.0.1:4222 becomes the server's free
// port. A doc that drifts from what the tools and natsd do fails here.

// docStep is one command line of the doc's sh blocks.
type docStep struct {
	where string // accounts.md:LINE
	args  []string
	out   string // file after ">", or ""
}

// operatorDocSteps reads the sh blocks of the "Operator mode" section of
// docs/accounts.md.
func operatorDocSteps(t *testing.T) []docStep {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "docs", "accounts.md"))
	if err != nil {
		t.Fatal(err)
	}
	start := strings.Index(string(src), "\n## Operator mode")
	if start < 0 {
		t.Fatal("docs/accounts.md has no \"## Operator mode\" section")
	}
	end := strings.Index(string(src[start+1:]), "\n## ")
	if end < 0 {
		end = len(src) - start - 1
	}
	section := src[:start+1+end] // whole lines before the section keep the line numbers right
	var steps []docStep
	for _, b := range testutil.MarkdownBlocks(section) {
		if b.Lang != "sh" || b.Line < strings.Count(string(src[:start]), "\n") {
			continue
		}
		for i, line := range strings.Split(string(b.Text), "\n") {
			if j := strings.Index(line, "#"); j >= 0 {
				line = line[:j]
			}
			f := strings.Fields(line)
			if len(f) == 0 {
				continue
			}
			where := "accounts.md:" + strconv.Itoa(b.Line+1+i)
			if strings.ContainsAny(line, `'"|&;$`) {
				t.Fatalf("%s: %q: this test runs plain command lines (words and one > file)", where, line)
			}
			s := docStep{where: where, args: f}
			if k := len(f) - 2; k > 0 && f[k] == ">" {
				s.args, s.out = f[:k], f[k+1]
			}
			steps = append(steps, s)
		}
	}
	return steps
}

// docRun runs the doc's command lines in a home of their own.
type docRun struct {
	t    *testing.T
	dir  string // the working directory: where the config is written and natsd runs
	home string
	env  []string
	bins map[string]string // nsc, nats → the pinned binaries
	url  string            // the server's client URL, once it runs
}

func newDocRun(t *testing.T) *docRun {
	root := t.TempDir()
	r := &docRun{t: t, dir: filepath.Join(root, "work"), home: filepath.Join(root, "home"),
		bins: map[string]string{"nsc": testutil.NscBin(t), "nats": testutil.NatsCLIBin(t)}}
	for _, d := range []string{r.dir, r.home} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// nsc's and natscli's places, all under the fresh home, where they are
	// by default (so the doc's ~/.local/share/nats/nsc/keys/... is right),
	// whatever the environment running the test says.
	r.env = append(os.Environ(),
		"HOME="+r.home,
		"XDG_CONFIG_HOME="+filepath.Join(r.home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(r.home, ".local", "share"),
		"NSC_HOME="+filepath.Join(r.home, ".config", "nats", "nsc"),
		"NKEYS_PATH="+filepath.Join(r.home, ".local", "share", "nats", "nsc", "keys"),
	)
	return r
}

// path is a doc path as the shell would read it: ~ is the home, relative
// paths are in the working directory.
func (r *docRun) path(p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		return filepath.Join(r.home, rest)
	}
	if !filepath.IsAbs(p) {
		return filepath.Join(r.dir, p)
	}
	return p
}

// run runs one of the doc's steps and returns its output.
func (r *docRun) run(s docStep) string {
	r.t.Helper()
	out, err := r.tryRun(s)
	if err != nil {
		r.t.Fatalf("%s: %s: %v\n%s", s.where, strings.Join(s.args, " "), err, out)
	}
	return out
}

// tryRun runs one of the doc's steps and returns its output and error.
func (r *docRun) tryRun(s docStep) (string, error) {
	r.t.Helper()
	bin, ok := r.bins[s.args[0]]
	if !ok {
		r.t.Fatalf("%s: %s: not a command this test runs", s.where, strings.Join(s.args, " "))
	}
	args := make([]string, 0, len(s.args))
	for _, a := range s.args[1:] {
		if r.url != "" {
			a = strings.ReplaceAll(a, "nats://127.0.0.1:4222", r.url)
		}
		if strings.HasPrefix(a, "~/") {
			a = r.path(a)
		}
		args = append(args, a)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = r.dir, r.env
	if r.url != "" {
		cmd.Env = append(cmd.Env, "NATS_URL="+r.url) // natscli's server, where the doc names none
	}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), err
	}
	if s.out != "" {
		if err := os.WriteFile(r.path(s.out), []byte(stdout.String()), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
	return stdout.String() + stderr.String(), nil
}

// pick returns the one step whose line starts with prefix.
func pick(t *testing.T, steps []docStep, prefix string) docStep {
	t.Helper()
	var found []docStep
	for _, s := range steps {
		if strings.HasPrefix(strings.Join(s.args, " "), prefix) {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("docs/accounts.md's operator section has %d command lines starting %q, want 1", len(found), prefix)
	}
	return found[0]
}

func TestOperatorModeWithNscAsDocumented(t *testing.T) {
	steps := operatorDocSteps(t)
	var setup []docStep // nsc add …: the operator, its system account, APP and alice
	for _, s := range steps {
		if s.args[0] == "nsc" && len(s.args) > 1 && s.args[1] == "add" {
			setup = append(setup, s)
		}
	}
	if len(setup) < 3 {
		t.Fatalf("docs/accounts.md's operator section has %d `nsc add` lines, want the operator, an account and a user", len(setup))
	}
	fullConf := pick(t, steps, "nsc generate config --nats-resolver")
	memConf := pick(t, steps, "nsc generate config --mem-resolver")
	push := pick(t, steps, "nsc push")
	pub := pick(t, steps, "nats --creds")
	if fullConf.out == "" || fullConf.out != memConf.out {
		t.Fatalf("%s and %s: want both written (>) to the file natsd -c reads", fullConf.where, memConf.where)
	}
	// The user's credentials file, which the doc's nats line uses.
	creds := ""
	for i, a := range pub.args {
		if a == "--creds" && i+1 < len(pub.args) {
			creds = pub.args[i+1]
		}
	}

	for _, impl := range implementations(t) {
		// The full resolver: the config holds only the system account; APP
		// is unknown until nsc pushes it, then alice logs in.
		t.Run(impl.name+"/nats-resolver", func(t *testing.T) {
			r := newDocRun(t)
			for _, s := range setup {
				r.run(s)
			}
			r.run(fullConf)
			conf := r.startServer(impl.bin, fullConf.out, "type: full", "dir: './jwt'", "resolver_preload")

			if _, err := nats.Connect(r.url, nats.UserCredentials(r.path(creds)), nats.Timeout(5*time.Second), nats.NoReconnect()); err == nil ||
				!strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
				t.Fatalf("alice before the push: %v, want an authorization violation", err)
			}
			out := r.run(push)
			if strings.Count(out, "jwt updated") < 2 { // APP and SYS
				t.Errorf("%s: %s:\n%s\nwant each account's jwt updated", push.where, strings.Join(push.args, " "), out)
			}
			jwts, _ := filepath.Glob(filepath.Join(r.dir, "jwt", "A*.jwt"))
			if len(jwts) != 2 {
				t.Errorf("the resolver's ./jwt (next to %s) holds %d account JWTs after the push, want APP's and SYS's", conf, len(jwts))
			}
			r.checkPublish(creds, pub)
		})
		// The memory resolver: every account in the config, no push.
		t.Run(impl.name+"/mem-resolver", func(t *testing.T) {
			r := newDocRun(t)
			for _, s := range setup {
				r.run(s)
			}
			r.run(memConf)
			r.startServer(impl.bin, memConf.out, "resolver: MEMORY", "resolver_preload")
			r.checkPublish(creds, pub)
			// nsc pushes on $SYS.REQ.CLAIMS.UPDATE, which a memory
			// resolver does not serve (nats-server's neither).
			if out, err := r.tryRun(push); err == nil || !strings.Contains(out, "no responders") {
				t.Errorf("%s against the memory resolver: %v\n%s\nwant nsc to find no responders", push.where, err, out)
			}
		})
	}
}

// startServer starts bin -c file in the working directory, as the doc
// says (`natsd -c natsd-operator.conf`), after checking the generated file
// holds what the doc says it does and adding a listen line for a free port.
func (r *docRun) startServer(bin, file string, holds ...string) string {
	r.t.Helper()
	path := r.path(file)
	b, err := os.ReadFile(path)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, h := range append([]string{"operator: ey", "system_account: A"}, holds...) {
		if !strings.Contains(string(b), h) {
			r.t.Fatalf("nsc's %s has no %q:\n%s", file, h, b)
		}
	}
	if err := os.WriteFile(path, append(b, "\nlisten: 127.0.0.1:-1\n"...), 0o644); err != nil {
		r.t.Fatal(err)
	}
	// Relative paths in the file (the full resolver's './jwt') are read
	// from the directory the server runs in.
	r.t.Chdir(r.dir)
	p := testutil.Start(r.t, bin, "-c", file)
	r.url = p.ClientURL()
	return path
}

// checkPublish runs the doc's `nats --creds … pub` line; a subscriber
// logged in with the same credentials receives it.
func (r *docRun) checkPublish(creds string, pub docStep) {
	r.t.Helper()
	nc := connect(r.t, r.url, nats.UserCredentials(r.path(creds)))
	subject, data := pub.args[len(pub.args)-2], pub.args[len(pub.args)-1]
	if pub.args[len(pub.args)-3] != "pub" {
		r.t.Fatalf("%s: %s: want `nats … pub SUBJECT DATA`", pub.where, strings.Join(pub.args, " "))
	}
	sub, err := nc.SubscribeSync(subject)
	if err != nil {
		r.t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		r.t.Fatal(err)
	}
	r.run(pub)
	nextIs(r.t, sub, subject, data)
	if err := nc.LastError(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		r.t.Errorf("alice's connection: %v", err)
	}
}
