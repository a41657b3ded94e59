package jsclustertest_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/jsclustertest"
)

// advisoryAccounts: JetStream in APP (the clients' account when they give
// no credentials), and a system account with a user.
const advisoryAccounts = `accounts {
  APP { jetstream: enabled, users [ { user: app, password: app } ] }
  SYS { users [ { user: sys, password: sys } ] }
}
system_account: SYS
no_auth_user: app`

// advisory is one advisory read: its subject and decoded payload.
type advisory struct {
	subject string
	body    map[string]any
}

// nextAdvisory reads sub until an advisory on subject arrives (others are
// passed over) or timeout.
func nextAdvisory(t *testing.T, sub *nats.Subscription, subject string, timeout time.Duration) advisory {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var seen []string
	for {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			t.Fatalf("no %s on %s within %v (saw %s): %v", subject, sub.Subject, timeout, strings.Join(seen, ", "), err)
		}
		if m.Subject != subject {
			seen = append(seen, m.Subject)
			continue
		}
		var body map[string]any
		if err := json.Unmarshal(m.Data, &body); err != nil {
			t.Fatalf("%s is not JSON: %q", m.Subject, m.Data)
		}
		return advisory{m.Subject, body}
	}
}

// checkClusterAdvisory checks an advisory's type, the account it names
// (account: "" for the account's own copy, which names none) and that its
// replicas are the cluster's three servers.
func checkClusterAdvisory(t *testing.T, a advisory, typ, account string) {
	t.Helper()
	if a.body["type"] != "io.nats.jetstream.advisory.v1."+typ {
		t.Errorf("%s: type %v, want %s", a.subject, a.body["type"], typ)
	}
	if got, _ := a.body["account"].(string); got != account {
		t.Errorf("%s: account %q, want %q", a.subject, got, account)
	}
	if id, _ := a.body["id"].(string); len(id) != 22 {
		t.Errorf("%s: id %q", a.subject, a.body["id"])
	}
	replicas, _ := a.body["replicas"].([]any)
	names := map[string]bool{}
	for _, r := range replicas {
		if p, ok := r.(map[string]any); ok {
			if n, _ := p["name"].(string); n != "" && p["peer"] != "" {
				names[n] = true
			}
		}
	}
	if len(replicas) != 3 || !names["n1"] || !names["n2"] || !names["n3"] {
		t.Errorf("%s: replicas %v, want n1, n2 and n3", a.subject, a.body["replicas"])
	}
}

// The cluster's JetStream advisories, side by side with nats-server
// (recorded from v2.15.2 first): a replicated stream's and its consumer's
// leader elected reach the account and, naming the account, the system
// account; the meta leader's DOMAIN.LEADER_ELECTED reaches the system
// account only; and when the stream's leader loses its majority (the two
// other servers killed), STREAM.QUORUM_LOST and CONSUMER.QUORUM_LOST reach
// both. natsd's leader steps down, and says so, within an election
// timeout; nats-server takes 10–20 s.
func TestClusterAdvisories(t *testing.T) {
	t.Parallel()
	forEachKind(t, func(t *testing.T, kind jsclustertest.Kind) {
		c := jsclustertest.Start(t, kind, 3, jsclustertest.Options{ExtraConfig: advisoryAccounts})
		subscribe := func(nc *nats.Conn) *nats.Subscription {
			t.Helper()
			sub, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.>")
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			return sub
		}
		sysConn := c.Connect(0, nats.UserInfo("sys", "sys"))
		app, sys := subscribe(c.Connect(0)), subscribe(sysConn)

		js := c.JetStream(0)
		addStream(t, js, "ADV", 3)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := js.CreateConsumer(ctx, "ADV", jetstream.ConsumerConfig{Durable: "C", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
			t.Fatal(err)
		}
		for _, s := range []struct {
			sub     *nats.Subscription
			account string
		}{{app, ""}, {sys, "APP"}} {
			a := nextAdvisory(t, s.sub, "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.ADV", 10*time.Second)
			checkClusterAdvisory(t, a, "stream_leader_elected", s.account)
			if a.body["stream"] != "ADV" || a.body["leader"] == "" {
				t.Errorf("%s: %v", a.subject, a.body)
			}
			a = nextAdvisory(t, s.sub, "$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.ADV.C", 10*time.Second)
			checkClusterAdvisory(t, a, "consumer_leader_elected", s.account)
			if a.body["stream"] != "ADV" || a.body["consumer"] != "C" {
				t.Errorf("%s: %v", a.subject, a.body)
			}
		}

		// A stream step-down is no lost quorum: the next leader announces
		// itself, and nothing says the quorum was lost (checked below).
		if _, err := c.Connect(0).Request("$JS.API.STREAM.LEADER.STEPDOWN.ADV", nil, 10*time.Second); err != nil {
			t.Fatalf("stream step-down: %v", err)
		}
		for _, sub := range []*nats.Subscription{app, sys} {
			nextAdvisory(t, sub, "$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.ADV", 20*time.Second)
		}

		// The meta leader steps down: the next announces itself.
		if _, err := sysConn.Request("$JS.API.META.LEADER.STEPDOWN", []byte("{}"), 10*time.Second); err != nil {
			t.Fatalf("meta step-down: %v", err)
		}
		a := nextAdvisory(t, sys, "$JS.EVENT.ADVISORY.DOMAIN.LEADER_ELECTED", 20*time.Second)
		checkClusterAdvisory(t, a, "domain_leader_elected", "")
		if leader, _ := a.body["leader"].(string); leader == "" || a.body["cluster"] != c.ClusterName() {
			t.Errorf("%s: leader %v, cluster %v (want %s)", a.subject, a.body["leader"], a.body["cluster"], c.ClusterName())
		}

		// The account never sees the meta group's advisory, and neither
		// step-down lost a quorum.
		for _, sub := range []*nats.Subscription{app, sys} {
			for {
				m, err := sub.NextMsg(300 * time.Millisecond)
				if err != nil {
					break
				}
				if (sub == app && strings.Contains(m.Subject, "DOMAIN")) || strings.Contains(m.Subject, "QUORUM_LOST") {
					t.Errorf("%s received %s", sub.Subject, m.Subject)
				}
			}
		}

		// The stream's leader alone: it loses its majority. Listeners on
		// that server only, so that they hear it.
		leader := c.WaitStreamLeader("ADV", 20*time.Second)
		app = subscribe(c.ConnectOnly(leader))
		sys = subscribe(c.ConnectOnly(leader, nats.UserInfo("sys", "sys")))
		for i := range c.N() {
			if i != leader {
				c.Kill9(i)
			}
		}
		t.Logf("killed all but the stream's leader %s", c.Name(leader))
		for _, s := range []struct {
			sub     *nats.Subscription
			account string
		}{{app, ""}, {sys, "APP"}} {
			a := nextAdvisory(t, s.sub, "$JS.EVENT.ADVISORY.STREAM.QUORUM_LOST.ADV", 40*time.Second)
			checkClusterAdvisory(t, a, "stream_quorum_lost", s.account)
			if a.body["stream"] != "ADV" {
				t.Errorf("%s: %v", a.subject, a.body)
			}
			a = nextAdvisory(t, s.sub, "$JS.EVENT.ADVISORY.CONSUMER.QUORUM_LOST.ADV.C", 40*time.Second)
			checkClusterAdvisory(t, a, "consumer_quorum_lost", s.account)
			if a.body["stream"] != "ADV" || a.body["consumer"] != "C" {
				t.Errorf("%s: %v", a.subject, a.body)
			}
		}
		if kind == jsclustertest.Natsd && !strings.Contains(c.Log(leader), "JetStream cluster stream has no quorum, stalled") {
			t.Error("natsd logged no warning for the lost quorum")
		}
	})
}
