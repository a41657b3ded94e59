package wire

import (
	"bytes"
)

// Handler receives the ops both sides of the protocol send. Slices are
// only valid during the call: they point into the read buffer, which is
// reused after return. A returned error stops parsing; the connection
// decides what to do with it.
type Handler interface {
	Connect(arg []byte) error
	Info(arg []byte) error
	Ping() error
	Pong() error
	OK() error
	Err(arg []byte) error
}

// ClientHandler receives the ops a client sends.
type ClientHandler interface {
	Handler
	Pub(m *Msg) error
	Sub(subject, queue, sid []byte) error
	// Unsub removes sid after max more deliveries in total; max <= 0 (absent
	// or not a valid number) removes it at once, as nats-server does.
	Unsub(sid []byte, max int64) error
}

// RouteHandler receives the ops a route peer sends.
type RouteHandler interface {
	Handler
	// RouteSub is RS+ (and LS+, whose origin cluster is dropped). weight is 0
	// for a plain subscription.
	RouteSub(account, subject, queue []byte, weight int32) error
	// RouteUnsub is RS- (and LS-).
	RouteUnsub(account, subject, queue []byte) error
	// RouteMsg is RMSG, HMSG and LMSG.
	RouteMsg(m *Msg) error
}

// Msg is one message as parsed: PUB/HPUB from a client, RMSG/HMSG from a route.
// The parser reuses one Msg; a handler that keeps anything must copy it.
type Msg struct {
	Account []byte   // routes only
	Subject []byte   //
	Reply   []byte   // nil when absent
	Queues  [][]byte // routes only: the queue groups the receiver should serve
	// SizeField is the total size exactly as the sender wrote it: nats-server
	// repeats it verbatim in the MSG line ("PUB foo 005" gives "MSG foo 1 005").
	SizeField []byte
	// HdrField is the header size as written; nil for a message without headers
	// (also for HPUB with a header size of 0, which is delivered as a plain MSG).
	HdrField []byte
	HdrLen   int    // bytes of Data that are the header block
	Data     []byte // header block and payload, without the trailing CRLF
	// Deliver, when set, is the subject the message is routed on, while
	// clients see Subject: JetStream delivers a stored message to a
	// consumer's inbox under the subject it was published on.
	Deliver []byte
}

// RouteSubject is the subject subscriptions are matched on: Deliver if
// set, else Subject.
func (m *Msg) RouteSubject() []byte {
	if m.Deliver != nil {
		return m.Deliver
	}
	return m.Subject
}

// Payload returns the message body after the header block.
func (m *Msg) Payload() []byte { return m.Data[m.HdrLen:] }

// Header returns the header block (nil when the message has none).
func (m *Msg) Header() []byte {
	if m.HdrLen == 0 {
		return nil
	}
	return m.Data[:m.HdrLen]
}

// Limits bound what one control line and one payload may hold. Zero means no
// limit. They may be changed between calls to Parse (config reload).
type Limits struct {
	MaxControlLine int
	MaxPayload     int
}

// maxSizeDigits is the longest size field accepted: nats-server refuses sizes
// of more than nine digits (even "0000000001"), closing the connection.
const maxSizeDigits = 9

type state uint8

const (
	stateLine    state = iota // reading a control line
	stateSkip                 // PING/PONG/+OK seen, dropping bytes up to the LF
	statePayload              // reading a payload and its CRLF
)

// Parser turns a byte stream into handler calls. Use one Parser per
// connection, from the connection's read goroutine only.
type Parser struct {
	Limits
	// Headers says whether HPUB is allowed (the client asked for headers and
	// the server supports them). Only used for clients.
	Headers bool

	common Handler       // the ops both sides send
	client ClientHandler // set for a client connection
	route  RouteHandler  // set for a route connection

	state    state
	skipOp   op     // the op waiting for its LF in stateSkip
	line     []byte // a control line that crossed a read boundary
	msg      Msg    // the message being read
	size     int    // payload size of the message being read
	need     int    // payload bytes plus CRLF still expected (statePayload)
	payload  []byte // a payload that crossed a read boundary
	args     [maxArgs][]byte
	queueBuf [][]byte
}

const maxArgs = 6

var cr = []byte{'\r'}

// NewClientParser returns a parser for a client connection.
func NewClientParser(h ClientHandler, l Limits) *Parser {
	return &Parser{common: h, client: h, Limits: l}
}

// NewRouteParser returns a parser for a route connection.
func NewRouteParser(h RouteHandler, l Limits) *Parser {
	return &Parser{common: h, route: h, Limits: l}
}

// Parse consumes buf. It returns the first error: a *Error for malformed input,
// or whatever a handler returned. After an error the Parser must not be used
// again: the connection is closed.
func (p *Parser) Parse(buf []byte) error {
	i := 0
	for i < len(buf) {
		switch p.state {
		case statePayload:
			n, err := p.readPayload(buf[i:])
			if err != nil {
				return err
			}
			i += n

		case stateSkip:
			j := bytes.IndexByte(buf[i:], '\n')
			if j < 0 {
				return nil
			}
			i += j + 1
			p.state = stateLine
			if err := p.dispatchNoArg(p.skipOp); err != nil {
				return err
			}

		default:
			j := bytes.IndexByte(buf[i:], '\n')
			if j < 0 {
				return p.partialLine(buf[i:])
			}
			var line []byte
			if len(p.line) > 0 {
				p.line = append(p.line, buf[i:i+j]...)
				line = p.line
			} else {
				line = buf[i : i+j]
			}
			i += j + 1
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			if err := p.controlLine(line, buf[i:]); err != nil {
				return err
			}
			if p.state != statePayload {
				p.line = p.line[:0]
			}
		}
	}
	return nil
}

// partialLine keeps the start of a control line that has no LF yet, failing
// as early as nats-server does: at once for an op that cannot be, and as soon
// as the arguments outgrow max_control_line.
func (p *Parser) partialLine(rest []byte) error {
	p.line = append(p.line, rest...)
	o, argStart, known := p.classify(p.line)
	switch {
	case !known:
		return nil // still a prefix of some op name
	case o == opUnknown:
		return errUnknownOp
	case o.noArgs():
		// Whatever follows PING/PONG/+OK up to the LF is ignored; drop it
		// rather than buffer it.
		p.skipOp = o
		p.state = stateSkip
		p.line = p.line[:0]
		return nil
	case p.MaxControlLine > 0 && len(bytes.TrimSuffix(p.line, cr))-argStart > p.MaxControlLine:
		// A CR at the end may be the start of the line's CRLF: not counted.
		return errMaxControlLine
	}
	return nil
}

// readPayload consumes payload bytes; it returns how many it used.
func (p *Parser) readPayload(b []byte) (int, error) {
	if len(p.payload) == 0 && len(b) >= p.need {
		// The whole payload and its CRLF are in this buffer: no copy.
		end := p.need - 2
		if b[end] != '\r' || b[end+1] != '\n' {
			return 0, errUnknownOp
		}
		n := p.need
		p.state = stateLine
		p.line = p.line[:0]
		return n, p.deliver(b[:end])
	}
	take := min(p.need, len(b))
	p.payload = append(p.payload, b[:take]...)
	p.need -= take
	if p.need > 0 {
		return take, nil
	}
	data := p.payload
	end := len(data) - 2
	if data[end] != '\r' || data[end+1] != '\n' {
		return take, errUnknownOp
	}
	p.state = stateLine
	err := p.deliver(data[:end])
	p.line = p.line[:0]
	p.payload = p.payload[:0]
	return take, err
}

func (p *Parser) deliver(data []byte) error {
	p.msg.Data = data
	if p.route != nil {
		return p.route.RouteMsg(&p.msg)
	}
	return p.client.Pub(&p.msg)
}

// expectPayload switches to reading size bytes of payload. rest is what
// follows the control line in the current read buffer; when the payload is not
// all there, the control line (which the message's slices point into) is
// copied so that it survives the next read.
func (p *Parser) expectPayload(line []byte, rest []byte) error {
	p.need = p.size + 2
	p.state = statePayload
	if len(rest) >= p.need || len(p.line) > 0 && &p.line[0] == &line[0] {
		return nil
	}
	p.line = append(p.line[:0], line...)
	return p.reparse(p.line)
}

// reparse re-points the message's slices into a copied control line.
func (p *Parser) reparse(line []byte) error {
	o, argStart, _ := p.classify(line)
	args := line[argStart:]
	switch o {
	case opPub:
		return p.pubArgs(args, false)
	case opHPub:
		return p.pubArgs(args, true)
	case opRMsg, opLMsg:
		return p.routeMsgArgs(args, false, o == opLMsg)
	case opHMsg:
		return p.routeMsgArgs(args, true, false)
	}
	return nil
}

func (p *Parser) controlLine(line, rest []byte) error {
	o, argStart, known := p.classify(line)
	if !known || o == opUnknown {
		return errUnknownOp
	}
	if o.noArgs() {
		return p.dispatchNoArg(o)
	}
	args := line[argStart:]
	if p.MaxControlLine > 0 && len(args) > p.MaxControlLine {
		return errMaxControlLine
	}
	switch o {
	case opPub, opHPub:
		if err := p.pubArgs(args, o == opHPub); err != nil {
			return err
		}
		return p.expectPayload(line, rest)
	case opSub:
		return p.sub(args)
	case opUnsub:
		return p.unsub(args)
	case opConnect:
		return p.common.Connect(args)
	case opInfo:
		return p.common.Info(args)
	case opErr:
		return p.common.Err(args)
	case opRSub, opLSub:
		return p.routeSub(args, o == opLSub)
	case opRUnsub, opLUnsub:
		return p.routeUnsub(args, o == opLUnsub)
	case opRMsg, opLMsg, opHMsg:
		if err := p.routeMsgArgs(args, o == opHMsg, o == opLMsg); err != nil {
			return err
		}
		return p.expectPayload(line, rest)
	}
	return errUnknownOp
}

func (p *Parser) dispatchNoArg(o op) error {
	switch o {
	case opPing:
		return p.common.Ping()
	case opPong:
		return p.common.Pong()
	default:
		return p.common.OK()
	}
}

// pubArgs parses "subject [reply] size" (PUB) or "subject [reply] hdr total"
// (HPUB).
func (p *Parser) pubArgs(line []byte, headers bool) error {
	args := splitArgs(line, p.args[:0], false)
	m := &p.msg
	*m = Msg{}
	if headers {
		if !p.Headers {
			return errHeaders
		}
		switch len(args) {
		case 3:
			m.Subject, m.HdrField, m.SizeField = args[0], args[1], args[2]
		case 4:
			m.Subject, m.Reply, m.HdrField, m.SizeField = args[0], args[1], args[2], args[3]
		default:
			return errArgs
		}
	} else {
		switch len(args) {
		case 2:
			m.Subject, m.SizeField = args[0], args[1]
		case 3:
			m.Subject, m.Reply, m.SizeField = args[0], args[1], args[2]
		default:
			return errArgs
		}
	}
	return p.sizes(m)
}

// sizes validates the size fields of m and records the payload length.
func (p *Parser) sizes(m *Msg) error {
	total := parseSize(m.SizeField)
	if total < 0 {
		return errArgs
	}
	if m.HdrField != nil {
		hdr := parseSize(m.HdrField)
		if hdr < 0 || hdr > total {
			return errArgs
		}
		m.HdrLen = hdr
		if hdr == 0 {
			m.HdrField = nil
		}
	}
	if p.MaxPayload > 0 && total > p.MaxPayload {
		return errMaxPayload
	}
	p.size = total
	return nil
}

func (p *Parser) sub(line []byte) error {
	// SUB splits at CR as well as space and tab (recorded: `SUB a\rb 1` is a
	// queue subscription to a with queue b).
	args := splitArgs(line, p.args[:0], true)
	switch len(args) {
	case 2:
		return p.client.Sub(args[0], nil, args[1])
	case 3:
		return p.client.Sub(args[0], args[1], args[2])
	}
	return errArgs
}

func (p *Parser) unsub(line []byte) error {
	args := splitArgs(line, p.args[:0], false)
	switch len(args) {
	case 1:
		return p.client.Unsub(args[0], 0)
	case 2:
		return p.client.Unsub(args[0], int64(parseSize(args[1])))
	}
	return errArgs
}

// parseSize parses a non-negative decimal of at most nine digits; -1 if it is
// not one.
func parseSize(b []byte) int {
	if len(b) == 0 || len(b) > maxSizeDigits {
		return -1
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return -1
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// splitArgs splits a control line's arguments on runs of spaces and tabs (and
// CRs when atCR), appending to dst. It stops after maxArgs+1 fields, which is
// already a wrong count for every op that uses it.
func splitArgs(b []byte, dst [][]byte, atCR bool) [][]byte { return split(b, dst, atCR, maxArgs+1) }

// split appends the fields of b to dst, at most limit of them (-1: all).
func split(b []byte, dst [][]byte, atCR bool, limit int) [][]byte {
	start := -1
	for i, c := range b {
		if c == ' ' || c == '\t' || (atCR && c == '\r') {
			if start >= 0 {
				dst = append(dst, b[start:i])
				start = -1
				if len(dst) == limit {
					return dst
				}
			}
			continue
		}
		if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		dst = append(dst, b[start:])
	}
	return dst
}
