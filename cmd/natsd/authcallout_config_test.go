package main

import (
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// natsd starts with exactly the auth_callout configs nats-server v2.15.2
// starts with, and its -t says so (nats-server's -t passes an operator
// config with a callout that it then refuses to start with). Each case runs
// nats-server -t and nats-server, natsd -t and natsd, on the same file.
func TestAuthCalloutConfigVerdicts(t *testing.T) {
	const (
		issuer = "ACL3QCHQYTAQB5PT3TAKWRGZGITGIHKBSZGZPKCMTRUOFHLTGCX7IBY5"
		user   = "UACFCKRWLHEQR5XBVI646WLABZPBKXSRU4R2A5FT4GBXG5NWNYSRJTOD"
		xkey   = "XB77AIAKXK4NKIB4JCWBPNFYFX7UB5JXHF5OC5CXEYROH6BTS3UH2KVN"
	)
	users := "authorization {\n  users: [ {user: auth, password: pwd} ]\n"
	block := func(lines ...string) string {
		return users + "  auth_callout {\n    " + strings.Join(lines, "\n    ") + "\n  }\n}\n"
	}
	op := newOperator(t)
	cases := []struct {
		name, conf string
		starts     bool   // nats-server starts with it, and so must natsd
		refT       int    // nats-server -t exit status
		refMsg     string // what nats-server prints when it refuses to start
		natsdMsg   string // natsd -t's error or warning ("line:col: …")
	}{
		{name: "good", starts: true, conf: block("issuer: "+issuer, "auth_users: [ auth ]", "xkey: "+xkey)},
		{name: "aliases", starts: true,
			conf: users + "  auth_hook {\n    issuer: " + issuer + "\n    users: [ auth ]\n    key: " + xkey + "\n    acc: \"$G\"\n  }\n}\n"},
		{name: "no issuer", refT: 1, conf: block("auth_users: [ auth ]"),
			refMsg:   "Authorization callouts require an issuer to be specified",
			natsdMsg: "4:3: authorization.auth_callout: an auth callout needs an issuer"},
		{name: "issuer not an account key", refT: 1, conf: block("issuer: "+user, "auth_users: [ auth ]"),
			refMsg:   "Expected callout user to be a valid public account nkey",
			natsdMsg: "5:13: authorization.auth_callout.issuer: not a valid public account nkey"},
		{name: "no auth users", refT: 1, conf: block("issuer: " + issuer),
			refMsg:   "Authorization callouts require authorized users to be specified",
			natsdMsg: "4:3: authorization.auth_callout: an auth callout needs its service's users"},
		{name: "empty auth users", refT: 1, conf: block("issuer: "+issuer, "auth_users: [ ]"),
			refMsg:   "Authorization callouts require authorized users to be specified",
			natsdMsg: "6:17: authorization.auth_callout.auth_users: an auth callout needs its service's users"},
		{name: "auth users not an array", refT: 1, conf: block("issuer: "+issuer, "auth_users: auth"),
			refMsg:   "Expected auth_users field to be an array",
			natsdMsg: "6:17: authorization.auth_callout.auth_users: expected an array of strings"},
		{name: "xkey not a curve key", refT: 1, conf: block("issuer: "+issuer, "auth_users: [ auth ]", "xkey: "+user),
			refMsg:   "Expected callout xkey to be a valid public xkey",
			natsdMsg: "7:11: authorization.auth_callout.xkey: not a valid public xkey"},
		{name: "unknown field", refT: 1, conf: block("issuer: "+issuer, "auth_users: [ auth ]", "timeout: 3"),
			refMsg:   `Unknown field "timeout" parsing authorization callout`,
			natsdMsg: `7:5: authorization.auth_callout.timeout: unknown field "timeout"`},
		{name: "not a block", refT: 1, conf: users + "  auth_callout: true\n}\n",
			refMsg:   "Expected authorization callout to be a map/struct",
			natsdMsg: "4:17: authorization.auth_callout: expected a block"},
		{name: "allowed account not configured", refT: 1,
			conf:     "accounts { APP {} }\n" + block("issuer: "+issuer, "auth_users: [ auth ]", "allowed_accounts: [ APP, NOPE ]"),
			refMsg:   `auth_callout allowed account "NOPE" not found in configured accounts`,
			natsdMsg: `8:30: authorization.auth_callout.allowed_accounts[1]: account "NOPE" is not configured in accounts`},
		{name: "allowed accounts not an array", refT: 1,
			conf:     "accounts { APP {} }\n" + block("issuer: "+issuer, "auth_users: [ auth ]", "allowed_accounts: APP"),
			refMsg:   "Expected allowed accounts field to be an array",
			natsdMsg: "8:23: authorization.auth_callout.allowed_accounts: expected an array of strings"},
		{name: "account missing", starts: true, conf: block("issuer: "+issuer, "account: MISSING", "auth_users: [ auth ]"),
			natsdMsg: `6:5: authorization.auth_callout.account: account "MISSING" does not exist`},
		{name: "auth user not configured", starts: true, conf: block("issuer: "+issuer, "auth_users: [ nobody ]"),
			natsdMsg: `6:19: authorization.auth_callout.auth_users[0]: "nobody" is not a configured user`},
		{name: "callout in cluster authorization", refT: 1,
			conf:     "cluster {\n  listen: 127.0.0.1:-1\n  authorization {\n    user: a\n    password: b\n    auth_callout { issuer: " + issuer + ", auth_users: [ a ] }\n  }\n}\n",
			refMsg:   "Cluster authorization does not support callouts",
			natsdMsg: "7:5: cluster.authorization.auth_callout: cluster authorization does not support callouts"},
		{name: "operator mode", refT: 0,
			conf:     "authorization {\n  auth_callout {\n    issuer: " + issuer + "\n    auth_users: [ auth ]\n  }\n}\n" + op.memoryConf(),
			refMsg:   "operators do not allow authorization callouts to be configured directly",
			natsdMsg: "3:3: authorization.auth_callout: operators do not allow authorization callouts to be configured directly"},
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
