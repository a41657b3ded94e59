package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// advisoryRun drives one server through what makes JetStream advisories
// (first recorded from nats-server v2.15.2 with apirecord): a stream
// created and updated, a consumer with max_deliver 2, a message naked
// twice (the second time at its last allowed delivery, so the next pull
// passes it by), another terminated, the consumer deleted, and the stream
// deleted with another consumer in it. It returns each advisory as
// "subject payload", with the payload's id and timestamp blanked, in
// arrival order; the API audit ($JS.EVENT.ADVISORY.API) aside, which
// natsd does not send. deliveries are the stream messages the three
// pulls got.
func advisoryRun(t *testing.T, url string) (advisories, deliveries []string) {
	t.Helper()
	nc := connect(t, url)
	adv, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	req := func(subj, body string) *nats.Msg {
		t.Helper()
		m, err := nc.Request(subj, []byte(body), 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", subj, err)
		}
		return m
	}
	req("$JS.API.STREAM.CREATE.ADV", `{"name":"ADV","subjects":["adv.>"]}`)
	req("$JS.API.STREAM.UPDATE.ADV", `{"name":"ADV","subjects":["adv.>"],"max_msgs":100}`)
	req("$JS.API.CONSUMER.CREATE.ADV.C", `{"stream_name":"ADV","config":{"durable_name":"C","ack_policy":"explicit","ack_wait":30000000000,"max_deliver":2}}`)
	req("adv.a", "m1")
	req("adv.b", "m2")
	for i := 0; i < 3; i++ {
		m := req("$JS.API.CONSUMER.MSG.NEXT.ADV.C", `{"batch":1,"no_wait":true}`)
		deliveries = append(deliveries, string(m.Data))
		if i < 2 {
			req(m.Reply, "-NAK")
		} else {
			req(m.Reply, "+TERM")
		}
	}
	req("$JS.API.CONSUMER.DELETE.ADV.C", "")
	// A consumer the stream's deletion takes with it.
	req("$JS.API.CONSUMER.CREATE.ADV.D", `{"stream_name":"ADV","config":{"durable_name":"D","ack_policy":"explicit"}}`)
	req("$JS.API.STREAM.DELETE.ADV", "")
	// Read until the stream's deletion is announced (nats-server sends
	// some advisories from its own goroutines: CI once saw that one come
	// more than 300 ms after the one before), then 300 ms more for any
	// advisory that should not be there.
	deadline := time.Now().Add(10 * time.Second)
	streamDeleted := false
	for time.Now().Before(deadline) {
		wait := time.Until(deadline)
		if streamDeleted {
			wait = 300 * time.Millisecond
		}
		m, err := adv.NextMsg(wait)
		if err != nil {
			break
		}
		if m.Subject == "$JS.EVENT.ADVISORY.STREAM.DELETED.ADV" {
			streamDeleted = true
		}
		if m.Subject == "$JS.EVENT.ADVISORY.API" {
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal(m.Data, &ev); err != nil {
			t.Fatalf("advisory %s is not JSON: %q", m.Subject, m.Data)
		}
		if id, _ := ev["id"].(string); len(id) != 22 {
			t.Errorf("advisory %s: id %q", m.Subject, ev["id"])
		}
		if ts, _ := ev["timestamp"].(string); ts == "" {
			t.Errorf("advisory %s: no timestamp", m.Subject)
		} else if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
			t.Errorf("advisory %s: timestamp %q: %v", m.Subject, ts, err)
		}
		ev["id"], ev["timestamp"] = "<ID>", "<TIME>"
		b, _ := json.Marshal(ev)
		advisories = append(advisories, m.Subject+" "+string(b))
	}
	return advisories, deliveries
}

// JetStream's advisories are nats-server's: the same subjects, types and
// fields, in the same order, for the same actions — and a nak at the last
// allowed delivery ends the message's deliveries as nats-server does
// (natsd delivered it again before). The advisories stay in their
// account.
func TestJetStreamAdvisories(t *testing.T) {
	t.Parallel()
	got, pulled := map[string][]string{}, map[string]string{}
	conf := `accounts {
  APP { jetstream: enabled, users [ { user: app, password: pass } ] }
  OTHER { users [ { user: other, password: pass } ] }
}
no_auth_user: app
`
	for _, impl := range implementations(t) {
		p := jsServer(t, impl.bin, conf)
		other, err := nats.Connect(p.ClientURL(), nats.UserInfo("other", "pass"))
		if err != nil {
			t.Fatal(err)
		}
		leak, _ := other.SubscribeSync("$JS.EVENT.ADVISORY.>")
		_ = other.Flush()
		advs, deliveries := advisoryRun(t, p.ClientURL())
		got[impl.name], pulled[impl.name] = advs, strings.Join(deliveries, ",")
		if m, err := leak.NextMsg(200 * time.Millisecond); err == nil {
			t.Errorf("%s: an advisory reached another account: %s", impl.name, m.Subject)
		}
		other.Close()
	}
	ref, ours := got["nats-server"], got["natsd"]
	if pulled["nats-server"] != "m1,m1,m2" {
		t.Fatalf("nats-server's pulls got %s: the reference changed", pulled["nats-server"])
	}
	if pulled["natsd"] != pulled["nats-server"] {
		t.Errorf("natsd's pulls got %s, nats-server's %s", pulled["natsd"], pulled["nats-server"])
	}
	if len(ref) != 11 {
		t.Fatalf("nats-server sent %d advisories, 11 expected:\n%s", len(ref), strings.Join(ref, "\n"))
	}
	if strings.Join(ours, "\n") != strings.Join(ref, "\n") {
		t.Errorf("advisories differ\nnatsd:\n%s\nnats-server:\n%s", strings.Join(ours, "\n"), strings.Join(ref, "\n"))
	}
	for _, want := range []string{"STREAM.CREATED.ADV", "STREAM.UPDATED.ADV", "CONSUMER.CREATED.ADV.C", "CONSUMER.MSG_NAKED.ADV.C",
		"CONSUMER.MAX_DELIVERIES.ADV.C", "CONSUMER.MSG_TERMINATED.ADV.C", "CONSUMER.DELETED.ADV.C", "STREAM.DELETED.ADV"} {
		if !strings.Contains(strings.Join(ours, "\n"), "$JS.EVENT.ADVISORY."+want+" ") {
			t.Errorf("natsd sent no %s advisory", want)
		}
	}
}

// A consumer deleted for inactivity is announced as one deleted through
// the API (nats-server does so; seen with an ephemeral, inactive_threshold
// 1s).
func TestJetStreamInactiveConsumerAdvisory(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			p := jsServer(t, impl.bin, "")
			nc := connect(t, p.ClientURL())
			adv, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.DELETED.E.*")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := nc.Request("$JS.API.STREAM.CREATE.E", []byte(`{"name":"E","subjects":["e.>"]}`), 10*time.Second); err != nil {
				t.Fatal(err)
			}
			m, err := nc.Request("$JS.API.CONSUMER.CREATE.E", []byte(`{"stream_name":"E","config":{"ack_policy":"explicit","inactive_threshold":500000000}}`), 10*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			var created struct {
				Name string `json:"name"`
			}
			if err := json.Unmarshal(m.Data, &created); err != nil || created.Name == "" {
				t.Fatalf("ephemeral create: %s", m.Data)
			}
			m, err = adv.NextMsg(10 * time.Second)
			if err != nil {
				t.Fatalf("no DELETED advisory for the inactive consumer %s: %v", created.Name, err)
			}
			var ev map[string]any
			_ = json.Unmarshal(m.Data, &ev)
			if m.Subject != "$JS.EVENT.ADVISORY.CONSUMER.DELETED.E."+created.Name || ev["type"] != "io.nats.jetstream.advisory.v1.consumer_action" ||
				ev["action"] != "delete" || ev["consumer"] != created.Name || ev["stream"] != "E" {
				t.Errorf("advisory %s %s", m.Subject, m.Data)
			}
		})
	}
}
