package jscluster_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/natsd/natsd/internal/testutil"
)

// raftzRef is /raftz as nats-server v2.15.2 answered it (recorded on a
// 3-node cluster: the meta leader's /raftz, and /raftz?acc=APP on the
// leader of an R3 stream).
type raftzRef struct {
	MetaLeader map[string]map[string]map[string]any `json:"meta_leader"`
	AccountApp map[string]map[string]map[string]any `json:"account_app"`
}

// notServed are nats-server's fields natsd leaves out (its internal
// queues, and a log per group where natsd has one journal).
var notServed = []string{"ipq_proposal_len", "ipq_entry_len", "ipq_resp_len", "ipq_apply_len", "wal"}

func wantKeys(t *testing.T, group map[string]any) []string {
	t.Helper()
	var keys []string
	for k := range group {
		if !slices.Contains(notServed, k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func getRaftz(t *testing.T, nd *node, query string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(nd.proc.MonitorURL() + "/raftz" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

type raftzGroup map[string]any

func decodeRaftz(t *testing.T, b []byte) map[string]map[string]raftzGroup {
	t.Helper()
	var out map[string]map[string]raftzGroup
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("/raftz: %v: %s", err, b)
	}
	return out
}

// /raftz and $SYS.REQ.SERVER.PING.RAFTZ (`nats server request raft`) show
// each server's Raft groups with nats-server's fields: the meta group
// under the system account, a stream's group under its account, one
// leader each, the peers by name, the leader's replication progress.
func TestRaftz(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("testdata/raftz-nats-server-v2.15.2.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref raftzRef
	if err := json.Unmarshal(raw, &ref); err != nil {
		t.Fatal(err)
	}
	metaLeaderKeys := wantKeys(t, ref.MetaLeader["SYS"]["_meta_"])
	var streamFollowerKeys, streamLeaderKeys []string
	for _, g := range ref.AccountApp["APP"] {
		if g["state"] == "LEADER" {
			streamLeaderKeys = wantKeys(t, g)
		} else {
			streamFollowerKeys = wantKeys(t, g)
		}
	}

	nodes := startCluster(t, 3)
	nc, js := connect(t, nodes[0])
	// The stream's advisories come once, from the server that answers,
	// not from every replica.
	advs, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.STREAM.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "create R3 stream", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}, Replicas: 3})
		return err
	})

	var metaLeader, streamLeader int
	eventually(t, 15*time.Second, "one meta leader and one stream leader in /raftz", func() error {
		metaLeader, streamLeader = -1, -1
		for i, nd := range nodes {
			code, b := getRaftz(t, nd, "")
			if code != http.StatusOK {
				return fmt.Errorf("%s: /raftz %d %s", nd.name, code, b)
			}
			meta := decodeRaftz(t, b)["SYS"]["_meta_"]
			if meta == nil {
				return fmt.Errorf("%s: no SYS _meta_ in %s", nd.name, b)
			}
			if meta["state"] == "LEADER" {
				if metaLeader >= 0 {
					return fmt.Errorf("two meta leaders")
				}
				metaLeader = i
			}
			code, b = getRaftz(t, nd, "?acc=APP")
			groups := decodeRaftz(t, b)["APP"]
			if code != http.StatusOK || len(groups) != 1 {
				return fmt.Errorf("%s: /raftz?acc=APP %d %s", nd.name, code, b)
			}
			for _, g := range groups {
				if g["leader"] == nil {
					return fmt.Errorf("%s: the stream group's leader is not known yet", nd.name)
				}
				if g["state"] == "LEADER" {
					streamLeader = i
				}
			}
		}
		if metaLeader < 0 || streamLeader < 0 {
			return fmt.Errorf("meta leader %d, stream leader %d", metaLeader, streamLeader)
		}
		return nil
	})

	_, b := getRaftz(t, nodes[metaLeader], "")
	meta := decodeRaftz(t, b)["SYS"]["_meta_"]
	if got := slices.Sorted(maps.Keys(meta)); !slices.Equal(got, metaLeaderKeys) {
		t.Errorf("meta leader's fields %v, nats-server's %v", got, metaLeaderKeys)
	}
	if meta["size"] != 3.0 || meta["quorum_needed"] != 2.0 || meta["leader"] != meta["id"] || meta["voted_for"] != meta["id"] ||
		meta["traffic_account"] != "SYS" || meta["ever_had_leader"] != true {
		t.Errorf("meta leader: %v", meta)
	}
	peers, _ := meta["peers"].(map[string]any)
	var names []string
	for _, p := range peers {
		p := p.(map[string]any)
		names = append(names, p["name"].(string))
		if p["known"] != true || p["last_replicated_index"] == nil || p["last_seen"] == nil {
			t.Errorf("meta leader's peer: %v", p)
		}
		if _, err := time.ParseDuration(p["last_seen"].(string)); err != nil {
			t.Errorf("last_seen %q: %v", p["last_seen"], err)
		}
	}
	slices.Sort(names)
	if want := otherNames(nodes, metaLeader); !slices.Equal(names, want) {
		t.Errorf("meta leader's peers %v, want %v", names, want)
	}

	for i, nd := range nodes {
		_, b := getRaftz(t, nd, "?acc=APP")
		for name, g := range decodeRaftz(t, b)["APP"] {
			want := streamFollowerKeys
			if i == streamLeader {
				want = streamLeaderKeys
			}
			got := slices.Sorted(maps.Keys(g))
			if i != streamLeader && !slices.Contains(got, "voted_for") {
				// natsd shows the vote Raft holds: a follower that learned
				// the term from its leader's appends, without being asked
				// for its vote, has none (nats-server's show the leader).
				want = slices.DeleteFunc(slices.Clone(want), func(k string) bool { return k == "voted_for" })
			}
			if !slices.Equal(got, want) {
				t.Errorf("%s: stream group %s fields %v, nats-server's %v", nd.name, name, got, want)
			}
			if !strings.HasPrefix(name, "S-R3F-") || g["size"] != 3.0 || g["applied"] != g["committed"] && i == streamLeader {
				t.Errorf("%s: stream group %s: %v", nd.name, name, g)
			}
			// Filtered by group: that one alone; by another name: none.
			_, b := getRaftz(t, nd, "?acc=APP&group="+name)
			if got := decodeRaftz(t, b)["APP"]; len(got) != 1 || got[name] == nil {
				t.Errorf("%s: /raftz?acc=APP&group=%s: %s", nd.name, name, b)
			}
		}
	}
	for _, q := range []string{"?acc=APP&group=nope", "?acc=NOPE", "?group=nope"} {
		if code, b := getRaftz(t, nodes[0], q); code != http.StatusOK || strings.TrimSpace(string(b)) != "{}" {
			t.Errorf("/raftz%s: %d %s, want 200 {}", q, code, b)
		}
	}

	// The system account's request, as the CLI sends it: every server
	// answers; bad JSON is a 400 in the envelope, as nats-server says it.
	sys, err := nats.Connect(nodes[0].proc.ClientURL(), nats.UserInfo("sys", "pass"))
	if err != nil {
		t.Fatal(err)
	}
	defer sys.Close()
	out, err := exec.Command(testutil.NatsCLIBin(t), "--server", nodes[0].proc.ClientURL(), "--user", "sys", "--password", "pass",
		"--timeout", "3s", "server", "request", "raft").CombinedOutput()
	if err != nil {
		t.Fatalf("nats server request raft: %v\n%s", err, out)
	}
	for _, nd := range nodes {
		if !strings.Contains(string(out), `"name": "`+nd.name+`"`) && !strings.Contains(string(out), `"name":"`+nd.name+`"`) {
			t.Errorf("nats server request raft: no answer from %s:\n%s", nd.name, out)
		}
	}
	m, err := sys.Request("$SYS.REQ.SERVER.PING.RAFTZ", []byte("garbage"), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var bad struct {
		Error struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &bad); err != nil || bad.Error.Code != 400 ||
		bad.Error.Description != "invalid character 'g' looking for beginning of value" {
		t.Errorf("RAFTZ with bad JSON: %s", m.Data)
	}
	m, err = sys.Request("$SYS.REQ.SERVER.PING.RAFTZ", []byte(`{"account":"APP"}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var good struct {
		Data map[string]map[string]raftzGroup `json:"data"`
	}
	if err := json.Unmarshal(m.Data, &good); err != nil || len(good.Data["APP"]) != 1 {
		t.Errorf("RAFTZ for APP: %s", m.Data)
	}
	// A consumer of a replicated stream: its leader, then its creation;
	// it moves with its stream at the step-down below.
	cadvs, err := nc.SubscribeSync("$JS.EVENT.ADVISORY.CONSUMER.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer ccancel()
	if _, err := js.CreateOrUpdateConsumer(cctx, "ORDERS", jetstream.ConsumerConfig{Durable: "C1", AckPolicy: jetstream.AckExplicitPolicy}); err != nil {
		t.Fatal(err)
	}
	// A step-down elects another leader, which says so.
	if m, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN.ORDERS", nil, 10*time.Second); err != nil || !strings.Contains(string(m.Data), `"success":true`) {
		t.Fatalf("step-down: %v %v", err, m)
	}
	var seen, leaders []string
	next := func() bool {
		m, err := advs.NextMsg(5 * time.Second)
		if err != nil {
			return false
		}
		seen = append(seen, m.Subject)
		if strings.Contains(m.Subject, "LEADER_ELECTED") {
			var ev struct {
				Type, Leader string
				Replicas     []struct{ Name, Peer string }
			}
			if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Type != "io.nats.jetstream.advisory.v1.stream_leader_elected" || len(ev.Replicas) != 3 {
				t.Errorf("leader elected advisory: %s", m.Data)
			}
			for _, r := range ev.Replicas {
				if r.Name == "" || r.Peer == "" {
					t.Errorf("leader elected advisory's replica without name or peer: %s", m.Data)
				}
			}
			leaders = append(leaders, ev.Leader)
		}
		return true
	}
	for len(seen) < 3 && next() {
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, "ORDERS"); err != nil {
		t.Fatal(err)
	}
	for next() {
	}
	// As nats-server: the election first, then the creation.
	want := []string{"$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.ORDERS", "$JS.EVENT.ADVISORY.STREAM.CREATED.ORDERS",
		"$JS.EVENT.ADVISORY.STREAM.LEADER_ELECTED.ORDERS", "$JS.EVENT.ADVISORY.STREAM.DELETED.ORDERS"}
	if !slices.Equal(seen, want) {
		t.Errorf("stream advisories in the cluster: %v, want %v", seen, want)
	}
	var cseen []string
	for {
		m, err := cadvs.NextMsg(time.Second)
		if err != nil {
			break
		}
		cseen = append(cseen, m.Subject)
	}
	// The stream's deletion deletes its consumer, which is announced too
	// (as nats-server does), once.
	if want := []string{"$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.ORDERS.C1", "$JS.EVENT.ADVISORY.CONSUMER.CREATED.ORDERS.C1",
		"$JS.EVENT.ADVISORY.CONSUMER.LEADER_ELECTED.ORDERS.C1", "$JS.EVENT.ADVISORY.CONSUMER.DELETED.ORDERS.C1"}; !slices.Equal(cseen, want) {
		t.Errorf("consumer advisories in the cluster: %v, want %v", cseen, want)
	}
	if len(leaders) != 2 || leaders[0] != nodes[streamLeader].name || leaders[1] == leaders[0] {
		t.Errorf("leaders announced %v; the stream's leader was %s, then another", leaders, nodes[streamLeader].name)
	}
	// An ordinary account has no such subject: nobody answers it.
	app, _ := connect(t, nodes[0])
	if m, err := app.Request("$SYS.REQ.SERVER.PING.RAFTZ", nil, time.Second); err == nil {
		t.Errorf("RAFTZ from an ordinary account was answered: %s", m.Data)
	}
}

// otherNames are the nodes' names but node skip's, sorted.
func otherNames(nodes []*node, skip int) []string {
	var out []string
	for i, nd := range nodes {
		if i != skip {
			out = append(out, nd.name)
		}
	}
	slices.Sort(out)
	return out
}

// A server that runs no Raft group answers /raftz as nats-server does.
func TestRaftzWithoutCluster(t *testing.T) {
	t.Parallel()
	p := testutil.Start(t, testutil.NatsdBin(t), "-p", "-1", "-m", "-1", "-js", "-sd", t.TempDir())
	resp, err := http.Get(p.MonitorURL() + "/raftz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNotFound || strings.TrimSpace(string(b)) != "No Raft nodes registered" {
		t.Errorf("/raftz without a cluster: %d %q", resp.StatusCode, b)
	}
}
