package wire

// ErrKind says how a connection ends after a protocol error. The texts of
// -ERR lines are nats-server's, exactly: clients match on them.
type ErrKind uint8

const (
	// UnknownOp: -ERR 'Unknown Protocol Operation', then close. Unknown verbs,
	// server-only verbs from a client, a payload not followed by CRLF.
	UnknownOp ErrKind = iota + 1
	// BadArgs: close with no -ERR. Wrong argument counts and bad sizes.
	BadArgs
	// MaxControlLine: -ERR 'maximum control line exceeded', then close.
	MaxControlLine
	// MaxPayload: -ERR 'Maximum Payload Violation', then close.
	MaxPayload
	// HeadersNotSupported: HPUB on a connection without headers; close with
	// no -ERR.
	HeadersNotSupported
)

// Error is a malformed op. ErrText is the -ERR text to send before closing,
// or "" to close silently.
type Error struct {
	Kind ErrKind
}

func (e *Error) Error() string {
	switch e.Kind {
	case UnknownOp:
		return "unknown protocol operation"
	case BadArgs:
		return "malformed protocol arguments"
	case MaxControlLine:
		return "maximum control line exceeded"
	case MaxPayload:
		return "maximum payload violation"
	case HeadersNotSupported:
		return "headers not supported on this connection"
	}
	return "protocol error"
}

// ErrText is what goes after -ERR, or "" when the connection closes silently.
func (e *Error) ErrText() string {
	switch e.Kind {
	case UnknownOp:
		return ErrUnknownOp
	case MaxControlLine:
		return ErrMaxControlLine
	case MaxPayload:
		return ErrMaxPayload
	}
	return ""
}

var (
	errUnknownOp      = &Error{Kind: UnknownOp}
	errArgs           = &Error{Kind: BadArgs}
	errMaxControlLine = &Error{Kind: MaxControlLine}
	errMaxPayload     = &Error{Kind: MaxPayload}
	errHeaders        = &Error{Kind: HeadersNotSupported}
)

// The -ERR texts natsd sends, exactly as nats-server sends them. nats.go
// closes for good on a text it does not know: never invent one.
const (
	ErrUnknownOp             = "Unknown Protocol Operation"
	ErrAuthorization         = "Authorization Violation"
	ErrAuthTimeout           = "Authentication Timeout"
	ErrMaxPayload            = "Maximum Payload Violation"
	ErrMaxControlLine        = "maximum control line exceeded"
	ErrInvalidProtocol       = "invalid client protocol"
	ErrNoRespondersHeaders   = "no responders requires headers support"
	ErrMaxConnections        = "maximum connections exceeded"
	ErrMaxAccountConnections = "maximum account active connections exceeded"
	ErrRoutePort             = "attempted to connect to route port"
	ErrStaleConnection       = "Stale Connection"
	ErrInvalidSubject        = "Invalid Subject"
	ErrInvalidPubSubject     = "Invalid Publish Subject"
	ErrMaxSubscriptions      = "maximum subscriptions exceeded"
)
