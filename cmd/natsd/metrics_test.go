package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// promQuery asks Prometheus's HTTP API for the one value of query.
func promQuery(t *testing.T, api, query string) (float64, error) {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(api + "/api/v1/query?query=" + url.QueryEscape(query))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s: %s", query, r.Error)
	}
	if len(r.Data.Result) != 1 {
		return 0, fmt.Errorf("%s: %d results, want 1", query, len(r.Data.Result))
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

// Debian's Prometheus scrapes a three-node natsd cluster's /metrics; the
// message counters it stores rise with published traffic, in natsd's own
// family and in prometheus-nats-exporter's; promtool finds nothing to say
// about any node's output.
func TestPrometheusScrapesCluster(t *testing.T) {
	prom, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatal("prometheus not found: make test-deps installs Debian's prometheus package")
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: make test-deps installs Debian's prometheus package")
	}
	bin := testutil.NatsdBin(t)
	a := startNode(t, bin, "A", nil)
	b := startNode(t, bin, "B", []int{a.clusterPort})
	c := startNode(t, bin, "C", []int{a.clusterPort})
	nodes := []*node{a, b, c}
	waitMesh(t, 10*time.Second, nodes...)

	dir := t.TempDir()
	var targets []string
	for _, n := range nodes {
		u, _ := url.Parse(n.MonitorURL())
		targets = append(targets, strconv.Quote(u.Host))
	}
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: natsd
    static_configs:
      - targets: [%s]
`, strings.Join(targets, ", "))), 0o644); err != nil {
		t.Fatal(err)
	}
	port := testutil.FreePort(t)
	testutil.StartNoWait(t, prom, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address=127.0.0.1:"+strconv.Itoa(port), "--log.level=warn")
	api := "http://127.0.0.1:" + strconv.Itoa(port)

	// Every node is scraped and up.
	testutil.Eventually(t, 60*time.Second, func() error {
		up, err := promQuery(t, api, `sum(up{job="natsd"})`)
		if err == nil && up != 3 {
			err = fmt.Errorf("%v targets up, want 3", up)
		}
		return err
	})
	before, err := promQuery(t, api, `sum(natsd_in_msgs_total)`)
	if err != nil {
		t.Fatal(err)
	}

	// Traffic: 500 messages published on B to a subscriber on C.
	sub := connectRetry(t, c.ClientURL())
	got := make(chan struct{}, 1000)
	if _, err := sub.Subscribe("metrics.>", func(*nats.Msg) { got <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	_ = sub.Flush()
	pub := connectRetry(t, b.ClientURL())
	testutil.Eventually(t, 10*time.Second, func() error { // C's interest reached B
		if err := pub.Publish("metrics.probe", nil); err != nil {
			return err
		}
		_ = pub.Flush()
		select {
		case <-got:
			return nil
		case <-time.After(100 * time.Millisecond):
			return fmt.Errorf("the probe did not arrive")
		}
	})
	const n = 500
	for i := range n {
		if err := pub.Publish("metrics.x", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	_ = pub.Flush()
	for range n {
		select {
		case <-got:
		case <-time.After(10 * time.Second):
			t.Fatal("the messages did not all arrive")
		}
	}

	// Prometheus stores the rise: B received n from its client and C n
	// from its route (in_msgs counts each once per server); C delivered n
	// to its subscriber.
	for _, q := range []struct {
		expr string
		want float64
	}{
		{`sum(natsd_in_msgs_total)`, before + 2*n},
		{`sum(gnatsd_varz_in_msgs)`, before + 2*n},
		{`sum(gnatsd_varz_out_msgs)`, n},
		{`sum(natsd_out_msgs_total)`, n},
	} {
		testutil.Eventually(t, 30*time.Second, func() error {
			v, err := promQuery(t, api, q.expr)
			if err == nil && v < q.want {
				err = fmt.Errorf("%s = %v, want at least %v", q.expr, v, q.want)
			}
			return err
		})
		v, _ := promQuery(t, api, q.expr)
		t.Logf("%s: %v", q.expr, v)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		v, err := promQuery(t, api, `sum(gnatsd_routez_route_in_msgs)`)
		if err == nil && v < n {
			err = fmt.Errorf("route in_msgs %v, want at least %d", v, n)
		}
		return err
	})
	if v, err := promQuery(t, api, `count(gnatsd_routez_route_info)`); err != nil || v != 6 {
		t.Fatalf("count(gnatsd_routez_route_info) = %v (%v), want 6 (two routes on each of three servers)", v, err)
	}

	for _, nd := range nodes {
		resp, err := http.Get(nd.MonitorURL() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = resp.Body
		out, err := cmd.CombinedOutput()
		resp.Body.Close()
		if err != nil || len(out) > 0 {
			t.Fatalf("promtool check metrics on %s: %v\n%s", nd.MonitorURL(), err, out)
		}
	}
}
