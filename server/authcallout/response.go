package authcallout

import (
	"bytes"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/jwtauth"
)

// The checks of a response, in nats-server's order; the errors are its
// texts (recorded from its log) for the same faults. The client is told
// none of them: every refusal is Authorization Violation.

// verifier checks responses for one server. It is separate from the
// Callout so that it is fuzzed without a server.
type verifier struct {
	issuer   string        // the configured issuer
	serverID string        // responses are for this server
	account  string        // the service's account, for messages
	xkp      nkeys.KeyPair // the server's curve key; nil: no xkey
	xkey     string        // the service's curve public key
}

func (c *Callout) verifier() *verifier {
	v := &verifier{issuer: c.opts.Issuer, serverID: c.srv.ID(), account: c.accountName()}
	if c.opts.XKey != "" {
		v.xkp, v.xkey = c.srv.XKey(), c.opts.XKey
	}
	return v
}

// decode checks a response for userPub and returns the user JWT's claims
// it carries: signed by the issuer (or sealed by the service's xkey: the
// seal vouches for it then, as in nats-server, recorded), for userPub and
// this server, in force, without an error. The user JWT's signature is
// checked here; who signed it, its audience and its limits are admit's.
func (v *verifier) decode(msg []byte, userPub string) (*jwt.UserClaims, error) {
	if len(msg) == 0 {
		return nil, fmt.Errorf("auth callout violation: %q on account %q", "no reason supplied", v.account)
	}
	sealed := false
	if v.xkp != nil && !bytes.HasPrefix(msg, []byte("eyJ")) {
		var err error
		if msg, err = v.xkp.Open(msg, v.xkey); err != nil {
			return nil, fmt.Errorf("error decrypting auth callout response on account %q: %v", v.account, err)
		}
		sealed = true
	}
	cr, err := jwt.DecodeAuthorizationResponseClaims(string(msg))
	if err != nil {
		return nil, err
	}
	vr := jwt.CreateValidationResults()
	cr.Validate(vr)
	if len(vr.Issues) > 0 {
		return nil, fmt.Errorf("authorization response had validation errors: %v", vr.Issues[0])
	}
	switch {
	case cr.Subject != userPub:
		return nil, errors.New("auth callout violation: auth callout response is not for expected user")
	case cr.Audience != v.serverID:
		return nil, errors.New("auth callout violation: auth callout response is not for server")
	case !sealed && cr.Issuer != v.issuer:
		return nil, errors.New("auth callout signing key is unknown")
	case cr.Error != "":
		return nil, fmt.Errorf("auth callout service returned an error: %v", cr.Error)
	}
	return jwt.DecodeUserClaims(cr.Jwt)
}

// userAccount checks who signed the user JWT and returns the account it
// places the user in: its audience (config mode has no issuer_account).
func (v *verifier) userAccount(uc *jwt.UserClaims, userPub string) (string, error) {
	vr := jwt.CreateValidationResults()
	uc.Validate(vr)
	switch {
	case len(vr.Issues) > 0:
		return "", fmt.Errorf("error validating user JWT: %v", vr.Issues[0])
	case uc.Subject != userPub:
		return "", fmt.Errorf("expected authorized user of %q but got %q on account %q", userPub, uc.Subject, v.account)
	case uc.IssuerAccount != "":
		return "", fmt.Errorf("error non operator mode account %q: attempted to use issuer_account", v.account)
	case uc.Issuer != v.issuer:
		return "", fmt.Errorf("wrong issuer for auth callout response on account %q, expected %q got %q", v.account, v.issuer, uc.Issuer)
	}
	return uc.Audience, nil
}

// admit turns a response into the client's identity: the account the user
// JWT names, its permissions (a user placed in the service's own account
// may not publish requests: nats-server adds that deny, recorded), its
// allowed times and connection types (its src networks, bearer flag and
// limits are not applied, as nats-server does not, recorded), its expiry,
// and its name for monitoring (else the client's own user or nkey).
func (c *Callout) admit(msg []byte, userPub string, cr *server.Credentials) (*server.Identity, error) {
	v := c.verifier()
	uc, err := v.decode(msg, userPub)
	if err != nil {
		return nil, err
	}
	placement, err := v.userAccount(uc, userPub)
	if err != nil {
		return nil, err
	}
	acc := c.srv.LookupAccount(placement)
	if acc == nil {
		return nil, fmt.Errorf("no valid account %q for auth callout response on account %q: account missing", placement, v.account)
	}
	if err := jwtauth.CheckTimes(&uc.UserPermissionLimits, time.Now()); err != nil {
		return nil, fmt.Errorf("authorized user on account %q outside of valid connect times", v.account)
	}
	if err := jwtauth.CheckConnectionType(&uc.UserPermissionLimits, cr.ConnectionType); err != nil {
		return nil, fmt.Errorf("authorized user on account %q not allowed to use connection type", v.account)
	}
	perms := jwtauth.UserPermissions(&uc.Permissions, &jwt.Permissions{})
	if acc.Name == c.accountName() {
		perms = denyPublish(perms, server.CalloutSubject)
	}
	name := uc.Name
	if name == "" {
		name = rawUser(cr)
	}
	id := &server.Identity{Account: acc, User: &server.User{Username: name, Account: acc.Name, Permissions: perms}}
	if uc.Expires > 0 {
		id.Expires = time.Unix(uc.Expires, 0)
	}
	return id, nil
}

// denyPublish is p with subject denied for publishing.
func denyPublish(p *server.Permissions, subject string) *server.Permissions {
	out := &server.Permissions{}
	if p != nil {
		*out = *p
	}
	pub := &server.SubjectPermission{}
	if out.Publish != nil {
		*pub = *out.Publish
	}
	pub.Deny = append(append([]string(nil), pub.Deny...), subject)
	out.Publish = pub
	return out
}
