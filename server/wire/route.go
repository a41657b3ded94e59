package wire

import "math"

// Route ops (section 2 of the protocol notes):
//
//	RS+ <account> <subject> [<queue> <weight>]
//	RS- <account> <subject> [<queue>]
//	RMSG <account> <subject> [<reply>] <size>
//	RMSG <account> <subject> + <reply> <queue>... <size>
//	RMSG <account> <subject> | <queue>... <size>
//	HMSG  — as RMSG, with <hdr> <total> in place of <size>
//	LS+ <origin> …, LS- [<origin>] …, LMSG <origin> … — leafnode-origin forms,
//	  sent only to peers that advertise lnoc (natsd does not); the origin is dropped.

// splitAll splits on spaces and tabs with no cap on the number of fields
// (RMSG carries any number of queue names).
func splitAll(b []byte, dst [][]byte) [][]byte { return split(b, dst, false, -1) }

func (p *Parser) routeSub(line []byte, leaf bool) error {
	args := splitAll(line, p.queueBuf[:0])
	p.queueBuf = args[:0]
	if leaf && len(args) > 0 {
		args = args[1:]
	}
	switch len(args) {
	case 2:
		return p.route.RouteSub(args[0], args[1], nil, 0)
	case 3:
		return p.route.RouteSub(args[0], args[1], args[2], 1)
	case 4:
		return p.route.RouteSub(args[0], args[1], args[2], parseWeight(args[3]))
	}
	return errArgs
}

// parseWeight reads a queue weight (the number of members a peer has).
// nats-server takes any token there and keeps the route, so natsd does too:
// a weight that is not a positive number counts as 1, and one past int32
// as the largest int32. A weight only skews which server a queue message
// goes to, never whether it is delivered.
func parseWeight(b []byte) int32 {
	n := int64(0)
	for _, c := range b {
		if c < '0' || c > '9' {
			return 1
		}
		n = n*10 + int64(c-'0')
		if n > math.MaxInt32 {
			return math.MaxInt32
		}
	}
	if n == 0 {
		return 1
	}
	return int32(n)
}

func (p *Parser) routeUnsub(line []byte, leaf bool) error {
	args := splitAll(line, p.queueBuf[:0])
	p.queueBuf = args[:0]
	if leaf && len(args) == 4 {
		args = args[1:]
	}
	switch len(args) {
	case 2:
		return p.route.RouteUnsub(args[0], args[1], nil)
	case 3:
		return p.route.RouteUnsub(args[0], args[1], args[2])
	}
	return errArgs
}

// routeMsgArgs parses the arguments of RMSG, HMSG and LMSG into p.msg.
func (p *Parser) routeMsgArgs(line []byte, headers, leaf bool) error {
	args := splitAll(line, p.queueBuf[:0])
	p.queueBuf = args[:0]
	if leaf {
		// LMSG always carries header sizes.
		if len(args) == 0 {
			return errArgs
		}
		args = args[1:]
		headers = true
	}
	m := &p.msg
	*m = Msg{}
	nSizes := 1
	if headers {
		nSizes = 2
	}
	if len(args) < 2+nSizes {
		return errArgs
	}
	m.Account, m.Subject = args[0], args[1]
	mid := args[2 : len(args)-nSizes]
	switch {
	case len(mid) == 0:
	case len(mid) == 1:
		m.Reply = mid[0]
	case len(mid[0]) == 1 && mid[0][0] == '+':
		if len(mid) < 3 {
			return errArgs
		}
		m.Reply = mid[1]
		m.Queues = mid[2:]
	case len(mid[0]) == 1 && mid[0][0] == '|':
		m.Queues = mid[1:]
	default:
		return errArgs
	}
	if headers {
		m.HdrField = args[len(args)-2]
	}
	m.SizeField = args[len(args)-1]
	return p.sizes(m)
}
