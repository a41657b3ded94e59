package server

import (
	"slices"
	"strings"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
)

var errMaxConnsLine = []string{"-ERR 'maximum connections exceeded'"}

func TestApplyMaxConnections(t *testing.T) {
	srv, addr := startServer(t, Options{})
	cs := make([]*testutil.ProtoConn, 4)
	for i := range cs {
		cs[i] = connectRaw(t, addr, "")
	}

	o := *srv.Options()
	o.MaxConnections = 2
	srv.Apply(o, Changes{MaxConnections: true})
	// The newest two go, the oldest two stay.
	for _, c := range cs[2:] {
		if got := c.ReadUntilClosed(); !slices.Equal(got, errMaxConnsLine) {
			t.Errorf("client over the new limit got %q", got)
		}
	}
	for _, c := range cs[:2] {
		if got := c.Flush(); len(got) != 0 {
			t.Errorf("client under the limit got %q", testutil.Lines(got))
		}
	}
	waitFor(t, ioTimeout, "two clients", func() bool { return srv.NumClients() == 2 })

	// A new client beyond the limit gets INFO, then the -ERR.
	c := testutil.DialProto(t, addr)
	if got := c.ReadUntilClosed(); !slices.Equal(got, errMaxConnsLine) {
		t.Errorf("new client over the limit got %q", got)
	}
	closed := srv.Conns(false, true)
	if len(closed) != 3 {
		t.Fatalf("%d closed connections, want 3", len(closed))
	}
	for _, ci := range closed {
		if ci.Reason != "Maximum Connections Exceeded" {
			t.Errorf("cid %d closed for %q", ci.Cid, ci.Reason)
		}
	}

	// Raising the limit closes nothing and admits a client again.
	o.MaxConnections = 3
	srv.Apply(o, Changes{MaxConnections: true})
	third := connectRaw(t, addr, "")

	// max_connections: 0 in a config file (MaxConnections < 0) refuses
	// everyone, connected clients included.
	o.MaxConnections = -1
	srv.Apply(o, Changes{MaxConnections: true})
	for _, c := range []*testutil.ProtoConn{cs[0], cs[1], third} {
		if got := c.ReadUntilClosed(); !slices.Equal(got, errMaxConnsLine) {
			t.Errorf("with max_connections 0: %q", got)
		}
	}
	c = testutil.DialProto(t, addr)
	if got := c.ReadUntilClosed(); !slices.Equal(got, errMaxConnsLine) {
		t.Errorf("new client with max_connections 0 got %q", got)
	}
}

func TestApplyAuthorization(t *testing.T) {
	users := []*User{
		{Username: "alice", Password: "a"},
		{Username: "bob", Password: "b"},
		{Username: "carol", Password: "c"},
	}
	srv, addr := startServer(t, Options{Auth: AuthOptions{Users: users}})
	alice := connectRaw(t, addr, `{"verbose":false,"user":"alice","pass":"a"}`)
	bob := connectRaw(t, addr, `{"verbose":false,"user":"bob","pass":"b"}`)
	carol := connectRaw(t, addr, `{"verbose":false,"user":"carol","pass":"c"}`)

	// Checked again with the same options: nobody goes.
	srv.Apply(*srv.Options(), Changes{Auth: true})

	// bob's password changes, carol goes, alice gets permissions.
	o := *srv.Options()
	o.Auth.Users = []*User{
		{Username: "alice", Password: "a", Permissions: &Permissions{Publish: &SubjectPermission{Deny: []string{"secret"}}}},
		{Username: "bob", Password: "new"},
	}
	srv.Apply(o, Changes{Auth: true})
	for name, c := range map[string]*testutil.ProtoConn{"bob": bob, "carol": carol} {
		if got := c.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'Authorization Violation'"}) {
			t.Errorf("%s got %q", name, got)
		}
	}
	alice.Send("PUB secret 0\r\n\r\nPUB open 0\r\n\r\n")
	if got := testutil.Lines(alice.Flush()); !slices.Equal(got, []string{`-ERR 'Permissions Violation for Publish to "secret"'`}) {
		t.Errorf("alice after reload got %q, want her new permissions applied", got)
	}
	waitFor(t, ioTimeout, "revoked clients in closed list", func() bool {
		return len(srv.Conns(false, true)) == 2
	})
	for _, ci := range srv.Conns(false, true) {
		if ci.Reason != "Authentication Revoked" {
			t.Errorf("cid %d closed for %q", ci.Cid, ci.Reason)
		}
	}
	connectRaw(t, addr, `{"verbose":false,"user":"bob","pass":"new"}`)

	// Back to no auth: remaining clients keep going, without permissions.
	o = *srv.Options()
	o.Auth = AuthOptions{}
	srv.Apply(o, Changes{Auth: true})
	alice.Send("PUB secret 0\r\n\r\n")
	if got := alice.Flush(); len(got) != 0 {
		t.Errorf("alice after auth was removed got %q", testutil.Lines(got))
	}
}

// TestApplyAuthorizationAdded: turning auth on closes the clients that
// sent no (or wrong) credentials and keeps one whose CONNECT already had the
// new token.
func TestApplyAuthorizationAdded(t *testing.T) {
	srv, addr := startServer(t, Options{})
	anon := connectRaw(t, addr, "")
	wrong := connectRaw(t, addr, `{"verbose":false,"auth_token":"old"}`)
	good := connectRaw(t, addr, `{"verbose":false,"auth_token":"t0k"}`)
	o := *srv.Options()
	o.Auth.Token = "t0k"
	srv.Apply(o, Changes{Auth: true})
	for _, c := range []*testutil.ProtoConn{anon, wrong} {
		if got := c.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'Authorization Violation'"}) {
			t.Errorf("got %q", got)
		}
	}
	if got := good.Flush(); len(got) != 0 {
		t.Errorf("client with the right token got %q", testutil.Lines(got))
	}
	if c := testutil.DialProto(t, addr); c.Info["auth_required"] != true {
		t.Errorf("INFO after reload: auth_required = %v", c.Info["auth_required"])
	}
}

func TestApplyMaxPayload(t *testing.T) {
	srv, addr := startServer(t, Options{})
	c := connectRaw(t, addr, "")
	big := "PUB foo 20\r\n" + strings.Repeat("x", 20) + "\r\n"
	c.Send(big)
	if got := c.Flush(); len(got) != 0 {
		t.Fatalf("20-byte PUB under the default limit: %q", testutil.Lines(got))
	}

	o := *srv.Options()
	o.MaxPayload = 10
	srv.Apply(o, Changes{})
	if mp := testutil.DialProto(t, addr).Info["max_payload"]; mp != float64(10) {
		t.Errorf("INFO max_payload after reload = %v", mp)
	}
	// The connected client's next read uses the new limit.
	c.Send("PUB foo 10\r\n" + strings.Repeat("x", 10) + "\r\n")
	if got := c.Flush(); len(got) != 0 {
		t.Fatalf("10-byte PUB at the new limit: %q", testutil.Lines(got))
	}
	c.Send(big)
	if got := c.ReadUntilClosed(); !slices.Equal(got, []string{"-ERR 'Maximum Payload Violation'"}) {
		t.Errorf("20-byte PUB over the new limit: %q", got)
	}
	if mp := srv.Options().MaxPayload; mp != 10 {
		t.Errorf("max_payload = %d", mp)
	}
}
