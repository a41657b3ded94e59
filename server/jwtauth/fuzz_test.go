package jwtauth

import (
	"encoding/base64"
	"net"
	"strings"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/natsd/natsd/server"
)

// testOperator is an operator with one account, preloaded in a MEMORY
// resolver, and a real server (no clients) that the accounts are made in.
type testOperator struct {
	auth    *Auth
	acc     nkeys.KeyPair
	accPub  string
	userTok string
	user    nkeys.KeyPair
}

func newTestOperator(t testing.TB) *testOperator {
	t.Helper()
	op, _ := nkeys.CreateOperator()
	opPub, _ := op.PublicKey()
	opJWT, err := jwt.NewOperatorClaims(opPub).Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	acc, _ := nkeys.CreateAccount()
	accPub, _ := acc.PublicKey()
	accJWT, err := jwt.NewAccountClaims(accPub).Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Options{Operators: []string{opJWT}, Resolver: ResolverOptions{Type: ResolverMemory},
		Preload: map[string]string{accPub: accJWT}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(server.New(server.Options{}, nil, "test")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Stop)
	u, _ := nkeys.CreateUser()
	uPub, _ := u.PublicKey()
	userTok, err := jwt.NewUserClaims(uPub).Encode(acc)
	if err != nil {
		t.Fatal(err)
	}
	return &testOperator{auth: a, acc: acc, accPub: accPub, userTok: userTok, user: u}
}

// FuzzAuthenticate feeds random jwt, sig and nkey fields, as a CONNECT
// carries them, to operator mode's authenticator: it must never panic, and
// admit no one but the holder of the user's key.
func FuzzAuthenticate(f *testing.F) {
	to := newTestOperator(f)
	nonce := []byte("fuzz-nonce-1234")
	sig, _ := to.user.Sign(nonce)
	good := base64.RawURLEncoding.EncodeToString(sig)
	f.Add(to.userTok, good, "")
	f.Add(to.userTok, "", "")
	f.Add(to.userTok[:len(to.userTok)/2], good, "")
	f.Add("eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.e30.AAAA", good, "UAAA")
	f.Add("a.b.c", "!!!", "U")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, tok, sig, nkey string) {
		id, err := to.auth.Authenticate(&server.Credentials{JWT: tok, Sig: sig, Nkey: nkey, Nonce: nonce,
			ClientIP: net.ParseIP("127.0.0.1"), ConnectionType: server.ConnTypeStandard})
		if err == nil {
			// The only way in is the user's JWT (not a bearer token) with
			// the nonce signed by its key, in either base64 alphabet.
			trimmed := strings.TrimRight(sig, "=")
			raw, derr := base64.RawURLEncoding.DecodeString(trimmed)
			if derr != nil {
				raw, derr = base64.RawStdEncoding.DecodeString(trimmed)
			}
			if tok != to.userTok || derr != nil || to.user.Verify(nonce, raw) != nil {
				t.Fatalf("admitted jwt %q sig %q: %+v", tok, sig, id)
			}
		}
		if err == nil && (id == nil || id.Account == nil || id.Account.Name != to.accPub) {
			t.Fatalf("admitted without an account: %+v", id)
		}
	})
}
