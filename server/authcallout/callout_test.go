package authcallout

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/natsd/natsd/server"
)

// A real server (no listeners) with the service's account AUTH and APP,
// where called-out users land; the service is an internal subscription in
// AUTH, answering as answer says. The whole exchange runs through the
// server's internal subscriptions, synchronously on the test's goroutine.

type rig struct {
	srv    *server.Server
	co     *Callout
	issuer nkeys.KeyPair
	xkey   nkeys.KeyPair // the service's; nil without one
	// answer makes the response to a request (nil: no answer).
	answer func(rc *jwt.AuthorizationRequestClaims) []byte
	// reqs are the requests the service saw (opened when sealed).
	reqs []*jwt.AuthorizationRequestClaims
	hdrs []string
}

func newRig(t *testing.T, withXKey bool, timeout time.Duration) *rig {
	t.Helper()
	r := &rig{}
	r.issuer, _ = nkeys.CreateAccount()
	ipub, _ := r.issuer.PublicKey()
	o := Options{Issuer: ipub, Account: "AUTH", AuthUsers: []string{"auth"}}
	if withXKey {
		r.xkey, _ = nkeys.CreateCurveKeys()
		o.XKey, _ = r.xkey.PublicKey()
	}
	r.srv = server.New(server.Options{Host: "127.0.0.1", Auth: server.AuthOptions{Timeout: timeout},
		Accounts: []*server.AccountConfig{{Name: "AUTH"}, {Name: "APP"}}}, nil, "test")
	t.Cleanup(func() { _ = r.srv.Shutdown(t.Context()) })
	r.co = New(o, nil)
	r.co.Start(r.srv)
	t.Cleanup(r.co.Stop)
	acc := r.srv.LookupAccount("AUTH")
	_, err := acc.Subscribe(server.CalloutSubject, "", func(m server.Msg) {
		data := m.Data
		hdr := string(m.Header)
		r.hdrs = append(r.hdrs, hdr)
		var serverX string
		if r.xkey != nil {
			i := strings.Index(hdr, xkeyHeader+": ")
			serverX = strings.TrimSpace(hdr[i+len(xkeyHeader)+2:])
			var err error
			if data, err = r.xkey.Open(data, serverX); err != nil {
				t.Errorf("open request: %v", err)
				return
			}
		}
		rc, err := jwt.DecodeAuthorizationRequestClaims(string(data))
		if err != nil {
			t.Errorf("request: %v", err)
			return
		}
		r.reqs = append(r.reqs, rc)
		if out := r.answer(rc); out != nil {
			_ = acc.Publish(string(m.Reply), "", nil, out)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// response is a response admitting rc's user into APP (edit changes it),
// signed by signer (nil: the issuer).
func (r *rig) response(rc *jwt.AuthorizationRequestClaims, signer nkeys.KeyPair, edit func(uc *jwt.UserClaims, resp *jwt.AuthorizationResponseClaims)) []byte {
	uc := jwt.NewUserClaims(rc.UserNkey)
	uc.Audience = "APP"
	resp := jwt.NewAuthorizationResponseClaims(rc.UserNkey)
	resp.Audience = rc.Server.ID
	userSigner := r.issuer
	if edit != nil {
		edit(uc, resp)
	}
	if resp.Error == "" && resp.Jwt == "" {
		resp.Jwt, _ = uc.Encode(userSigner)
	}
	if signer == nil {
		signer = r.issuer
	}
	tok, _ := resp.Encode(signer)
	return []byte(tok)
}

func creds(user string) *server.Credentials {
	return &server.Credentials{User: user, Pass: "pw", ConnectionType: server.ConnTypeStandard, ClientID: 7,
		Host: "127.0.0.1", Name: "n", Lang: "go", Version: "1.0", Protocol: 1, Abort: make(chan struct{})}
}

func TestAuthenticate(t *testing.T) {
	rogue, _ := nkeys.CreateAccount()
	rogueServer, _ := nkeys.CreateServer()
	rogueServerPub, _ := rogueServer.PublicKey()
	otherUser, _ := nkeys.CreateUser()
	otherUserPub, _ := otherUser.PublicKey()
	tests := []struct {
		name   string
		answer func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte
		err    string // "" admits
	}{
		{"admitted", func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte { return r.response(rc, nil, nil) }, ""},
		{"refused", func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte {
			return r.response(rc, nil, func(_ *jwt.UserClaims, resp *jwt.AuthorizationResponseClaims) { resp.Error = "no" })
		}, "auth callout service returned an error: no"},
		{"empty", func(*rig, *jwt.AuthorizationRequestClaims) []byte { return []byte{} }, `"no reason supplied" on account "AUTH"`},
		{"garbage", func(*rig, *jwt.AuthorizationRequestClaims) []byte { return []byte("eyJnot.a.jwt") }, ""},
		{"wrong signer", func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte { return r.response(rc, rogue, nil) },
			"auth callout signing key is unknown"},
		{"for another server", func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte {
			return r.response(rc, nil, func(_ *jwt.UserClaims, resp *jwt.AuthorizationResponseClaims) { resp.Audience = rogueServerPub })
		}, "not for server"},
		{"for another user", func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte {
			rc.UserNkey = otherUserPub
			return r.response(rc, nil, nil)
		}, "not for expected user"},
		{"response expired", func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte {
			return r.response(rc, nil, func(_ *jwt.UserClaims, resp *jwt.AuthorizationResponseClaims) {
				resp.Expires = time.Now().Add(-time.Minute).Unix()
			})
		}, "validation errors: claim is expired"},
		{"user JWT by another key", func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte {
			return r.response(rc, nil, func(uc *jwt.UserClaims, resp *jwt.AuthorizationResponseClaims) { resp.Jwt, _ = uc.Encode(rogue) })
		}, "wrong issuer for auth callout response"},
		{"user JWT for another user", func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte {
			return r.response(rc, nil, func(uc *jwt.UserClaims, resp *jwt.AuthorizationResponseClaims) {
				uc.Subject = otherUserPub
				resp.Jwt, _ = uc.Encode(r.issuer)
			})
		}, "expected authorized user of"},
		{"user JWT with issuer_account", func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte {
			return r.response(rc, nil, func(uc *jwt.UserClaims, _ *jwt.AuthorizationResponseClaims) {
				uc.IssuerAccount, _ = r.issuer.PublicKey()
			})
		}, "attempted to use issuer_account"},
		{"user JWT expired", func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte {
			return r.response(rc, nil, func(uc *jwt.UserClaims, _ *jwt.AuthorizationResponseClaims) {
				uc.Expires = time.Now().Add(-time.Minute).Unix()
			})
		}, "error validating user JWT: claim is expired"},
		{"no such account", func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte {
			return r.response(rc, nil, func(uc *jwt.UserClaims, _ *jwt.AuthorizationResponseClaims) { uc.Audience = "NOPE" })
		}, `no valid account "NOPE"`},
		{"outside its times", func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte {
			return r.response(rc, nil, func(uc *jwt.UserClaims, _ *jwt.AuthorizationResponseClaims) {
				now := time.Now().UTC()
				from := now.Add(2 * time.Hour)
				uc.Locale = "UTC"
				uc.Times = []jwt.TimeRange{{Start: from.Format("15:04:05"), End: from.Add(time.Minute).Format("15:04:05")}}
			})
		}, "outside of valid connect times"},
		{"websocket only", func(r *rig, rc *jwt.AuthorizationRequestClaims) []byte {
			return r.response(rc, nil, func(uc *jwt.UserClaims, _ *jwt.AuthorizationResponseClaims) {
				uc.AllowedConnectionTypes.Add(jwt.ConnectionTypeWebsocket)
			})
		}, "not allowed to use connection type"},
		{"no answer", func(*rig, *jwt.AuthorizationRequestClaims) []byte { return nil }, "not received in time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRig(t, false, 200*time.Millisecond)
			r.answer = func(rc *jwt.AuthorizationRequestClaims) []byte { return tt.answer(r, rc) }
			id, err := r.co.Authenticate(creds("alice"))
			switch {
			case tt.name == "garbage":
				if err == nil {
					t.Fatal("garbage admitted")
				}
			case tt.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.err == "" && (id.Account.Name != "APP" || id.User.Name() != "alice" || id.User.Account != "APP"):
				t.Fatalf("admitted as %+v into %s", id.User, id.Account.Name)
			case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
				t.Fatalf("error %v, want %q", err, tt.err)
			}
		})
	}
}

// What the user JWT says becomes the client's: permissions, name, expiry;
// a user placed in the service's own account may not publish requests.
func TestAdmitIdentity(t *testing.T) {
	r := newRig(t, false, time.Second)
	exp := time.Now().Add(time.Hour).Unix()
	r.answer = func(rc *jwt.AuthorizationRequestClaims) []byte {
		return r.response(rc, nil, func(uc *jwt.UserClaims, _ *jwt.AuthorizationResponseClaims) {
			uc.Name = "Alice A."
			uc.Expires = exp
			uc.Pub.Allow.Add("app.>")
			uc.Sub.Deny.Add("secret.>")
			uc.Resp = &jwt.ResponsePermission{MaxMsgs: 3, Expires: time.Minute}
		})
	}
	id, err := r.co.Authenticate(creds("alice"))
	if err != nil {
		t.Fatal(err)
	}
	p := id.User.Permissions
	if id.User.Name() != "Alice A." || !id.Expires.Equal(time.Unix(exp, 0)) || p == nil ||
		p.Publish.Allow[0] != "app.>" || p.Subscribe.Deny[0] != "secret.>" || p.Response.MaxMsgs != 3 {
		t.Fatalf("identity %+v, permissions %+v", id.User, p)
	}

	r.answer = func(rc *jwt.AuthorizationRequestClaims) []byte {
		return r.response(rc, nil, func(uc *jwt.UserClaims, _ *jwt.AuthorizationResponseClaims) { uc.Audience = "AUTH" })
	}
	id, err = r.co.Authenticate(creds("svc2"))
	if err != nil {
		t.Fatal(err)
	}
	if pp := id.User.Permissions; pp == nil || pp.Publish == nil || pp.Publish.Allow != nil ||
		len(pp.Publish.Deny) != 1 || pp.Publish.Deny[0] != server.CalloutSubject {
		t.Fatalf("a user in the service's account: permissions %+v, want publish deny %s only", pp, server.CalloutSubject)
	}
	if id.User.Name() != "svc2" {
		t.Errorf("a user JWT without a name: user %q, want the CONNECT's", id.User.Name())
	}
}

// With an xkey the request is sealed with the server's curve key, named in
// the header; a sealed response needs no issuer signature (the seal
// vouches for it, as in nats-server), one in the clear does.
func TestXKey(t *testing.T) {
	r := newRig(t, true, time.Second)
	rogue, _ := nkeys.CreateAccount()
	sealed := func(signer nkeys.KeyPair) func(rc *jwt.AuthorizationRequestClaims) []byte {
		return func(rc *jwt.AuthorizationRequestClaims) []byte {
			out, err := r.xkey.Seal(r.response(rc, signer, nil), rc.Server.XKey)
			if err != nil {
				t.Fatal(err)
			}
			return out
		}
	}
	r.answer = sealed(nil)
	if _, err := r.co.Authenticate(creds("alice")); err != nil {
		t.Fatalf("sealed response: %v", err)
	}
	xpub, _ := r.srv.XKey().PublicKey()
	if r.reqs[0].Server.XKey != xpub || r.hdrs[0] != "NATS/1.0\r\n"+xkeyHeader+": "+xpub+"\r\n\r\n" {
		t.Fatalf("request xkey %q, header %q; want the server's %s", r.reqs[0].Server.XKey, r.hdrs[0], xpub)
	}
	r.answer = sealed(rogue)
	if _, err := r.co.Authenticate(creds("alice")); err != nil {
		t.Fatalf("sealed response signed by another key: %v (nats-server admits it)", err)
	}
	r.answer = func(rc *jwt.AuthorizationRequestClaims) []byte { return r.response(rc, rogue, nil) }
	if _, err := r.co.Authenticate(creds("alice")); err == nil || !strings.Contains(err.Error(), "signing key is unknown") {
		t.Fatalf("clear response signed by another key: %v", err)
	}
	stranger, _ := nkeys.CreateCurveKeys()
	r.answer = func(rc *jwt.AuthorizationRequestClaims) []byte {
		out, _ := stranger.Seal(r.response(rc, nil, nil), rc.Server.XKey)
		return out
	}
	if _, err := r.co.Authenticate(creds("alice")); err == nil || !strings.Contains(err.Error(), "error decrypting") {
		t.Fatalf("response sealed by another key: %v", err)
	}
}

// The request says who the client is, and is signed by the server.
func TestRequestClaims(t *testing.T) {
	r := newRig(t, false, 3*time.Second)
	r.answer = func(rc *jwt.AuthorizationRequestClaims) []byte { return r.response(rc, nil, nil) }
	cr := creds("alice")
	cr.Token, cr.Sig, cr.Nonce = "tok", "sig", []byte("nonce")
	if _, err := r.co.Authenticate(cr); err != nil {
		t.Fatal(err)
	}
	rc := r.reqs[0]
	ipub, _ := r.issuer.PublicKey()
	want := jwt.ConnectOptions{Token: "tok", SignedNonce: "sig", Username: "alice", Password: "pw", Name: "n", Lang: "go", Version: "1.0", Protocol: 1}
	switch {
	case rc.Issuer != r.srv.ID() || rc.Subject != ipub || rc.Audience != requestAudience:
		t.Errorf("iss %s sub %s aud %s", rc.Issuer, rc.Subject, rc.Audience)
	case rc.Expires-rc.IssuedAt < 2 || rc.Expires-rc.IssuedAt > 4:
		t.Errorf("the request lives %ds, want the auth timeout (3s)", rc.Expires-rc.IssuedAt)
	case rc.ConnectOptions != want:
		t.Errorf("connect_opts %+v, want %+v", rc.ConnectOptions, want)
	case rc.ClientInformation.User != "alice" || rc.ClientInformation.ID != 7 || rc.ClientInformation.Nonce != "nonce":
		t.Errorf("client_info %+v", rc.ClientInformation)
	case rc.Server.XKey != "" || r.hdrs[0] != "":
		t.Errorf("an xkey (%q) or header (%q) without an xkey configured", rc.Server.XKey, r.hdrs[0])
	}
}

// A client waiting for the service stops waiting when the server shuts
// down, and a stopped callout refuses at once.
func TestAbortAndStop(t *testing.T) {
	r := newRig(t, false, time.Hour)
	r.answer = func(*jwt.AuthorizationRequestClaims) []byte { return nil }
	cr := creds("alice")
	abort := make(chan struct{})
	cr.Abort = abort
	done := make(chan error, 1)
	go func() { _, err := r.co.Authenticate(cr); done <- err }()
	close(abort)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("admitted")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting after the abort")
	}
	r.co.Stop()
	if _, err := r.co.Authenticate(creds("bob")); !errors.Is(err, errStopped) {
		t.Fatalf("after Stop: %v", err)
	}
}
