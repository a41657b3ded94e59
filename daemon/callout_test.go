package daemon

import (
	"errors"
	"testing"

	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/authcallout"
)

// A reload keeps the running callout when the block is unchanged (the
// next options have no server side of their own until it is carried), and
// is refused when any of its keys changes.
func TestCarryCallout(t *testing.T) {
	block := func(edit func(*authcallout.Options)) *authcallout.Options {
		o := &authcallout.Options{Issuer: "AISSUER", Account: "AUTH", AuthUsers: []string{"auth"}, XKey: "XKEY", AllowedAccounts: []string{"APP"}}
		if edit != nil {
			edit(o)
		}
		return o
	}
	running := &server.Callout{Account: "AUTH"}
	cur := &Options{Callout: block(nil)}
	cur.Server.Auth.Callout = running

	next := &Options{Callout: block(nil)}
	if err := carryCallout(cur, next); err != nil || next.Server.Auth.Callout != running {
		t.Fatalf("unchanged block: %v, server side %p, want the running %p", err, next.Server.Auth.Callout, running)
	}
	if changes := Diff(cur, next); len(changes) != 0 {
		t.Fatalf("unchanged block: changes %v", changes)
	}
	for name, edit := range map[string]func(*authcallout.Options){
		"issuer":           func(o *authcallout.Options) { o.Issuer = "AOTHER" },
		"account":          func(o *authcallout.Options) { o.Account = "OTHER" },
		"auth_users":       func(o *authcallout.Options) { o.AuthUsers = append(o.AuthUsers, "svc2") },
		"xkey":             func(o *authcallout.Options) { o.XKey = "" },
		"allowed_accounts": func(o *authcallout.Options) { o.AllowedAccounts = nil },
	} {
		next := &Options{Callout: block(edit)}
		if err := carryCallout(cur, next); !errors.Is(err, errCalloutReload) {
			t.Errorf("%s changed: %v, want %v", name, err, errCalloutReload)
		}
	}
	if err := carryCallout(cur, &Options{}); !errors.Is(err, errCalloutReload) {
		t.Errorf("block removed: %v", err)
	}
	if err := carryCallout(&Options{}, &Options{Callout: block(nil)}); !errors.Is(err, errCalloutReload) {
		t.Errorf("block added: %v", err)
	}
}
