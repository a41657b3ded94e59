package server

import (
	"testing"

	"github.com/natsd/natsd/server/conn"

	"github.com/natsd/natsd/server/wire"
)

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
