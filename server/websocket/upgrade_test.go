package websocket

import (
	"bufio"
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// request is an upgrade request as a browser sends it, edited by the case.
func request(edit func(h map[string]string) (method, proto string)) string {
	h := map[string]string{
		"Host":                  "127.0.0.1:8080",
		"Upgrade":               "websocket",
		"Connection":            "Upgrade",
		"Sec-WebSocket-Key":     "dGhlIHNhbXBsZSBub25jZQ==",
		"Sec-WebSocket-Version": "13",
	}
	method, proto := "GET", "HTTP/1.1"
	if edit != nil {
		method, proto = edit(h)
	}
	var b strings.Builder
	b.WriteString(method + " /nats?x=1 " + proto + "\r\n")
	for _, k := range []string{"Host", "Upgrade", "Connection", "Sec-WebSocket-Key", "Sec-WebSocket-Version", "Origin", "Sec-WebSocket-Extensions", "Cookie"} {
		if v, ok := h[k]; ok {
			b.WriteString(k + ": " + v + "\r\n")
		}
	}
	b.WriteString("\r\n")
	return b.String()
}

func withHeader(k, v string) func(map[string]string) (string, string) {
	return func(h map[string]string) (string, string) {
		if v == "" {
			delete(h, k)
		} else {
			h[k] = v
		}
		return "GET", "HTTP/1.1"
	}
}

func origins(t *testing.T, list ...string) []Origin {
	var out []Origin
	for _, s := range list {
		o, err := ParseOrigin(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

// The statuses are nats-server v2.15.2's for the same requests (recorded
// with a raw client against it): 101, or 405, 403 or 400 with
// Sec-WebSocket-Version: 13.
func TestAccept(t *testing.T) {
	sameOrigin := &Policy{SameOrigin: true}
	sameOriginTLS := &Policy{SameOrigin: true, Secure: true}
	allowed := &Policy{AllowedOrigins: origins(t, "http://a.example.com", "https://B.example.com:8443", "http://c.example.com/path")}
	for _, tc := range []struct {
		name   string
		req    string
		p      *Policy
		status int
		reason string
	}{
		{"upgrade", request(nil), &Policy{}, 101, ""},
		{"HTTP/1.0", request(func(map[string]string) (string, string) { return "GET", "HTTP/1.0" }), &Policy{}, 101, ""},
		{"Connection: keep-alive, Upgrade", request(withHeader("Connection", "keep-alive, Upgrade")), &Policy{}, 101, ""},
		{"POST", request(func(map[string]string) (string, string) { return "POST", "HTTP/1.1" }), &Policy{}, 405, "request method must be GET"},
		{"plain GET", request(func(h map[string]string) (string, string) {
			delete(h, "Upgrade")
			delete(h, "Connection")
			return "GET", "HTTP/1.1"
		}), &Policy{}, 400, "invalid value for header 'Upgrade'"},
		{"no Connection", request(withHeader("Connection", "")), &Policy{}, 400, "invalid value for header 'Connection'"},
		{"no key", request(withHeader("Sec-WebSocket-Key", "")), &Policy{}, 400, "key missing"},
		{"version 12", request(withHeader("Sec-WebSocket-Version", "12")), &Policy{}, 400, "invalid version"},
		{"no Host", request(withHeader("Host", "")), &Policy{}, 400, "missing required Host header"},
		{"not HTTP", "CONNECT {}\r\nPING\r\n\r\n", &Policy{}, 400, ""},
		{"no Origin, same_origin", request(nil), sameOrigin, 101, ""},
		{"same origin", request(withHeader("Origin", "http://127.0.0.1:8080")), sameOrigin, 101, ""},
		{"same origin, scheme in capitals, a path", request(withHeader("Origin", "HTTP://127.0.0.1:8080/x")), sameOrigin, 101, ""},
		{"same origin over TLS", request(withHeader("Origin", "https://127.0.0.1:8080")), sameOriginTLS, 101, ""},
		{"https origin on a plain listener", request(withHeader("Origin", "https://127.0.0.1:8080")), sameOrigin, 403, "origin not allowed: not same origin"},
		{"http origin on a TLS listener", request(withHeader("Origin", "http://127.0.0.1:8080")), sameOriginTLS, 403, "origin not allowed: not same origin"},
		{"other port", request(withHeader("Origin", "http://127.0.0.1")), sameOrigin, 403, "origin not allowed: not same origin"},
		{"other host", request(withHeader("Origin", "http://localhost:8080")), sameOrigin, 403, "origin not allowed: not same origin"},
		{"ws scheme", request(withHeader("Origin", "ws://127.0.0.1:8080")), sameOrigin, 403, "origin not allowed: not same origin"},
		{"null", request(withHeader("Origin", "null")), sameOrigin, 403, "origin not allowed: parse \"null\": invalid URI for request"},
		{"default port on both sides", request(func(h map[string]string) (string, string) {
			h["Host"], h["Origin"] = "EXAMPLE.com", "http://example.com:80"
			return "GET", "HTTP/1.1"
		}), sameOrigin, 101, ""},
		{"allowed", request(withHeader("Origin", "http://a.example.com")), allowed, 101, ""},
		{"allowed, explicit default port, capitals", request(withHeader("Origin", "http://A.EXAMPLE.COM:80")), allowed, 101, ""},
		{"allowed with a port", request(withHeader("Origin", "https://b.example.com:8443")), allowed, 101, ""},
		{"allowed, path in the list ignored", request(withHeader("Origin", "http://c.example.com/other")), allowed, 101, ""},
		{"not allowed: scheme", request(withHeader("Origin", "https://a.example.com")), allowed, 403, "origin not allowed: not in the allowed list"},
		{"not allowed: port", request(withHeader("Origin", "https://b.example.com")), allowed, 403, "origin not allowed: not in the allowed list"},
		{"not allowed: host", request(withHeader("Origin", "http://evil.example.com")), allowed, 403, "origin not allowed: not in the allowed list"},
		{"same origin and the list: in the list only", request(withHeader("Origin", "http://a.example.com")),
			&Policy{SameOrigin: true, AllowedOrigins: allowed.AllowedOrigins}, 403, "origin not allowed: not same origin"},
		{"same origin and the list: same only", request(withHeader("Origin", "http://127.0.0.1:8080")),
			&Policy{SameOrigin: true, AllowedOrigins: allowed.AllowedOrigins}, 403, "origin not allowed: not in the allowed list"},
	} {
		var out bytes.Buffer
		up, err := Accept(bufio.NewReader(strings.NewReader(tc.req)), &out, tc.p)
		resp, rerr := http.ReadResponse(bufio.NewReader(&out), nil)
		if rerr != nil {
			t.Errorf("%s: response %q: %v", tc.name, out.String(), rerr)
			continue
		}
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (%v)", tc.name, resp.StatusCode, tc.status, err)
			continue
		}
		if tc.status == 101 {
			if err != nil || up == nil || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
				t.Errorf("%s: %v, accept %q", tc.name, err, resp.Header.Get("Sec-WebSocket-Accept"))
			}
			continue
		}
		var he *HandshakeError
		if !errors.As(err, &he) || tc.reason != "" && he.Reason != tc.reason {
			t.Errorf("%s: error %v, want reason %q", tc.name, err, tc.reason)
		}
		if resp.Header.Get("Sec-WebSocket-Version") != "13" {
			t.Errorf("%s: no Sec-WebSocket-Version: 13 in the refusal", tc.name)
		}
	}
}

// permessage-deflate is accepted when compression is on and the client
// offers it, with no context takeover either way (nats-server's answer);
// an offer that limits the server's window below 2^15 is declined.
func TestCompressionNegotiation(t *testing.T) {
	const accepted = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	for _, tc := range []struct {
		offer string
		on    bool
		want  string
	}{
		{"permessage-deflate", true, accepted},
		{"permessage-deflate; client_max_window_bits", true, accepted},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", true, accepted},
		{"foo, permessage-deflate", true, accepted},
		{"permessage-deflate; server_max_window_bits=10", true, ""},
		{"permessage-deflate; server_max_window_bits=10, permessage-deflate", true, accepted},
		{"permessage-deflate; server_max_window_bits=15", true, accepted},
		{"x-webkit-deflate-frame", true, ""},
		{"permessage-deflate", false, ""},
		{"", true, ""},
	} {
		var out bytes.Buffer
		up, err := Accept(bufio.NewReader(strings.NewReader(request(withHeader("Sec-WebSocket-Extensions", tc.offer)))), &out, &Policy{Compression: tc.on})
		if err != nil {
			t.Fatal(err)
		}
		resp, _ := http.ReadResponse(bufio.NewReader(&out), nil)
		if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != tc.want || up.Compress != (tc.want != "") {
			t.Errorf("offer %q (compression %v): answered %q, compress %v; want %q", tc.offer, tc.on, got, up.Compress, tc.want)
		}
	}
}

func TestParseOrigin(t *testing.T) {
	for _, tc := range []struct {
		in, err string
	}{
		{"http://a.example.com", ""},
		{"https://a.example.com:8443/path", ""},
		{"not a url", `parse "not a url": invalid URI for request`},
		{"ftp://a.example.com", "allowed origins must be absolute URLs with http or https scheme"},
		{"/relative", "allowed origins must be absolute URLs with http or https scheme"},
	} {
		_, err := ParseOrigin(tc.in)
		if got := ""; err != nil {
			got = err.Error()
			if got != tc.err {
				t.Errorf("%q: %q, want %q", tc.in, got, tc.err)
			}
		} else if tc.err != "" {
			t.Errorf("%q: accepted, want %q", tc.in, tc.err)
		}
	}
}

// The request is bounded: a client that sends headers forever is refused.
func TestRequestTooLarge(t *testing.T) {
	endless := "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("a", 1000)+"\r\n", 100)
	br := bufio.NewReaderSize(&limitReader{r: strings.NewReader(endless), n: MaxRequest}, 4096)
	var out bytes.Buffer
	if _, err := Accept(br, &out, &Policy{}); err == nil {
		t.Fatal("accepted")
	}
	if !strings.HasPrefix(out.String(), "HTTP/1.1 400 ") {
		t.Errorf("answered %q", out.String())
	}
}
