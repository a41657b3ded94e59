package server

import (
	"crypto/subtle"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

// authenticate checks a CONNECT's credentials against the authorization
// options. It returns the matching user (nil for single-user and token
// auth) and whether the client may connect.
func authenticate(a *AuthOptions, co *connectOpts) (*User, bool) {
	switch {
	case a.Token != "":
		return nil, secretMatches(a.Token, co.Token)
	case a.Username != "":
		return nil, co.User == a.Username && secretMatches(a.Password, co.Pass)
	}
	if co.User == "" && co.Pass == "" && co.Token == "" && a.NoAuthUser != "" {
		for _, u := range a.Users {
			if u.Username == a.NoAuthUser {
				return u, true
			}
		}
		return nil, false
	}
	for _, u := range a.Users {
		if u.Username == co.User {
			return u, secretMatches(u.Password, co.Pass)
		}
	}
	return nil, len(a.Users) == 0
}

// secretMatches compares a configured secret (plain, or a bcrypt hash as
// nats-server accepts: "$2a$…") with what the client sent.
func secretMatches(configured, given string) bool {
	if isBcrypt(configured) {
		return bcrypt.CompareHashAndPassword([]byte(configured), []byte(given)) == nil
	}
	return subtle.ConstantTimeCompare([]byte(configured), []byte(given)) == 1
}

// isBcrypt is nats-server's test for a bcrypt secret, ^\$2[abxy]\$\d{2}\$:
// anything else, "$2secret" included, is a plain password.
func isBcrypt(s string) bool {
	digit := func(c byte) bool { return '0' <= c && c <= '9' }
	return len(s) >= 7 && s[0] == '$' && s[1] == '2' && strings.IndexByte("abxy", s[2]) >= 0 &&
		s[3] == '$' && digit(s[4]) && digit(s[5]) && s[6] == '$'
}
