package server

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

func subPerm(allow, deny []string) *Permissions {
	return &Permissions{Subscribe: &SubjectPermission{Allow: allow, Deny: deny}}
}

func pubPerm(allow, deny []string) *Permissions {
	return &Permissions{Publish: &SubjectPermission{Allow: allow, Deny: deny}}
}

// list is a permission list; list() is an empty one, not an absent one.
func list(s ...string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func TestCanSubscribe(t *testing.T) {
	tests := []struct {
		name    string
		perms   *Permissions // nil: no permissions at all
		subject string
		queue   string
		want    bool
	}{
		{"no perms", nil, "foo", "", true},
		{"no perms queue", nil, "foo", "q", true},
		{"no perms _sys_ queue", nil, "foo", "_sys_", false},
		{"allow all _sys_ queue", subPerm(list(">"), nil), "foo", "_sys_", false},

		{"allow exact", subPerm(list("foo"), nil), "foo", "", true},
		{"allow exact other", subPerm(list("foo"), nil), "bar", "", false},
		{"allow * one token", subPerm(list("foo.*"), nil), "foo.bar", "", true},
		{"allow * not two tokens", subPerm(list("foo.*"), nil), "foo.bar.baz", "", false},
		{"allow > many tokens", subPerm(list("foo.>"), nil), "foo.bar.baz", "", true},
		{"allow > not the parent", subPerm(list("foo.>"), nil), "foo", "", false},
		{"wildcard sub inside allow >", subPerm(list("foo.>"), nil), "foo.*", "", true},
		{"wildcard sub broader than allow", subPerm(list("foo.bar"), nil), "foo.*", "", false},
		// As in nats-server, the subscription's subject is matched against
		// the list token by token, its wildcards as literal tokens.
		{"> sub under allow *", subPerm(list("foo.*"), nil), "foo.>", "", true},
		{"empty allow list", subPerm(list(), nil), "foo", "", false},

		{"plain allow admits a queue sub", subPerm(list("foo"), nil), "foo", "q", true},
		{"queue entry admits its queue", subPerm(list("foo q"), nil), "foo", "q", true},
		{"queue entry refuses another queue", subPerm(list("foo q"), nil), "foo", "r", false},
		{"queue entry refuses a plain sub", subPerm(list("foo q"), nil), "foo", "", false},
		{"queue entry with wildcard subject", subPerm(list("foo.* q"), nil), "foo.bar", "q", true},
		{"queue entry with wildcard queue", subPerm(list("foo q.*"), nil), "foo", "q.a", true},
		{"queue entry wildcard queue other", subPerm(list("foo q.*"), nil), "foo", "r.a", false},
		{"plain and queue entries, other queue", subPerm(list("foo", "foo q"), nil), "foo", "r", false},
		{"plain and queue entries, plain sub", subPerm(list("foo", "foo q"), nil), "foo", "", true},

		{"deny exact", subPerm(nil, list("foo")), "foo", "", false},
		{"deny exact other", subPerm(nil, list("foo")), "bar", "", true},
		{"deny *", subPerm(nil, list("foo.*")), "foo.bar", "", false},
		{"deny >", subPerm(nil, list("foo.>")), "foo.a.b", "", false},
		{"deny plain refuses queue sub", subPerm(nil, list("foo")), "foo", "q", false},
		{"deny queue entry refuses that queue", subPerm(nil, list("foo q")), "foo", "q", false},
		{"deny queue entry admits another queue", subPerm(nil, list("foo q")), "foo", "r", true},
		{"deny queue entry admits plain", subPerm(nil, list("foo q")), "foo", "", true},

		{"allow and deny: denied", subPerm(list("foo.>"), list("foo.secret")), "foo.secret", "", false},
		{"allow and deny: allowed", subPerm(list("foo.>"), list("foo.secret")), "foo.public", "", true},
		{"allow and deny: outside allow", subPerm(list("foo.>"), list("foo.secret")), "bar", "", false},
		// A wildcard overlapping a deny entry is allowed; deliveries on the
		// denied subjects are filtered (see TestDeliverableDenyFilter).
		{"wildcard overlapping deny", subPerm(list("foo.>"), list("foo.secret")), "foo.*", "", true},

		{"publish-only perms", pubPerm(list("foo"), nil), "anything", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &client{}
			if tt.perms != nil {
				c.perms = newPerms(tt.perms)
			}
			if got := c.canSubscribe([]byte(tt.subject), []byte(tt.queue)); got != tt.want {
				t.Errorf("canSubscribe(%q, %q) = %v, want %v", tt.subject, tt.queue, got, tt.want)
			}
		})
	}
}

func TestCanPublish(t *testing.T) {
	tests := []struct {
		name    string
		perms   *Permissions
		subject string
		want    bool
	}{
		{"allow exact", pubPerm(list("foo"), nil), "foo", true},
		{"allow exact other", pubPerm(list("foo"), nil), "bar", false},
		{"allow *", pubPerm(list("foo.*"), nil), "foo.bar", true},
		{"allow * too deep", pubPerm(list("foo.*"), nil), "foo.bar.baz", false},
		{"allow >", pubPerm(list("foo.>"), nil), "foo.bar.baz", true},
		{"allow > not parent", pubPerm(list("foo.>"), nil), "foo", false},
		// A published "*" is a literal token, matched by a '*' entry only.
		{"literal * under allow *", pubPerm(list("foo.*"), nil), "foo.*", true},
		{"literal * under exact allow", pubPerm(list("foo.bar"), nil), "foo.*", false},
		{"empty allow list", pubPerm(list(), nil), "foo", false},
		{"deny exact", pubPerm(nil, list("secret")), "secret", false},
		{"deny exact other", pubPerm(nil, list("secret")), "public", true},
		{"deny >", pubPerm(nil, list("secret.>")), "secret.a.b", false},
		{"allow all deny some: denied", pubPerm(list(">"), list("$SYS.>")), "$SYS.REQ", false},
		{"allow all deny some: allowed", pubPerm(list(">"), list("$SYS.>")), "foo", true},
		{"subscribe-only perms", subPerm(list("foo"), nil), "anything", true},
		{"empty publish block", &Permissions{Publish: &SubjectPermission{}}, "anything", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &client{perms: newPerms(tt.perms)}
			// Twice: the second answer comes from the cache.
			for i := range 2 {
				if got := c.canPublish([]byte(tt.subject)); got != tt.want {
					t.Errorf("canPublish(%q) #%d = %v, want %v", tt.subject, i+1, got, tt.want)
				}
			}
		})
	}
}

func TestCanPublishCacheBounded(t *testing.T) {
	c := &client{perms: newPerms(pubPerm(list("ok.>"), list("ok.bad.>")))}
	for i := range 3 * maxPubCache {
		subj := fmt.Sprintf("ok.%d", i)
		if !c.canPublish([]byte(subj)) {
			t.Fatalf("canPublish(%q) = false", subj)
		}
		bad := fmt.Sprintf("ok.bad.%d", i)
		if c.canPublish([]byte(bad)) {
			t.Fatalf("canPublish(%q) = true", bad)
		}
		if n := len(c.perms.pubCache); n > maxPubCache {
			t.Fatalf("publish cache holds %d entries, bound is %d", n, maxPubCache)
		}
	}
}

func TestAllowResponses(t *testing.T) {
	t.Run("only responses, max 2", func(t *testing.T) {
		c := &client{perms: newPerms(&Permissions{Response: &ResponsePermission{MaxMsgs: 2, Expires: time.Minute}})}
		if c.canPublish([]byte("_INBOX.a")) {
			t.Fatal("reply subject allowed before any request")
		}
		if c.canPublish([]byte("foo")) {
			t.Fatal("allow_responses alone allowed an ordinary publish")
		}
		c.grantReply([]byte("_INBOX.a"))
		for i := range 2 {
			if !c.canPublish([]byte("_INBOX.a")) {
				t.Fatalf("reply #%d refused", i+1)
			}
		}
		if c.canPublish([]byte("_INBOX.a")) {
			t.Fatal("third reply allowed with max 2")
		}
		if c.canPublish([]byte("_INBOX.b")) {
			t.Fatal("a reply subject never received was allowed")
		}
	})
	t.Run("defaults: one reply", func(t *testing.T) {
		c := &client{perms: newPerms(&Permissions{Response: &ResponsePermission{}})}
		if c.perms.resp.MaxMsgs != DefaultResponseMaxMsgs || c.perms.resp.Expires != DefaultResponseExpires {
			t.Fatalf("defaults = %+v", *c.perms.resp)
		}
		c.grantReply([]byte("r"))
		if !c.canPublish([]byte("r")) {
			t.Fatal("first reply refused")
		}
		if c.canPublish([]byte("r")) {
			t.Fatal("second reply allowed with the default max of 1")
		}
	})
	t.Run("expires", func(t *testing.T) {
		c := &client{perms: newPerms(&Permissions{Response: &ResponsePermission{MaxMsgs: 5, Expires: 20 * time.Millisecond}})}
		c.grantReply([]byte("r1"))
		if !c.canPublish([]byte("r1")) {
			t.Fatal("fresh grant refused")
		}
		// Past the grant's deadline (not a guess at how long that is).
		deadline := c.replies["r1"].expires
		waitFor(t, ioTimeout, "the grant's deadline", func() bool { return time.Now().After(deadline) })
		if c.canPublish([]byte("r1")) {
			t.Fatal("expired grant allowed")
		}
		if _, ok := c.replies["r1"]; ok {
			t.Fatal("expired grant not forgotten")
		}
	})
	t.Run("with a publish allow list", func(t *testing.T) {
		c := &client{perms: newPerms(&Permissions{
			Publish:  &SubjectPermission{Allow: list("svc.>")},
			Response: &ResponsePermission{MaxMsgs: 1, Expires: time.Minute},
		})}
		if !c.canPublish([]byte("svc.x")) || c.canPublish([]byte("other")) {
			t.Fatal("allow list not applied")
		}
		c.grantReply([]byte("_INBOX.z"))
		if !c.canPublish([]byte("_INBOX.z")) {
			t.Fatal("granted reply refused")
		}
		if c.canPublish([]byte("_INBOX.z")) {
			t.Fatal("reply allowed twice")
		}
		if !c.canPublish([]byte("svc.x")) {
			t.Fatal("allow list forgotten after a reply")
		}
	})
	t.Run("with a publish deny list only", func(t *testing.T) {
		// nats-server turns the blanket publish allow off whenever
		// allow_responses is set without an allow list: a deny list alone
		// still leaves replies as the only thing the user may publish.
		c := &client{perms: newPerms(&Permissions{
			Publish:  &SubjectPermission{Deny: list("secret")},
			Response: &ResponsePermission{MaxMsgs: 1, Expires: time.Minute},
		})}
		if c.canPublish([]byte("secret")) {
			t.Fatal("denied subject allowed")
		}
		if c.canPublish([]byte("foo")) {
			t.Fatal("allow_responses with a deny list only allowed an ordinary publish")
		}
		c.grantReply([]byte("_INBOX.d"))
		if !c.canPublish([]byte("_INBOX.d")) {
			t.Fatal("granted reply refused")
		}
	})
}

func TestDeliverableDenyFilter(t *testing.T) {
	p := newPerms(subPerm(nil, list("sub.secret", "sub.hidden.>")))
	none := newPerms(subPerm(list(">"), nil))
	tests := []struct {
		perms   *perms
		sub     string
		subject string
		want    bool
	}{
		{p, "sub.>", "sub.secret", false},
		{p, "sub.>", "sub.public", true},
		{p, "sub.*", "sub.secret", false},
		{p, "sub.>", "sub.hidden.x.y", false},
		{p, ">", "sub.secret", false},
		{p, "sub.public", "sub.public", true}, // literal subscriptions are not filtered
		{none, "sub.>", "sub.secret", true},   // no deny list
	}
	for _, tt := range tests {
		sub := &subscription{subject: tt.sub}
		if got := tt.perms.deliverable(sub, []byte(tt.subject)); got != tt.want {
			t.Errorf("deliverable(SUB %q, msg %q) = %v, want %v", tt.sub, tt.subject, got, tt.want)
		}
	}
}

func TestValidPermission(t *testing.T) {
	tests := []struct {
		entry string
		want  bool
	}{
		{"foo", true},
		{"foo.bar", true},
		{"foo.*", true},
		{"foo.>", true},
		{">", true},
		{"$SYS.>", true},
		{"foo q", true},
		{"foo.* q", true},
		{"foo q.*", true},
		{"  foo  ", true},
		{"foo  q", true},
		{"", false},
		{" ", false},
		{"foo.", false},
		{".foo", false},
		{"foo..bar", false},
		{">.foo", false},
		{"foo q r", false},
		{"foo\tbar", false},
	}
	for _, tt := range tests {
		if got := ValidPermission(tt.entry); got != tt.want {
			t.Errorf("ValidPermission(%q) = %v, want %v", tt.entry, got, tt.want)
		}
	}
}

// TestPermissionsOverTCP checks what a client with permissions sees: the
// exact violation texts, that the connection stays, deny filtering of a
// wildcard subscription, and allow_responses driven by a real request.
func TestPermissionsOverTCP(t *testing.T) {
	users := []*User{
		{Username: "limited", Password: "p", Permissions: &Permissions{
			Publish:   &SubjectPermission{Allow: list("pub.>")},
			Subscribe: &SubjectPermission{Allow: list("sub.>", "work q1"), Deny: list("sub.secret")},
		}},
		{Username: "responder", Password: "p", Permissions: &Permissions{
			Subscribe: &SubjectPermission{Allow: list("req")},
			Response:  &ResponsePermission{MaxMsgs: 1, Expires: time.Minute},
		}},
		{Username: "admin", Password: "p"},
	}
	_, addr := startServer(t, Options{Auth: AuthOptions{Users: users}})
	lim := connectRaw(t, addr, `{"verbose":false,"user":"limited","pass":"p"}`)
	resp := connectRaw(t, addr, `{"verbose":false,"user":"responder","pass":"p"}`)
	admin := connectRaw(t, addr, `{"verbose":false,"user":"admin","pass":"p"}`)

	lim.Send("SUB forbidden 1\r\nSUB work q2 2\r\nSUB work 3\r\nSUB sub.secret 4\r\nPUB nope 2\r\nhi\r\nSUB sub.> 5\r\nSUB work q1 6\r\n")
	want := []string{
		`-ERR 'Permissions Violation for Subscription to "forbidden"'`,
		`-ERR 'Permissions Violation for Subscription to "work" using queue "q2"'`,
		`-ERR 'Permissions Violation for Subscription to "work"'`,
		`-ERR 'Permissions Violation for Subscription to "sub.secret"'`,
		`-ERR 'Permissions Violation for Publish to "nope"'`,
	}
	if got := testutil.Lines(lim.Flush()); !slices.Equal(got, want) {
		t.Fatalf("violations:\n got %q\nwant %q", got, want)
	}

	// sub.> is allowed, but a message on the denied sub.secret is not
	// delivered to it.
	admin.Send("PUB sub.secret 1\r\nx\r\nPUB sub.public 1\r\ny\r\nPUB work 1\r\nz\r\n")
	admin.Flush()
	got := lim.Flush()
	if len(got) != 2 || got[0].Line != "MSG sub.public 5 1" || got[1].Line != "MSG work 6 1" {
		t.Fatalf("limited client got %q, want sub.public on sid 5 and work on sid 6", testutil.Lines(got))
	}

	// allow_responses: the responder may answer the request it received,
	// once.
	resp.Send("SUB req 1\r\n")
	resp.Flush()
	admin.Send("SUB _INBOX.1 1\r\nPUB req _INBOX.1 2\r\nhi\r\n")
	admin.Flush()
	if got := resp.Flush(); len(got) != 1 || got[0].Line != "MSG req 1 _INBOX.1 2" {
		t.Fatalf("responder got %q", testutil.Lines(got))
	}
	resp.Send("PUB _INBOX.1 2\r\nok\r\nPUB _INBOX.1 2\r\nno\r\nPUB other 2\r\nno\r\n")
	want = []string{
		`-ERR 'Permissions Violation for Publish to "_INBOX.1"'`,
		`-ERR 'Permissions Violation for Publish to "other"'`,
	}
	if got := testutil.Lines(resp.Flush()); !slices.Equal(got, want) {
		t.Fatalf("responder:\n got %q\nwant %q", got, want)
	}
	if got := admin.Flush(); len(got) != 1 || got[0].Line != "MSG _INBOX.1 1 2" || got[0].Payload != "ok" {
		t.Fatalf("requester got %q, want the one reply", testutil.Lines(got))
	}
	// The violations did not close anything.
	for _, c := range []*testutil.ProtoConn{lim, resp, admin} {
		if got := c.Flush(); len(got) != 0 {
			t.Fatalf("unexpected %q", testutil.Lines(got))
		}
	}
}
