package main

import (
	"fmt"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
)

// The auth callout over wss://: a WebSocket client is handed to the
// service as nats-server v2.15.2 hands it (client_info.type), with the TLS
// state of its session below the WebSocket framing (client_tls), and lands
// in the account the service names.
func TestAuthCalloutWebSocket(t *testing.T) {
	k := newCalloutKeys(t, false)
	p := newPKI(t, "wscallout")
	conf := "listen: 127.0.0.1:-1\n" + k.conf("2") + wsConf(fmt.Sprintf("tls {\n    cert_file: %q\n    key_file: %q\n  }", p.server.CertFile, p.server.KeyFile))
	types := map[string]string{}
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			srv := testutil.Start(t, impl.bin, "-c", testutil.WriteFile(t, "server.conf", conf))
			svc := startCalloutService(t, srv.ClientURL(), k)
			alice, err := connectAs(srv.WebSocketURL(), "alice", p.opts(nil)...)
			if err != nil {
				t.Fatalf("alice over wss: %v", err)
			}
			sub, _ := alice.SubscribeSync("app.ws")
			_ = alice.Publish("app.ws", []byte("called out"))
			if m := nextMsg(t, sub); string(m.Data) != "called out" {
				t.Errorf("got %q", m.Data)
			}
			alice.Close()
			rc := svc.request("alice").Claims
			types[impl.name] = rc.ClientInformation.Type
			if rc.ConnectOptions.Username != "alice" {
				t.Errorf("connect_opts %+v", rc.ConnectOptions)
			}
			if ct := rc.TLS; ct == nil || ct.Version != "1.3" || ct.Cipher == "" {
				t.Errorf("client_tls of a wss client: %+v", ct)
			}
		})
	}
	if types["natsd"] != types["nats-server"] {
		t.Errorf("client_info.type: natsd %q, nats-server %q", types["natsd"], types["nats-server"])
	}
}
