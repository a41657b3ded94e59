package websocket

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// The opening handshake (RFC 6455 §4.2), as nats-server v2.15.2 answers it
// (recorded): a GET with Upgrade: websocket, Connection: Upgrade, a
// Sec-WebSocket-Key and Sec-WebSocket-Version 13, any path, HTTP/1.0 or
// 1.1. A request it refuses gets the same status as from nats-server —
// 405 for another method, 403 for an origin not allowed, 400 for the rest
// — with a Sec-WebSocket-Version: 13 header, and the connection is closed.
// Where nats-server's body only repeats the status, natsd's says why.

// Policy is what a listener accepts.
type Policy struct {
	// Secure: the listener is TLS (wss), so a same origin is https.
	Secure bool
	// SameOrigin: a request with an Origin header must come from the
	// host it asks for (same_origin).
	SameOrigin bool
	// AllowedOrigins: a request with an Origin header must come from one
	// of these (allowed_origins); both checks apply when both are set.
	AllowedOrigins []Origin
	// Compression: accept permessage-deflate when the client offers it.
	Compression bool
	// Headers are added to the 101 response (websocket.headers).
	Headers [][2]string
}

// Origin is a scheme, host and port an Origin header is compared with.
type Origin struct {
	Scheme, Host, Port string
}

// ParseOrigin reads an allowed origin as nats-server does: an absolute
// http or https URL (a path is ignored), the port defaulting to the
// scheme's.
func ParseOrigin(s string) (Origin, error) {
	u, err := url.ParseRequestURI(s)
	if err != nil {
		return Origin{}, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return Origin{}, errors.New("allowed origins must be absolute URLs with http or https scheme")
	}
	return originOf(u.Scheme, u.Host), nil
}

func originOf(scheme, hostport string) Origin {
	scheme = strings.ToLower(scheme)
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	return Origin{Scheme: scheme, Host: strings.ToLower(strings.Trim(host, "[]")), Port: port}
}

// Upgrade is an accepted upgrade.
type Upgrade struct {
	// Compress: permessage-deflate was negotiated.
	Compress bool
	// Request is the client's request (its cookies, say).
	Request *http.Request
}

// HandshakeError is a refused upgrade: the HTTP status the client got and
// why. NotWebSocket marks a request that did not ask for a WebSocket at
// all (a health check, a scanner, plain NATS on the wrong port).
type HandshakeError struct {
	Status       int
	Reason       string
	NotWebSocket bool
}

func (e *HandshakeError) Error() string {
	return "websocket handshake error: " + e.Reason
}

// MaxRequest bounds the upgrade request (request line and headers).
const MaxRequest = 64 << 10

// NewHandshakeReader reads the upgrade request from nc, at most MaxRequest
// bytes of it.
func NewHandshakeReader(nc net.Conn) *bufio.Reader {
	return bufio.NewReaderSize(&limitReader{r: nc, n: MaxRequest}, 4096)
}

type limitReader struct {
	r io.Reader
	n int
}

var errRequestTooLarge = errors.New("request headers over " + strconv.Itoa(MaxRequest) + " bytes")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errRequestTooLarge
	}
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= n
	return n, err
}

// Buffered is what br read past the request: the client's first frames.
func Buffered(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return b
}

// Accept reads an upgrade request from br and answers it on w: 101
// Switching Protocols, or an HTTP error (then the error is a
// *HandshakeError, or the read error when no request came).
func Accept(br *bufio.Reader, w io.Writer, p *Policy) (*Upgrade, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		if errors.Is(err, io.EOF) || isTimeout(err) {
			return nil, err // nothing (or nothing more) came: nothing to answer
		}
		he := &HandshakeError{Status: http.StatusBadRequest, Reason: "malformed HTTP request: " + err.Error(), NotWebSocket: true}
		writeError(w, he)
		return nil, he
	}
	up, he := check(req, p)
	if he != nil {
		writeError(w, he)
		return nil, he
	}
	var b strings.Builder
	b.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ")
	b.WriteString(acceptKey(req.Header.Get("Sec-Websocket-Key")))
	b.WriteString("\r\n")
	if up.Compress {
		b.WriteString("Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover\r\n")
	}
	for _, h := range p.Headers {
		b.WriteString(h[0] + ": " + h[1] + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return nil, err
	}
	return up, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// check decides on a request, in nats-server's order (recorded): the
// method, the Upgrade and Connection headers, the key, the version, then
// the origin.
func check(req *http.Request, p *Policy) (*Upgrade, *HandshakeError) {
	bad := func(reason string) *HandshakeError {
		return &HandshakeError{Status: http.StatusBadRequest, Reason: reason}
	}
	wantsWS := headerHas(req.Header, "Upgrade", "websocket")
	switch {
	case req.Method != http.MethodGet:
		return nil, &HandshakeError{Status: http.StatusMethodNotAllowed, Reason: "request method must be GET", NotWebSocket: !wantsWS}
	case req.ProtoAtLeast(1, 1) && req.Host == "":
		return nil, &HandshakeError{Status: http.StatusBadRequest, Reason: "missing required Host header", NotWebSocket: !wantsWS}
	case !wantsWS:
		he := bad("invalid value for header 'Upgrade'")
		he.NotWebSocket = true
		return nil, he
	case !headerHas(req.Header, "Connection", "upgrade"):
		return nil, bad("invalid value for header 'Connection'")
	case req.Header.Get("Sec-Websocket-Key") == "":
		return nil, bad("key missing")
	case req.Header.Get("Sec-Websocket-Version") != "13":
		return nil, bad("invalid version")
	}
	if reason := p.checkOrigin(req); reason != "" {
		return nil, &HandshakeError{Status: http.StatusForbidden, Reason: "origin not allowed: " + reason}
	}
	return &Upgrade{Compress: p.Compression && offersDeflate(req.Header), Request: req}, nil
}

// checkOrigin applies same_origin and allowed_origins to the request's
// first Origin header; a request without one (not from a browser) passes.
// It returns why the origin is refused, or "".
func (p *Policy) checkOrigin(req *http.Request) string {
	raw := req.Header.Get("Origin")
	if raw == "" || !p.SameOrigin && len(p.AllowedOrigins) == 0 {
		return ""
	}
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		return err.Error()
	}
	o := originOf(u.Scheme, u.Host)
	if p.SameOrigin {
		scheme := "http"
		if p.Secure {
			scheme = "https"
		}
		if o != originOf(scheme, req.Host) {
			return "not same origin"
		}
	}
	if len(p.AllowedOrigins) > 0 {
		for _, a := range p.AllowedOrigins {
			if o == a {
				return ""
			}
		}
		return "not in the allowed list"
	}
	return ""
}

// offersDeflate reports whether one of the client's offers is
// permessage-deflate with parameters natsd can honour: a server window
// smaller than 2^15 cannot be (the standard library's deflater always uses
// 32 KiB), so such an offer is declined.
func offersDeflate(h http.Header) bool {
	for _, v := range h.Values("Sec-Websocket-Extensions") {
		for offer := range strings.SplitSeq(v, ",") {
			params := strings.Split(offer, ";")
			if !strings.EqualFold(strings.TrimSpace(params[0]), "permessage-deflate") {
				continue
			}
			ok := true
			for _, prm := range params[1:] {
				k, val, _ := strings.Cut(strings.TrimSpace(prm), "=")
				if strings.EqualFold(strings.TrimSpace(k), "server_max_window_bits") {
					bits, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
					ok = ok && err == nil && bits >= 15
				}
			}
			if ok {
				return true
			}
		}
	}
	return false
}

// headerHas reports whether a comma-separated header lists token (in any
// case).
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// acceptKey is Sec-WebSocket-Accept for a client's key (RFC 6455 §4.2.2).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// writeError answers a refused request; the connection is closed after.
func writeError(w io.Writer, e *HandshakeError) {
	text := http.StatusText(e.Status)
	body := text + ": " + e.Reason + "\n"
	_, _ = io.WriteString(w, "HTTP/1.1 "+strconv.Itoa(e.Status)+" "+text+"\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"Sec-WebSocket-Version: 13\r\n"+
		"Connection: close\r\n"+
		"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
}
