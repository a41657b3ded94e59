package server

import (
	"github.com/natsd/natsd/server/wire"
)

// ClosedState is why a connection ended; /connz shows it as "reason".
type ClosedState uint8

// Values are nats-server's reasons (their String texts are what /connz
// shows); append only.
const (
	ClosedClientClosed ClosedState = iota + 1
	ClosedAuthTimeout
	ClosedAuthViolation
	ClosedSlowConsumerPendingBytes
	ClosedSlowConsumerWriteDeadline
	ClosedWriteError
	ClosedReadError
	ClosedParseError
	ClosedStaleConnection
	ClosedProtocolViolation
	ClosedMaxPayload
	ClosedMaxControlLine
	ClosedMaxConnections
	ClosedServerShutdown
	ClosedLameDuck
	ClosedAuthRevoked // credentials no longer valid after a reload
	ClosedRouteRemoved
	ClosedDuplicateRoute
)

var closedText = map[ClosedState]string{
	ClosedClientClosed:              "Client Closed",
	ClosedAuthTimeout:               "Authentication Timeout",
	ClosedAuthViolation:             "Authentication Failure",
	ClosedSlowConsumerPendingBytes:  "Slow Consumer (Pending Bytes)",
	ClosedSlowConsumerWriteDeadline: "Slow Consumer (Write Deadline)",
	ClosedWriteError:                "Write Error",
	ClosedReadError:                 "Read Error",
	ClosedParseError:                "Parse Error",
	ClosedStaleConnection:           "Stale Connection",
	ClosedProtocolViolation:         "Protocol Violation",
	ClosedMaxPayload:                "Maximum Message Payload Exceeded",
	ClosedMaxControlLine:            "Maximum Control Line Exceeded",
	ClosedMaxConnections:            "Maximum Connections Exceeded",
	ClosedServerShutdown:            "Server Shutdown",
	ClosedLameDuck:                  "Lame Duck Mode",
	ClosedAuthRevoked:               "Authentication Revoked",
	ClosedRouteRemoved:              "Route Removed",
	ClosedDuplicateRoute:            "Duplicate Route",
}

func (s ClosedState) String() string {
	if t, ok := closedText[s]; ok {
		return t
	}
	return "Unknown State"
}

func (s ClosedState) isSlowConsumer() bool {
	return s == ClosedSlowConsumerPendingBytes || s == ClosedSlowConsumerWriteDeadline
}

// ClosedProtocolError maps a parse error to its close reason.
func ClosedProtocolError(k wire.ErrKind) ClosedState {
	switch k {
	case wire.MaxPayload:
		return ClosedMaxPayload
	case wire.MaxControlLine:
		return ClosedMaxControlLine
	case wire.UnknownOp:
		return ClosedParseError
	}
	return ClosedProtocolViolation
}

// maxClosed is how many closed connections /connz?state=closed remembers.
const maxClosed = 10000

// recordClosed keeps the snapshot of a closed client for /connz.
func (s *Server) recordClosed(ci *ConnInfo) {
	s.closedMu.Lock()
	if len(s.closedRing) < maxClosed {
		s.closedRing = append(s.closedRing, ci)
	} else {
		s.closedRing[s.closedNext] = ci
		s.closedNext = (s.closedNext + 1) % maxClosed
	}
	s.closedMu.Unlock()
}
