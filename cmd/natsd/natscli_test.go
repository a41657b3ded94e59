package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// The `nats` CLI (natscli v0.5.0, pinned in the Makefile; `make test-deps`
// installs it and passes NATS_CLI_BIN) against natsd, as an operator runs
// it: publish, subscribe, request and reply, the connection check and a
// small benchmark, without and with user/password authorization. What the
// CLI sends or receives is checked from the other side with nats.go.

// natsCLI runs the nats CLI with a home of its own (no saved contexts) and
// no NATS_* variables from the environment.
type natsCLI struct {
	bin  string
	env  []string
	args []string // -s URL and the credentials, before the command
}

func newNatsCLI(t *testing.T, url string, creds ...string) *natsCLI {
	t.Helper()
	home := t.TempDir()
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=" + home, "NATS_CONTEXT=", "NATS_URL=", "NATS_USER=", "NATS_PASSWORD=", "NO_COLOR=1"}
	return &natsCLI{bin: testutil.NatsCLIBin(t), env: env, args: append([]string{"-s", url, "--timeout", "5s"}, creds...)}
}

// run runs one command to its end (at most 30 s) and returns what it
// printed, stdout and stderr together.
func (c *natsCLI) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, append(append([]string(nil), c.args...), args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("nats %s did not finish within 30s:\n%s", strings.Join(args, " "), out)
	}
	return string(out), err
}

// mustRun is run, failing the test if the command fails.
func (c *natsCLI) mustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, err := c.run(t, args...)
	if err != nil {
		t.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// start runs a command in the background (stopped when the test ends).
func (c *natsCLI) start(t *testing.T, args ...string) *testutil.Proc {
	t.Helper()
	return testutil.StartEnv(t, c.env, c.bin, append(append([]string(nil), c.args...), args...)...)
}

// waitSubscribed waits until a connection of p has a subscription on
// subject (/connz), so that what is published next reaches it.
func waitSubscribed(t *testing.T, p *testutil.Proc, subject string) {
	t.Helper()
	testutil.Eventually(t, syncWait, func() error {
		for _, c := range httpGet(t, p.MonitorURL()+"/connz?subs=1")["connections"].([]any) {
			subs, _ := c.(map[string]any)["subscriptions_list"].([]any)
			for _, s := range subs {
				if s == subject {
					return nil
				}
			}
		}
		return fmt.Errorf("no subscription on %s yet", subject)
	})
}

func TestNatsCLI(t *testing.T) {
	cases := []struct {
		name  string
		conf  string
		creds []string // for the CLI
		opts  []nats.Option
	}{
		{"no auth", "", nil, nil},
		{"user and password", "authorization { user: cli, password: s3cret }\n",
			[]string{"--user", "cli", "--password", "s3cret"}, []nats.Option{nats.UserInfo("cli", "s3cret")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := startNatsdConf(t, "http: 127.0.0.1:-1\n"+tc.conf)
			cli := newNatsCLI(t, p.ClientURL(), tc.creds...)
			nc := connect(t, p.ClientURL(), tc.opts...)

			t.Run("pub", func(t *testing.T) {
				sub, _ := nc.SubscribeSync("cli.pub")
				if err := nc.Flush(); err != nil {
					t.Fatal(err)
				}
				cli.mustRun(t, "pub", "cli.pub", "hello {{Count}}", "--count", "3", "-H", "K:v")
				for i := 1; i <= 3; i++ {
					m := nextMsg(t, sub)
					if string(m.Data) != fmt.Sprintf("hello %d", i) || m.Header.Get("K") != "v" {
						t.Fatalf("message %d: %q, headers %v", i, m.Data, m.Header)
					}
				}
			})

			t.Run("sub --count", func(t *testing.T) {
				s := cli.start(t, "sub", "cli.sub", "--count", "2")
				waitSubscribed(t, p, "cli.sub")
				_ = nc.Publish("cli.sub", []byte("first"))
				hm := nats.NewMsg("cli.sub")
				hm.Header.Set("Trace", "42")
				hm.Data = []byte("second")
				_ = nc.PublishMsg(hm)
				_ = nc.Flush()
				if code := s.ExitCode(syncWait); code != 0 {
					t.Fatalf("nats sub --count 2 exited %d:\n%s", code, s.Log())
				}
				out := s.Log()
				if strings.Count(out, `Received on "cli.sub"`) != 2 || !strings.Contains(out, "first") ||
					!strings.Contains(out, "second") || !strings.Contains(out, "Trace: 42") {
					t.Fatalf("nats sub printed:\n%s", out)
				}
			})

			t.Run("reply and request", func(t *testing.T) {
				// The CLI answers, nats.go asks...
				r := cli.start(t, "reply", "cli.svc", "pong {{Request}}")
				waitSubscribed(t, p, "cli.svc")
				m, err := nc.Request("cli.svc", []byte("ping"), syncWait)
				if err != nil || string(m.Data) != "pong ping" {
					t.Fatalf("request to nats reply: %v %q\n%s", err, msgData(m), r.Log())
				}
				// ...and the CLI asks nats.go, and the CLI replier.
				if _, err := nc.Subscribe("cli.echo", func(m *nats.Msg) { _ = m.Respond(append([]byte("echo "), m.Data...)) }); err != nil {
					t.Fatal(err)
				}
				_ = nc.Flush()
				if out := cli.mustRun(t, "request", "cli.echo", "hi"); !strings.Contains(out, "echo hi") {
					t.Fatalf("nats request printed:\n%s", out)
				}
				if out := cli.mustRun(t, "request", "cli.svc", "again"); !strings.Contains(out, "pong again") {
					t.Fatalf("nats request to nats reply printed:\n%s", out)
				}
				// No responders: the CLI says so (and exits 0, as it does
				// against nats-server v2.15.2).
				if out := cli.mustRun(t, "request", "cli.nobody", "x"); !strings.Contains(out, "No responders are available") {
					t.Fatalf("request without responders printed:\n%s", out)
				}
			})

			t.Run("server check connection", func(t *testing.T) {
				if out := cli.mustRun(t, "server", "check", "connection"); !strings.HasPrefix(out, "OK Connection") {
					t.Fatalf("nats server check connection printed:\n%s", out)
				}
			})

			t.Run("bench", func(t *testing.T) {
				const msgs = "2000"
				s := cli.start(t, "bench", "sub", "cli.bench", "--msgs", msgs, "--size", "16", "--no-progress")
				waitSubscribed(t, p, "cli.bench")
				out := cli.mustRun(t, "bench", "pub", "cli.bench", "--msgs", msgs, "--size", "16", "--no-progress")
				if !strings.Contains(out, "publisher stats:") {
					t.Fatalf("nats bench pub printed:\n%s", out)
				}
				// The subscriber ends only once it has all the messages.
				if code := s.ExitCode(syncWait); code != 0 || !strings.Contains(s.Log(), "subscriber stats:") {
					t.Fatalf("nats bench sub exited %d:\n%s", code, s.Log())
				}
			})

			if tc.creds != nil {
				t.Run("wrong password", func(t *testing.T) {
					bad := newNatsCLI(t, p.ClientURL(), "--user", "cli", "--password", "wrong")
					out, err := bad.run(t, "pub", "cli.pub", "x")
					var ee *exec.ExitError
					if !errors.As(err, &ee) || !strings.Contains(strings.ToLower(out), "authorization violation") {
						t.Fatalf("nats pub with a wrong password: %v\n%s", err, out)
					}
				})
			}
		})
	}
}

func msgData(m *nats.Msg) []byte {
	if m == nil {
		return nil
	}
	return m.Data
}
