package monitor

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzPaths are the endpoints FuzzQuery picks from.
var fuzzPaths = []string{VarzPath, ConnzPath, RoutezPath, SubszPath, SubsAlias, HealthzPath}

// FuzzQuery sends random query strings to every endpoint of a server with
// open and closed clients and subscriptions: natsd must answer 200 or 400
// with a body — never panic, never an empty reply — and a page must hold
// what it says. It also runs Connz and Subsz on whatever the decoders made
// of the query, refused or not, as the data functions must take any
// options.
func FuzzQuery(f *testing.F) {
	srv, addr := serve(f)
	rawClient(f, addr, `{"verbose":false,"name":"a","user":"bob"}`, "SUB foo 1\r\nSUB foo.bar q 2\r\nSUB > 3\r\n")
	rawClient(f, addr, `{"verbose":false,"name":"b"}`, "SUB foo.* 1\r\nPUB foo 2\r\nhi\r\n")
	gone := rawClient(f, addr, `{"verbose":false,"name":"gone"}`, "SUB x 1\r\n")
	_ = gone.Close()
	h := Handler(Sources{Server: srv}, "")

	seeds := []string{
		"/connz?offset=-1", "/connz?limit=9223372036854775807&offset=1", "/connz?state=closed&offset=-1",
		"/subsz?subs=1&offset=-1", "/connz?cid=-1", "/subsz?test=foo.*", "/connz?limit=-9223372036854775808",
		"/connz?offset=9223372036854775807&limit=9223372036854775807", "/connz?sort=stop&state=closed&offset=-5",
		"/connz?sort=uptime&state=any&subs=detail&auth=1", "/connz?cid=18446744073709551615",
		"/subsz?subs=1&limit=9223372036854775807&offset=9223372036854775807", "/subsz?subs=1&test=foo&offset=-1",
		"/subsz?subs=1&test=foo%20bar", "/subsz?acc=x&subs=1", "/connz?acc=x&offset=-1", "/connz?mqtt_client=x",
		"/healthz?details=true&consumer=c", "/healthz?js-enabled-only=maybe", "/routez?subs=DETAIL", "/varz?%zz",
	}
	for _, tt := range referenceCases {
		seeds = append(seeds, tt.target)
	}
	for _, s := range seeds {
		path, query, _ := strings.Cut(s, "?")
		ep := 0
		for i, p := range fuzzPaths {
			if p == path {
				ep = i
			}
		}
		f.Add(uint8(ep), strings.ReplaceAll(strings.ReplaceAll(query, "{C1}", "1"), "{C3}", "3"))
	}

	f.Fuzz(func(t *testing.T, ep uint8, query string) {
		path := fuzzPaths[int(ep)%len(fuzzPaths)]
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.URL.RawQuery = query
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		body := w.Body.Bytes()
		if len(body) == 0 {
			t.Fatalf("%s?%s: status %d with an empty body", path, query, w.Code)
		}
		switch w.Code {
		case http.StatusOK:
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil || w.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("%s?%s: 200 with %q (%v): %s", path, query, w.Header().Get("Content-Type"), err, body)
			}
			if path == ConnzPath {
				checkConnzPage(t, query, body)
			}
		case http.StatusBadRequest:
		default:
			t.Fatalf("%s?%s: status %d: %s", path, query, w.Code, body)
		}

		// The data functions on whatever was decoded, valid or not.
		co, _ := decodeConnz(r)
		if cz := BuildConnz(srv, co); cz.NumConns != len(cz.Conns) || cz.Offset < 0 || cz.Limit < 1 || len(cz.Conns) > cz.Limit {
			t.Fatalf("Connz(%+v): num %d conns %d offset %d limit %d", co, cz.NumConns, len(cz.Conns), cz.Offset, cz.Limit)
		}
		so, _ := decodeSubsz(r)
		if sz := BuildSubsz(srv, so); sz.Offset < 0 || sz.Limit < 1 || len(sz.Subs) > sz.Limit || len(sz.Subs) > sz.Total {
			t.Fatalf("Subsz(%+v): subs %d total %d offset %d limit %d", so, len(sz.Subs), sz.Total, sz.Offset, sz.Limit)
		}
	})
}

func checkConnzPage(t *testing.T, query string, body []byte) {
	t.Helper()
	var cz Connz
	if err := json.Unmarshal(body, &cz); err != nil {
		t.Fatalf("connz?%s: %v", query, err)
	}
	if cz.NumConns != len(cz.Conns) || cz.Offset < 0 || cz.Limit < 1 || len(cz.Conns) > cz.Limit {
		t.Fatalf("connz?%s: num %d conns %d offset %d limit %d", query, cz.NumConns, len(cz.Conns), cz.Offset, cz.Limit)
	}
}
