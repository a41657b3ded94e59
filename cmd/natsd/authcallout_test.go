package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/natsd/natsd/internal/testutil"
)

// The auth callout (authorization { auth_callout { … } }): the server asks
// a service, with a signed request JWT on $SYS.REQ.USER.AUTH in the
// service's account, whether a client may log in, and admits or refuses it
// from the signed response. Each test runs against natsd and nats-server
// v2.15.2 with the same config, service and expectations, so what the
// reference does is checked again on every run; the first recordings are
// in server/authcallout/testdata/reference-v2.15.2.md.

// serverID is the server_id of the INFO a fresh connection gets.
func serverID(t *testing.T, addr string) string {
	t.Helper()
	c := testutil.DialProto(t, addr)
	defer c.Close()
	id, _ := c.Info["server_id"].(string)
	return id
}

func TestAuthCallout(t *testing.T) {
	k := newCalloutKeys(t, false)
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			p := startConf(t, impl.bin, k.conf("2"))
			url, addr := p.ClientURL(), p.ClientAddr()
			svc := startCalloutService(t, url, k)

			// Admitted: the user lands in the account of the user JWT's
			// audience, named as the JWT names it, with its permissions;
			// the system account says so.
			sys := connect(t, url, nats.UserInfo("sys", "pwd"))
			events, _ := sys.SubscribeSync("$SYS.ACCOUNT.APP.CONNECT")
			_ = sys.Flush()
			alice, err := connectAs(url, "alice")
			if err != nil {
				t.Fatalf("alice: %v", err)
			}
			defer alice.Close()
			entry := connzEntry(t, p.MonitorURL(), "app-alice")
			if entry["account"] != "APP" || entry["authorized_user"] != "alice-called" {
				t.Errorf("alice in /connz: account %v, authorized_user %v; want APP, alice-called", entry["account"], entry["authorized_user"])
			}
			ev := nextMsg(t, events)
			var connectEvent struct {
				Type   string `json:"type"`
				Client struct {
					Account string `json:"acc"`
					User    string `json:"user"`
					Name    string `json:"name"`
				} `json:"client"`
			}
			if err := jsonUnmarshal(ev.Data, &connectEvent); err != nil || connectEvent.Type != "io.nats.server.advisory.v1.client_connect" ||
				connectEvent.Client.Account != "APP" || connectEvent.Client.User != "alice-called" || connectEvent.Client.Name != "app-alice" {
				t.Errorf("CONNECT event %s (%v)", ev.Data, err)
			}
			errs := make(chan error, 8)
			alice.SetErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err })
			carol, err := connectAs(url, "carol")
			if err != nil {
				t.Fatalf("carol: %v", err)
			}
			defer carol.Close()
			fromAlice, _ := carol.SubscribeSync("app.>")
			_ = carol.Flush()
			_ = alice.Publish("forbidden", []byte("x"))
			_ = alice.Publish("app.hello", []byte("from alice"))
			_ = alice.Flush()
			nextIs(t, fromAlice, "app.hello", "from alice") // both in APP
			expectErr(t, errs, `Permissions Violation for Publish to "forbidden"`)

			// The request: subject, reply, and claims signed by the server.
			req := svc.request("alice")
			checkRequest(t, req, serverID(t, addr), k.pub, "alice")
			if len(req.Header) != 0 {
				t.Errorf("a plain request has headers %v", req.Header)
			}

			// Refused by the service, and every bad response refused, each
			// with -ERR 'Authorization Violation' and the connection closed.
			for _, user := range []string{"bob", "mallory-signer", "mallory-user", "mallory-aud", "mallory-expired",
				"mallory-account", "mallory-garbage", "mallory-empty"} {
				_, lines := rawConnect(t, addr, map[string]any{"user": user, "pass": "x", "protocol": 1}, nil)
				if lines[len(lines)-1] != authViolation {
					t.Errorf("%s: %q, want %s", user, lines, authViolation)
				}
				if svc.request(user) == nil {
					t.Errorf("%s was refused without asking the service", user)
				}
			}
			if _, err := connectAs(url, "bob"); !errors.Is(err, nats.ErrAuthorization) {
				t.Errorf("bob with nats.go: %v, want %v", err, nats.ErrAuthorization)
			}

			// The auth user logs in without the callout. A called-out user
			// placed in the service's account may not publish requests
			// itself (the auth user may: recorded).
			if svc.request("auth") != nil {
				t.Error("the auth user was handed to the callout")
			}
			aerrs := make(chan error, 2)
			toAuth, err := connectAs(url, "to-auth", nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { aerrs <- err }))
			if err != nil {
				t.Fatalf("to-auth: %v", err)
			}
			defer toAuth.Close()
			_ = toAuth.Publish("$SYS.REQ.USER.AUTH", []byte("forged"))
			_ = toAuth.Flush()
			expectErr(t, aerrs, `Permissions Violation for Publish to "$SYS.REQ.USER.AUTH"`)
			// A wrong password for an auth user is refused outright.
			if _, lines := rawConnect(t, addr, map[string]any{"user": "auth", "pass": "wrong"}, nil); lines[len(lines)-1] != authViolation {
				t.Errorf("auth user with a wrong password: %q", lines)
			}
			if svc.request("auth") != nil {
				t.Error("an auth user with a wrong password was handed to the callout")
			}

			// allowed_accounts: APP's configured user is handed to the
			// callout (and placed by it), OTHER's logs in as configured.
			connect(t, url, nats.UserInfo("appuser", "pwd"), nats.Name("app-appuser"))
			if e := connzEntry(t, p.MonitorURL(), "app-appuser"); e["authorized_user"] != "appuser-called" {
				t.Errorf("appuser in /connz: %v, want appuser-called (placed by the callout)", e["authorized_user"])
			}
			connect(t, url, nats.UserInfo("other", "pwd"), nats.Name("app-other"))
			if e := connzEntry(t, p.MonitorURL(), "app-other"); e["account"] != "OTHER" || e["authorized_user"] != "other" {
				t.Errorf("other in /connz: %v in %v, want other in OTHER", e["authorized_user"], e["account"])
			}
			if svc.request("other") != nil {
				t.Error("OTHER's user was handed to the callout though allowed_accounts lists only APP")
			}

			// The user JWT's expiry ends the connection, as an expired
			// user JWT does in operator mode.
			expired := make(chan error, 4)
			short, err := connectAs(url, "short", nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { expired <- err }))
			if err != nil {
				t.Fatalf("short: %v", err)
			}
			defer short.Close()
			select {
			case err := <-expired:
				if !errors.Is(err, nats.ErrAuthExpired) {
					t.Errorf("short got %v, want %v", err, nats.ErrAuthExpired)
				}
			case <-time.After(10 * time.Second):
				t.Error("a user whose JWT expired is still connected")
			}
		})
	}
}

// checkRequest checks a request as the service received it: on
// $SYS.REQ.USER.AUTH with a reply inbox, a JWT signed by the server (whose
// id is its public key) for the issuer, naming the client and its CONNECT.
func checkRequest(t *testing.T, req *calloutRequest, srvID, issuer, user string) {
	t.Helper()
	if req == nil {
		t.Fatalf("no request for %s", user)
	}
	rc := req.Claims
	switch {
	case req.Subject != "$SYS.REQ.USER.AUTH":
		t.Errorf("request subject %q", req.Subject)
	case !strings.HasPrefix(req.Reply, "$SYS._INBOX."):
		t.Errorf("reply subject %q, want $SYS._INBOX.…", req.Reply)
	case rc.Issuer != srvID || rc.Server.ID != srvID:
		t.Errorf("request issuer %s, server_id.id %s; want the server id %s", rc.Issuer, rc.Server.ID, srvID)
	case rc.Subject != issuer:
		t.Errorf("request subject claim %s, want the callout issuer %s", rc.Subject, issuer)
	case rc.Audience != "nats-authorization-request":
		t.Errorf("request audience %q", rc.Audience)
	case !nkeys.IsValidPublicUserKey(rc.UserNkey):
		t.Errorf("user_nkey %q is not a user public key", rc.UserNkey)
	case rc.Expires <= rc.IssuedAt:
		t.Errorf("request exp %d not after iat %d", rc.Expires, rc.IssuedAt)
	case rc.Server.Host != "127.0.0.1":
		t.Errorf("server_id.host %q", rc.Server.Host)
	}
	ci, co := rc.ClientInformation, rc.ConnectOptions
	if ci.User != user || ci.Name != "app-"+user || ci.Kind != "Client" || ci.Type != "nats" || ci.Host != "127.0.0.1" || ci.ID == 0 {
		t.Errorf("client_info %+v", ci)
	}
	if co.Username != user || co.Password != "secret-"+user || co.Name != "app-"+user || co.Lang != "go" || co.Protocol != 1 || co.Version == "" {
		t.Errorf("connect_opts %+v", co)
	}
	vr := jwt.CreateValidationResults()
	rc.Validate(vr)
	if vr.IsBlocking(true) {
		t.Errorf("request claims do not validate: %v", vr.Errors())
	}
}

// loginRaw sends CONNECT as user and reads what the server says until it
// closes the connection (at most 10s); elapsed counts from the CONNECT. It
// runs off the test's goroutine, so it reports errors instead of failing.
func loginRaw(addr, user string) (lines []string, elapsed time.Duration, err error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, 0, err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(nc)
	if info, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(info, "INFO ") {
		return nil, 0, fmt.Errorf("no INFO: %q %v", info, err)
	}
	start := time.Now()
	if _, err := fmt.Fprintf(nc, "CONNECT {\"verbose\":false,\"user\":%q,\"pass\":\"x\"}\r\nPING\r\n", user); err != nil {
		return nil, 0, err
	}
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			lines = append(lines, strings.TrimRight(line, "\r\n"))
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return lines, time.Since(start), fmt.Errorf("still open after 10s (read %q)", lines)
			}
			return lines, time.Since(start), nil
		}
	}
}

// expectErr waits for an asynchronous error containing want.
func expectErr(t *testing.T, errs <-chan error, want string) {
	t.Helper()
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q, want %q", err, want)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("no error %q", want)
	}
}

// With an xkey, requests are sealed for the service (the server's own
// curve key in the Nats-Server-Xkey header), and responses may be sealed
// back or sent in the clear.
func TestAuthCalloutXKey(t *testing.T) {
	k := newCalloutKeys(t, true)
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			p := startConf(t, impl.bin, k.conf("2"))
			url, addr := p.ClientURL(), p.ClientAddr()
			svc := startCalloutService(t, url, k)
			c := testutil.DialProto(t, addr)
			xkey, _ := c.Info["xkey"].(string)
			c.Close()

			alice, err := connectAs(url, "alice") // sealed both ways
			if err != nil {
				t.Fatalf("alice: %v", err)
			}
			alice.Close()
			req := svc.request("alice")
			checkRequest(t, req, serverID(t, addr), k.pub, "alice")
			if got := req.Header.Get("Nats-Server-Xkey"); got != xkey || !nkeys.IsValidPublicCurveKey(got) {
				t.Errorf("Nats-Server-Xkey %q, want the INFO's xkey %q", got, xkey)
			}
			if req.Claims.Server.XKey != xkey {
				t.Errorf("server_id.xkey %q, want %q", req.Claims.Server.XKey, xkey)
			}
			if strings.HasPrefix(string(req.Raw), "eyJ") {
				t.Error("the request went out in the clear")
			}
			plain, err := connectAs(url, "plain-alice") // answered in the clear
			if err != nil {
				t.Fatalf("a response in the clear: %v", err)
			}
			plain.Close()
			for _, user := range []string{"bob", "mallory-garbage", "mallory-user", "plain-mallory-signer"} {
				if _, lines := rawConnect(t, addr, map[string]any{"user": user, "pass": "x"}, nil); lines[len(lines)-1] != authViolation {
					t.Errorf("%s: %q, want %s", user, lines, authViolation)
				}
			}
		})
	}
}

// A service that never answers: the client is refused with the
// reference's -ERR once the auth timeout has passed since its CONNECT, and
// meanwhile everyone else logs in: the service's own users, users the
// callout does not handle, and other called-out users.
func TestAuthCalloutTimeout(t *testing.T) {
	k := newCalloutKeys(t, false)
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			p := startConf(t, impl.bin, k.conf("1"))
			url, addr := p.ClientURL(), p.ClientAddr()
			svc := startCalloutService(t, url, k)

			type result struct {
				lines   []string
				elapsed time.Duration
				err     error
			}
			done := make(chan result, 1)
			go func() {
				var r result
				r.lines, r.elapsed, r.err = loginRaw(addr, "slow")
				done <- r
			}()
			svc.waitFor("slow") // the callout is pending now

			connect(t, url, nats.UserInfo("auth", "pwd"))
			connect(t, url, nats.UserInfo("other", "pwd"))
			if nc, err := connectAs(url, "alice"); err != nil {
				t.Errorf("a called-out user while another callout is pending: %v", err)
			} else {
				nc.Close()
			}
			select {
			case r := <-done:
				if r.err != nil {
					t.Fatalf("slow: %v", r.err)
				}
				if len(r.lines) == 0 || r.lines[0] != authViolation {
					t.Errorf("slow: %q, want %s", r.lines, authViolation)
				}
				if r.elapsed < time.Second {
					t.Errorf("slow refused after %v, before the auth timeout (1s)", r.elapsed)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("a callout without an answer was not refused")
			}

			// No service at all: the same refusal.
			svc.nc.Close()
			start := time.Now()
			if _, lines := rawConnect(t, addr, map[string]any{"user": "alice", "pass": "x"}, nil); lines[len(lines)-1] != authViolation {
				t.Errorf("with no service: %q, want %s", lines, authViolation)
			}
			if el := time.Since(start); el < time.Second {
				t.Errorf("with no service refused after %v, before the auth timeout", el)
			}
		})
	}
}

// A reload cannot change the callout: nats-server refuses the whole reload
// (recorded: "config reload not supported for AuthCallout") and so does
// natsd, and the running callout keeps answering. A reload that changes the
// authorization users keeps called-out clients in natsd; nats-server closes
// them (recorded: it makes its accounts anew) — each is held to its own.
func TestAuthCalloutReload(t *testing.T) {
	k := newCalloutKeys(t, false)
	other := newCalloutKeys(t, false)
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			path := testutil.WriteFile(t, "server.conf", "listen: 127.0.0.1:-1\n"+k.conf("2"))
			args := []string{"-c", path}
			if impl.name == "natsd" {
				args = append(args, "--no_config_watch") // reloads on SIGHUP only, as nats-server
			}
			p := testutil.Start(t, impl.bin, args...)
			url := p.ClientURL()
			startCalloutService(t, url, k)
			alice, err := connectAs(url, "alice")
			if err != nil {
				t.Fatalf("alice: %v", err)
			}
			defer alice.Close()

			saveAtomically(t, path, "listen: 127.0.0.1:-1\n"+other.conf("2"))
			p.Signal(syscall.SIGHUP)
			refusal := map[string]string{"natsd": "Failed to reload server configuration: authorization.auth_callout cannot change on a reload",
				"nats-server": "Failed to reload server configuration: config reload not supported for AuthCallout"}[impl.name]
			testutil.Eventually(t, 10*time.Second, func() error {
				if !strings.Contains(p.Log(), refusal) {
					return fmt.Errorf("the reload that changes the issuer was not refused with %q", refusal)
				}
				return nil
			})
			if nc, err := connectAs(url, "carol"); err != nil {
				t.Errorf("after the refused reload, the old issuer's service: %v", err)
			} else {
				nc.Close()
			}

			withUser := strings.Replace(k.conf("2"), "  timeout: 2\n", "  timeout: 2\n  users: [ {user: extra, password: pwd} ]\n", 1)
			saveAtomically(t, path, "listen: 127.0.0.1:-1\n"+withUser)
			p.Signal(syscall.SIGHUP)
			testutil.Eventually(t, 10*time.Second, func() error {
				if !strings.Contains(p.Log(), "Reloaded server configuration") {
					return errors.New("no reload of the authorization users")
				}
				return nil
			})
			connect(t, url, nats.UserInfo("auth", "pwd")) // the reload is applied by now
			_, err = alice.RTT()
			switch impl.name {
			case "natsd":
				if err != nil {
					t.Errorf("a called-out client after an authorization reload: %v", err)
				}
			default:
				testutil.Eventually(t, 10*time.Second, func() error {
					if !alice.IsClosed() {
						return errors.New("nats-server kept the called-out client (it closed it when recorded)")
					}
					return nil
				})
			}
		})
	}
}

// The service may be connected to another server of the cluster: the
// request and the answer travel the routes in the service's account. In a
// natsd cluster, and in a mixed one with nats-server v2.15.2 both ways.
func TestAuthCalloutAcrossRoutes(t *testing.T) {
	k := newCalloutKeys(t, false)
	conf := testutil.WriteFile(t, "callout.conf", strings.Replace(k.conf("2"), "http: 127.0.0.1:-1\n", "", 1))
	natsd, ref := testutil.NatsdBin(t), testutil.NatsServerBin(t)
	for _, c := range []struct{ name, clientSide, serviceSide string }{
		{"natsd", natsd, natsd},
		{"client on natsd, service on nats-server", natsd, ref},
		{"client on nats-server, service on natsd", ref, natsd},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := startNode(t, c.clientSide, "A", nil, "-c", conf)
			b := startNode(t, c.serviceSide, "B", []int{a.clusterPort}, "-c", conf)
			waitMesh(t, 10*time.Second, a, b)
			svc := startCalloutService(t, b.ClientURL(), k)
			testutil.Eventually(t, 20*time.Second, func() error {
				nc, err := connectAs(a.ClientURL(), "alice", nats.Timeout(5*time.Second))
				if err != nil {
					return err
				}
				nc.Close()
				return nil
			})
			checkRequest(t, svc.request("alice"), serverID(t, a.ClientAddr()), k.pub, "alice")
			if _, lines := rawConnect(t, a.ClientAddr(), map[string]any{"user": "bob", "pass": "x"}, nil); lines[len(lines)-1] != authViolation {
				t.Errorf("bob across the route: %q", lines)
			}
		})
	}
}

// A client on TLS: the request says so (client_tls), with the client's
// certificate as the verified chain when the server verifies clients.
func TestAuthCalloutTLS(t *testing.T) {
	k := newCalloutKeys(t, false)
	p := newPKI(t, "callout")
	conf := "listen: 127.0.0.1:-1\n" + k.conf("2") + p.tlsBlock("verify: true")
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			srv := testutil.Start(t, impl.bin, "-c", testutil.WriteFile(t, "server.conf", conf))
			url := srv.ClientURL()
			svc := startCalloutService(t, url, k, p.opts(p.client)...)
			alice, err := connectAs(url, "alice", p.opts(p.client)...)
			if err != nil {
				t.Fatalf("alice over TLS: %v", err)
			}
			cs, _ := alice.TLSConnectionState()
			alice.Close()
			ct := svc.request("alice").Claims.TLS
			switch {
			case ct == nil:
				t.Fatal("no client_tls for a TLS client")
			case ct.Version != "1.3" || ct.Cipher != tls.CipherSuiteName(cs.CipherSuite):
				t.Errorf("client_tls version %q cipher %q, want 1.3 and %s", ct.Version, ct.Cipher, tls.CipherSuiteName(cs.CipherSuite))
			case len(ct.VerifiedChains) != 1 || len(ct.VerifiedChains[0]) != 2 || len(ct.Certs) != 0:
				t.Errorf("client_tls chains %d certs %d, want one verified chain of two", len(ct.VerifiedChains), len(ct.Certs))
			default:
				blk, _ := pem.Decode([]byte(ct.VerifiedChains[0][0]))
				if blk == nil || !bytes.Equal(blk.Bytes, p.client.Leaf.Raw) {
					t.Errorf("the verified chain does not start with the client's certificate: %q", ct.VerifiedChains[0][0])
				}
			}
		})
	}
}
