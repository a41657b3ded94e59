package jwtauth

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/natsd/natsd/server"
)

// userTag is what a client authenticated here carries (server.Identity.Tag),
// to be found again when its account revokes users.
type userTag struct {
	pub    string // the user's public key
	issuer string // the key that signed the user JWT
	iat    int64  // when the user JWT was issued
}

// Authenticate checks a CONNECT in operator mode: a user JWT signed by its
// account or one of the account's signing keys, the account trusted and
// in force, the user not revoked, the nonce signed with the user's key
// (unless the JWT is a bearer token), and the user's limits on how and
// where it connects. Every refusal is -ERR 'Authorization Violation' for
// the client, as nats-server sends (recorded); the error says why, for the
// log.
func (a *Auth) Authenticate(cr *server.Credentials) (*server.Identity, error) {
	if cr.JWT == "" {
		return nil, errors.New("operator mode: no user JWT")
	}
	uc, err := jwt.DecodeUserClaims(cr.JWT)
	if err != nil {
		return nil, fmt.Errorf("user JWT: %v", err)
	}
	vr := jwt.CreateValidationResults()
	uc.Validate(vr)
	if vr.IsBlocking(true) {
		return nil, fmt.Errorf("user JWT not valid: %v", errors.Join(vr.Errors()...))
	}
	accPub := uc.Issuer
	if uc.IssuerAccount != "" {
		accPub = uc.IssuerAccount
	}
	if !nkeys.IsValidPublicAccountKey(accPub) {
		return nil, errors.New("user JWT not issued by an account")
	}
	acc, err := a.account(accPub)
	if err != nil {
		return nil, fmt.Errorf("account %s: %v", accPub, err)
	}
	ac := a.claims(accPub)
	if ac == nil || acc == nil {
		return nil, fmt.Errorf("account %s: %v", accPub, errAccountMissing)
	}
	if ac.Expires > 0 && time.Now().Unix() >= ac.Expires {
		return nil, fmt.Errorf("account %s expired", accPub)
	}
	limits := uc.UserPermissionLimits
	if uc.Issuer != accPub {
		if !ac.SigningKeys.Contains(uc.Issuer) {
			return nil, fmt.Errorf("user JWT signed by %s, not a signing key of account %s", uc.Issuer, accPub)
		}
		if scope, ok := ac.SigningKeys.GetScope(uc.Issuer); ok && scope != nil {
			if err := scope.ValidateScopedSigner(uc); err != nil {
				return nil, err
			}
			if us, ok := scope.(*jwt.UserScope); ok {
				limits = us.Template // a scoped key's users get its template
			}
		}
	}
	if ac.IsClaimRevoked(uc) {
		return nil, errors.New("user revoked")
	}
	if limits.BearerToken {
		if ac.Limits.DisallowBearer {
			return nil, errors.New("bearer tokens are not allowed in the account")
		}
	} else if !server.VerifyNonceSignature(uc.Subject, cr.Sig, cr.Nonce) {
		return nil, errors.New("signature does not verify against the nonce")
	}
	if err := checkConnection(&limits, cr, time.Now()); err != nil {
		return nil, err
	}
	u := &server.User{Nkey: uc.Subject, Account: acc.Name, Permissions: UserPermissions(&limits.Permissions, &ac.DefaultPermissions)}
	id := &server.Identity{Account: acc, User: u, Tag: &userTag{pub: uc.Subject, issuer: uc.Issuer, iat: uc.IssuedAt}}
	if uc.Expires > 0 {
		id.Expires = time.Unix(uc.Expires, 0)
	}
	return id, nil
}

// checkConnection applies the user's limits on how, from where and when
// it connects.
func checkConnection(l *jwt.UserPermissionLimits, cr *server.Credentials, now time.Time) error {
	if err := CheckConnectionType(l, cr.ConnectionType); err != nil {
		return err
	}
	if len(l.Src) > 0 && !srcAllowed(l.Src, cr.ClientIP) {
		return fmt.Errorf("bad src IP %v", cr.ClientIP)
	}
	return CheckTimes(l, now)
}

// CheckTimes refuses a user outside its allowed times (in its locale).
func CheckTimes(l *jwt.UserPermissionLimits, now time.Time) error {
	if len(l.Times) > 0 && !inTimes(l.Times, l.Locale, now) {
		return errors.New("not within the user's allowed times")
	}
	return nil
}

// CheckConnectionType refuses a user whose allowed_connection_types do
// not include connType.
func CheckConnectionType(l *jwt.UserPermissionLimits, connType string) error {
	if len(l.AllowedConnectionTypes) > 0 && !slices.ContainsFunc(l.AllowedConnectionTypes, func(t string) bool {
		return strings.EqualFold(t, connType)
	}) {
		return fmt.Errorf("connection type %s not allowed", connType)
	}
	return nil
}

// srcAllowed reports whether ip is in one of the networks (CIDRs or
// single addresses).
func srcAllowed(src jwt.CIDRList, ip net.IP) bool {
	if ip == nil {
		return false
	}
	for _, s := range src {
		s = strings.TrimSpace(s)
		if _, n, err := net.ParseCIDR(s); err == nil {
			if n.Contains(ip) {
				return true
			}
			continue
		}
		if other := net.ParseIP(s); other != nil && other.Equal(ip) {
			return true
		}
	}
	return false
}

// inTimes reports whether now, in the user's time zone (the server's when
// none or an unknown one is given), is within one of the daily ranges. A
// range whose end is before its start spans midnight.
func inTimes(ranges []jwt.TimeRange, locale string, now time.Time) bool {
	loc := time.Local
	if locale != "" {
		if l, err := time.LoadLocation(locale); err == nil {
			loc = l
		}
	}
	now = now.In(loc)
	secs := func(hms string) (int, bool) {
		t, err := time.Parse("15:04:05", hms)
		if err != nil {
			return 0, false
		}
		return t.Hour()*3600 + t.Minute()*60 + t.Second(), true
	}
	cur := now.Hour()*3600 + now.Minute()*60 + now.Second()
	for _, r := range ranges {
		start, ok1 := secs(r.Start)
		end, ok2 := secs(r.End)
		if !ok1 || !ok2 {
			continue
		}
		if start <= end && cur >= start && cur <= end || start > end && (cur >= start || cur <= end) {
			return true
		}
	}
	return false
}

// UserPermissions maps a user's JWT permissions to the server's; a user
// with none gets defaults (the account's default permissions; nil: none).
// nil: no restriction. The auth callout maps its users' with it too.
func UserPermissions(p, defaults *jwt.Permissions) *server.Permissions {
	if p.Pub.Empty() && p.Sub.Empty() && p.Resp == nil {
		p = defaults
	}
	if p.Pub.Empty() && p.Sub.Empty() && p.Resp == nil {
		return nil
	}
	sp := func(x *jwt.Permission) *server.SubjectPermission {
		if x.Empty() {
			return nil
		}
		return &server.SubjectPermission{Allow: nonEmpty(x.Allow), Deny: nonEmpty(x.Deny)}
	}
	out := &server.Permissions{Publish: sp(&p.Pub), Subscribe: sp(&p.Sub)}
	if p.Resp != nil {
		out.Response = &server.ResponsePermission{MaxMsgs: p.Resp.MaxMsgs, Expires: p.Resp.Expires}
	}
	return out
}

// nonEmpty is nil for an empty list: the server reads nil as "no list".
func nonEmpty(l jwt.StringList) []string {
	if len(l) == 0 {
		return nil
	}
	return []string(l)
}
