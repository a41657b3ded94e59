package monitor

import (
	"encoding/json"
	"io"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"

	"github.com/natsd/natsd/cluster"
)

// scrape GETs path from the handler and returns the body.
func scrape(t *testing.T, src Sources, base, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	Handler(src, base).ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	b, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, string(b)
}

// /metrics is served (under http_base_path too), exports every number of
// /varz as gnatsd_varz_<name> like prometheus-nats-exporter, counts the
// clients in the connz family and natsd's own, and Debian's promtool
// (make test-deps installs it) finds nothing to say about it.
func TestMetrics(t *testing.T) {
	srv, addr := serve(t)
	rawClient(t, addr, `{"verbose":false,"name":"one"}`, "SUB a.b 1\r\n")
	rawClient(t, addr, `{"verbose":false,"name":"pub"}`, "PUB x.y 5\r\nhello\r\n")
	rawClient(t, addr, `{"verbose":false,"name":"two"}`, "SUB c.> 1\r\n")
	ds := DaemonStats{ConfigDigest: "abc", ConfigFile: "/etc/nats/seed.conf", ReloadsOK: 2, ReloadsFailed: 1}
	src := Sources{Server: srv, Daemon: func() DaemonStats { return ds }, Cluster: func() *cluster.Stats { return nil }}

	if code, _ := scrape(t, src, "/nats", "/metrics"); code != 404 {
		t.Fatalf("/metrics outside http_base_path: %d, want 404", code)
	}
	code, body := scrape(t, src, "/nats", "/nats/metrics")
	if code != 200 {
		t.Fatalf("/nats/metrics: %d", code)
	}
	for _, want := range []string{
		`gnatsd_varz_connections{server_id="` + srv.ID() + `"} 3`,
		`gnatsd_connz_num_connections{server_id="` + srv.ID() + `"} 3`,
		`gnatsd_connz_subscriptions{server_id="` + srv.ID() + `"} 2`,
		`gnatsd_varz_in_msgs{server_id="` + srv.ID() + `"} 1`,
		`gnatsd_routez_num_routes{server_id="` + srv.ID() + `"} 0`,
		`natsd_in_msgs_total 1`,
		`natsd_connections{kind="client"} 3`,
		`natsd_account_connections{account="$G"} 3`,
		`natsd_reloads_total{result="success"} 2`,
		`natsd_reloads_total{result="failure"} 1`,
		`natsd_config_info{digest="abc",file="/etc/nats/seed.conf"} 1`,
		"# TYPE natsd_in_msgs_total counter",
		"# TYPE gnatsd_varz_in_msgs gauge",
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in /metrics", want)
		}
	}

	// Every number of /varz has its gnatsd_varz_ metric.
	_, vb := scrape(t, src, "", "/varz")
	var varz map[string]any
	if err := json.Unmarshal([]byte(vb), &varz); err != nil {
		t.Fatal(err)
	}
	for k, v := range varz {
		if _, ok := v.(float64); ok && !strings.Contains(body, "\ngnatsd_varz_"+k+"{") {
			t.Errorf("/varz %q has no gnatsd_varz_%s", k, k)
		}
	}

	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: make test-deps installs Debian's prometheus package")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
