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
	if strings.HasPrefix(configured, "$2") {
		return bcrypt.CompareHashAndPassword([]byte(configured), []byte(given)) == nil
	}
	return subtle.ConstantTimeCompare([]byte(configured), []byte(given)) == 1
}
