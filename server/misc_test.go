package server

import (
	"testing"

	"github.com/natsd/natsd/server/conn"

	"github.com/natsd/natsd/server/wire"
)

func TestTraceOnly(t *testing.T) {
	hmsg := func(hdr, payload string) *wire.Msg {
		return &wire.Msg{Data: []byte(hdr + payload), HdrLen: len(hdr)}
	}
	const (
		dest = "Nats-Trace-Dest: trace.inbox\r\n"
		end  = "\r\n"
	)
	tests := []struct {
		name string
		m    *wire.Msg
		want bool
	}{
		{"no headers", &wire.Msg{Data: []byte("Nats-Trace-Only: true")}, false},
		{"only true with dest", hmsg("NATS/1.0\r\n"+dest+"Nats-Trace-Only: true\r\n"+end, "x"), true},
		{"only first, dest after", hmsg("NATS/1.0\r\nNats-Trace-Only: true\r\n"+dest+end, "x"), true},
		{"only 1", hmsg("NATS/1.0\r\n"+dest+"Nats-Trace-Only: 1\r\n"+end, ""), true},
		{"only yes", hmsg("NATS/1.0\r\n"+dest+"Nats-Trace-Only: yes\r\n"+end, ""), true},
		{"only TRUE", hmsg("NATS/1.0\r\n"+dest+"Nats-Trace-Only: TRUE\r\n"+end, ""), true},
		{"only spaced", hmsg("NATS/1.0\r\n"+dest+"Nats-Trace-Only:   true  \r\n"+end, ""), true},
		{"only false", hmsg("NATS/1.0\r\n"+dest+"Nats-Trace-Only: false\r\n"+end, ""), false},
		{"only 0", hmsg("NATS/1.0\r\n"+dest+"Nats-Trace-Only: 0\r\n"+end, ""), false},
		{"only without dest", hmsg("NATS/1.0\r\nNats-Trace-Only: true\r\n"+end, ""), false},
		{"dest without only", hmsg("NATS/1.0\r\n"+dest+end, ""), false},
		{"other headers", hmsg("NATS/1.0\r\nFoo: bar\r\n"+end, ""), false},
		{"in the payload, not the header", hmsg("NATS/1.0\r\n"+end, "\r\n"+dest+"Nats-Trace-Only: true\r\n"), false},
	}
	for _, tt := range tests {
		if got := traceOnly(tt.m); got != tt.want {
			t.Errorf("%s: traceOnly = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestClosedStateString(t *testing.T) {
	tests := map[conn.Reason]string{
		conn.ClientClosed:             "Client Closed",
		conn.AuthViolation:            "Authentication Failure",
		conn.SlowConsumerPendingBytes: "Slow Consumer (Pending Bytes)",
		conn.ParseError:               "Parse Error",
		conn.MaxPayloadExceeded:       "Maximum Message Payload Exceeded",
		conn.MaxConnectionsExceeded:   "Maximum Connections Exceeded",
		conn.LameDuck:                 "Lame Duck Mode",
		conn.DuplicateRoute:           "Duplicate Route",
		conn.Reason(0):                "Unknown State",
		conn.Reason(200):              "Unknown State",
	}
	for s, want := range tests {
		if got := s.String(); got != want {
			t.Errorf("conn.Reason(%d) = %q, want %q", s, got, want)
		}
	}
	kinds := map[wire.ErrKind]conn.Reason{
		wire.MaxPayload:          conn.MaxPayloadExceeded,
		wire.MaxControlLine:      conn.MaxControlLineExceeded,
		wire.UnknownOp:           conn.ParseError,
		wire.BadArgs:             conn.ProtocolViolation,
		wire.HeadersNotSupported: conn.ProtocolViolation,
	}
	for k, want := range kinds {
		if got := conn.ForParseError(k); got != want {
			t.Errorf("conn.ForParseError(%d) = %v, want %v", k, got, want)
		}
	}
}
