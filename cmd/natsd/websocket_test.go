package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// WebSocket clients, with nats.go over ws:// and wss:// and a raw client
// for the wire. Where nats-server v2.15.2 behaves the same (recorded), the
// same expectations run against it.

// Pub/sub between WebSocket and TCP clients both ways, with compression
// off and on (nats.go asks for permessage-deflate with nats.Compression),
// messages from a few bytes to 256 KiB; /connz shows the WebSocket client
// with type websocket, and the upgrade answers permessage-deflate only when
// compression is on.
func TestWebSocketPubSub(t *testing.T) {
	for _, impl := range implementations(t) {
		for _, compress := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/compression=%v", impl.name, compress), func(t *testing.T) {
				p := wsStart(t, impl.bin, wsConf(fmt.Sprintf("no_tls: true\n  compression: %v", compress)))
				ws := connect(t, p.WebSocketURL(), nats.Name("ws-client"), nats.Compression(compress))
				tcp := connect(t, p.ClientURL(), nats.Name("tcp-client"))

				fromTCP, _ := ws.SubscribeSync("to.ws")
				fromWS, _ := tcp.SubscribeSync("to.tcp")
				_ = ws.Flush()
				_ = tcp.Flush()
				big := bytes.Repeat([]byte("websocket payload "), 256<<10/18)
				for i, payload := range [][]byte{[]byte("hi"), bytes.Repeat([]byte("x"), 1000), big} {
					_ = tcp.Publish("to.ws", payload)
					_ = ws.Publish("to.tcp", payload)
					for _, sub := range []*nats.Subscription{fromTCP, fromWS} {
						if m := nextMsg(t, sub); !bytes.Equal(m.Data, payload) {
							t.Fatalf("message %d on %s: %d bytes, want %d", i, sub.Subject, len(m.Data), len(payload))
						}
					}
				}
				// Request/reply across the two kinds.
				_, _ = ws.Subscribe("svc", func(m *nats.Msg) { _ = m.Respond(append([]byte("re: "), m.Data...)) })
				_ = ws.Flush()
				if r, err := tcp.Request("svc", []byte("q"), 3*time.Second); err != nil || string(r.Data) != "re: q" {
					t.Fatalf("request over the WebSocket responder: %v %v", err, r)
				}

				c, err := wsConnz(t, p, "ws-client")
				if err != nil || c["type"] != "websocket" || c["kind"] != "Client" {
					t.Errorf("/connz of the WebSocket client: %v %v", c, err)
				}
				if c, _ := wsConnz(t, p, "tcp-client"); c["type"] != "nats" {
					t.Errorf("/connz of the TCP client: type %v", c["type"])
				}
				w := wsUpgrade(t, p.WebSocketAddr(), nil, "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits")
				got := w.Resp.Header.Get("Sec-WebSocket-Extensions")
				if want := "permessage-deflate; server_no_context_takeover; client_no_context_takeover"; compress && got != want || !compress && got != "" {
					t.Errorf("Sec-WebSocket-Extensions answered %q (compression %v)", got, compress)
				}
			})
		}
	}
}

// What a WebSocket client is told, and /varz: the same as nats-server's.
func TestWebSocketInfoAndVarz(t *testing.T) {
	conf := "authorization { users: [ { user: bob, password: pw }, { user: ann, password: pw } ] }\n" +
		wsConf(`no_tls: true
  advertise: "ws.example.com:443"
  compression: true
  same_origin: true
  allowed_origins: ["https://app.example.com"]
  handshake_timeout: "3s"
  no_auth_user: bob`)
	got := map[string][2]map[string]any{}
	for _, impl := range implementations(t) {
		p := wsStart(t, impl.bin, conf)
		w := wsUpgrade(t, p.WebSocketAddr(), nil)
		ws := httpGet(t, p.MonitorURL()+"/varz")["websocket"].(map[string]any)
		got[impl.name] = [2]map[string]any{w.Info, ws}
		if w.Info["port"] != ws["port"] || w.Info["host"] != "127.0.0.1" {
			t.Errorf("%s: INFO host %v port %v, /varz websocket %v", impl.name, w.Info["host"], w.Info["port"], ws)
		}
	}
	natsd, ref := got["natsd"], got["nats-server"]
	for _, k := range []string{"auth_required", "tls_required", "tls_available", "tls_verify", "headers", "max_payload", "proto", "connect_urls", "nonce"} {
		if (natsd[0][k] == nil) != (ref[0][k] == nil) || fmt.Sprint(natsd[0][k]) != fmt.Sprint(ref[0][k]) && k != "nonce" {
			t.Errorf("INFO %s: natsd %v, nats-server %v", k, natsd[0][k], ref[0][k])
		}
	}
	delete(natsd[1], "port")
	delete(ref[1], "port")
	if fmt.Sprint(natsd[1]) != fmt.Sprint(ref[1]) {
		t.Errorf("/varz websocket:\nnatsd       %v\nnats-server %v", natsd[1], ref[1])
	}
}

// wss://: nats.go trusting the CA; pub/sub with a TCP client; INFO says
// tls_required and tls_available as nats-server's does; /connz shows the
// session, /varz the certificate's expiry; plain ws:// on it fails.
func TestWebSocketTLS(t *testing.T) {
	k := newPKI(t, "wss")
	block := fmt.Sprintf("tls {\n    cert_file: %q\n    key_file: %q\n  }", k.server.CertFile, k.server.KeyFile)
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			p := wsStart(t, impl.bin, wsConf(block))
			url := p.WebSocketURL()
			if !strings.HasPrefix(url, "wss://") {
				t.Fatalf("ports file websocket %v", p.Ports.WebSocket)
			}
			ws := connect(t, url, append(k.opts(nil), nats.Name("wss-client"))...)
			tcp := connect(t, p.ClientURL())
			sub, _ := ws.SubscribeSync("secure")
			_ = ws.Flush()
			_ = tcp.Publish("secure", []byte("over wss"))
			if m := nextMsg(t, sub); string(m.Data) != "over wss" {
				t.Fatalf("got %q", m.Data)
			}
			w := wsUpgrade(t, p.WebSocketAddr(), &tls.Config{RootCAs: k.pool(), ServerName: "127.0.0.1"})
			if w.Info["tls_required"] != true || w.Info["tls_available"] != true {
				t.Errorf("INFO over wss: tls_required %v tls_available %v", w.Info["tls_required"], w.Info["tls_available"])
			}
			if v := httpGet(t, p.MonitorURL()+"/varz")["websocket"].(map[string]any); v["tls_cert_not_after"] == nil || v["no_tls"] != nil {
				t.Errorf("/varz websocket over wss: %v", v)
			}
			if _, err := tryConnect(strings.Replace(url, "wss://", "ws://", 1)); err == nil {
				t.Error("plain ws:// on the wss listener connected")
			}
			roundTrip(t, ws)
		})
	}
}

// Origins: same_origin and allowed_origins give nats-server's statuses for
// the same requests (403 when refused), and nats.go sending an allowed
// Origin header connects.
func TestWebSocketOrigins(t *testing.T) {
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			p := wsStart(t, impl.bin, wsConf(`no_tls: true
  same_origin: true
  allowed_origins: ["http://127.0.0.1", "https://app.example.com"]`))
			addr := p.WebSocketAddr()
			_, port, _ := strings.Cut(addr, ":")
			for _, tc := range []struct {
				origin string
				status int
			}{
				{"", 101},                        // no Origin: not a browser, no check
				{"http://" + addr, 403},          // same origin, but not in the list
				{"https://app.example.com", 403}, // in the list, not the same origin
				{"http://evil.example.com", 403}, // neither
				{"null", 403},                    // a sandboxed page
				{"http://127.0.0.1:" + port + "/path", 403},
			} {
				var h []string
				if tc.origin != "" {
					h = append(h, "Origin: "+tc.origin)
				}
				if w := wsUpgrade(t, addr, nil, h...); w.Resp.StatusCode != tc.status {
					t.Errorf("Origin %q: %s, want %d", tc.origin, w.Resp.Status, tc.status)
				}
			}
			// A host header the origin matches, and an origin in the list.
			w := wsRequest(t, dialRaw(t, addr), "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: http://127.0.0.1\r\nUpgrade: websocket\r\n"+
				"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
			if w.Resp.StatusCode != 101 {
				t.Errorf("same origin and allowed: %s", w.Resp.Status)
			}
		})
	}
	// nats.go with an Origin header, against natsd's allowed list.
	p := wsStart(t, testutil.NatsdBin(t), wsConf(`no_tls: true
  allowed_origins: ["https://app.example.com"]`))
	nc := connect(t, p.WebSocketURL(), nats.WebSocketConnectionHeaders(http.Header{"Origin": {"https://app.example.com"}}))
	roundTrip(t, nc)
	if _, err := tryConnect(p.WebSocketURL(), nats.WebSocketConnectionHeaders(http.Header{"Origin": {"https://evil.example.com"}})); err == nil {
		t.Error("nats.go from an origin not allowed connected")
	}
}

// A WebSocket client that fell behind gets its backlog in frames nats.go
// accepts: none over 8 × the max_payload its INFO gave (nats.go 1.53 and
// later close the connection on a larger frame). nats-server v2.15.2 sends
// a backlog as one frame (recorded: `nats bench sub` over ws:// against it
// fails with "websocket frame too large: 11675342" once it falls behind).
// Here the client reads nothing until natsd holds megabytes for it.
func TestWebSocketBacklogFrames(t *testing.T) {
	p := wsStart(t, testutil.NatsdBin(t), "max_payload: 64KB\n"+wsConf("no_tls: true"))
	w := wsUpgrade(t, p.WebSocketAddr(), nil)
	if mp := w.Info["max_payload"]; mp != float64(64<<10) {
		t.Fatalf("INFO max_payload %v", mp)
	}
	w.Send("CONNECT {\"verbose\":false,\"name\":\"behind\"}\r\nSUB flood 1\r\nPING\r\n")
	w.ReadUntil("PONG")
	tcp := connect(t, p.ClientURL())
	payload := bytes.Repeat([]byte("x"), 1024)
	const n = 16 << 10 // 16 MiB: under max_pending, more than loopback sockets hold
	for range n {
		_ = tcp.Publish("flood", payload)
	}
	_ = tcp.Flush()
	testutil.Eventually(t, 10*time.Second, func() error {
		c, err := wsConnz(t, p, "behind")
		if err != nil {
			return err
		}
		if pb, _ := c["pending_bytes"].(float64); pb < 2<<20 {
			return fmt.Errorf("natsd holds %v bytes for the client", pb)
		}
		return nil
	})
	_ = w.nc.SetDeadline(time.Now().Add(30 * time.Second))
	limit, frames, got := 8*64<<10, 0, 0
	want := n * (len("MSG flood 1 1024\r\n") + len(payload) + 2)
	for got < want {
		f := w.ReadFrame()
		if f.Err != nil {
			t.Fatalf("after %d of %d bytes in %d frames: %v", got, want, frames, f.Err)
		}
		if len(f.Payload) > limit {
			t.Fatalf("frame %d: %d bytes, over nats.go's limit of %d", frames, len(f.Payload), limit)
		}
		frames++
		got += len(f.Payload)
	}
	if c, _ := wsConnz(t, p, "behind"); c == nil {
		t.Error("the client was closed")
	}
}
