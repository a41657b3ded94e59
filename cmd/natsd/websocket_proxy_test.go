package main

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// docs/websocket.md's "Behind a reverse proxy": natsd serves plain ws:// on
// loopback, a reverse proxy terminates TLS and passes the upgrade (here Go's
// httputil.ReverseProxy, on a path of its own), and nats.go connects to the
// proxy over wss:// as a page of the allowed origin would; a page of
// another origin is refused (403) through the proxy; same_origin would refuse the https page (the
// doc's warning), as nats-server does.
func TestDocWebSocketBehindProxy(t *testing.T) {
	k := newPKI(t, "proxy")
	wsPort := testutil.FreePort(t)
	block := fmt.Sprintf(`websocket {
  listen: 127.0.0.1:%d      # only the proxy reaches it
  no_tls: true                # the proxy terminates TLS
  compression: true
  allowed_origins: [ "https://app.example.com" ]
  advertise: "nats.example.com:443"
}
`, wsPort)
	p := testutil.Start(t, testutil.NatsdBin(t), "-c", testutil.WriteFile(t, "proxied.conf", "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\n"+block))

	backend, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", wsPort))
	proxy := httptest.NewUnstartedServer(http.StripPrefix("/nats", httputil.NewSingleHostReverseProxy(backend)))
	cert, err := tls.LoadX509KeyPair(k.server.CertFile, k.server.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	proxy.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	proxy.StartTLS()
	t.Cleanup(proxy.Close)
	wss := strings.Replace(proxy.URL, "https://", "wss://", 1) + "/nats"

	page := nats.WebSocketConnectionHeaders(http.Header{"Origin": {"https://app.example.com"}})
	ws := connect(t, wss, append(k.opts(nil), page, nats.Compression(true), nats.Name("through-proxy"))...)
	tcp := connect(t, p.ClientURL())
	sub, _ := ws.SubscribeSync("proxied")
	_ = ws.Flush()
	_ = tcp.Publish("proxied", []byte("via the proxy"))
	if m := nextMsg(t, sub); string(m.Data) != "via the proxy" {
		t.Fatalf("got %q", m.Data)
	}
	roundTrip(t, ws)
	if ws.ConnectedUrlRedacted() != wss || ws.ConnectedServerName() == "" {
		t.Errorf("connected to %q", ws.ConnectedUrlRedacted())
	}
	if v := httpGet(t, p.MonitorURL()+"/varz")["websocket"].(map[string]any); v["advertise"] != "nats.example.com:443" {
		t.Errorf("/varz websocket: %v", v)
	}
	if c, err := wsConnz(t, p, "through-proxy"); err != nil || c["type"] != "websocket" || c["ip"] != "127.0.0.1" {
		t.Errorf("/connz of the proxied client: %v %v", c, err)
	}

	evil := nats.WebSocketConnectionHeaders(http.Header{"Origin": {"https://evil.example.com"}})
	if _, err := tryConnect(wss, append(k.opts(nil), evil)...); err == nil {
		t.Error("a page of another origin connected through the proxy")
	}
	pa := strings.TrimPrefix(proxy.URL, "https://")
	tc, err := tls.Dial("tcp", pa, &tls.Config{RootCAs: k.pool(), ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tc.Close() })
	r := wsRequest(t, tc, "GET /nats HTTP/1.1\r\nHost: "+pa+"\r\nOrigin: https://evil.example.com\r\nUpgrade: websocket\r\n"+
		"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	if r.Resp.StatusCode != http.StatusForbidden {
		t.Errorf("another origin through the proxy: %s, want 403", r.Resp.Status)
	}

	// same_origin behind a TLS proxy refuses the https page: natsd serves
	// http, so the origin it expects is http://<Host>. nats-server v2.15.2
	// answers the same (recorded).
	for _, impl := range implementations(t) {
		q := wsStart(t, impl.bin, wsConf("no_tls: true\n  same_origin: true"))
		for origin, status := range map[string]int{"https://app.example.com": 403, "http://app.example.com": 101} {
			r := wsRequest(t, dialRaw(t, q.WebSocketAddr()), "GET /nats HTTP/1.1\r\nHost: app.example.com\r\nOrigin: "+origin+
				"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
			if r.Resp.StatusCode != status {
				t.Errorf("%s: same_origin, Host app.example.com, Origin %s: %s, want %d", impl.name, origin, r.Resp.Status, status)
			}
		}
	}
}
