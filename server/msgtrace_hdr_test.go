package server

import (
	"bytes"
	"maps"
	"slices"
	"testing"
)

func TestTraceHeader(t *testing.T) {
	tests := []struct {
		name, h string
		key     headerKey
		want    string
		found   bool
	}{
		{"plain", "NATS/1.0\r\nNats-Trace-Dest: tr\r\n\r\n", keyDest, "tr", true},
		{"no blank after colon", "NATS/1.0\r\nNats-Trace-Dest:tr\r\n\r\n", keyDest, "tr", true},
		{"blanks trimmed", "NATS/1.0\r\nNats-Trace-Dest: \t tr \t\r\n\r\n", keyDest, "tr", true},
		{"empty value", "NATS/1.0\r\nNats-Trace-Dest:\r\n\r\n", keyDest, "", true},
		{"first of two", "NATS/1.0\r\nNats-Trace-Dest: one\r\nNats-Trace-Dest: two\r\n\r\n", keyDest, "one", true},
		{"after others", "NATS/1.0\r\nA: b\r\nNats-Trace-Only: true\r\n\r\n", keyOnly, "true", true},
		// As v2.15.2 (recorded): the name's case matters, the colon
		// follows it, and a status line turns tracing off.
		{"lower case name", "NATS/1.0\r\nnats-trace-dest: tr\r\n\r\n", keyDest, "", false},
		{"blank before colon", "NATS/1.0\r\nNats-Trace-Dest :tr\r\n\r\n", keyDest, "", false},
		{"prefixed name", "NATS/1.0\r\nX-Nats-Trace-Dest: tr\r\n\r\n", keyDest, "", false},
		{"status line", "NATS/1.0 503\r\nNats-Trace-Dest: tr\r\n\r\n", keyDest, "", false},
		{"no header block", "Nats-Trace-Dest: tr", keyDest, "", false},
		{"value is the rest of the block", "NATS/1.0\r\nNats-Trace-Hop: 1.2", keyHop, "1.2", true},
	}
	for _, tt := range tests {
		got, ok := traceHeader([]byte(tt.h), tt.key)
		if ok != tt.found || string(got) != tt.want {
			t.Errorf("%s: traceHeader = %q, %v; want %q, %v", tt.name, got, ok, tt.want, tt.found)
		}
	}
	if v, ok := traceHeaderFold([]byte("NATS/1.0\r\nA: b\r\nTraceParent: 00-a-b-01 \r\n\r\n"), hdrTraceParent); !ok || string(v) != "00-a-b-01" {
		t.Errorf("traceHeaderFold = %q, %v", v, ok)
	}
	if _, ok := traceHeaderFold([]byte("NATS/1.0\r\nA: traceparent\r\n\r\n"), hdrTraceParent); ok {
		t.Error("traceHeaderFold matched a value")
	}
}

// TestTraceOnlyValue: the values of Nats-Trace-Only that keep a traced
// message from its subscribers, as v2.15.2 reads them (recorded).
func TestTraceOnlyValue(t *testing.T) {
	for v, want := range map[string]bool{
		"true": true, "TRUE": true, "True": true, "on": true, "ON": true, "On": true, "1": true,
		"yes": false, "y": false, "t": false, "01": false, "false": false, "0": false, "off": false, "": false, "garbage": false,
	} {
		if got := traceOnlyValue([]byte(v)); got != want {
			t.Errorf("traceOnlyValue(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestTraceparentSampled: the W3C traceparent values that trigger tracing
// in an account with msg_trace, as v2.15.2 reads them (recorded).
func TestTraceparentSampled(t *testing.T) {
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-"
	for v, want := range map[string]bool{
		tp + "01": true, tp + "03": true, tp + "0F": true, "00-abc-def-01": true, "---01": true,
		tp + "00": false, tp + "FE": false, tp + "1": false, tp + "001": false, tp + "zz": false,
		"garbage-01": false, "01": false, tp + "01-extra": false, "ff-" + tp + "01": false, "": false,
	} {
		if got := traceparentSampled([]byte(v)); got != want {
			t.Errorf("traceparentSampled(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestSetHeader(t *testing.T) {
	tests := []struct{ name, h, key, value, want string }{
		{"added last", "NATS/1.0\r\nA: b\r\n\r\n", hdrTraceHop, "1", "NATS/1.0\r\nA: b\r\nNats-Trace-Hop: 1\r\n\r\n"},
		{"replaced, moved last", "NATS/1.0\r\nNats-Trace-Hop: 7\r\nA: b\r\nNats-Trace-Hop: 8\r\n\r\n", hdrTraceHop, "1.2",
			"NATS/1.0\r\nA: b\r\nNats-Trace-Hop: 1.2\r\n\r\n"},
		{"other case kept", "NATS/1.0\r\nnats-trace-dest: x\r\n\r\n", hdrTraceDest, traceDisabled,
			"NATS/1.0\r\nnats-trace-dest: x\r\nNats-Trace-Dest: trace disabled\r\n\r\n"},
		{"empty block", "NATS/1.0\r\n\r\n", hdrTraceHop, "2", "NATS/1.0\r\nNats-Trace-Hop: 2\r\n\r\n"},
		{"status kept", "NATS/1.0 503\r\nA: b\r\n\r\n", hdrTraceHop, "2", "NATS/1.0 503\r\nA: b\r\nNats-Trace-Hop: 2\r\n\r\n"},
		{"malformed: a fresh block", "NATS/1.0\r\nA: b", hdrTraceHop, "2", "NATS/1.0\r\nNats-Trace-Hop: 2\r\n\r\n"},
	}
	for _, tt := range tests {
		if got := string(setHeader([]byte(tt.h), tt.key, tt.value)); got != tt.want {
			t.Errorf("%s: setHeader = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestHeaderMap(t *testing.T) {
	got := headerMap([]byte("NATS/1.0\r\nNats-Trace-Dest:  tr \r\nX-Other: 1\r\nX-Other: 2\r\nno colon\r\n: empty name\r\nlower: v\r\n\r\n"))
	want := map[string][]string{"Nats-Trace-Dest": {"tr"}, "X-Other": {"1", "2"}, "lower": {"v"}}
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("headerMap = %q, want %q", got, want)
	}
	if got := headerMap([]byte("NATS/1.0\r\n\r\n")); got != nil {
		t.Errorf("headerMap of an empty block = %q", got)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for v, want := range map[string]bool{"gzip": true, "br, GZIP;q=1": true, "deflate, gzip": true, "snappy": false, "s2": false, "": false} {
		if got := acceptsGzip([]byte(v)); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", v, got, want)
		}
	}
}

// FuzzTraceHeaders: header blocks from clients and peers are any bytes;
// reading and rewriting them never panics, a rewritten block is well
// formed and holds the value set.
func FuzzTraceHeaders(f *testing.F) {
	f.Add([]byte("NATS/1.0\r\nNats-Trace-Dest: tr\r\nNats-Trace-Only: true\r\n\r\n"), "1.2")
	f.Add([]byte("NATS/1.0\r\nNats-Trace-Hop: 1\r\ntraceparent: 00-a-b-01\r\n\r\n"), "3")
	f.Add([]byte("NATS/1.0 503\r\n\r\n"), "")
	f.Add([]byte("NATS/1.0\r\n\r\n\r\nA: b\r\n\r\n"), "x")
	f.Add([]byte("\r\n"), "1")
	f.Fuzz(func(t *testing.T, h []byte, value string) {
		for _, k := range []headerKey{keyDest, keyOnly, keyHop, keyOrigin, keyAcceptEn} {
			if v, ok := traceHeader(h, k); ok {
				traceOnlyValue(v)
				acceptsGzip(v)
			}
		}
		if v, ok := traceHeaderFold(h, hdrTraceParent); ok {
			traceparentSampled(v)
		}
		headerMap(h)
		value = string(bytes.Trim([]byte(value), " \t"))
		if bytes.ContainsAny([]byte(value), "\r\n") {
			return
		}
		out := setHeader(h, hdrTraceHop, value)
		if !bytes.HasSuffix(out, []byte(headerEndMarker)) {
			t.Fatalf("setHeader(%q) = %q: not a block", h, out)
		}
		if bytes.HasPrefix(out, statusLine) {
			if v, ok := traceHeader(out, keyHop); !ok || string(v) != value {
				t.Fatalf("setHeader(%q, %q) = %q: traceHeader reads %q, %v", h, value, out, v, ok)
			}
		}
	})
}
