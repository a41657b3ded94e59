package main

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// Regression tests for the holes an adversarial review found (issue 10).
// Each attack is made as the attacker would: a raw socket speaking the
// protocol by hand. The answers expected are nats-server v2.15.2's,
// recorded by running it with the same configs.

// noAuthUserConf has an administrator, a narrow guest and no_auth_user.
const noAuthUserConf = `
authorization {
  users [
    {user: admin, password: p}
    {user: guest, password: g, permissions: {publish: "pub.>", subscribe: "sub.>"}}
  ]
  timeout: 1
}
no_auth_user: guest
`

// A client that never sends CONNECT is the no_auth_user from its first
// byte: guest's permissions apply (nats-server answers these exact -ERRs),
// it sees nothing admin publishes and reaches no one admin listens to.
func TestNoAuthUserPermissionsApplyBeforeConnect(t *testing.T) {
	p := startNatsdConf(t, noAuthUserConf)
	admin := connect(t, p.ClientURL(), nats.UserInfo("admin", "p"))
	all, err := admin.SubscribeSync(">")
	if err != nil {
		t.Fatal(err)
	}
	_ = admin.Flush()

	raw := testutil.DialProto(t, p.ClientAddr())
	raw.Send("SUB > 1\r\nSUB sub.x 2\r\nPUB admin.cmd 2\r\nhi\r\nPUB pub.x 2\r\nok\r\n")
	got := testutil.Lines(raw.Flush())
	want := []string{
		`-ERR 'Permissions Violation for Subscription to ">"'`, "+OK",
		`-ERR 'Permissions Violation for Publish to "admin.cmd"'`, "+OK",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("before CONNECT got %q, want %q", got, want)
	}

	// What guest may publish arrives; what it may not never did.
	if m := nextMsg(t, all); m.Subject != "pub.x" {
		t.Fatalf("admin got %q first, want pub.x (admin.cmd must not pass)", m.Subject)
	}
	// What admin publishes reaches guest only where guest may subscribe.
	_ = admin.Publish("admin.secret", []byte("s3cret"))
	_ = admin.Publish("sub.x", []byte("for guest"))
	_ = admin.Flush()
	frames := raw.Recv(1)
	if len(frames) != 1 || frames[0].Line != "MSG sub.x 2 9" {
		t.Fatalf("guest got %q, want only MSG sub.x", testutil.Lines(frames))
	}
}

// A client that sends nothing is closed at the auth timeout when
// authorization is configured, also with no_auth_user; one that sends
// CONNECT in time stays.
func TestNoAuthUserSilentClientClosedAtAuthTimeout(t *testing.T) {
	p := startNatsdConf(t, noAuthUserConf)
	silent := testutil.DialProto(t, p.ClientAddr())
	connected := testutil.DialProto(t, p.ClientAddr())
	connected.Send("CONNECT {\"verbose\":false}\r\n")
	if got := silent.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'Authentication Timeout'"}) {
		t.Fatalf("silent client got %q, want the auth timeout", got)
	}
	if got := connected.Flush(); len(got) != 0 {
		t.Fatalf("connected client got %q", testutil.Lines(got))
	}
}

// startClusterNode starts natsd with a cluster listener whose config block
// is clusterBlock (without the listen line) and returns it with its
// cluster address.
func startClusterNode(t *testing.T, clusterBlock string, extra ...string) (*testutil.Proc, string) {
	t.Helper()
	cp := testutil.FreePort(t)
	conf := fmt.Sprintf("http: 127.0.0.1:-1\ncluster {\n  name: sec\n  listen: 127.0.0.1:%d\n%s\n}\n", cp, clusterBlock)
	return startNatsdConf(t, conf, extra...), net.JoinHostPort("127.0.0.1", strconv.Itoa(cp))
}

// Nothing but CONNECT is taken on the route port before a CONNECT passed:
// no interest can be registered, no message injected, no PING answered.
// The auth timeout is long, so only the violation can close the socket in
// time.
func TestRoutePortRefusesProtocolBeforeConnect(t *testing.T) {
	for _, auth := range []string{"", "authorization { user: ru, password: rp, timeout: 10 }"} {
		p, routeAddr := startClusterNode(t, auth)
		local := connect(t, p.ClientURL())
		orders, err := local.SubscribeSync("orders.new")
		if err != nil {
			t.Fatal(err)
		}
		_ = local.Flush()
		attacks := []struct{ name, in string }{
			{"RS+", "RS+ $G >\r\n"},
			{"RMSG", "RMSG $G orders.new 5\r\nforge\r\n"},
			{"HMSG", "HMSG $G orders.new 12 17\r\nNATS/1.0\r\n\r\nforge\r\n"},
			{"RS-", "RS- $G foo\r\n"},
			{"PING", "PING\r\n"},
			{"INFO", "INFO {\"server_id\":\"NFAKE\"}\r\n"},
			{"wrong credentials", "CONNECT {\"name\":\"NFAKE\",\"cluster\":\"sec\",\"user\":\"ru\",\"pass\":\"bad\"}\r\nRS+ $G >\r\n"},
		}
		for _, a := range attacks {
			if a.name == "wrong credentials" && auth == "" {
				continue
			}
			t.Run(fmt.Sprintf("auth=%v/%s", auth != "", a.name), func(t *testing.T) {
				raw := testutil.DialProto(t, routeAddr)
				raw.Send(a.in)
				_ = local.Publish("orders.new", []byte("real"))
				_ = local.Flush()
				got := raw.ReadUntilClosed()
				if len(got) == 0 || got[len(got)-1] != "-ERR 'Authorization Violation'" {
					t.Fatalf("got %q, want the connection closed with Authorization Violation", got)
				}
				for _, l := range got {
					if strings.HasPrefix(l, "RMSG") || strings.HasPrefix(l, "PONG") {
						t.Fatalf("unauthenticated route peer got %q", got)
					}
				}
				// The forged message never reached the local subscriber:
				// the first message it gets is the real one.
				if m := nextMsg(t, orders); string(m.Data) != "real" {
					t.Fatalf("local subscriber got %q", m.Data)
				}
			})
		}
	}
}
