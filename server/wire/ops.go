package wire

// op is a protocol verb.
type op uint8

const (
	opUnknown op = iota
	opPub
	opHPub
	opSub
	opUnsub
	opPing
	opPong
	opOK
	opErr
	opConnect
	opInfo
	opRSub
	opRUnsub
	opRMsg
	opHMsg
	opLSub
	opLUnsub
	opLMsg
)

func (o op) noArgs() bool { return o == opPing || o == opPong || o == opOK }

// How an op name must be followed.
type follow uint8

const (
	needSpace follow = iota // one or more spaces or tabs, then the arguments (PUB, SUB, …)
	anything                // nothing is read after the name (PING, PONG, +OK)
	optSpace                // optional spaces, then the arguments (CONNECT, INFO)
)

type verb struct {
	name   string // upper case
	op     op
	follow follow
	only   side // where the verb is valid
}

type side uint8

const (
	both side = iota
	clientOnly
	routeOnly
)

// verbs by the upper-cased first byte of the line. Append only when adding a
// verb; the names are wire protocol.
var verbs = [256][]verb{
	'P': {{"PUB", opPub, needSpace, clientOnly}, {"PING", opPing, anything, both}, {"PONG", opPong, anything, both}},
	'H': {{"HPUB", opHPub, needSpace, clientOnly}, {"HMSG", opHMsg, needSpace, routeOnly}},
	'S': {{"SUB", opSub, needSpace, clientOnly}},
	'U': {{"UNSUB", opUnsub, needSpace, clientOnly}},
	'C': {{"CONNECT", opConnect, optSpace, both}},
	'I': {{"INFO", opInfo, optSpace, both}},
	'+': {{"+OK", opOK, anything, both}},
	'-': {{"-ERR", opErr, needSpace, both}},
	'R': {{"RS+", opRSub, needSpace, routeOnly}, {"RS-", opRUnsub, needSpace, routeOnly}, {"RMSG", opRMsg, needSpace, routeOnly}},
	'L': {{"LS+", opLSub, needSpace, routeOnly}, {"LS-", opLUnsub, needSpace, routeOnly}, {"LMSG", opLMsg, needSpace, routeOnly}},
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// classify finds the op at the start of line and where its arguments start.
// known is false while line is still a proper prefix of an op name (or of the
// name and its mandatory separator), which only happens for partial lines.
func (p *Parser) classify(line []byte) (o op, argStart int, known bool) {
	if len(line) == 0 {
		return opUnknown, 0, false
	}
	prefix := false
	for _, v := range verbs[upper(line[0])] {
		if v.only == routeOnly && p.route == nil || v.only == clientOnly && p.route != nil {
			continue
		}
		n := len(v.name)
		m := min(n, len(line))
		match := true
		for k := 1; k < m; k++ {
			if upper(line[k]) != v.name[k] {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		if len(line) < n {
			prefix = true
			continue
		}
		switch v.follow {
		case anything:
			return v.op, n, true
		case optSpace:
			i := n
			for i < len(line) && isSpace(line[i]) {
				i++
			}
			return v.op, i, true
		default:
			if len(line) == n {
				prefix = true
				continue
			}
			if !isSpace(line[n]) {
				continue
			}
			i := n + 1
			for i < len(line) && isSpace(line[i]) {
				i++
			}
			return v.op, i, true
		}
	}
	if prefix {
		return opUnknown, 0, false
	}
	return opUnknown, 0, true
}
