package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// Bad input on the WebSocket port: a refused upgrade gets an HTTP error, a
// bad frame a close frame that says why, and no one else notices — a
// WebSocket and a TCP client keep exchanging messages through all of it.
func TestWebSocketBadInput(t *testing.T) {
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			p := wsStart(t, impl.bin, wsConf("no_tls: true"))
			addr := p.WebSocketAddr()
			ws := connect(t, p.WebSocketURL())
			tcp := connect(t, p.ClientURL())
			sub, _ := ws.SubscribeSync("alive")
			_ = ws.Flush()
			alive := func(when string) {
				t.Helper()
				_ = tcp.Publish("alive", []byte(when))
				if m, err := sub.NextMsg(3 * time.Second); err != nil || string(m.Data) != when {
					t.Fatalf("after %s the other clients no longer talk: %v", when, err)
				}
			}

			// Refused upgrades: nats-server's statuses (recorded).
			for _, tc := range []struct {
				name, req string
				status    int
			}{
				{"plain HTTP GET", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
				{"POST", "POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n", 405},
				{"no key", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400},
				{"version 8", "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n", 400},
				{"NATS protocol", "CONNECT {}\r\nPING\r\n\r\n", 400},
			} {
				if w := wsRequest(t, dialRaw(t, addr), tc.req); w.Resp.StatusCode != tc.status {
					t.Errorf("%s: %s, want %d", tc.name, w.Resp.Status, tc.status)
				}
				alive(tc.name)
			}

			// Bad frames after a good upgrade. natsd closes with a close
			// frame that says why (after the -ERR, for the client
			// protocol's errors) and lingers for the client to read it.
			// nats-server (recorded) closes too, with the same status and
			// reason where ref is set — when the frame reaches the client:
			// it closes the socket at once, and most of its close frames
			// are lost (its log, with -D, says 'read error: <reason>' for
			// each) — and with none for the others. It does not refuse a
			// frame of 2^40 bytes: it waits for the payload.
			for _, tc := range []struct {
				name   string
				send   func(w *wsRaw)
				code   int
				reason string
				ref    bool
				before string // what natsd sends before the close
			}{
				{"unmasked frame", func(w *wsRaw) { w.SendFrame(0x82, false, []byte("PING\r\n")) }, 1002, "mask bit missing", true, ""},
				{"new message inside a fragmented one", func(w *wsRaw) {
					w.SendFrame(0x02, true, []byte("PI"))
					w.SendFrame(0x82, true, []byte("NG\r\n"))
				}, 1002, "new message started before final frame for previous message was received", true, ""},
				{"close reason not UTF-8", func(w *wsRaw) { w.SendFrame(0x88, true, []byte{3, 0xe8, 0xff, 0xfe}) }, 1007, "invalid utf8 body in close frame", true, ""},
				{"max_payload", func(w *wsRaw) { w.Send("CONNECT {\"verbose\":false}\r\nPUB x 2000000\r\n") }, 1009, "Maximum Message Payload Exceeded", true, "-ERR 'Maximum Payload Violation'"},
				{"opcode 3", func(w *wsRaw) { w.SendFrame(0x83, true, []byte("x")) }, 1002, "unknown opcode 3", true, ""},
				{"RSV1 without compression", func(w *wsRaw) { w.SendFrame(0xc2, true, []byte("x")) }, 1002, "compressed frame received without negotiated permessage-deflate", true, ""},
				{"fragmented ping", func(w *wsRaw) { w.SendFrame(0x09, true, nil) }, 1002, "control frame does not have final bit set", true, ""},
				{"continuation first", func(w *wsRaw) { w.SendFrame(0x80, true, []byte("x")) }, 1002, "invalid continuation frame", true, ""},
				{"frame of 2^40 bytes", func(w *wsRaw) {
					w.SendRaw(binary.BigEndian.AppendUint64([]byte{0x82, 0xff}, 1<<40))
					w.SendRaw([]byte{1, 2, 3, 4})
				}, 1009, "frame of 1099511627776 bytes, over the limit of 67108864", false, ""},
				{"protocol error", func(w *wsRaw) { w.Send("FOO\r\n") }, 1002, "Parse Error", false, "-ERR 'Unknown Protocol Operation'"},
			} {
				if impl.name != "natsd" && tc.name == "frame of 2^40 bytes" {
					continue
				}
				w := wsUpgrade(t, addr, nil)
				tc.send(w)
				data, cf := w.ReadUntilClosed()
				code, reason := cf.Close()
				switch {
				case impl.name == "natsd":
					if code != tc.code || reason != tc.reason || !strings.Contains(data, tc.before) {
						t.Errorf("%s: %q then close %d %q, want %q then %d %q", tc.name, data, code, reason, tc.before, tc.code, tc.reason)
					}
				case cf.Op == 8 && (!tc.ref || code != tc.code || reason != tc.reason):
					t.Errorf("the reference changed: %s: close %d %q", tc.name, code, reason)
				}
				alive(tc.name)
			}

			// A client's ping is answered with its payload; its close is
			// echoed (nats-server does both).
			w := wsUpgrade(t, addr, nil)
			w.SendFrame(0x89, true, []byte("still there?"))
			if f := w.ReadFrame(); f.Op != 0xA || string(f.Payload) != "still there?" {
				t.Errorf("ping: got op %d %q", f.Op, f.Payload)
			}
			w.SendFrame(0x88, true, []byte("\x03\xe8bye"))
			if _, cf := w.ReadUntilClosed(); !bytes.Equal(cf.Payload, []byte("\x03\xe8bye")) {
				t.Errorf("close echo %q", cf.Payload)
			}
			alive("the end")
		})
	}
}

// The server's own closes carry nats-server's status and reason:
// authentication failure and timeout (1008), server shutdown (1001).
func TestWebSocketCloseFrames(t *testing.T) {
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			p := wsStart(t, impl.bin, "authorization { user: a, password: b, timeout: 1 }\n"+wsConf("no_tls: true"))
			addr := p.WebSocketAddr()
			w := wsUpgrade(t, addr, nil)
			w.Send("CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"wrong\"}\r\n")
			data, cf := w.ReadUntilClosed()
			if code, reason := cf.Close(); code != 1008 || reason != "Authentication Failure" || !strings.Contains(data, "Authorization Violation") {
				t.Errorf("bad password: %q then close %d %q", data, code, reason)
			}
			w = wsUpgrade(t, addr, nil)
			if _, cf := w.ReadUntilClosed(); !bytes.HasPrefix(cf.Payload, []byte("\x03\xf0Authentication Timeout")) {
				t.Errorf("auth timeout: close %q", cf.Payload)
			}
			w = wsUpgrade(t, addr, nil)
			w.Send("CONNECT {\"verbose\":false,\"user\":\"a\",\"pass\":\"b\"}\r\nPING\r\n")
			w.ReadUntil("PONG")
			p.Stop()
			if _, cf := w.ReadUntilClosed(); string(cf.Payload) != "\x03\xe9Server Shutdown" {
				t.Errorf("shutdown: close %q", cf.Payload)
			}
		})
	}
}

// Authentication over WebSocket: the top-level users (nats.go UserInfo),
// the block's token (its authorization replaces the top-level one for
// WebSocket clients only), and cookies standing in for what CONNECT leaves
// out (nats.go sends them with WebSocketConnectionHeaders).
func TestWebSocketAuth(t *testing.T) {
	users := "authorization { users: [ { user: alice, password: wonderland }, { user: bob, password: builder } ] }\n"
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			p := wsStart(t, impl.bin, users+wsConf("no_tls: true\n  user_cookie: nu\n  pass_cookie: np"))
			url := p.WebSocketURL()
			nc := connect(t, url, nats.UserInfo("alice", "wonderland"), nats.Name("by-connect"))
			roundTrip(t, nc)
			// natsd lingers after its close frame, so that nats.go reads
			// the -ERR; nats-server closes at once, and nats.go's next
			// write often meets a reset first (recorded: "broken pipe").
			_, err := tryConnect(url, nats.UserInfo("alice", "nope"))
			if err == nil || impl.name == "natsd" && !strings.Contains(strings.ToLower(err.Error()), "authorization violation") {
				t.Errorf("wrong password over WebSocket: %v", err)
			}
			ck := connect(t, url, nats.Name("by-cookie"), nats.WebSocketConnectionHeaders(wsHeader("Cookie", "nu=bob; np=builder")))
			roundTrip(t, ck)
			// The cookie's password with CONNECT's user: field by field.
			mixed := connect(t, url, nats.UserInfo("alice", ""), nats.WebSocketConnectionHeaders(wsHeader("Cookie", "np=wonderland")))
			roundTrip(t, mixed)
			if _, err := tryConnect(url, nats.WebSocketConnectionHeaders(wsHeader("Cookie", "nu=bob; np=wrong"))); err == nil {
				t.Error("a wrong cookie password connected")
			}
			for name, user := range map[string]string{"by-connect": "alice", "by-cookie": "bob"} {
				testutil.Eventually(t, 3*time.Second, func() error {
					for _, c := range httpGet(t, p.MonitorURL()+"/connz?auth=1")["connections"].([]any) {
						if m := c.(map[string]any); m["name"] == name && m["authorized_user"] == user {
							return nil
						}
					}
					return errors.New(name + " not authorized as " + user)
				})
			}
		})
	}
	// The block's token with a top-level user (with users, both servers
	// refuse it: see the golden ws_auth_conflicts).
	single := "authorization { user: alice, password: wonderland }\n"
	for _, impl := range implementations(t) {
		t.Run(impl.name+"/token", func(t *testing.T) {
			p := wsStart(t, impl.bin, single+wsConf("no_tls: true\n  token_cookie: nt\n  authorization { token: \"ws-secret\" }"))
			url := p.WebSocketURL()
			roundTrip(t, connect(t, url, nats.Token("ws-secret")))
			roundTrip(t, connect(t, url, nats.WebSocketConnectionHeaders(wsHeader("Cookie", "nt=ws-secret"))))
			if _, err := tryConnect(url, nats.UserInfo("alice", "wonderland")); err == nil {
				t.Error("the top-level user connected over WebSocket, where the block's token replaces it")
			}
			roundTrip(t, connect(t, p.ClientURL(), nats.UserInfo("alice", "wonderland"))) // the client port keeps them
			if _, err := tryConnect(p.ClientURL(), nats.Token("ws-secret")); err == nil {
				t.Error("the WebSocket token connected on the client port")
			}
		})
	}
}

// wsHeader is one HTTP header for nats.WebSocketConnectionHeaders.
func wsHeader(k, v string) http.Header { return http.Header{k: {v}} }
