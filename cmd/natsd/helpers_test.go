package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// connectRetry connects, retrying for a few seconds while the server starts.
func connectRetry(t *testing.T, url string) *nats.Conn {
	t.Helper()
	var nc *nats.Conn
	testutil.Eventually(t, 10*time.Second, func() error {
		var err error
		nc, err = nats.Connect(url, nats.Timeout(2*time.Second))
		return err
	})
	t.Cleanup(nc.Close)
	return nc
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func httpGet(t testing.TB, url string) map[string]any {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
	return m
}

func httpStatus(t *testing.T, url string) int {
	t.Helper()
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func httpGetVarz(t *testing.T, p *testutil.Proc) map[string]any {
	t.Helper()
	return httpGet(t, p.MonitorURL()+"/varz")
}

func isTimeoutErr(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
