package server

import (
	"errors"
	"slices"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
)

// Which clients the server hands to the auth callout, as nats-server
// v2.15.2 decides (recorded; cmd/natsd's TestAuthCallout checks the same
// end to end against both servers).
func TestCalloutDelegates(t *testing.T) {
	s := New(Options{Accounts: []*AccountConfig{{Name: "APP"}, {Name: "OTHER"}}}, nil, "test")
	app, other := s.LookupAccount("APP"), s.LookupAccount("OTHER")
	auth := &User{Username: "auth", Password: "pwd"}
	guser := &User{Username: "guser", Password: "pwd"}
	appuser := &User{Username: "appuser", Password: "pwd", Account: "APP"}
	otheruser := &User{Username: "otheruser", Password: "pwd", Account: "OTHER"}
	nkeyAuth := &User{Nkey: "UAUTHKEY"}
	a := &AuthOptions{Users: []*User{auth, guser, appuser, otheruser, nkeyAuth}}
	single := &AuthOptions{Username: "auth", Password: "pwd"}
	all := &Callout{AuthUsers: []string{"auth", "UAUTHKEY"}}
	onlyApp := &Callout{AuthUsers: []string{"auth"}, AllowedAccounts: []string{"APP"}}
	tests := []struct {
		name string
		co   *Callout
		a    *AuthOptions
		o    connectOpts
		u    *User
		ok   bool
		acc  *Account
		want bool
	}{
		{"auth user", all, a, connectOpts{User: "auth"}, auth, true, s.gacc, false},
		{"auth user, wrong password", all, a, connectOpts{User: "auth"}, auth, false, s.gacc, false},
		{"auth user by nkey", all, a, connectOpts{Nkey: "UAUTHKEY"}, nkeyAuth, true, s.gacc, false},
		{"single-user auth user", all, single, connectOpts{User: "auth"}, nil, true, nil, false},
		{"configured user of $G", all, a, connectOpts{User: "guser"}, guser, true, s.gacc, true},
		{"configured user, wrong password", all, a, connectOpts{User: "guser"}, guser, false, s.gacc, true},
		{"unknown user", all, a, connectOpts{User: "alice"}, nil, false, s.gacc, true},
		{"no credentials", all, a, connectOpts{}, nil, false, s.gacc, true},
		{"token", all, &AuthOptions{Token: "t"}, connectOpts{Token: "x"}, nil, false, s.gacc, true},
		{"another account's user, all accounts", all, a, connectOpts{User: "otheruser"}, otheruser, true, other, true},
		{"an allowed account's user", onlyApp, a, connectOpts{User: "appuser"}, appuser, true, app, true},
		{"a user of an account not allowed", onlyApp, a, connectOpts{User: "otheruser"}, otheruser, true, other, false},
		{"wrong password in an account not allowed", onlyApp, a, connectOpts{User: "otheruser"}, otheruser, false, other, true},
		{"$G's user with allowed accounts", onlyApp, a, connectOpts{User: "guser"}, guser, true, s.gacc, true},
	}
	for _, tt := range tests {
		if got := tt.co.delegates(tt.a, &tt.o, tt.u, tt.ok, tt.acc); got != tt.want {
			t.Errorf("%s: delegates = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// authorizerFunc is an Authorizer made of a function: the server's side
// of the callout is tested here, the exchange with a service is package
// authcallout's (and cmd/natsd's, with real services).
type authorizerFunc func(cr *Credentials) (*Identity, error)

func (f authorizerFunc) Authenticate(cr *Credentials) (*Identity, error) { return f(cr) }

// A client the callout admitted is kept by a reload that changes the
// authorization users, and closed by one that removes its account.
func TestCalloutClientOnReload(t *testing.T) {
	var srv *Server
	co := &Callout{AuthUsers: []string{"auth"}, Authorizer: authorizerFunc(func(cr *Credentials) (*Identity, error) {
		if cr.User != "alice" {
			return nil, errors.New("no")
		}
		app := srv.LookupAccount("APP")
		return &Identity{Account: app, User: &User{Username: "alice-called", Account: "APP"}}, nil
	})}
	o := Options{Accounts: []*AccountConfig{{Name: "APP"}},
		Auth: AuthOptions{Users: []*User{{Username: "auth", Password: "pwd"}}, Callout: co}}
	var addr string
	srv, addr = startServer(t, o)
	alice := connectRaw(t, addr, `{"verbose":false,"user":"alice","pass":"x"}`)
	bob := testutil.DialProto(t, addr)
	bob.Send(`CONNECT {"verbose":false,"user":"bob","pass":"x"}` + "\r\n")
	if got := bob.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'Authorization Violation'"}) {
		t.Fatalf("bob refused by the callout: %q", got)
	}

	next := *srv.Options()
	next.Auth.Users = append(slices.Clone(next.Auth.Users), &User{Username: "extra", Password: "pwd"})
	srv.Apply(next, Changes{Auth: true})
	if got := testutil.Lines(alice.Flush()); len(got) != 0 { // a PONG, nothing before it
		t.Fatalf("alice after an authorization reload: %q", got)
	}

	next = *srv.Options()
	next.Accounts = nil
	srv.Apply(next, Changes{Accounts: true})
	if got := alice.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'Authorization Violation'"}) {
		t.Fatalf("alice after her account was removed: %q", got)
	}
}
