package server

import (
	"time"

	"github.com/natsd/natsd/tlsconf"
)

// Defaults, as nats-server's (protocol notes §3.3); where the docs disagree
// with the server, the server wins.
const (
	DefaultPort           = 4222
	DefaultHost           = "0.0.0.0"
	DefaultMaxPayload     = 1 << 20
	DefaultMaxConnections = 64 * 1024
	DefaultMaxControlLine = 4096
	DefaultMaxPending     = 64 << 20
	DefaultPingInterval   = 2 * time.Minute
	DefaultPingMax        = 2
	DefaultWriteDeadline  = 10 * time.Second
	DefaultAuthTimeout    = 2 * time.Second
	DefaultLameDuck       = 2 * time.Minute
	DefaultLameDuckGrace  = 10 * time.Second

	// DefaultSystemAccount is the system account's name when none is
	// configured (nats-server makes it too).
	DefaultSystemAccount = "$SYS"

	// RandomPort asks for any free port (-1 in flags and config, as nats-server).
	RandomPort = -1

	// firstPingMax caps the delay of the first keepalive PING after accept.
	firstPingMax = 2 * time.Second
)

// Options is everything the client side of the server runs with. The daemon
// builds it from the config file and flags; a reload builds a new one and the
// server applies the difference (see Apply).
type Options struct {
	ServerName string

	// Client listener.
	Host            string
	Port            int
	ClientAdvertise string // host:port announced in INFO and connect_urls

	// Limits.
	MaxConnections int // 0 means the default; <0 rejects every client (max_connections: 0 in a config file)
	MaxPayload     int
	MaxControlLine int
	MaxPending     int64
	MaxSubs        int // 0 = unlimited
	PingInterval   time.Duration
	PingMax        int
	WriteDeadline  time.Duration

	NoHeaderSupport bool

	// TLS is the top-level tls block (nil: no TLS): the client listener's
	// TLS and INFO's tls_required/tls_verify. AllowNonTLS (allow_non_tls)
	// makes TLS optional for clients: INFO says tls_available instead of
	// tls_required.
	TLS         *tlsconf.Options
	AllowNonTLS bool

	// WebSocket is the websocket { } block (nil: none).
	WebSocket *WebSocketOptions

	Auth AuthOptions

	// Accounts are the accounts block ($G, the global account, always
	// exists besides them).
	Accounts []*AccountConfig
	// SystemAccount names the system account (system_account); when it is
	// not one of Accounts it is made, empty. Default "$SYS".
	SystemAccount string

	LameDuckDuration    time.Duration
	LameDuckGracePeriod time.Duration
}

// AuthOptions is the authorization block: one user, a token, or a list of
// users with permissions. At most one of the three is set (the daemon checks).
type AuthOptions struct {
	Username string
	Password string // plain text or a bcrypt hash ("$2a$…")
	Token    string // plain text or a bcrypt hash
	Users    []*User
	// Timeout is how long a client has to send CONNECT when auth is required.
	Timeout time.Duration
	// NoAuthUser names a user from Users (by name or nkey) that clients
	// sending no credentials are authenticated as.
	NoAuthUser string
	// External authenticates the clients the options above do not know:
	// operator mode's user JWTs (package jwtauth). nil: none.
	External Authenticator
	// Callout is auth_callout (nil: none): a service decides the clients
	// it handles (see Callout).
	Callout *Callout
}

// Required reports whether clients must send credentials: INFO's
// auth_required. With no_auth_user a client may connect without them (it
// becomes that user), so INFO leaves auth_required out, as nats-server does.
func (a *AuthOptions) Required() bool {
	return a.Username != "" || a.Token != "" || (len(a.Users) > 0 && a.NoAuthUser == "") || a.External != nil
}

// Configured reports whether any authorization is configured: then every
// client must send CONNECT within the auth timeout, also when no_auth_user
// lets it connect without credentials. An auth callout counts, though it
// alone does not make INFO say auth_required (nats-server v2.15.2 leaves it
// out then, recorded): its service may admit clients without credentials.
func (a *AuthOptions) Configured() bool {
	return a.Username != "" || a.Token != "" || len(a.Users) > 0 || a.External != nil || a.Callout != nil
}

// nonceRequired reports whether clients are sent a nonce to sign: some
// user has an nkey, or operator mode is on (nats-server sends one then, to
// every client).
func (a *AuthOptions) nonceRequired() bool {
	if a.External != nil {
		return true
	}
	for _, u := range a.Users {
		if u.Nkey != "" {
			return true
		}
	}
	return false
}

// noAuthUser is the user a client without credentials is authenticated as
// (no_auth_user), or nil.
func (a *AuthOptions) noAuthUser() *User {
	if a.NoAuthUser == "" {
		return nil
	}
	for _, u := range a.Users {
		if u.Name() == a.NoAuthUser {
			return u
		}
	}
	return nil
}

// User is one entry of authorization.users or of an account's users: a
// name and password, or an nkey (a public user key, "U…"), whose clients
// prove they hold its seed by signing the nonce of their INFO.
type User struct {
	Username    string
	Password    string
	Nkey        string
	Permissions *Permissions
	// Account is the account the user's clients are bound to ("": $G).
	Account string
}

// Name is how the user is known: its name, or its nkey.
func (u *User) Name() string {
	if u.Nkey != "" {
		return u.Nkey
	}
	return u.Username
}

// Permissions limit what a user may publish and subscribe to.
type Permissions struct {
	Publish   *SubjectPermission
	Subscribe *SubjectPermission
	// Response, when set, lets the user publish to the reply subject of a
	// request it received, whatever Publish says (allow_responses).
	Response *ResponsePermission
}

// SubjectPermission is an allow and a deny list of subjects; for Subscribe an
// entry may be "subject queue", permitting only that queue group.
type SubjectPermission struct {
	Allow []string
	Deny  []string
}

// ResponsePermission bounds allow_responses: how many replies per request
// and for how long.
type ResponsePermission struct {
	MaxMsgs int // UnlimitedResponses (any negative): no limit, as in nats-server
	Expires time.Duration
}

// Default allow_responses bounds (nats-server's).
const (
	DefaultResponseMaxMsgs = 1
	// UnlimitedResponses is allow_responses { max: -1 }: nats-server
	// v2.15.2 lets such a responder send any number of replies.
	UnlimitedResponses     = -1
	DefaultResponseExpires = 2 * time.Minute
)

// WithDefaults returns a copy of o with every unset field given its default.
func (o Options) WithDefaults() Options {
	if o.SystemAccount == "" {
		o.SystemAccount = DefaultSystemAccount
	}
	if o.Host == "" {
		o.Host = DefaultHost
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxPayload == 0 {
		o.MaxPayload = DefaultMaxPayload
	}
	if o.MaxControlLine == 0 {
		o.MaxControlLine = DefaultMaxControlLine
	}
	if o.MaxPending == 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.PingInterval == 0 {
		o.PingInterval = DefaultPingInterval
	}
	if o.PingMax == 0 {
		o.PingMax = DefaultPingMax
	}
	if o.WriteDeadline == 0 {
		o.WriteDeadline = DefaultWriteDeadline
	}
	if o.Auth.Timeout == 0 {
		o.Auth.Timeout = DefaultAuthTimeout
	}
	if o.LameDuckDuration == 0 {
		o.LameDuckDuration = DefaultLameDuck
	}
	if o.LameDuckGracePeriod == 0 {
		o.LameDuckGracePeriod = DefaultLameDuckGrace
	}
	return o
}
