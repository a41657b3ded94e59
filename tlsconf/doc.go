// Package tlsconf is natsd's TLS: what a tls { } block means, the
// certificates it names, and the *tls.Config each side of natsd builds from
// them.
//
//   - Options is one tls { } block with nats-server's meaning and defaults
//     (its keys are read by the daemon, which knows positions; the names and
//     values they accept are checked here: CipherSuiteByName, CurveByName,
//     ParseVersion, ParsePin, ParseHandshakeFirst).
//   - Store holds the certificate pairs and the CA pool loaded from the
//     files Options names, and reloads them: Reload re-reads every file and
//     swaps the whole set at once, or refuses a broken or mismatched set
//     with a *FileError naming the file, keeping the previous one serving.
//     Every config built from a Store reads the current set on each
//     handshake, so new connections get new certificates while established
//     ones keep the session they have.
//   - ServerConfig (client listener), MonitorConfig (HTTPS monitoring),
//     RouteListenerConfig and RouteDialConfig (routes) build the configs.
//   - UserMapper maps a verified client certificate to a user name the way
//     nats-server does for verify_and_map.
//   - Conn is a TLS session as natsd's connections use it: Handshake bounded
//     by a timeout, Close that closes the socket without waiting on the
//     peer, WriteBuffers that writes a batch of chunks in few writes.
//
// Where nats-server's behaviour was not documented it was recorded by
// running nats-server v2.15.2; the tests name the cases. The package uses
// the standard library only and logs nothing: callers log the errors it
// returns.
package tlsconf
