package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
)

// run() is main without os.Exit: these tests call it in-process.

func runCmd(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

func TestCheckConfig(t *testing.T) {
	good := testutil.WriteFile(t, "good.conf", "listen: 127.0.0.1:4222\ncluster {\n  listen: 127.0.0.1:4248\n}\n")
	code, out, _ := runCmd("-t", "-c", good)
	if code != 0 || out != good+": OK\n" {
		t.Fatalf("-t on a good file: code %d, stdout %q", code, out)
	}
	bad := testutil.WriteFile(t, "bad.conf", "listen: 127.0.0.1:4222\n\ncluster {\n  port: 70000\n}\n")
	code, out, errOut := runCmd("-t", "-c", bad)
	if code != 1 || out != "" {
		t.Fatalf("-t on a bad file: code %d, stdout %q", code, out)
	}
	if want := bad + ":4:9: cluster.port: must be 1-65535"; !strings.Contains(errOut, want) {
		t.Fatalf("stderr %q lacks %q", errOut, want)
	}
	syntax := testutil.WriteFile(t, "syntax.conf", "cluster {\n  port: 6222\n")
	if code, _, errOut := runCmd("-t", "-c", syntax); code != 1 || !strings.Contains(errOut, syntax+":") {
		t.Fatalf("-t on a syntax error: code %d, stderr %q", code, errOut)
	}
	if code, _, errOut := runCmd("-t"); code != 1 || !strings.Contains(errOut, "must specify [-c, --config]") {
		t.Fatalf("-t without -c: code %d, stderr %q", code, errOut)
	}
	warn := testutil.WriteFile(t, "warn.conf", "listen: 127.0.0.1:4222\nleafnodes {}\n")
	if code, out, errOut := runCmd("-t", "-c", warn); code != 0 || !strings.Contains(errOut, "warn.conf:2:1") || out != warn+": OK\n" {
		t.Fatalf("-t with a warning: code %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestVersionHelpAndBadArgs(t *testing.T) {
	for _, args := range [][]string{{"-v"}, {"--version"}, {"version"}} {
		if code, out, _ := runCmd(args...); code != 0 || !strings.HasPrefix(out, "natsd: v") {
			t.Fatalf("%v: code %d, %q", args, code, out)
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		if code, out, _ := runCmd(args...); code != 0 || !strings.Contains(out, "Usage: natsd") {
			t.Fatalf("%v: code %d", args, code)
		}
	}
	if code, _, errOut := runCmd("bogus"); code != 1 || !strings.Contains(errOut, `unrecognized command: "bogus"`) {
		t.Fatalf("bare arg: code %d, %q", code, errOut)
	}
	if code, _, errOut := runCmd("--no_such_flag"); code != 1 || !strings.Contains(errOut, "no_such_flag") {
		t.Fatalf("unknown flag: code %d, %q", code, errOut)
	}
	// A Go bool flag: "--no_advertise false" leaves "false" as a bare arg.
	if code, _, errOut := runCmd("--no_advertise", "false"); code != 1 || !strings.Contains(errOut, `unrecognized command: "false"`) {
		t.Fatalf("--no_advertise false: code %d, %q", code, errOut)
	}
	if code, _, errOut := runCmd("--signal", "bogus"); code != 1 || !strings.Contains(errOut, `unknown signal "bogus"`) {
		t.Fatalf("--signal bogus: code %d, %q", code, errOut)
	}
}

func TestMonitoringEndpoints(t *testing.T) {
	p := startNatsd(t, "-m", "-1", "-n", "mon")
	nc := connect(t, p.ClientURL())
	_, _ = nc.SubscribeSync("mon.a")
	_, _ = nc.QueueSubscribeSync("mon.b", "q")
	_ = nc.Publish("mon.a", []byte("x"))
	_ = nc.Flush()
	base := p.MonitorURL()

	v := httpGet(t, base+"/varz")
	for _, k := range []string{"server_id", "server_name", "version", "natsd_version", "proto", "go", "host", "port", "max_connections",
		"ping_interval", "ping_max", "http_host", "http_port", "auth_timeout", "max_control_line", "max_payload", "max_pending",
		"cluster", "tls_timeout", "write_deadline", "start", "now", "uptime", "mem", "cores", "gomaxprocs", "cpu", "connections",
		"total_connections", "routes", "remotes", "leafnodes", "in_msgs", "out_msgs", "in_bytes", "out_bytes", "slow_consumers",
		"subscriptions", "http_req_stats", "config_load_time"} {
		if _, ok := v[k]; !ok {
			t.Errorf("/varz lacks %q", k)
		}
	}
	if v["server_name"] != "mon" || v["connections"].(float64) != 1 || v["in_msgs"].(float64) < 1 {
		t.Errorf("/varz values: name %v connections %v in_msgs %v", v["server_name"], v["connections"], v["in_msgs"])
	}

	c := httpGet(t, base+"/connz?subs=1")
	if c["num_connections"].(float64) != 1 {
		t.Fatalf("/connz %v", c)
	}
	conn := c["connections"].([]any)[0].(map[string]any)
	for _, k := range []string{"cid", "kind", "type", "ip", "port", "start", "last_activity", "uptime", "idle", "pending_bytes",
		"in_msgs", "out_msgs", "in_bytes", "out_bytes", "subscriptions", "lang", "version", "subscriptions_list"} {
		if _, ok := conn[k]; !ok {
			t.Errorf("/connz connection lacks %q", k)
		}
	}
	if conn["subscriptions"].(float64) != 2 || conn["lang"] != "go" {
		t.Errorf("/connz connection %v", conn)
	}
	detail := httpGet(t, base+"/connz?subs=detail")["connections"].([]any)[0].(map[string]any)
	if d, ok := detail["subscriptions_list_detail"].([]any); !ok || len(d) != 2 {
		t.Errorf("/connz?subs=detail %v", detail["subscriptions_list_detail"])
	}

	s := httpGet(t, base+"/subsz?subs=1")
	for _, k := range []string{"num_subscriptions", "num_cache", "num_inserts", "num_removes", "num_matches", "cache_hit_rate", "max_fanout", "avg_fanout"} {
		if _, ok := s[k]; !ok {
			t.Errorf("/subsz lacks %q", k)
		}
	}
	if s["num_subscriptions"].(float64) != 2 {
		t.Errorf("/subsz num_subscriptions %v", s["num_subscriptions"])
	}
	if h := httpGet(t, base+"/healthz"); h["status"] != "ok" {
		t.Errorf("/healthz %v", h)
	}
	r := httpGet(t, base+"/routez")
	if r["num_routes"].(float64) != 0 {
		t.Errorf("/routez %v", r)
	}
	resp := httpStatus(t, base+"/connz?subs=maybe")
	if resp != 400 {
		t.Errorf("/connz?subs=maybe status %d, want 400", resp)
	}
	if resp := httpStatus(t, base+"/nope"); resp != 404 {
		t.Errorf("/nope status %d, want 404", resp)
	}
}
