package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// natsd starts with exactly the configs nats-server v2.15.2 starts with,
// and its -t predicts that (nats-server's -t only parses: it passes files
// that then fail to start). Each case runs natsd -t, natsd, nats-server -t
// and nats-server as processes on the same file.
func TestConfigVerdictsMatchReference(t *testing.T) {
	cases := []struct {
		name, conf string
		starts     bool   // nats-server starts with it, and so must natsd
		refT       int    // nats-server -t exit status
		refMsg     string // what nats-server prints when it refuses to start
		natsdMsg   string // natsd -t's error or warning ("line:col: …")
	}{
		{
			name: "duplicate user", refT: 1,
			conf: "authorization {\n  users: [\n    { user: alice, password: one }\n" +
				"    { user: alice, password: two }\n  ]\n}\n",
			refMsg:   `Duplicate user "alice" detected`,
			natsdMsg: `5:7: authorization.users[1].user: duplicate user "alice" (first at line 4)`,
		},
		{
			name: "max_payload over max_pending", refT: 0,
			conf:     "max_pending: 1000\nmax_payload: 2000\n",
			refMsg:   "max_payload (2000) cannot be higher than max_pending (1000)",
			natsdMsg: "3:1: max_payload: 2000 must not exceed max_pending (1000)",
		},
		{
			name: "no_auth_user not configured", refT: 0,
			conf:     "authorization {\n  users: [ { user: a, password: b } ]\n}\nno_auth_user: nobody\n",
			refMsg:   `no_auth_user: "nobody" not present as user or nkey`,
			natsdMsg: `5:1: no_auth_user: "nobody" is not one of the configured users`,
		},
		{
			name: "allow_responses max -1", refT: 0, starts: true,
			conf: "authorization {\n  users: [ { user: a, password: b, permissions: { allow_responses: { max: -1 } } } ]\n}\n",
		},
		{
			name: "allow_responses max 0", refT: 0, starts: true,
			conf:     "authorization {\n  users: [ { user: a, password: b, permissions: { allow_responses: { max: 0 } } } ]\n}\n",
			natsdMsg: "3:75: authorization.users[0].permissions.allow_responses.max: 0 is read as the default, 1",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			file := testutil.WriteFile(t, "v.conf", "listen: 127.0.0.1:-1\n"+c.conf)

			ref := testutil.StartNoWait(t, testutil.NatsServerBin(t), "-t", "-c", file)
			if code := ref.ExitCode(10 * time.Second); code != c.refT {
				t.Fatalf("the reference changed: nats-server -t exit %d, recorded %d\n%s", code, c.refT, ref.Log())
			}
			checkStarts(t, testutil.NatsServerBin(t), file, c.starts, c.refMsg)

			out, err := runNatsd(t, "-t", "-c", file)
			if (err == nil) != c.starts {
				t.Fatalf("natsd -t: %v, want it to pass exactly when nats-server starts (%v)\n%s", err, c.starts, out)
			}
			if c.natsdMsg != "" && !strings.Contains(out, file+":"+c.natsdMsg) {
				t.Fatalf("natsd -t output lacks %s:%s\n%s", file, c.natsdMsg, out)
			}
			checkStarts(t, testutil.NatsdBin(t), file, c.starts, c.natsdMsg)
		})
	}
}

// checkStarts runs bin -c file and checks that it serves, or that it exits
// non-zero saying msg.
func checkStarts(t *testing.T, bin, file string, starts bool, msg string) {
	t.Helper()
	if starts {
		p := testutil.Start(t, bin, "-c", file)
		p.Stop()
		return
	}
	p := testutil.StartNoWait(t, bin, "-c", file)
	if code := p.ExitCode(10 * time.Second); code == 0 || !strings.Contains(p.Log(), msg) {
		t.Fatalf("%s -c: exit %d, want a refusal saying %q\n%s", bin, code, msg, p.Log())
	}
}

// allow_responses { max: -1 } lifts the reply limit: a responder may answer
// one request any number of times, as with nats-server.
func TestAllowResponsesUnlimited(t *testing.T) {
	conf := "listen: 127.0.0.1:-1\nauthorization {\n  users: [\n" +
		"    { user: svc, password: p, permissions: { subscribe: req, allow_responses: { max: -1 } } }\n" +
		"    { user: cli, password: p }\n  ]\n}\n"
	for name, bin := range map[string]string{"natsd": testutil.NatsdBin(t), "nats-server": testutil.NatsServerBin(t)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := testutil.Start(t, bin, "-c", testutil.WriteFile(t, "r.conf", conf))
			errs := make(chan error, 10)
			svc := connect(t, p.ClientURL(), nats.UserInfo("svc", "p"),
				nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
			const replies = 5
			if _, err := svc.Subscribe("req", func(m *nats.Msg) {
				for i := range replies {
					_ = svc.Publish(m.Reply, []byte(fmt.Sprint(i)))
				}
			}); err != nil {
				t.Fatal(err)
			}
			_ = svc.Flush()
			cli := connect(t, p.ClientURL(), nats.UserInfo("cli", "p"))
			inbox, _ := cli.SubscribeSync("inbox.1")
			if err := cli.PublishRequest("req", "inbox.1", nil); err != nil {
				t.Fatal(err)
			}
			for i := range replies {
				if _, err := inbox.NextMsg(3 * time.Second); err != nil {
					t.Fatalf("reply %d of %d: %v (responder errors: %v)", i+1, replies, err, drain(errs))
				}
			}
			_ = svc.Flush()
			if e := drain(errs); len(e) > 0 {
				t.Fatalf("responder refused: %v", e)
			}
		})
	}
}

func drain(ch chan error) []error {
	var out []error
	for {
		select {
		case err := <-ch:
			out = append(out, err)
		default:
			return out
		}
	}
}
