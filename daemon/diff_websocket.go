package daemon

import (
	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/tlsconf"
)

// The diff rules of the websocket { } block. nats-server refuses every
// change to it on a reload but the certificates' (recorded); natsd applies
// them all:
//
//   - host and port (and the block appearing or going) move the WebSocket
//     listener as the client port moves: the new one serves before the old
//     one closes, and upgraded clients stay;
//   - tls { } and no_tls make a new certificate store and apply to new
//     connections;
//   - the rest reaches the server with the new options: origins,
//     compression, headers and the handshake timeout apply to the next
//     upgrade, advertise to the next INFO; the block's authorization,
//     no_auth_user and cookies make every WebSocket client be checked
//     again, as the top-level authorization does.
func init() {
	ws := func(o *Options) *server.WebSocketOptions {
		if o.Server.WebSocket == nil {
			return &server.WebSocketOptions{}
		}
		return o.Server.WebSocket
	}
	key := func(name, field string, sec section, secret bool, get func(w *server.WebSocketOptions) any) rule {
		return rule{"websocket." + name, "Server.WebSocket." + field, secret, sec, func(o *Options) any { return get(ws(o)) }}
	}
	rules = append(rules,
		rule{"websocket", "Server.WebSocket!enabled", false, secWebSocketListener, func(o *Options) any { return o.Server.WebSocket.Enabled() }},
		key("host", "Host", secWebSocketListener, false, func(w *server.WebSocketOptions) any { return w.Host }),
		key("port", "Port", secWebSocketListener, false, func(w *server.WebSocketOptions) any { return w.Port }),
		key("no_tls", "NoTLS", secWebSocketTLS, false, func(w *server.WebSocketOptions) any { return w.NoTLS }),
		key("advertise", "Advertise", secServer, false, func(w *server.WebSocketOptions) any { return w.Advertise }),
		key("compression", "Compression", secServer, false, func(w *server.WebSocketOptions) any { return w.Compression }),
		key("same_origin", "SameOrigin", secServer, false, func(w *server.WebSocketOptions) any { return w.SameOrigin }),
		key("allowed_origins", "AllowedOrigins", secServer, false, func(w *server.WebSocketOptions) any { return w.AllowedOrigins }),
		key("handshake_timeout", "HandshakeTimeout", secServer, false, func(w *server.WebSocketOptions) any { return w.HandshakeTimeout }),
		key("jwt_cookie", "JWTCookie", secServer, false, func(w *server.WebSocketOptions) any { return w.JWTCookie }),
		key("user_cookie", "UserCookie", secServer, false, func(w *server.WebSocketOptions) any { return w.UserCookie }),
		key("pass_cookie", "PassCookie", secServer, false, func(w *server.WebSocketOptions) any { return w.PassCookie }),
		key("token_cookie", "TokenCookie", secServer, false, func(w *server.WebSocketOptions) any { return w.TokenCookie }),
		key("no_auth_user", "NoAuthUser", secServer, false, func(w *server.WebSocketOptions) any { return w.NoAuthUser }),
		key("authorization.user", "Username", secServer, false, func(w *server.WebSocketOptions) any { return w.Username }),
		key("authorization.password", "Password", secServer, true, func(w *server.WebSocketOptions) any { return w.Password }),
		key("authorization.token", "Token", secServer, true, func(w *server.WebSocketOptions) any { return w.Token }),
		key("authorization.timeout", "AuthTimeout", secServer, false, func(w *server.WebSocketOptions) any { return w.AuthTimeout }),
		key("headers", "Headers", secServer, false, func(w *server.WebSocketOptions) any { return w.Headers }),
		key("ping_interval", "PingInterval", secServer, false, func(w *server.WebSocketOptions) any { return w.PingInterval }),
	)
	rules = append(rules, tlsRules("websocket.tls", "Server.WebSocket.TLS", secWebSocketTLS, func(o *Options) *tlsconf.Options { return ws(o).TLS })...)
	clientAuthOptions = append(clientAuthOptions, "websocket.no_auth_user", "websocket.authorization.user",
		"websocket.authorization.password", "websocket.authorization.token", "websocket.user_cookie",
		"websocket.pass_cookie", "websocket.token_cookie", "websocket.jwt_cookie")
}
