package wire

import "strconv"

// Encoders append one protocol line to dst and return it, in the manner of
// strconv.Append*: no allocation when dst has room. Every line ends in CRLF.

// AppendMsg appends "MSG <subject> <sid> [<reply>] <size>\r\n".
func AppendMsg(dst, subject, sid, reply, size []byte) []byte {
	dst = append(dst, "MSG "...)
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	dst = append(dst, sid...)
	dst = append(dst, ' ')
	if len(reply) > 0 {
		dst = append(dst, reply...)
		dst = append(dst, ' ')
	}
	dst = append(dst, size...)
	return append(dst, "\r\n"...)
}

// AppendHMsg appends "HMSG <subject> <sid> [<reply>] <hdr> <total>\r\n".
func AppendHMsg(dst, subject, sid, reply, hdr, total []byte) []byte {
	dst = append(dst, "HMSG "...)
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	dst = append(dst, sid...)
	dst = append(dst, ' ')
	if len(reply) > 0 {
		dst = append(dst, reply...)
		dst = append(dst, ' ')
	}
	dst = append(dst, hdr...)
	dst = append(dst, ' ')
	dst = append(dst, total...)
	return append(dst, "\r\n"...)
}

// AppendRouteMsg appends a routed message line: RMSG, or HMSG when hdr is not
// nil. queues, when not empty, are the queue groups the receiver should serve:
// "+ <reply> <q>..." with a reply, "| <q>..." without.
func AppendRouteMsg(dst []byte, account string, subject, reply []byte, queues []string, hdr, size []byte) []byte {
	if hdr != nil {
		dst = append(dst, "HMSG "...)
	} else {
		dst = append(dst, "RMSG "...)
	}
	dst = append(dst, account...)
	dst = append(dst, ' ')
	dst = append(dst, subject...)
	dst = append(dst, ' ')
	if len(queues) > 0 {
		if len(reply) > 0 {
			dst = append(dst, "+ "...)
			dst = append(dst, reply...)
			dst = append(dst, ' ')
		} else {
			dst = append(dst, "| "...)
		}
		for _, q := range queues {
			dst = append(dst, q...)
			dst = append(dst, ' ')
		}
	} else if len(reply) > 0 {
		dst = append(dst, reply...)
		dst = append(dst, ' ')
	}
	if hdr != nil {
		dst = append(dst, hdr...)
		dst = append(dst, ' ')
	}
	dst = append(dst, size...)
	return append(dst, "\r\n"...)
}

// AppendRouteSub appends "RS+ <account> <subject>[ <queue> <weight>]\r\n".
func AppendRouteSub(dst []byte, account, subject, queue string, weight int32) []byte {
	dst = append(dst, "RS+ "...)
	dst = append(dst, account...)
	dst = append(dst, ' ')
	dst = append(dst, subject...)
	if queue != "" {
		dst = append(dst, ' ')
		dst = append(dst, queue...)
		dst = append(dst, ' ')
		dst = strconv.AppendInt(dst, int64(weight), 10)
	}
	return append(dst, "\r\n"...)
}

// AppendRouteUnsub appends "RS- <account> <subject>[ <queue>]\r\n".
func AppendRouteUnsub(dst []byte, account, subject, queue string) []byte {
	dst = append(dst, "RS- "...)
	dst = append(dst, account...)
	dst = append(dst, ' ')
	dst = append(dst, subject...)
	if queue != "" {
		dst = append(dst, ' ')
		dst = append(dst, queue...)
	}
	return append(dst, "\r\n"...)
}

// AppendErr appends "-ERR '<text>'\r\n".
func AppendErr(dst []byte, text string) []byte {
	dst = append(dst, "-ERR '"...)
	dst = append(dst, text...)
	return append(dst, "'\r\n"...)
}

// AppendInfo appends "INFO <json> \r\n", with the space nats-server puts
// before the CRLF (clients expect to tolerate it; sending it keeps natsd
// byte-identical).
func AppendInfo(dst, json []byte) []byte {
	dst = append(dst, "INFO "...)
	dst = append(dst, json...)
	return append(dst, " \r\n"...)
}

// Fixed lines.
var (
	Ping = []byte("PING\r\n")
	Pong = []byte("PONG\r\n")
	OK   = []byte("+OK\r\n")
)
