package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/natsd/natsd/internal/testutil"
)

// Operator mode: accounts from operator-signed JWTs, users from
// account-signed JWTs. Each test runs against natsd and nats-server v2.15.2
// with the same config and the same expectations, so what the reference
// does is checked on every run.

const authViolation = "-ERR 'Authorization Violation'"

func TestOperatorModeMemoryResolver(t *testing.T) {
	op := newOperator(t)
	a := op.newAccount("A", func(ac *jwt.AccountClaims) {
		ac.Exports.Add(&jwt.Export{Subject: "events.>", Type: jwt.Stream})
	})
	b := op.newAccount("B", func(ac *jwt.AccountClaims) {
		ac.Imports.Add(&jwt.Import{Account: a.pub, Subject: "events.>", Type: jwt.Stream})
	})
	revoked, revokedKP := a.user(nil, nil)
	revokedPub, _ := revokedKP.PublicKey()
	a.claims.Revoke(revokedPub)
	stranger := op.newAccount("NOT PRELOADED", nil)
	conf := op.memoryConf(a, b)

	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			p := startConf(t, impl.bin, conf)
			url, addr := p.ClientURL(), p.ClientAddr()

			// Logins: a creds file (UserCredentials), a user signed by the
			// account's signing key (UserJWT), a bearer token.
			anc := a.connectUser(url)
			tok, kp := a.user(a.signer, nil)
			seed, _ := kp.Seed()
			snc := connect(t, url, nats.UserJWTAndSeed(tok, string(seed)))
			bearer, _ := a.user(nil, func(uc *jwt.UserClaims) { uc.BearerToken = true })
			if l := rawJWTConnect(t, addr, bearer, nil); l[len(l)-1] != "PONG" {
				t.Errorf("bearer token without a signature: %q", l)
			}

			// Accounts apart, the stream import across them.
			bnc := b.connectUser(url)
			fromA, _ := bnc.SubscribeSync("events.>")
			own, _ := snc.SubscribeSync("events.>") // A's other user
			_ = bnc.Flush()
			_ = snc.Flush()
			_ = anc.Publish("events.login", []byte("alice"))
			nextIs(t, fromA, "events.login", "alice")
			nextIs(t, own, "events.login", "alice")
			_ = bnc.Publish("events.b", []byte("b's own"))
			nextIs(t, fromA, "events.b", "b's own") // not seen in A:
			_ = anc.Publish("events.marker", nil)
			nextIs(t, own, "events.marker", "")
			nextIs(t, fromA, "events.marker", "") // through the import

			// Refused, each with the reference's -ERR, the connection closed.
			expired, expiredKP := a.user(nil, func(uc *jwt.UserClaims) { uc.Expires = time.Now().Add(-time.Minute).Unix() })
			rogue, _ := nkeys.CreateAccount()
			unlisted, unlistedKP := a.user(rogue, nil)
			strangerTok, strangerKP := stranger.user(nil, nil)
			plain, plainKP := a.user(nil, nil)
			other, _ := nkeys.CreateUser()
			srcTok, srcKP := a.user(nil, func(uc *jwt.UserClaims) { uc.Src.Add("192.0.2.0/24") })
			wsTok, wsKP := a.user(nil, func(uc *jwt.UserClaims) { uc.AllowedConnectionTypes.Add(jwt.ConnectionTypeWebsocket) })
			for _, r := range []struct {
				name string
				tok  string
				kp   nkeys.KeyPair
			}{
				{"expired", expired, expiredKP},
				{"revoked", revoked, revokedKP},
				{"signed by a key the account does not list", unlisted, unlistedKP},
				{"an account the resolver does not have", strangerTok, strangerKP},
				{"nonce signed by another key", plain, other},
				{"no signature", plain, nil},
				{"source network not allowed", srcTok, srcKP},
				{"connection type not allowed", wsTok, wsKP},
				{"not a JWT", "eyJnot.a.jwt", plainKP},
			} {
				if l := rawJWTConnect(t, addr, r.tok, r.kp); strings.Join(l, "|") != authViolation {
					t.Errorf("%s: %q, want %s and the connection closed", r.name, l, authViolation)
				}
			}
			_, lines := rawConnect(t, addr, map[string]any{"user": "a", "pass": "a"}, nil)
			if strings.Join(lines, "|") != authViolation {
				t.Errorf("a password in operator mode: %q", lines)
			}
			// No one else noticed.
			_ = anc.Publish("events.after", []byte("still"))
			nextIs(t, own, "events.after", "still")
			nextIs(t, fromA, "events.after", "still")
		})
	}
}

func TestOperatorModeUserPermissionsAndExpiry(t *testing.T) {
	op := newOperator(t)
	a := op.newAccount("A", nil)
	conf := op.memoryConf(a)
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			p := startConf(t, impl.bin, conf)
			tok, kp := a.user(nil, func(uc *jwt.UserClaims) {
				uc.Pub.Allow.Add("ok.>", "_INBOX.>")
				uc.Sub.Deny.Add("secret.>")
			})
			errs := make(chan error, 8)
			nc := connect(t, p.ClientURL(), nats.UserCredentials(a.creds(tok, kp)),
				nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
			sub, _ := nc.SubscribeSync("ok.>")
			_, _ = nc.SubscribeSync("secret.x")
			_ = nc.Publish("no.1", nil)
			_ = nc.Publish("ok.1", []byte("allowed"))
			nextIs(t, sub, "ok.1", "allowed")
			want := map[string]bool{`Permissions Violation for Subscription to "secret.x"`: true, `Permissions Violation for Publish to "no.1"`: true}
			for len(want) > 0 {
				select {
				case err := <-errs:
					text, _ := strings.CutPrefix(err.Error(), "nats: permissions violation: ")
					if !want[text] {
						t.Fatalf("unexpected error %v (still waiting for %v)", err, want)
					}
					delete(want, text)
				case <-time.After(5 * time.Second):
					t.Fatalf("no permissions violation for %v", want)
				}
			}

			// A user whose JWT expires while connected is told and closed.
			short, shortKP := a.user(nil, func(uc *jwt.UserClaims) { uc.Expires = time.Now().Add(2 * time.Second).Unix() })
			raw := testutil.DialProto(t, p.ClientAddr())
			raw.Send(fmt.Sprintf("CONNECT {\"verbose\":false,\"jwt\":%q,\"sig\":%q}\r\nPING\r\n", short, signNonce(t, shortKP, raw.Info["nonce"].(string))))
			if l := raw.ReadLine(); l != "PONG" {
				t.Fatalf("a user about to expire: %q", l)
			}
			lines := raw.ReadUntilClosed()
			if len(lines) == 0 || lines[len(lines)-1] != "-ERR 'User Authentication Expired'" {
				t.Errorf("when the user JWT expired: %q", lines)
			}
			// The permission-bound client was not touched.
			_ = nc.Publish("ok.2", []byte("after"))
			nextIs(t, sub, "ok.2", "after")
		})
	}
}

// Account JWTs pushed to the system account are applied live: a limit
// lowered, an export added (and a new account importing it), a user
// revoked. The full resolver keeps them in its directory across a restart.
func TestOperatorModePushedUpdates(t *testing.T) {
	for _, impl := range implementations(t) {
		for _, resolver := range []string{"MEMORY", "full"} {
			t.Run(impl.name+"/"+resolver, func(t *testing.T) {
				checkPushedUpdates(t, impl.bin, resolver)
			})
		}
	}
}

func checkPushedUpdates(t *testing.T, bin, resolver string) {
	op := newOperator(t)
	a := op.newAccount("A", nil)
	b := op.newAccount("B", func(ac *jwt.AccountClaims) {
		ac.Imports.Add(&jwt.Import{Account: a.pub, Subject: "svc.>", Type: jwt.Service})
	})
	conf := op.memoryConf(a, b)
	if resolver == "full" {
		conf = op.fullConf(a) // B is pushed below
	}
	path := testutil.WriteFile(t, "server.conf", "listen: 127.0.0.1:-1\n"+conf)
	p := testutil.Start(t, bin, "-c", path)
	url := p.ClientURL()
	sys := op.sys.connectUser(url)
	revokedErr := make(chan error, 1)
	victimTok, victimKP := a.user(nil, nil)
	victim := connect(t, url, nats.UserCredentials(a.creds(victimTok, victimKP)), nats.NoReconnect(),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case revokedErr <- err:
			default:
			}
		}))
	anc := a.connectUser(url)

	// Before: no export, so B's import of svc.> is not authorized.
	if _, err := anc.Subscribe("svc.>", func(m *nats.Msg) { _ = m.Respond(append([]byte("echo "), m.Data...)) }); err != nil {
		t.Fatal(err)
	}
	_ = anc.Flush()

	// A gets an export and a payload limit, on $SYS.REQ.ACCOUNT.<A>.CLAIMS.UPDATE.
	time.Sleep(time.Until(time.Unix(time.Now().Unix()+1, 0))) // a newer issue time than the preloaded JWT's
	a.claims.Exports.Add(&jwt.Export{Subject: "svc.>", Type: jwt.Service})
	a.claims.Limits.Payload = 10
	r := push(t, sys, "$SYS.REQ.ACCOUNT."+a.pub+".CLAIMS.UPDATE", a.JWT())
	if r.Data == nil || r.Data.Code != 200 || r.Data.Message != "jwt updated" || r.Data.Account != a.pub {
		t.Fatalf("update of A: %+v", r)
	}
	raw := testutil.DialProto(t, p.ClientAddr())
	tok, kp := a.user(nil, nil)
	raw.Send(fmt.Sprintf("CONNECT {\"verbose\":false,\"jwt\":%q,\"sig\":%q}\r\nPUB x 11\r\nhello world\r\n", tok, signNonce(t, kp, raw.Info["nonce"].(string))))
	if got := raw.ReadUntilClosed(); strings.Join(got, "|") != "-ERR 'Maximum Payload Violation'" {
		t.Errorf("11 bytes after the limit went to 10: %q", got)
	}

	if resolver == "full" {
		// B is new: the full resolver takes it on $SYS.REQ.CLAIMS.UPDATE.
		r = push(t, sys, "$SYS.REQ.CLAIMS.UPDATE", b.JWT())
		if r.Data == nil || r.Data.Code != 200 || r.Data.Message != "jwt updated" {
			t.Fatalf("B pushed: %+v", r)
		}
		if _, err := os.Stat(filepath.Join(op.jwtDir, b.pub+".jwt")); err != nil {
			t.Errorf("the full resolver did not store B: %v", err)
		}
	}
	// B's import works now that A exports svc.> (B's clients connect
	// after the update; an account's imports are made again on updates).
	bnc := b.connectUser(url)
	rep, err := bnc.Request("svc.echo", []byte("hi"), 5*time.Second)
	if err != nil || string(rep.Data) != "echo hi" {
		t.Fatalf("B's request through the import A now exports: %v %v", rep, err)
	}

	// Refused updates: not a JWT; a JWT for another account than the subject's.
	if resolver == "full" {
		r = push(t, sys, "$SYS.REQ.CLAIMS.UPDATE", "garbage")
		if r.Error == nil || r.Error.Code != 500 || r.Error.Account != "n/a" || r.Error.Description != "jwt update resulted in error - expected 3 chunks" {
			t.Errorf("garbage pushed: %+v", r)
		}
	}
	r = push(t, sys, "$SYS.REQ.ACCOUNT."+b.pub+".CLAIMS.UPDATE", a.JWT())
	if r.Error == nil || r.Error.Code != 500 || r.Error.Account != b.pub || r.Error.Description != "jwt update resulted in error - subject does not match jwt content" {
		t.Errorf("A's JWT pushed as B's: %+v", r)
	}

	// A revokes the victim: it is disconnected, and cannot log in again.
	victimPub, _ := victimKP.PublicKey()
	time.Sleep(time.Until(time.Unix(time.Now().Unix()+1, 0)))
	a.claims.Revoke(victimPub)
	if r = push(t, sys, "$SYS.REQ.ACCOUNT."+a.pub+".CLAIMS.UPDATE", a.JWT()); r.Data == nil || r.Data.Code != 200 {
		t.Fatalf("revocation pushed: %+v", r)
	}
	select {
	case err := <-revokedErr:
		if !errors.Is(err, nats.ErrAuthRevoked) {
			t.Errorf("the revoked user was told %v, want %v", err, nats.ErrAuthRevoked)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked user was not disconnected")
	}
	if l := rawJWTConnect(t, p.ClientAddr(), victimTok, victimKP); strings.Join(l, "|") != authViolation {
		t.Errorf("the revoked user logging in again: %q", l)
	}
	// Others stay: A's responder still answers B.
	if rep, err := bnc.Request("svc.echo", []byte("again"), 5*time.Second); err != nil || string(rep.Data) != "echo again" {
		t.Errorf("after the revocation: %v %v", rep, err)
	}
	_ = victim

	if resolver == "full" {
		// The directory outlives the process: B (pushed, not preloaded)
		// logs in after a restart, and the revocation holds.
		p.Stop()
		p2 := testutil.Start(t, bin, "-c", path)
		b.connectUser(p2.ClientURL())
		if l := rawJWTConnect(t, p2.ClientAddr(), victimTok, victimKP); strings.Join(l, "|") != authViolation {
			t.Errorf("the revoked user after a restart: %q", l)
		}
	}
}

// In operator mode the system account is the operator's (its public key):
// its users ask the servers ($SYS.REQ.SERVER.PING) and see the clients of
// the other accounts connect, on natsd as on nats-server.
func TestOperatorModeSystemAccount(t *testing.T) {
	op := newOperator(t)
	a := op.newAccount("A", nil)
	conf := op.memoryConf(a)
	for _, impl := range implementations(t) {
		t.Run(impl.name, func(t *testing.T) {
			p := startConf(t, impl.bin, conf)
			sys := op.sys.connectUser(p.ClientURL())
			rep, err := sys.Request("$SYS.REQ.SERVER.PING.IDZ", nil, 5*time.Second)
			if err != nil {
				t.Fatalf("$SYS.REQ.SERVER.PING.IDZ: %v", err)
			}
			if !strings.Contains(string(rep.Data), `"id":"N`) {
				t.Errorf("IDZ reply %s", rep.Data)
			}
			events, _ := sys.SubscribeSync("$SYS.ACCOUNT." + a.pub + ".CONNECT")
			_ = sys.Flush()
			a.connectUser(p.ClientURL())
			if _, err := events.NextMsg(5 * time.Second); err != nil {
				t.Errorf("no CONNECT event for A's client: %v", err)
			}
			// A's users are not the system account's.
			anc := a.connectUser(p.ClientURL())
			if _, err := anc.Request("$SYS.REQ.SERVER.PING.IDZ", nil, 2*time.Second); err != nats.ErrNoResponders {
				t.Errorf("A's request to the system account: %v, want no responders", err)
			}
		})
	}
}
