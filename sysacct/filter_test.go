package sysacct

import "testing"

// The filter rules as recorded from nats-server v2.15.2 with
// `nats req '$SYS.REQ.SERVER.PING.VARZ' PAYLOAD --replies 0` against a
// server named "srv-abc" on 127.0.0.1, without a cluster.
func TestFilter(t *testing.T) {
	srv := &ServerInfo{Name: "srv-abc", Host: "127.0.0.1"}
	for _, c := range []struct {
		payload string
		answers bool
	}{
		{``, true},
		{`{}`, true},
		{`{"server_name":"abc"}`, true},
		{`{"server_name":"abc","exact_match":true}`, false},
		{`{"server_name":"srv-abc","exact_match":true}`, true},
		{`{"server_name":"ABC"}`, false},
		{`{"host":"127"}`, true},
		{`{"host":"127","exact_match":true}`, false},
		{`{"cluster":"x"}`, false},
		{`{"cluster":""}`, true},
		{`{"tags":["a"]}`, false},
		{`{"tags":[]}`, true},
		{`{"domain":"x"}`, false},
		{`{"unknown":1}`, true},
	} {
		f, err := decodeFilter([]byte(c.payload))
		if err != nil {
			t.Errorf("%s: %v", c.payload, err)
			continue
		}
		if got := !f.excludes(srv); got != c.answers {
			t.Errorf("%s: answers %v, want %v", c.payload, got, c.answers)
		}
	}
	for _, bad := range []string{`{"server_name":5}`, `garbage`, `{"tags":"a"}`} {
		if _, err := decodeFilter([]byte(bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}

func FuzzFilter(f *testing.F) {
	for _, s := range []string{`{"server_name":"a","exact_match":true}`, `{"tags":["x"]}`, `{`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if fl, err := decodeFilter(b); err == nil {
			fl.excludes(&ServerInfo{Name: "n"})
		}
	})
}
