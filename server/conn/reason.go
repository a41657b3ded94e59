package conn

import "github.com/natsd/natsd/server/wire"

// Reason is why a connection ended; /connz shows its text as "reason".
type Reason uint8

// Values are nats-server's reasons (their texts are what /connz shows);
// append only.
const (
	ClientClosed Reason = iota + 1
	AuthTimeout
	AuthViolation
	SlowConsumerPendingBytes
	SlowConsumerWriteDeadline
	WriteError
	ReadError
	ParseError
	StaleConnection
	ProtocolViolation
	MaxPayloadExceeded
	MaxControlLineExceeded
	MaxConnectionsExceeded
	ServerShutdown
	LameDuck
	AuthRevoked // credentials no longer valid after a reload
	RouteRemoved
	DuplicateRoute
	MaxAccountConnectionsExceeded
	AuthExpired         // the user's credentials (a JWT) expired on a live connection
	Kicked              // by the system account's KICK request
	TLSHandshakeFailure // the TLS handshake failed or timed out
)

var reasonText = map[Reason]string{
	ClientClosed:              "Client Closed",
	AuthTimeout:               "Authentication Timeout",
	AuthViolation:             "Authentication Failure",
	SlowConsumerPendingBytes:  "Slow Consumer (Pending Bytes)",
	SlowConsumerWriteDeadline: "Slow Consumer (Write Deadline)",
	WriteError:                "Write Error",
	ReadError:                 "Read Error",
	ParseError:                "Parse Error",
	StaleConnection:           "Stale Connection",
	ProtocolViolation:         "Protocol Violation",
	MaxPayloadExceeded:        "Maximum Message Payload Exceeded",
	MaxControlLineExceeded:    "Maximum Control Line Exceeded",
	MaxConnectionsExceeded:    "Maximum Connections Exceeded",
	ServerShutdown:            "Server Shutdown",
	LameDuck:                  "Lame Duck Mode",
	AuthRevoked:               "Authentication Revoked",
	RouteRemoved:              "Route Removed",
	DuplicateRoute:            "Duplicate Route",

	MaxAccountConnectionsExceeded: "Maximum Account Connections Exceeded",
	AuthExpired:                   "Authentication Expired",
	Kicked:                        "Kicked",
	TLSHandshakeFailure:           "TLS Handshake Failure",
}

func (r Reason) String() string {
	if t, ok := reasonText[r]; ok {
		return t
	}
	return "Unknown State"
}

// SlowConsumer reports the two slow-consumer reasons.
func (r Reason) SlowConsumer() bool {
	return r == SlowConsumerPendingBytes || r == SlowConsumerWriteDeadline
}

// hardClose reports reasons for which what is queued is not worth writing:
// the queue is what is wrong.
func (r Reason) hardClose() bool { return r.SlowConsumer() }

// ForParseError maps a protocol parse error to its close reason.
func ForParseError(k wire.ErrKind) Reason {
	switch k {
	case wire.MaxPayload:
		return MaxPayloadExceeded
	case wire.MaxControlLine:
		return MaxControlLineExceeded
	case wire.UnknownOp:
		return ParseError
	}
	return ProtocolViolation
}
