package server

import (
	"encoding/base64"
	"errors"
	"testing"

	"github.com/nats-io/nkeys"

	"golang.org/x/crypto/bcrypt"

	"github.com/natsd/natsd/internal/testutil"
)

func bcryptHash(t *testing.T, secret string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
	if err != nil {
		t.Fatalf("bcrypt: %v", err)
	}
	return string(h)
}

func TestAuthenticate(t *testing.T) {
	alice := &User{Username: "alice", Password: "apass"}
	bob := &User{Username: "bob", Password: bcryptHash(t, "bpass")}
	guest := &User{Username: "guest", Password: "gpass"}
	users := []*User{alice, bob, guest}

	single := AuthOptions{Username: "u", Password: "p"}
	singleHash := AuthOptions{Username: "u", Password: bcryptHash(t, "p")}
	token := AuthOptions{Token: "s3cret"}
	tokenHash := AuthOptions{Token: bcryptHash(t, "s3cret")}
	list := AuthOptions{Users: users}
	noAuth := AuthOptions{Users: users, NoAuthUser: "guest"}
	noAuthMissing := AuthOptions{Users: users, NoAuthUser: "nobody"}

	tests := []struct {
		name     string
		auth     AuthOptions
		co       connectOpts
		wantOK   bool
		wantUser *User
	}{
		{"single user", single, connectOpts{User: "u", Pass: "p"}, true, nil},
		{"single wrong pass", single, connectOpts{User: "u", Pass: "x"}, false, nil},
		{"single wrong user", single, connectOpts{User: "v", Pass: "p"}, false, nil},
		{"single no creds", single, connectOpts{}, false, nil},
		{"single pass as token", single, connectOpts{Token: "p"}, false, nil},
		{"single bcrypt", singleHash, connectOpts{User: "u", Pass: "p"}, true, nil},
		{"single bcrypt wrong", singleHash, connectOpts{User: "u", Pass: "q"}, false, nil},
		{"single bcrypt hash itself", singleHash, connectOpts{User: "u", Pass: singleHash.Password}, false, nil},

		{"token", token, connectOpts{Token: "s3cret"}, true, nil},
		{"token wrong", token, connectOpts{Token: "nope"}, false, nil},
		{"token sent as pass", token, connectOpts{Pass: "s3cret"}, false, nil},
		{"token sent as user and pass", token, connectOpts{User: "s3cret", Pass: "s3cret"}, false, nil},
		{"token bcrypt", tokenHash, connectOpts{Token: "s3cret"}, true, nil},
		{"token bcrypt wrong", tokenHash, connectOpts{Token: "s3cre"}, false, nil},

		{"users plain", list, connectOpts{User: "alice", Pass: "apass"}, true, alice},
		{"users bcrypt", list, connectOpts{User: "bob", Pass: "bpass"}, true, bob},
		{"users wrong pass", list, connectOpts{User: "alice", Pass: "bpass"}, false, nil},
		{"users unknown user", list, connectOpts{User: "carol", Pass: "apass"}, false, nil},
		{"users no creds", list, connectOpts{}, false, nil},
		{"users token only", list, connectOpts{Token: "apass"}, false, nil},

		{"no_auth_user, no creds", noAuth, connectOpts{}, true, guest},
		{"no_auth_user, other user", noAuth, connectOpts{User: "alice", Pass: "apass"}, true, alice},
		{"no_auth_user, bad creds", noAuth, connectOpts{User: "alice", Pass: "x"}, false, nil},
		{"no_auth_user, token", noAuth, connectOpts{Token: "gpass"}, false, nil},
		{"no_auth_user not in users", noAuthMissing, connectOpts{}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := authenticate(&tt.auth, &tt.co, nil)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if ok && u != tt.wantUser {
				t.Fatalf("user = %v, want %v", u, tt.wantUser)
			}
		})
	}
}

// TestAuthenticateNkeys: an nkey user is who signed the client's nonce
// with the user's seed; nothing else logs in as it.
func TestAuthenticateNkeys(t *testing.T) {
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	other, _ := nkeys.CreateUser()
	otherPub, _ := other.PublicKey()
	nonce := []byte("Xk2mzBd7-Q1rLw0")
	sign := func(k nkeys.KeyPair, enc *base64.Encoding, msg []byte) string {
		sig, err := k.Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		return enc.EncodeToString(sig)
	}
	good := sign(kp, base64.RawURLEncoding, nonce)
	nk := &User{Nkey: pub}
	pw := &User{Username: "alice", Password: "apass"}
	list := AuthOptions{Users: []*User{nk, pw}}
	noAuth := AuthOptions{Users: []*User{nk, pw}, NoAuthUser: pub}

	tests := []struct {
		name     string
		auth     AuthOptions
		co       connectOpts
		wantOK   bool
		wantUser *User
	}{
		{"signed nonce", list, connectOpts{Nkey: pub, Sig: good}, true, nk},
		{"standard base64 signature", list, connectOpts{Nkey: pub, Sig: sign(kp, base64.StdEncoding, nonce)}, true, nk},
		{"signed by another key", list, connectOpts{Nkey: pub, Sig: sign(other, base64.RawURLEncoding, nonce)}, false, nil},
		{"another nonce signed", list, connectOpts{Nkey: pub, Sig: sign(kp, base64.RawURLEncoding, []byte("other"))}, false, nil},
		{"no signature", list, connectOpts{Nkey: pub}, false, nil},
		{"signature not base64", list, connectOpts{Nkey: pub, Sig: "!!!"}, false, nil},
		{"unknown nkey", list, connectOpts{Nkey: otherPub, Sig: sign(other, base64.RawURLEncoding, nonce)}, false, nil},
		{"not an nkey", list, connectOpts{Nkey: "alice", Sig: good}, false, nil},
		{"nkey decides over user and password", list, connectOpts{Nkey: pub, Sig: good, User: "alice", Pass: "wrong"}, true, nk},
		{"no credentials do not match the nkey user", list, connectOpts{}, false, nil},
		{"empty user and password do not match the nkey user", list, connectOpts{User: "", Pass: ""}, false, nil},
		{"password user beside nkeys", list, connectOpts{User: "alice", Pass: "apass"}, true, pw},
		{"no_auth_user names an nkey", noAuth, connectOpts{}, true, nk},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, ok := authenticate(&tt.auth, &tt.co, nonce)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if ok && u != tt.wantUser {
				t.Fatalf("user = %v, want %v", u, tt.wantUser)
			}
		})
	}
	if VerifyNonceSignature(pub, good, nil) {
		t.Error("a signature verified against no nonce")
	}
}

// TestSecretMatchesBcryptDetection: a configured secret is a bcrypt hash
// only when it looks like one ("$2a$10$…", as nats-server's isBcrypt
// decides); any other text, even one starting "$2", is a plain password.
func TestSecretMatchesBcryptDetection(t *testing.T) {
	for _, v := range []string{"2a", "2b", "2y"} {
		h := bcryptHash(t, "pw")
		h = "$" + v + h[3:] // same hash, other bcrypt variant prefix
		if !secretMatches(h, "pw") {
			t.Errorf("%s hash does not match its password", v)
		}
	}
	for _, plain := range []string{"$2secret", "$2", "$2a$secret", "$pass"} {
		if !secretMatches(plain, plain) {
			t.Errorf("plain password %q does not match itself", plain)
		}
		if secretMatches(plain, plain+"x") {
			t.Errorf("plain password %q matches another", plain)
		}
	}
}

func TestAuthRequired(t *testing.T) {
	tests := []struct {
		a    AuthOptions
		want bool
	}{
		{AuthOptions{}, false},
		{AuthOptions{Username: "u"}, true},
		{AuthOptions{Token: "t"}, true},
		{AuthOptions{Users: []*User{{Username: "a"}}}, true},
		{AuthOptions{Users: []*User{{Username: "a"}}, NoAuthUser: "a"}, false},
		{AuthOptions{Users: []*User{{Nkey: "UA"}}}, true},
		{AuthOptions{External: refuseAll{}}, true},
	}
	for i, tt := range tests {
		if got := tt.a.Required(); got != tt.want {
			t.Errorf("#%d Required() = %v, want %v", i, got, tt.want)
		}
	}
}

// TestAuthOverTCP: the CONNECT path, including the first-op rule.
func TestAuthOverTCP(t *testing.T) {
	_, addr := startServer(t, Options{Auth: AuthOptions{Token: "s3cret"}})

	c := testutil.DialProto(t, addr)
	if c.Info["auth_required"] != true {
		t.Errorf("INFO auth_required = %v, want true", c.Info["auth_required"])
	}
	c.Send("SUB foo 1\r\n")
	if got := c.ReadUntilClosed(); len(got) != 1 || got[0] != "-ERR 'Authorization Violation'" {
		t.Errorf("SUB before CONNECT: got %q", got)
	}

	c = testutil.DialProto(t, addr)
	c.Send(`CONNECT {"verbose":false,"pass":"s3cret"}` + "\r\n")
	if got := c.ReadUntilClosed(); len(got) != 1 || got[0] != "-ERR 'Authorization Violation'" {
		t.Errorf("token as pass: got %q", got)
	}

	connectRaw(t, addr, `{"verbose":false,"auth_token":"s3cret"}`)

	c = testutil.DialProto(t, addr)
	c.Send(`CONNECT {"verbose":true,"auth_token":"s3cret"}` + "\r\nPING\r\n")
	if a, b := c.ReadLine(), c.ReadLine(); a != "+OK" || b != "PONG" {
		t.Errorf("verbose CONNECT: got %q, %q; want +OK, PONG", a, b)
	}
}

// refuseAll is an external authenticator that admits no one.
type refuseAll struct{}

func (refuseAll) Authenticate(*Credentials) (*Identity, error) { return nil, errRefused }

var errRefused = errors.New("refused")
