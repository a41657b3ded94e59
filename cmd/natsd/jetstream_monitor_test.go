package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// JetStream's monitoring (/jsz, /varz's jetstream, /healthz with its
// JetStream options, $SYS.REQ.SERVER.PING.JSZ), its domain, and bad names
// in the API, each side by side with nats-server v2.15.2: the same setup on
// both, then the same JSON keys (the values that are facts about the
// machine differ) and the same counts.

const jsMonitorConf = `
system_account: SYS
accounts {
  SYS { users [ {user: sys, password: sys} ] }
  APP { jetstream: enabled, users [ {user: app, password: app} ] }
}
`

// jsMonitorSetup makes a stream of 3 messages with a consumer as app.
func jsMonitorSetup(t *testing.T, url string) {
	t.Helper()
	nc := connect(t, url, nats.UserInfo("app", "app"))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := jsCtx(t)
	s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "MON", Subjects: []string{"mon.>"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(ctx, "mon.a", []byte("0123456789")); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "C"}); err != nil {
		t.Fatal(err)
	}
}

func httpBody(t *testing.T, url string) (int, string) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// num is m's number at path (nested keys), or -1.
func num(m map[string]any, path ...string) float64 {
	var v any = m
	for _, k := range path {
		o, ok := v.(map[string]any)
		if !ok {
			return -1
		}
		v = o[k]
	}
	if f, ok := v.(float64); ok {
		return f
	}
	return -1
}

func TestJetStreamMonitoringMatchesReference(t *testing.T) {
	t.Parallel()
	type result struct {
		jszKeys, varzKeys, pingKeys string
		jsz, ping                   map[string]any
		health                      map[string]string
	}
	results := map[string]*result{}
	for _, impl := range implementations(t) {
		p := jsServer(t, impl.bin, jsMonitorConf)
		jsMonitorSetup(t, p.ClientURL())
		r := &result{health: map[string]string{}}
		r.jsz = httpGet(t, p.MonitorURL()+"/jsz?accounts=true&streams=true&consumers=true&config=true")
		r.jszKeys = keysWithout(r.jsz, true)
		varz := httpGet(t, p.MonitorURL()+"/varz")
		r.varzKeys = keysWithout(varz, false)
		for _, q := range []string{"", "?js-enabled-only=true", "?js-server-only=true", "?js-enabled=true", "?details=true",
			"?account=APP", "?account=NOACC", "?account=SYS&details=true", "?stream=MON&account=APP", "?stream=NOPE&account=APP",
			"?stream=NOPE&account=APP&details=true", "?stream=MON&account=APP&consumer=C", "?stream=MON&account=APP&consumer=NOPE",
			"?stream=MON&account=APP&consumer=NOPE&details=true", "?js-enabled-only=true&stream=NOPE&account=APP",
			"?js-server-only=true&account=NOACC", "?js-meta-only=true&stream=NOPE&account=APP"} {
			code, body := httpBody(t, p.MonitorURL()+"/healthz"+q)
			r.health[q] = fmt.Sprint(code, " ", body)
		}
		sys := connect(t, p.ClientURL(), nats.UserInfo("sys", "sys"))
		m, err := sys.Request("$SYS.REQ.SERVER.PING.JSZ", []byte(`{"accounts":true,"streams":true,"consumers":true}`), 5*time.Second)
		if err != nil {
			t.Fatalf("%s: PING.JSZ: %v", impl.name, err)
		}
		if err := json.Unmarshal(m.Data, &r.ping); err != nil {
			t.Fatalf("%s: PING.JSZ: %v %s", impl.name, err, m.Data)
		}
		r.pingKeys = keysWithout(r.ping, true)
		results[impl.name] = r
	}
	got, ref := results["natsd"], results["nats-server"]
	if got.jszKeys != ref.jszKeys {
		t.Errorf("/jsz keys:\n natsd: %s\n ref:   %s", got.jszKeys, ref.jszKeys)
	}
	if got.varzKeys != ref.varzKeys {
		t.Errorf("/varz jetstream keys:\n natsd: %s\n ref:   %s", got.varzKeys, ref.varzKeys)
	}
	if got.pingKeys != ref.pingKeys {
		t.Errorf("PING.JSZ keys:\n natsd: %s\n ref:   %s", got.pingKeys, ref.pingKeys)
	}
	for q, want := range ref.health {
		if got.health[q] != want {
			t.Errorf("/healthz%s: natsd %s, ref %s", q, got.health[q], want)
		}
	}
	for _, r := range []struct {
		name string
		m    map[string]any
	}{{"natsd", got.jsz}, {"nats-server", ref.jsz}} {
		if num(r.m, "streams") != 1 || num(r.m, "consumers") != 1 || num(r.m, "messages") != 3 {
			t.Errorf("%s /jsz: streams %v consumers %v messages %v", r.name, num(r.m, "streams"), num(r.m, "consumers"), num(r.m, "messages"))
		}
	}
	for _, r := range []struct {
		name string
		m    map[string]any
	}{{"natsd", got.ping}, {"nats-server", ref.ping}} {
		if num(r.m, "data", "streams") != 1 || num(r.m, "data", "consumers") != 1 || num(r.m, "data", "messages") != 3 {
			t.Errorf("%s PING.JSZ: %v", r.name, r.m["data"])
		}
	}
}

// A domain: the API answers on $JS.<domain>.API too, and says its domain.
func TestJetStreamDomain(t *testing.T) {
	t.Parallel()
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			t.Parallel()
			sd := t.TempDir()
			p := startConf(t, impl.bin, fmt.Sprintf("jetstream { store_dir: %q, domain: hub }\n", sd))
			nc := connect(t, p.ClientURL())
			js, err := jetstream.NewWithDomain(nc, "hub")
			if err != nil {
				t.Fatal(err)
			}
			ctx := jsCtx(t)
			ai, err := js.AccountInfo(ctx)
			if err != nil || ai.Domain != "hub" {
				t.Fatalf("account info through $JS.hub.API: %+v %v", ai, err)
			}
			s, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "D", Subjects: []string{"d"}})
			if err != nil {
				t.Fatal(err)
			}
			a, err := js.Publish(ctx, "d", []byte("x"))
			if err != nil || a.Domain != "hub" {
				t.Errorf("pub ack: %+v %v", a, err)
			}
			c, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "C"})
			if err != nil {
				t.Fatal(err)
			}
			m, err := c.Next(jetstream.FetchMaxWait(5 * time.Second)) // $JS.hub.API.CONSUMER.MSG.NEXT
			if err != nil || string(m.Data()) != "x" {
				t.Fatalf("next through the domain: %v", err)
			}
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
			kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "B"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Put(ctx, "k", []byte("v")); err != nil {
				t.Fatal(err)
			}
			if e, err := kv.Get(ctx, "k"); err != nil || string(e.Value()) != "v" {
				t.Errorf("kv get through the domain: %v %v", e, err)
			}
		})
	}
}

// Bad names and subjects in the API get nats-server's error, and the
// server goes on.
func TestJetStreamBadNamesMatchReference(t *testing.T) {
	t.Parallel()
	// codeOnly: natsd's description differs past nats-server's prefix (its
	// reasons for a bad transform are its own): code and err_code match.
	const codeOnly = "code only"
	reqs := []struct{ subj, body, how string }{
		{"$JS.API.STREAM.CREATE.S", `{"name":"S","subjects":["s.>"]}`, ""},
		{"$JS.API.CONSUMER.CREATE.S", `{"stream_name":"S","config":{"durable_name":"a.b"}}`, ""},
		{"$JS.API.CONSUMER.CREATE.S", `{"stream_name":"S","config":{"durable_name":"a*"}}`, ""},
		{"$JS.API.CONSUMER.CREATE.S", `{"stream_name":"S","config":{"durable_name":"a>"}}`, ""},
		{"$JS.API.CONSUMER.CREATE.S", `{"stream_name":"S","config":{"durable_name":"y"}}`, ""},
		{"$JS.API.CONSUMER.CREATE.S", `{"stream_name":"S","config":{"name":"a b"}}`, ""},
		{"$JS.API.CONSUMER.CREATE.S", `{"stream_name":"S","config":{"name":"a/b"}}`, ""},
		{"$JS.API.CONSUMER.CREATE.S", `{"stream_name":"S","config":{"name":"a\b"}}`, ""},
		{"$JS.API.CONSUMER.CREATE.S", `{"stream_name":"S","config":{"name":"a\tb"}}`, ""},
		{"$JS.API.CONSUMER.CREATE.S", `{"stream_name":"S","config":{"name":"a.b"}}`, ""},
		{"$JS.API.CONSUMER.CREATE.S.a*b", `{"stream_name":"S","config":{"name":"a*b"}}`, ""},
		{"$JS.API.CONSUMER.DURABLE.CREATE.S.x", `{"stream_name":"S","config":{"durable_name":"y"}}`, ""},
		{"$JS.API.STREAM.CREATE.T", `{"name":"T","subjects":["t..x"]}`, ""},
		{"$JS.API.STREAM.CREATE.T", `{"name":"T","subjects":["t.>.x"]}`, ""},
		{"$JS.API.STREAM.CREATE.T", `{"name":"T","subjects":["$JS.API.>"]}`, ""},
		{"$JS.API.STREAM.CREATE.T", `{"name":"T","subjects":["t.*"],"subject_transform":{"src":"t.*","dest":"u.{{wildcard(2)}}"}}`, codeOnly},
		{"$JS.API.STREAM.CREATE.T", `{"name":"T","subjects":["t"],"max_msg_size":-5}`, ""},
		{"$JS.API.STREAM.CREATE.T", `{"name":"T","subjects":["t"],"max_msgs_per_subject":-2}`, ""},
		{"$JS.API.STREAM.INFO.S", `{"subjects_filter":"s..x"}`, ""},
		{"$JS.API.STREAM.PURGE.S", `{"filter":"x.>"}`, ""},
		{"$JS.API.STREAM.MSG.GET.S", `{"last_by_subj":"s.*.>"}`, ""},
	}
	results := map[string][]string{}
	for _, impl := range implementations(t) {
		p := jsServer(t, impl.bin, "")
		nc := connect(t, p.ClientURL())
		for _, r := range reqs {
			m, err := nc.Request(r.subj, []byte(r.body), 5*time.Second)
			var what string
			switch {
			case err != nil:
				what = "no reply: " + err.Error()
			default:
				var v struct {
					Error json.RawMessage `json:"error"`
				}
				if err := json.Unmarshal(m.Data, &v); err != nil {
					what = "not JSON: " + string(m.Data)
				} else if v.Error != nil {
					what = string(v.Error)
					if r.how == codeOnly {
						var e struct {
							Code    int `json:"code"`
							ErrCode int `json:"err_code"`
						}
						_ = json.Unmarshal(v.Error, &e)
						what = fmt.Sprint(e.Code, " ", e.ErrCode)
					}
				} else {
					what = "ok"
				}
			}
			results[impl.name] = append(results[impl.name], what)
		}
		// Still serving.
		js, _ := jetstream.New(nc)
		if _, err := js.AccountInfo(jsCtx(t)); err != nil {
			t.Errorf("%s after the bad requests: %v", impl.name, err)
		}
	}
	for i, r := range reqs {
		if g, w := results["natsd"][i], results["nats-server"][i]; g != w {
			t.Errorf("%s %s:\n natsd: %s\n ref:   %s", r.subj, r.body, g, w)
		}
	}
}
