// Package authcallout is the auth callout (authorization { auth_callout }),
// as nats-server v2.15.2 does it: the server hands a client's CONNECT to a
// service and admits or refuses the client from the service's signed
// answer.
//
// For each client the server hands it (server.Callout says which), the
// callout makes a fresh user nkey, publishes a request JWT signed by the
// server's own key (its id) on $SYS.REQ.USER.AUTH in the service's account,
// with a reply inbox of its own, and waits — on that client's reader only,
// at most the auth timeout — for the response: an authorization response
// JWT signed by the configured issuer, for that user nkey and this server,
// carrying either an error or a user JWT (signed by the issuer) whose
// audience names the account the client goes to and whose permissions and
// expiry it gets. With an xkey the request is sealed for the service's
// curve key (the server's own in the Nats-Server-Xkey header), and the
// response may come sealed back (then the seal vouches for it) or in the
// clear. Everything else refuses the client with Authorization Violation;
// why is logged.
//
// Config mode only: operator mode's callout (an account JWT with an
// authorization block) is not served. The package depends on the server
// through Server, a small interface, and implements server.Authenticator;
// one internal subscription per callout receives the responses, and
// nothing here is on the message path.
package authcallout
