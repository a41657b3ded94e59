package daemon

import (
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Every field of Options must have a diff rule (or be declared not an
// option): a new option that a reload would silently ignore fails here.
func TestEveryOptionHasADiffRule(t *testing.T) {
	covered := map[string]bool{}
	for _, r := range rules {
		// A "!enabled" rule says whether a part is on; it does not cover
		// the fields of that part.
		if !strings.HasSuffix(r.field, "!enabled") {
			covered[r.field] = true
		}
	}
	var walk func(typ reflect.Type, prefix string)
	walk = func(typ reflect.Type, prefix string) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			path := prefix + f.Name
			if prefix == "" && notOptions[f.Name] {
				continue
			}
			typ := f.Type
			if typ.Kind() == reflect.Pointer && typ.Elem().Kind() == reflect.Struct {
				typ = typ.Elem() // an optional block, such as Server.TLS
			}
			if typ.Kind() == reflect.Struct && !covered[path] && typ.PkgPath() != "time" {
				walk(typ, path+".")
				continue
			}
			if !covered[path] {
				t.Errorf("option field %s has no diff rule in daemon/diff.go", path)
			}
		}
	}
	walk(reflect.TypeOf(Options{}), "")
}

func TestDiffRedactsSecrets(t *testing.T) {
	a, b := &Options{}, &Options{}
	a.Server.Auth.Password, b.Server.Auth.Password = "old-secret", "new-secret"
	a.Server.MaxPayload, b.Server.MaxPayload = 1, 2
	changes := Diff(a, b)
	if len(changes) != 2 {
		t.Fatalf("changes %v", changes)
	}
	for _, c := range changes {
		if strings.Contains(c.String(), "secret") {
			t.Fatalf("secret in %q", c)
		}
	}
	if got := changes[0].String() + "|" + changes[1].String(); !strings.Contains(got, "max_payload: 1 -> 2") {
		t.Fatalf("got %q", got)
	}
}

// The diff's route sets: what the cluster is told to dial and to drop.
func TestRouteDelta(t *testing.T) {
	u := func(s string) *url.URL {
		t.Helper()
		v, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	keys := func(us []*url.URL) []string {
		var out []string
		for _, x := range us {
			out = append(out, x.Redacted())
		}
		return out
	}
	tests := []struct {
		name           string
		old, cur       []*url.URL
		added, removed []string
	}{
		{"none", nil, nil, nil, nil},
		{"same", []*url.URL{u("nats-route://a:1")}, []*url.URL{u("nats-route://a:1")}, nil, nil},
		{"added", nil, []*url.URL{u("nats-route://a:1")}, []string{"nats-route://a:1"}, nil},
		{"removed", []*url.URL{u("nats-route://a:1")}, nil, nil, []string{"nats-route://a:1"}},
		{"swapped", []*url.URL{u("nats-route://a:1"), u("nats-route://b:2")}, []*url.URL{u("nats-route://b:2"), u("nats-route://c:3")},
			[]string{"nats-route://c:3"}, []string{"nats-route://a:1"}},
		{"credentials aside", []*url.URL{u("nats-route://u:p@a:1")}, []*url.URL{u("nats-route://v:q@a:1")}, nil, nil},
		{"order aside", []*url.URL{u("nats-route://a:1"), u("nats-route://b:2")}, []*url.URL{u("nats-route://b:2"), u("nats-route://a:1")}, nil, nil},
		{"port differs", []*url.URL{u("nats-route://a:1")}, []*url.URL{u("nats-route://a:2")}, []string{"nats-route://a:2"}, []string{"nats-route://a:1"}},
		{"listed twice", nil, []*url.URL{u("nats-route://a:1"), u("nats-route://a:1")}, []string{"nats-route://a:1"}, nil},
	}
	for _, tt := range tests {
		added, removed := routeDelta(tt.old, tt.cur)
		if !slices.Equal(keys(added), tt.added) || !slices.Equal(keys(removed), tt.removed) {
			t.Errorf("%s: added %q removed %q, want %q %q", tt.name, keys(added), keys(removed), tt.added, tt.removed)
		}
	}
}
