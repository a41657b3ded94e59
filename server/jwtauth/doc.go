// Package jwtauth is operator mode: decentralized authentication with
// operator, account and user JWTs (github.com/nats-io/jwt/v2), as
// nats-server does it.
//
// An operator JWT (the config's operator) names the keys that may sign
// accounts. Account JWTs come from a resolver — MEMORY (resolver_preload),
// or a directory, full or cache — and become server accounts: their limits,
// exports, imports and mappings an AccountConfig (server.UpdateAccounts).
// A client logs in with a user JWT signed by its account (or one of the
// account's signing keys) and the nonce of its INFO signed with the user's
// seed; the user's permissions, expiry, bearer flag, allowed connection
// types, source networks and times are checked here, at CONNECT, and the
// server binds the client (server.Authenticator).
//
// Account JWTs pushed to the system account on
// $SYS.REQ.ACCOUNT.<account>.CLAIMS.UPDATE (and $SYS.REQ.CLAIMS.UPDATE for
// directory resolvers) are stored and applied live: limits, exports and
// imports change, revoked users are disconnected. This is the only system
// account service here (sysupdate.go), built on the server's internal
// subscriptions; the rest of $SYS is the system account's own package.
//
// The package depends on the server through Server, a small interface, and
// server.Authenticator, which it implements; nothing here runs on the
// message path.
package jwtauth
