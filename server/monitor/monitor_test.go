package monitor

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/cluster"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
)

// serve serves a real server on a loopback listener and shuts it down when
// the test ends.
func serve(t testing.TB) (*server.Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := server.New(server.Options{Host: "127.0.0.1"}, zap.NewNop(), "test")
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	})
	return srv, ln.Addr().String()
}

// rawClient connects to addr, sends CONNECT and cmds, and waits for the
// PONG that follows them. It stays connected until the test ends.
func rawClient(t testing.TB, addr, connect, cmds string) net.Conn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(nc)
	if _, err := nc.Write([]byte("CONNECT " + connect + "\r\n" + cmds + "PING\r\n")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"INFO ", "PONG"} {
		line, err := br.ReadString('\n')
		if err != nil || !strings.HasPrefix(line, want) {
			t.Fatalf("got %q (%v), want %s", line, err, want)
		}
	}
	_ = nc.SetDeadline(time.Time{})
	return nc
}

// startServer is serve with one client subscribed to foo.
func startServer(t *testing.T) *server.Server {
	t.Helper()
	srv, addr := serve(t)
	rawClient(t, addr, `{"verbose":false,"name":"mon"}`, "SUB foo 1\r\n")
	return srv
}

func get(t *testing.T, h http.Handler, target string) *httptest.ResponseRecorder {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w
}

func decode(t *testing.T, w *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q: %v", w.Body.String(), err)
	}
	return m
}

func TestEndpoints(t *testing.T) {
	srv := startServer(t)
	h := Handler(Sources{Server: srv}, "")
	tests := []struct {
		path  string
		check func(m map[string]any) bool
	}{
		{"/varz", func(m map[string]any) bool {
			return m["server_id"] == srv.ID() && m["version"] == server.ProtocolVersion && m["natsd_version"] == "test" && m["connections"] == float64(1)
		}},
		{"/connz", func(m map[string]any) bool {
			conns, _ := m["connections"].([]any)
			return m["num_connections"] == float64(1) && len(conns) == 1 && conns[0].(map[string]any)["name"] == "mon"
		}},
		{"/subsz", func(m map[string]any) bool { return m["num_subscriptions"] == float64(1) }},
		{"/subscriptionsz", func(m map[string]any) bool { return m["num_subscriptions"] == float64(1) }},
		{"/routez", func(m map[string]any) bool {
			routes, ok := m["routes"].([]any)
			return m["server_id"] == srv.ID() && m["num_routes"] == float64(0) && ok && len(routes) == 0
		}},
		{"/healthz", func(m map[string]any) bool { return m["status"] == "ok" && len(m) == 1 }},
	}
	for _, tt := range tests {
		w := get(t, h, tt.path)
		if w.Code != http.StatusOK {
			t.Errorf("%s: status %d", tt.path, w.Code)
			continue
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tt.path, ct)
		}
		if cors := w.Header().Get("Access-Control-Allow-Origin"); cors != "*" {
			t.Errorf("%s: Access-Control-Allow-Origin %q", tt.path, cors)
		}
		if m := decode(t, w); !tt.check(m) {
			t.Errorf("%s: unexpected body %s", tt.path, w.Body.String())
		}
	}

	w := get(t, h, "/")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || !strings.Contains(w.Body.String(), `href=".`+VarzPath) {
		t.Errorf("/: %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	for _, p := range []string{"/nope", "/varz/x", "/connzz", "/nats/varz"} {
		if w := get(t, h, p); w.Code != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", p, w.Code)
		}
	}
}

func TestQueryParameters(t *testing.T) {
	srv := startServer(t)
	h := Handler(Sources{Server: srv}, "")
	bad := []struct{ target, body string }{
		{"/connz?subs=maybe", `Error decoding boolean for 'subs': strconv.ParseBool: parsing "maybe": invalid syntax`},
		{"/connz?auth=2x", `Error decoding boolean for 'auth': strconv.ParseBool: parsing "2x": invalid syntax`},
		{"/connz?limit=ten", `Error decoding int for 'limit': strconv.Atoi: parsing "ten": invalid syntax`},
		{"/connz?offset=-x", `Error decoding int for 'offset': strconv.Atoi: parsing "-x": invalid syntax`},
		{"/connz?cid=x", `Error decoding uint64 for 'cid': strconv.ParseUint: parsing "x": invalid syntax`},
		{"/connz?sort=bogus", `invalid sorting option: bogus`},
		{"/subsz?subs=maybe", `Error decoding boolean for 'subs': strconv.ParseBool: parsing "maybe": invalid syntax`},
		{"/subsz?subs=detail", `Error decoding boolean for 'subs': strconv.ParseBool: parsing "detail": invalid syntax`},
		{"/routez?subs=maybe", `Error decoding boolean for 'subs': strconv.ParseBool: parsing "maybe": invalid syntax`},
	}
	for _, tt := range bad {
		w := get(t, h, tt.target)
		if w.Code != http.StatusBadRequest || strings.TrimSpace(w.Body.String()) != tt.body {
			t.Errorf("%s: %d %q, want 400 %q", tt.target, w.Code, w.Body.String(), tt.body)
		}
	}

	good := []struct {
		target string
		check  func(m map[string]any) bool
	}{
		{"/connz?subs=1", func(m map[string]any) bool {
			c := m["connections"].([]any)[0].(map[string]any)
			subs, _ := c["subscriptions_list"].([]any)
			return len(subs) == 1 && subs[0] == "foo"
		}},
		{"/connz?subs=detail", func(m map[string]any) bool {
			c := m["connections"].([]any)[0].(map[string]any)
			d, _ := c["subscriptions_list_detail"].([]any)
			return len(d) == 1 && d[0].(map[string]any)["subject"] == "foo" && d[0].(map[string]any)["sid"] == "1"
		}},
		{"/connz?sort=subs&limit=1&offset=0", func(m map[string]any) bool { return m["limit"] == float64(1) && m["total"] == float64(1) }},
		{"/connz?offset=5", func(m map[string]any) bool { return m["num_connections"] == float64(0) && m["total"] == float64(1) }},
		{"/connz?cid=999", func(m map[string]any) bool { return m["num_connections"] == float64(0) && m["limit"] == float64(1) }},
		{"/connz?state=CLOSED", func(m map[string]any) bool { return m["total"] == float64(0) }},
		{"/connz?state=any", func(m map[string]any) bool { return m["total"] == float64(1) }},
		{"/connz?acc=OTHER", func(m map[string]any) bool { return m["total"] == float64(0) }},
		{"/subsz?subs=true", func(m map[string]any) bool {
			l, _ := m["subscriptions_list"].([]any)
			return len(l) == 1 && m["total"] == float64(1)
		}},
		{"/subsz?subs=1&test=bar", func(m map[string]any) bool { return m["total"] == float64(0) }},
		{"/subsz?subs=1&test=foo", func(m map[string]any) bool { return m["total"] == float64(1) }},
	}
	for _, tt := range good {
		w := get(t, h, tt.target)
		if w.Code != http.StatusOK {
			t.Errorf("%s: status %d %q", tt.target, w.Code, w.Body.String())
			continue
		}
		if !tt.check(decode(t, w)) {
			t.Errorf("%s: unexpected body %s", tt.target, w.Body.String())
		}
	}
}

func TestHTTPReqStats(t *testing.T) {
	srv := startServer(t)
	h := Handler(Sources{Server: srv}, "")
	// Like nats-server, a path that is not found is not counted as a
	// request for the root page.
	for _, p := range []string{"/connz", "/connz?sort=bogus", "/subsz", "/subscriptionsz", "/healthz", "/", "/nope", "/favicon.ico", "/varz"} {
		get(t, h, p)
	}
	m := decode(t, get(t, h, "/varz"))
	stats, _ := m["http_req_stats"].(map[string]any)
	want := map[string]float64{"/connz": 2, "/subsz": 2, "/healthz": 1, "/": 1, "/varz": 2}
	if len(stats) != len(want) {
		t.Errorf("http_req_stats = %v, want %v", stats, want)
	}
	for k, n := range want {
		if stats[k] != n {
			t.Errorf("http_req_stats[%q] = %v, want %v (all: %v)", k, stats[k], n, stats)
		}
	}
}

func TestBasePath(t *testing.T) {
	srv := startServer(t)
	for _, base := range []string{"/nats", "/nats/"} {
		h := Handler(Sources{Server: srv}, base)
		for _, p := range []string{"/nats/varz", "/nats/connz", "/nats/routez", "/nats/subsz", "/nats/subscriptionsz", "/nats/healthz", "/nats/"} {
			if w := get(t, h, p); w.Code != http.StatusOK {
				t.Errorf("base %q: %s: status %d", base, p, w.Code)
			}
		}
		for _, p := range []string{"/varz", "/connz", "/healthz", "/nats/nope", "/natsvarz"} {
			if w := get(t, h, p); w.Code != http.StatusNotFound {
				t.Errorf("base %q: %s: status %d, want 404", base, p, w.Code)
			}
		}
	}
}

func TestSources(t *testing.T) {
	srv := startServer(t)
	var healthErr error
	start := time.Now().Add(-time.Minute)
	cl := &cluster.Stats{
		Name: "east", Host: "0.0.0.0", Port: 6222, AuthTimeout: 2 * time.Second, URLs: []string{"10.0.0.2:6222"},
		Routes: []cluster.RouteStats{{Rid: 2, RemoteID: "NB", Start: start, LastActivity: start, RTT: time.Millisecond, Subs: []string{"a", "b"}},
			{Rid: 1, RemoteID: "NA", DidSolicit: true, IsConfigured: true, Start: start, LastActivity: start}},
	}
	h := Handler(Sources{
		Server:  srv,
		Cluster: func() *cluster.Stats { return cl },
		Daemon: func() DaemonStats {
			return DaemonStats{HTTPHost: "127.0.0.1", HTTPPort: 8222, ConfigDigest: "abc", LastReload: start, LastReloadError: "x.conf:1:2: bad"}
		},
		Healthz: func() error { return healthErr },
	}, "")

	m := decode(t, get(t, h, "/varz"))
	vc := m["cluster"].(map[string]any)
	if m["http_port"] != float64(8222) || m["config_digest"] != "abc" || m["last_reload_error"] != "x.conf:1:2: bad" ||
		vc["name"] != "east" || vc["cluster_port"] != float64(6222) || m["routes"] != float64(2) {
		t.Errorf("varz from the sources: %v", m)
	}
	rz := decode(t, get(t, h, "/routez"))
	routes := rz["routes"].([]any)
	if rz["num_routes"] != float64(2) || len(routes) != 2 || routes[0].(map[string]any)["rid"] != float64(1) {
		t.Errorf("routez: %v", rz)
	}
	if r := routes[1].(map[string]any); r["subscriptions"] != float64(2) || r["subscriptions_list"] != nil || r["rtt"] != "1ms" || r["compression"] != "not supported" {
		t.Errorf("route 2: %v", r)
	}
	for _, p := range []string{"/routez?subs=1", "/routez?subs=detail"} {
		r := decode(t, get(t, h, p))["routes"].([]any)[1].(map[string]any)
		if l, _ := r["subscriptions_list"].([]any); len(l) != 2 {
			t.Errorf("%s: subscriptions_list %v", p, r["subscriptions_list"])
		}
	}
	cl = nil // not clustered: an empty list
	if rz := decode(t, get(t, h, "/routez")); rz["num_routes"] != float64(0) || len(rz["routes"].([]any)) != 0 {
		t.Errorf("routez without a cluster: %v", rz)
	}

	if w := get(t, h, "/healthz"); w.Code != http.StatusOK || decode(t, w)["status"] != "ok" {
		t.Errorf("healthy: %d %s", w.Code, w.Body.String())
	}
	healthErr = errors.New("server is wedged")
	w := get(t, h, "/healthz")
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("unhealthy: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	m = decode(t, w)
	if m["status"] != "unavailable" || m["status_code"] != float64(503) || m["error"] != "server is wedged" {
		t.Errorf("unhealthy body: %s", w.Body.String())
	}
}

// TestOverHTTP: the handler behind a real HTTP server on loopback.
func TestOverHTTP(t *testing.T) {
	srv := startServer(t)
	ts := httptest.NewServer(Handler(Sources{Server: srv}, "/base"))
	defer ts.Close()
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(ts.URL + "/base/varz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v Varz
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || v.ID != srv.ID() || v.HTTPReqStats["/varz"] != 1 {
		t.Errorf("GET /base/varz: %d id %q stats %v", resp.StatusCode, v.ID, v.HTTPReqStats)
	}
}
