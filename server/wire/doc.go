// Package wire is the NATS wire protocol: the parser for what clients and route
// peers send, and the encoders for what the server sends back.
//
// The parser is a line-at-a-time state machine over the connection's read
// buffer. Ops, arguments and payloads reach the Handler as sub-slices of that
// buffer: nothing is copied unless a control line or payload crosses a read
// boundary. Limits (max_control_line, max_payload) are checked on the control
// line, before any payload is buffered, and an incomplete line is checked as it
// grows, so a peer cannot make the server buffer more than the limit.
//
// The parser knows the protocol's framing rules as nats-server applies them
// (recorded in ../shared/testdata/protocol): op names are case-insensitive,
// arguments are split on runs of spaces and tabs, a control line may end in a
// bare LF but a payload must be followed by exactly CRLF. What to do with a
// well-formed op (permissions, delivery, -ERR texts that keep the connection
// open) is the Handler's business; what is malformed comes back as a *Error
// whose Kind says whether the connection gets an -ERR before it is closed.
//
// This package is a leaf: standard library only, no logging, so it can be
// fuzzed and benchmarked on its own.
package wire
