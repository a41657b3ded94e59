package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// monitorBadQueries are monitoring queries with out-of-range, malformed or
// unknown parameters. natsd used to panic on the first four (an empty
// reply, a stack dump in its log) and answer 200 to the next two.
var monitorBadQueries = []string{
	"/connz?offset=-1", "/connz?limit=9223372036854775807&offset=1", "/connz?state=closed&offset=-1",
	"/subsz?subs=1&offset=-1", "/connz?cid=-1", "/subsz?test=foo.*",
	"/connz?offset=-9223372036854775808", "/connz?offset=9223372036854775807&limit=9223372036854775807",
	"/connz?limit=-1", "/connz?limit=0", "/connz?limit=abc", "/connz?limit=99999999999999999999", "/connz?limit=1e3",
	"/connz?offset=abc", "/connz?offset=%00", "/connz?cid=abc", "/connz?cid=1.5", "/connz?cid=18446744073709551615",
	"/connz?cid=99999999999999999999", "/connz?sort=bogus", "/connz?sort=CID", "/connz?sort=stop", "/connz?sort=reason",
	"/connz?sort=stop&state=any", "/connz?sort=stop&state=closed", "/connz?state=bogus", "/connz?state=CLOSED",
	"/connz?subs=maybe", "/connz?subs=DETAIL", "/connz?auth=maybe", "/connz?acc=bogus", "/connz?mqtt_client=x",
	"/connz?unknown=1", "/connz?%zz", "/connz?state=bogus&sort=bogus", "/connz?limit=abc&offset=abc",
	"/connz?cid=abc&state=bogus", "/subsz?offset=-1", "/subsz?limit=-1", "/subsz?limit=abc", "/subsz?subs=maybe",
	"/subsz?subs=detail", "/subsz?subs=1&limit=9223372036854775807&offset=1", "/subsz?subs=1&test=foo",
	"/subsz?test=foo..bar", "/subsz?test=>", "/subsz?test=foo%20bar", "/subsz?acc=bogus", "/subscriptionsz?subs=1&offset=-1",
	"/routez?subs=maybe", "/routez?subs=DETAIL", "/routez?limit=-1", "/varz?limit=-1", "/varz?%zz",
	"/healthz?js-enabled-only=maybe", "/healthz?details=maybe", "/healthz?stream=foo", "/healthz?consumer=c",
	"/healthz?details=true&stream=foo", "/healthz?account=a&stream=s&consumer=c", "/healthz?unknown=1",
}

// monitorAnswer is what the comparison looks at: the status, the
// plain-text or /healthz body word for word, and the paging fields of JSON.
type monitorAnswer struct {
	code   int
	text   string
	paging string
}

func getMonitorAnswer(t *testing.T, url string) monitorAnswer {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		// An empty reply (the connection closed by a handler's panic):
		// reported as a mismatch, so that the other queries still run.
		return monitorAnswer{text: "no answer: " + err.Error()}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || len(b) == 0 {
		return monitorAnswer{code: resp.StatusCode, text: fmt.Sprintf("empty body (%v)", err)}
	}
	a := monitorAnswer{code: resp.StatusCode}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || strings.Contains(url, "/healthz") {
		a.text = string(b)
		return a
	}
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // limit=MaxInt compared exactly
	if err := d.Decode(&m); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
	// /subsz totals differ: nats-server lists its $SYS subscriptions.
	keys := []string{"offset", "limit"}
	if strings.Contains(url, "/connz") {
		keys = append(keys, "num_connections", "total")
	}
	for _, k := range keys {
		a.paging += fmt.Sprintf("%s=%v ", k, m[k])
	}
	return a
}

// startMonitored starts a server with -m and the clients the comparison
// needs: two with SUB foo and SUB foo.bar in queue q, one that closed.
func startMonitored(t *testing.T, p *testutil.Proc) string {
	t.Helper()
	for range 2 {
		nc := connect(t, p.ClientURL())
		_, _ = nc.SubscribeSync("foo")
		_, _ = nc.QueueSubscribeSync("foo.bar", "q")
		_ = nc.Flush()
	}
	gone := connect(t, p.ClientURL(), nats.Name("gone"))
	_, _ = gone.SubscribeSync("x")
	_ = gone.Flush()
	gone.Close()
	base := p.MonitorURL()
	testutil.Eventually(t, 5*time.Second, func() error {
		if n := httpGet(t, base+"/connz?state=closed")["total"]; n != float64(1) {
			return fmt.Errorf("%v closed connections", n)
		}
		return nil
	})
	return base
}

// TestMonitorBadQueriesAsNatsServer runs natsd and nats-server v2.15.2
// side by side and sends both the same bad monitoring queries: natsd must
// answer each as nats-server does, never with an empty reply, and its log
// must show no panic.
func TestMonitorBadQueriesAsNatsServer(t *testing.T) {
	natsd := startNatsd(t, "-m", "-1")
	ref := testutil.Start(t, testutil.NatsServerBin(t), "-a", "127.0.0.1", "-p", "-1", "-m", "-1")
	natsdBase, refBase := startMonitored(t, natsd), startMonitored(t, ref)
	for _, q := range monitorBadQueries {
		got, want := getMonitorAnswer(t, natsdBase+q), getMonitorAnswer(t, refBase+q)
		if got != want {
			// The text of a no answer names the port: trim it off.
			gotText, _, _ := strings.Cut(got.text, "http://")
			t.Errorf("%s:\n natsd       %d %q %s\n nats-server %d %q %s", q, got.code, gotText, got.paging, want.code, want.text, want.paging)
		}
	}
	// natsd still serves, and said nothing of a panic.
	if h := httpGet(t, natsdBase+"/healthz"); h["status"] != "ok" {
		t.Errorf("/healthz after the queries: %v", h)
	}
	if log := natsd.Log(); strings.Contains(log, "panic") || strings.Contains(log, "goroutine ") {
		t.Errorf("natsd's log shows a panic (%d times)", strings.Count(log, "panic serving"))
	}
}
