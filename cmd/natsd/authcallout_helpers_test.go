package main

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// An auth callout service as users write one with nats.go: it answers
// $SYS.REQ.USER.AUTH in its account with a response JWT signed by the
// configured issuer. What it answers depends on the CONNECT's user name
// (see answer), so that one service plays every case.

// calloutService is a running service and what it saw.
type calloutService struct {
	t      *testing.T
	issuer nkeys.KeyPair
	// xkey is the service's curve key (nil: requests are not encrypted).
	xkey nkeys.KeyPair
	nc   *nats.Conn

	mu   sync.Mutex
	seen map[string]*calloutRequest // by the CONNECT's user name
	came chan string                // user names, as requests arrive
}

// calloutRequest is one request as the service received it.
type calloutRequest struct {
	Subject, Reply string
	Header         nats.Header
	Raw            []byte // the payload as sent (sealed when encrypted)
	Claims         *jwt.AuthorizationRequestClaims
}

// calloutKeys are the issuer the config names and, for encrypted
// exchanges, the service's curve key.
type calloutKeys struct {
	issuer nkeys.KeyPair
	pub    string
	xkey   nkeys.KeyPair // nil: none
	xpub   string
}

func newCalloutKeys(t *testing.T, withXKey bool) *calloutKeys {
	t.Helper()
	k := &calloutKeys{}
	var err error
	if k.issuer, err = nkeys.CreateAccount(); err != nil {
		t.Fatal(err)
	}
	k.pub, _ = k.issuer.PublicKey()
	if withXKey {
		if k.xkey, err = nkeys.CreateCurveKeys(); err != nil {
			t.Fatal(err)
		}
		k.xpub, _ = k.xkey.PublicKey()
	}
	return k
}

// conf is the config both servers run: the service's user in AUTH
// (auth_users: it logs in without the callout), APP where called-out users
// land, OTHER whose users are not handed to the callout (allowed_accounts
// lists only APP), the system account's user (also in auth_users).
// timeout is the auth timeout, which bounds a callout.
func (k *calloutKeys) conf(timeout string) string {
	xkey := ""
	if k.xkey != nil {
		xkey = "\n    xkey: " + k.xpub
	}
	return fmt.Sprintf(`http: 127.0.0.1:-1
accounts {
  AUTH { users: [ {user: auth, password: pwd} ] }
  APP { users: [ {user: appuser, password: pwd} ] }
  OTHER { users: [ {user: other, password: pwd} ] }
  SYS { users: [ {user: sys, password: pwd} ] }
}
system_account: SYS
authorization {
  timeout: %s
  auth_callout {
    issuer: %s
    account: AUTH
    auth_users: [ auth, sys ]
    allowed_accounts: [ APP ]%s
  }
}
`, timeout, k.pub, xkey)
}

// startCalloutService connects as the auth user (with opts) and serves
// requests.
func startCalloutService(t *testing.T, url string, k *calloutKeys, opts ...nats.Option) *calloutService {
	t.Helper()
	s := &calloutService{t: t, issuer: k.issuer, xkey: k.xkey, seen: map[string]*calloutRequest{}, came: make(chan string, 64)}
	s.nc = connect(t, url, append([]nats.Option{nats.UserInfo("auth", "pwd")}, opts...)...)
	if _, err := s.nc.Subscribe("$SYS.REQ.USER.AUTH", s.handle); err != nil {
		t.Fatal(err)
	}
	if err := s.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *calloutService) handle(m *nats.Msg) {
	req := &calloutRequest{Subject: m.Subject, Reply: m.Reply, Header: m.Header, Raw: m.Data}
	token := m.Data
	serverX := m.Header.Get("Nats-Server-Xkey")
	if s.xkey != nil {
		var err error
		if token, err = s.xkey.Open(m.Data, serverX); err != nil {
			s.t.Errorf("cannot open an encrypted request: %v", err)
			return
		}
	}
	rc, err := jwt.DecodeAuthorizationRequestClaims(string(token))
	if err != nil {
		s.t.Errorf("request is not an authorization request JWT: %v", err)
		return
	}
	req.Claims = rc
	user := rc.ConnectOptions.Username
	s.mu.Lock()
	s.seen[user] = req
	s.mu.Unlock()
	select {
	case s.came <- user: // a wake-up for waitFor; it also polls
	default:
	}
	out, ok := s.answer(user, rc)
	if !ok {
		return // "slow": never answers
	}
	if s.xkey != nil && !strings.HasPrefix(user, "plain") {
		if out, err = s.xkey.Seal(out, serverX); err != nil {
			s.t.Errorf("seal: %v", err)
			return
		}
	}
	_ = m.Respond(out)
}

// answer is the service's decision for the user named in CONNECT:
//
//	bob              refused: the response carries an error
//	slow             no answer at all
//	short            admitted for two seconds (the user JWT expires)
//	mallory-signer   a response signed by a key that is not the issuer
//	mallory-user     a user JWT signed by a key that is not the issuer
//	mallory-aud      a response for another server
//	mallory-expired  a response that expired
//	to-auth          admitted into AUTH, the service's account, unrestricted
//	mallory-account  a user placed in an account the server does not have
//	mallory-garbage  a payload that is no JWT
//	mallory-empty    an empty payload
//	anyone else      admitted into APP as "<user>-called", allowed app.>
//	                 (publish and subscribe) and _INBOX.> (subscribe)
func (s *calloutService) answer(user string, rc *jwt.AuthorizationRequestClaims) ([]byte, bool) {
	uc := jwt.NewUserClaims(rc.UserNkey)
	uc.Audience = "APP"
	uc.Name = user + "-called"
	uc.Pub.Allow.Add("app.>")
	uc.Sub.Allow.Add("app.>", "_INBOX.>")
	resp := jwt.NewAuthorizationResponseClaims(rc.UserNkey)
	resp.Audience = rc.Server.ID
	signer, userSigner := s.issuer, s.issuer
	rogue, _ := nkeys.CreateAccount()
	switch strings.TrimPrefix(user, "plain-") { // plain-…: the same, answered in the clear
	case "slow":
		return nil, false
	case "bob":
		resp.Error = "bob is not welcome"
	case "short":
		uc.Expires = time.Now().Add(2 * time.Second).Unix()
	case "mallory-signer":
		signer = rogue
	case "mallory-user":
		userSigner = rogue
	case "mallory-aud":
		other, _ := nkeys.CreateServer()
		resp.Audience, _ = other.PublicKey()
	case "mallory-expired":
		resp.Expires = time.Now().Add(-time.Hour).Unix()
	case "to-auth":
		uc.Audience = "AUTH" // into the service's own account
		uc.Pub.Allow, uc.Sub.Allow = nil, nil
	case "mallory-account":
		uc.Audience = "NOPE"
	case "mallory-garbage":
		return []byte("this is not a JWT"), true
	case "mallory-empty":
		return []byte{}, true
	}
	if resp.Error == "" {
		tok, err := uc.Encode(userSigner)
		if err != nil {
			s.t.Errorf("encode user JWT: %v", err)
			return nil, false
		}
		resp.Jwt = tok
	}
	tok, err := resp.Encode(signer)
	if err != nil {
		s.t.Errorf("encode response: %v", err)
		return nil, false
	}
	return []byte(tok), true
}

// request is what the service saw for user's CONNECT (nil: nothing).
func (s *calloutService) request(user string) *calloutRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen[user]
}

// waitFor waits until a request for user has arrived.
func (s *calloutService) waitFor(user string) {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if s.request(user) != nil {
			return
		}
		select {
		case <-s.came:
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			s.t.Fatalf("no callout request for %q", user)
		}
	}
}

// connectAs logs in as user (any password: the service decides).
//
// Only url is tried: nats.go otherwise goes on, after an authorization
// error, to the servers the first one's INFO named — in a cluster another
// server, whose own callout request would stand in for the one the test
// checks (CI saw exactly that in TestAuthCalloutAcrossRoutes).
func connectAs(url, user string, opts ...nats.Option) (*nats.Conn, error) {
	return nats.Connect(url, append([]nats.Option{nats.UserInfo(user, "secret-"+user), nats.Name("app-" + user),
		nats.MaxReconnects(0), nats.Timeout(10 * time.Second), nats.IgnoreDiscoveredServers()}, opts...)...)
}

// connzEntry is the /connz?auth=true entry of the connection named name.
func connzEntry(t *testing.T, monitorURL, name string) map[string]any {
	t.Helper()
	cz := httpGet(t, monitorURL+"/connz?auth=true")
	conns, _ := cz["connections"].([]any)
	for _, c := range conns {
		if m, ok := c.(map[string]any); ok && m["name"] == name {
			return m
		}
	}
	t.Fatalf("no connection named %q in /connz: %v", name, cz)
	return nil
}
