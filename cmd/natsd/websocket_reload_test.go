package main

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// A reload applies every change of the websocket block, where nats-server
// refuses all but the certificates (recorded below): the listener moves as
// the client port does (the new port serves, the old one closes, upgraded
// clients stay), origins and the block's token apply (clients whose token
// is gone are closed), and the block can go and come back.
func TestWebSocketReload(t *testing.T) {
	port1, port2 := testutil.FreePort(t), testutil.FreePort(t)
	conf := func(port int, origin, token string) string {
		return fmt.Sprintf("listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\nwebsocket {\n  listen: 127.0.0.1:%d\n  no_tls: true\n"+
			"  allowed_origins: [%q]\n  authorization { token: %q }\n}\n", port, origin, token)
	}
	path := testutil.WriteFile(t, "ws.conf", conf(port1, "http://a.example.com", "t1"))

	// nats-server refuses the reload (recorded).
	ref := testutil.Start(t, testutil.NatsServerBin(t), "-c", path)
	saveAtomically(t, path, conf(port2, "http://a.example.com", "t1"))
	ref.Signal(syscall.SIGHUP)
	waitLog(t, ref, "config reload not supported for Websocket")
	ref.Stop()

	saveAtomically(t, path, conf(port1, "http://a.example.com", "t1"))
	p := testutil.Start(t, testutil.NatsdBin(t), "-c", path)
	url1, url2 := fmt.Sprintf("ws://127.0.0.1:%d", port1), fmt.Sprintf("ws://127.0.0.1:%d", port2)
	ws := connect(t, url1, nats.Token("t1"), nats.NoReconnect(), nats.Name("upgraded"))
	tcp := connect(t, p.ClientURL())
	sub, _ := ws.SubscribeSync("reload.ws")
	_ = ws.Flush()

	// 1. The listener moves; the upgraded client stays and is served.
	saveAtomically(t, path, conf(port2, "http://a.example.com", "t1"))
	testutil.Eventually(t, 5*time.Second, func() error {
		nc, err := tryConnect(url2, nats.Token("t1"))
		if err != nil {
			return err
		}
		nc.Close()
		return nil
	})
	if _, err := tryConnect(url1, nats.Token("t1")); err == nil {
		t.Fatal("the old WebSocket port still accepts clients")
	}
	if w := wsUpgrade(t, fmt.Sprintf("127.0.0.1:%d", port2), nil); w.Info["port"] != float64(port2) {
		t.Errorf("INFO after the move: port %v, want %d", w.Info["port"], port2)
	}
	if v := httpGet(t, p.MonitorURL()+"/varz")["websocket"].(map[string]any); v["port"] != float64(port2) {
		t.Errorf("/varz websocket after the move: %v", v)
	}
	_ = tcp.Publish("reload.ws", []byte("still here"))
	if m := nextMsg(t, sub); string(m.Data) != "still here" || !ws.IsConnected() {
		t.Fatalf("the upgraded client after the move: %q, connected %v", m.Data, ws.IsConnected())
	}

	// 2. Origins and the token change: the old token's client is closed,
	// the new token and origin are accepted, the old origin refused.
	closed := make(chan error, 1)
	ws.SetDisconnectErrHandler(func(_ *nats.Conn, err error) { closed <- err })
	saveAtomically(t, path, conf(port2, "http://b.example.com", "t2"))
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the client of a token the reload removed is still connected")
	}
	testutil.Eventually(t, 3*time.Second, func() error {
		for _, c := range httpGet(t, p.MonitorURL()+"/connz?state=closed")["connections"].([]any) {
			if m := c.(map[string]any); m["name"] == "upgraded" {
				if m["reason"] != "Authentication Revoked" || m["type"] != "websocket" {
					return fmt.Errorf("closed as %v (%v)", m["reason"], m["type"])
				}
				return nil
			}
		}
		return errors.New("the upgraded client is not among the closed connections")
	})
	addr2 := fmt.Sprintf("127.0.0.1:%d", port2)
	if w := wsUpgrade(t, addr2, nil, "Origin: http://a.example.com"); w.Resp.StatusCode != http.StatusForbidden {
		t.Errorf("the removed origin: %s", w.Resp.Status)
	}
	roundTrip(t, connect(t, url2, nats.Token("t2"), nats.WebSocketConnectionHeaders(http.Header{"Origin": {"http://b.example.com"}})))

	// 3. The block goes: no WebSocket listener; then it comes back. (A
	// file that drops most of its values is held back until SIGHUP.)
	saveAtomically(t, path, "listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\n")
	waitLog(t, p, "held back")
	p.Signal(syscall.SIGHUP)
	testutil.Eventually(t, 5*time.Second, func() error {
		if _, err := tryConnect(url2, nats.Token("t2")); err == nil {
			return errors.New("the WebSocket port still serves")
		}
		return nil
	})
	if v := httpGet(t, p.MonitorURL()+"/varz")["websocket"].(map[string]any); len(v) != 0 {
		t.Errorf("/varz websocket without the block: %v", v)
	}
	saveAtomically(t, path, conf(port1, "http://b.example.com", "t2"))
	testutil.Eventually(t, 5*time.Second, func() error {
		nc, err := tryConnect(url1, nats.Token("t2"))
		if err != nil {
			return err
		}
		nc.Close()
		return nil
	})
	if strings.Contains(p.Log(), "Failed to reload server configuration") {
		t.Errorf("a reload failed:\n%s", p.Log())
	}
}

// Under systemd-socket-activate natsd takes the 'websocket' socket (the
// natsd-websocket.socket unit's FileDescriptorName) and serves WebSocket
// clients on it; a reload that would move it keeps it.
func TestSocketActivatedWebSocket(t *testing.T) {
	activate := "/usr/bin/systemd-socket-activate"
	if _, err := os.Stat(activate); err != nil {
		t.Fatalf("%s not found (package systemd): run make test-deps", activate)
	}
	clientPort, wsPort := testutil.FreePort(t), testutil.FreePort(t)
	conf := testutil.WriteFile(t, "natsd.conf", "listen: 127.0.0.1:1\nwebsocket {\n  listen: 127.0.0.1:2\n  no_tls: true\n}\n")
	act := testutil.StartNoWait(t, activate,
		"-l", fmt.Sprintf("127.0.0.1:%d", clientPort), "-l", fmt.Sprintf("127.0.0.1:%d", wsPort),
		"--fdname=client:websocket", testutil.NatsdBin(t), "-c", conf)
	tcp := connectRetry(t, fmt.Sprintf("nats://127.0.0.1:%d", clientPort))
	wsURL := fmt.Sprintf("ws://127.0.0.1:%d", wsPort)
	ws := connect(t, wsURL)
	sub, _ := ws.SubscribeSync("activated")
	_ = ws.Flush()
	_ = tcp.Publish("activated", []byte("through the passed socket"))
	nextMsg(t, sub)
	if !strings.Contains(act.Log(), "Using the websocket listener from systemd socket activation") {
		t.Errorf("natsd did not say it took the websocket socket:\n%s", act.Log())
	}
	saveAtomically(t, conf, "listen: 127.0.0.1:1\nwebsocket {\n  listen: 127.0.0.1:3\n  no_tls: true\n}\nmax_payload: 4096\n")
	waitLog(t, act, "The websocket listener came from systemd socket activation: keeping it")
	if w := wsUpgrade(t, fmt.Sprintf("127.0.0.1:%d", wsPort), nil); w.Info["max_payload"] != float64(4096) {
		t.Errorf("INFO on the kept socket after the reload: max_payload %v", w.Info["max_payload"])
	}
	roundTrip(t, ws)
}

// Operator mode: a bearer user JWT in the jwt_cookie logs a WebSocket
// client in without credentials in CONNECT (a browser's flow); a user
// limited to WEBSOCKET connections is refused on the client port; a JWT
// that needs a signature cannot come by cookie alone.
func TestWebSocketOperatorJWTCookie(t *testing.T) {
	op := newOperator(t)
	a := op.newAccount("A", nil)
	conf := op.memoryConf(a) + wsConf("no_tls: true\n  jwt_cookie: nats_jwt")
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			p := wsStart(t, impl.bin, conf)
			bearer, _ := a.user(nil, func(uc *jwt.UserClaims) {
				uc.BearerToken = true
				uc.AllowedConnectionTypes.Add(jwt.ConnectionTypeWebsocket)
			})
			cookie := nats.WebSocketConnectionHeaders(http.Header{"Cookie": {"nats_jwt=" + bearer}})
			browser := connect(t, p.WebSocketURL(), cookie)
			tcp := a.connectUser(p.ClientURL())
			sub, _ := browser.SubscribeSync("to.browser")
			_ = browser.Flush()
			_ = tcp.Publish("to.browser", []byte("hello"))
			nextIs(t, sub, "to.browser", "hello")
			if l := rawJWTConnect(t, p.ClientAddr(), bearer, nil); strings.Join(l, "|") != authViolation {
				t.Errorf("the WEBSOCKET-only user on the client port: %q", l)
			}
			signed, _ := a.user(nil, nil)
			if _, err := tryConnect(p.WebSocketURL(), nats.WebSocketConnectionHeaders(http.Header{"Cookie": {"nats_jwt=" + signed}})); err == nil {
				t.Error("a JWT that needs a signature logged in by cookie alone")
			}
			// A creds file over WebSocket, as any other client.
			roundTrip(t, a.connectUser(p.WebSocketURL()))
		})
	}
}
