package daemon

import (
	"net"
	"strings"
	"time"

	"github.com/natsd/natsd/confparse"
	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/websocket"
)

// The websocket { } block (alias ws), read as nats-server v2.15.2 reads it:
// what it accepts and refuses was recorded with `nats-server -t -c` and by
// starting it, and the cases are golden files (testdata/options/ws_*.conf).
// Where nats-server accepts a value at -t and then fails to start (no TLS
// and no no_tls, an allowed origin that is not a URL, no_auth_user naming
// no user, jwt_cookie outside operator mode, a port over 65535), natsd
// refuses it at -t, at the value at fault. An unknown key is an error, as
// in nats-server: a misspelt same_origin must not leave browsers of every
// origin in.

// websocket reads the block.
func (b *builder) websocket(e *confparse.Entry, o *Options) {
	n, ok := b.block(e, "websocket")
	if !ok {
		return
	}
	b.pos["websocket"] = e.KeyPos
	w := &server.WebSocketOptions{}
	for _, e := range n.Entries {
		key := strings.ToLower(e.Key)
		p := "websocket." + key
		b.pos[p] = e.KeyPos
		switch key {
		case "host", "net":
			w.Host, _ = b.str(e, p)
		case "port":
			w.Port, _ = b.port(e, p)
		case "listen":
			b.listen(e, p, &w.Host, &w.Port)
		case "advertise":
			if v, ok := b.str(e, p); ok {
				if strings.Contains(v, ":") {
					if _, _, err := net.SplitHostPort(v); err != nil {
						// nats-server fails to start: "Unable to get
						// websocket connect URLs".
						b.errorf(e.Value.Pos, p, "expected host:port or a host, found %q: %v", v, err)
						continue
					}
				}
				w.Advertise = v
			}
		case "no_tls":
			w.NoTLS, _ = b.boolean(e, p)
		case "tls":
			w.TLS = b.tlsBlock(e, p, false)
			b.wsTLSKeys(e, p)
		case "compression":
			w.Compression, _ = b.boolean(e, p)
		case "same_origin":
			w.SameOrigin, _ = b.boolean(e, p)
		case "allowed_origins":
			list, ok := b.stringList(e, p)
			if !ok {
				continue
			}
			nodes := stringNodes(e.Value)
			for i, s := range list {
				if _, err := websocket.ParseOrigin(s); err != nil {
					b.errorf(nodes[i].Pos, p, "unable to parse allowed origin %q: %v", s, err)
					continue
				}
				w.AllowedOrigins = append(w.AllowedOrigins, s)
			}
		case "handshake_timeout":
			w.HandshakeTimeout = b.wsHandshakeTimeout(e, p)
		case "jwt_cookie":
			w.JWTCookie, _ = b.str(e, p)
		case "user_cookie":
			w.UserCookie, _ = b.str(e, p)
		case "pass_cookie":
			w.PassCookie, _ = b.str(e, p)
		case "token_cookie":
			w.TokenCookie, _ = b.str(e, p)
		case "username_cookie", "password_cookie":
			b.errorf(e.KeyPos, p, "unknown field: the cookies are jwt_cookie, user_cookie, pass_cookie and token_cookie (nats-server refuses it too)")
		case "no_auth_user":
			w.NoAuthUser, _ = b.str(e, p)
		case "authorization":
			if an, ok := b.block(e, p); ok {
				b.wsAuthorization(an, w)
			}
		case "headers":
			b.wsHeaders(e, p, w)
		case "ping_interval":
			w.PingInterval, _ = b.duration(e, p)
		default:
			b.errorf(e.KeyPos, p, "unknown field (nats-server refuses it too)")
		}
	}
	o.Server.WebSocket = w
}

// wsTLSKeys warns about the tls keys that mean nothing for WebSocket.
func (b *builder) wsTLSKeys(e *confparse.Entry, path string) {
	if e.Value.Kind != confparse.Map {
		return
	}
	for _, te := range e.Value.Entries {
		switch k := strings.ToLower(te.Key); k {
		case "handshake_first", "first", "immediate":
			b.warnf(te.KeyPos, path+"."+k, "does nothing for WebSocket: the TLS handshake always comes first on wss")
		case "verify_and_map":
			b.warnf(te.KeyPos, path+"."+k, "natsd does not map WebSocket clients' certificates to users yet: they authenticate with what they send (the certificate is still verified)")
		}
	}
}

// wsAuthorization reads websocket.authorization: a user and password, or a
// token, and a timeout; nothing else (nats-server refuses users, nkeys and
// permissions here).
func (b *builder) wsAuthorization(n *confparse.Node, w *server.WebSocketOptions) {
	for _, e := range n.Entries {
		key := strings.ToLower(e.Key)
		p := "websocket.authorization." + key
		b.pos[p] = e.KeyPos
		switch key {
		case "user", "username":
			w.Username, _ = b.str(e, p)
		case "password", "pass":
			w.Password, _ = b.str(e, p)
		case "token":
			w.Token, _ = b.str(e, p)
		case "timeout":
			if d, ok := b.authTimeout(e, p); ok {
				w.AuthTimeout = d
			}
		default:
			b.errorf(e.KeyPos, p, "unknown field: websocket.authorization takes user, password, token and timeout (nats-server refuses it too)")
		}
	}
	if w.Token != "" && (w.Username != "" || w.Password != "") {
		b.warnf(b.at("websocket.authorization.token"), "websocket.authorization", "token and user/password: the token decides, user and password are ignored (as with nats-server)")
	}
}

// wsHeaders reads websocket.headers { Name: "value" }: headers added to
// every upgrade response.
func (b *builder) wsHeaders(e *confparse.Entry, path string, w *server.WebSocketOptions) {
	n, ok := b.block(e, path)
	if !ok {
		return
	}
	for _, he := range n.Entries {
		p := path + "." + he.Key
		v, ok := b.str(he, p)
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(strings.ToLower(he.Key), "sec-websocket-"):
			// nats-server's refusal (recorded).
			b.errorf(he.KeyPos, p, "invalid header %q: \"Sec-WebSocket-\" prefix not allowed", he.Key)
		case !validHeaderName(he.Key):
			b.errorf(he.KeyPos, p, "invalid header name %q", he.Key)
		case strings.ContainsAny(v, "\r\n"):
			b.errorf(he.Value.Pos, p, "a header value cannot contain a line break")
		default:
			w.Headers = append(w.Headers, [2]string{he.Key, v})
		}
	}
}

// validHeaderName: an HTTP token (RFC 9110 §5.1).
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// validateWebSocket checks what no key of the block can alone, as
// nats-server does when it starts (recorded texts, at the option at fault).
func (b *builder) validateWebSocket(o *Options) {
	w := o.Server.WebSocket
	if w == nil {
		return
	}
	if w.Port == 0 {
		_, port := b.pos["websocket.port"]
		_, listen := b.pos["websocket.listen"]
		if !port && !listen {
			b.warnf(b.at("websocket"), "websocket", "no port (port or listen): no WebSocket listener, the block is ignored (as with nats-server)")
		}
		return
	}
	switch {
	case w.TLS == nil && !w.NoTLS:
		b.errorf(b.at("websocket"), "websocket", "websocket requires TLS configuration: a tls { } block, or no_tls: true for a test environment")
	case w.TLS != nil && w.NoTLS:
		b.warnf(b.at("websocket.no_tls"), "websocket.no_tls", "ignored: the block has tls { }, so clients connect with wss:// (as with nats-server)")
		w.NoTLS = false
	}
	top := &o.Server.Auth
	if len(top.Users) > 0 {
		// nats-server's texts (recorded).
		if w.Username != "" {
			b.errorf(b.at("websocket.authorization.user"), "websocket.authorization.user", "websocket authentication username not compatible with presence of users/nkeys")
		}
		if w.Token != "" {
			b.errorf(b.at("websocket.authorization.token"), "websocket.authorization.token", "websocket authentication token not compatible with presence of users/nkeys")
		}
	}
	if o.Operator != nil && (w.Username != "" || w.Token != "") {
		b.errorf(b.at("websocket.authorization"), "websocket.authorization", "operators do not allow users to be configured directly")
	}
	if w.NoAuthUser != "" {
		found := false
		for _, u := range top.Users {
			found = found || u.Name() == w.NoAuthUser
		}
		switch {
		case len(top.Users) == 0:
			b.errorf(b.at("websocket.no_auth_user"), "websocket.no_auth_user", "%q present, but users/nkeys are not defined", w.NoAuthUser)
		case !found:
			b.errorf(b.at("websocket.no_auth_user"), "websocket.no_auth_user", "%q not present as user or nkey in authorization block or account configuration", w.NoAuthUser)
		}
	}
	if w.JWTCookie != "" && o.Operator == nil {
		b.errorf(b.at("websocket.jwt_cookie"), "websocket.jwt_cookie", "trusted operators or trusted keys configuration is required for JWT authentication via cookie %q", w.JWTCookie)
	}
	if w.Host == "" {
		w.Host = server.DefaultHost
	}
	if w.NoTLS {
		b.warnf(b.at("websocket.no_tls"), "websocket.no_tls", "WebSocket clients connect without TLS (ws://): do not use in production")
	}
}

// wsHandshakeTimeout reads handshake_timeout: a duration, or seconds. A
// negative one is accepted, as by nats-server, and the default applies.
func (b *builder) wsHandshakeTimeout(e *confparse.Entry, path string) time.Duration {
	if e.Value.Kind == confparse.String {
		if d, err := time.ParseDuration(e.Value.Str); err == nil && d < 0 {
			b.warnf(e.Value.Pos, path, "%q is negative: the default %v applies", e.Value.Str, server.DefaultWebSocketHandshakeTimeout)
			return 0
		}
	}
	if e.Value.Kind == confparse.Int && e.Value.Int < 0 {
		b.warnf(e.Value.Pos, path, "%s is negative: the default %v applies", e.Value.Raw, server.DefaultWebSocketHandshakeTimeout)
		return 0
	}
	if e.Value.Kind == confparse.Float {
		// nats-server refuses it: "error parsing handshake timeout:
		// unsupported type float64" (recorded).
		b.wrongType(e, path, `a duration such as "2s"`)
		return 0
	}
	d, _ := b.duration(e, path)
	return d
}
