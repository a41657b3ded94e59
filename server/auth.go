package server

import (
	"crypto/subtle"
	"encoding/base64"
	"strings"

	"github.com/nats-io/nkeys"
	"golang.org/x/crypto/bcrypt"
)

// authenticate checks a CONNECT's credentials against the authorization
// options; nonce is what the client's INFO asked it to sign. It returns the
// matching user (nil for single-user and token auth) and whether the
// client may connect.
func authenticate(a *AuthOptions, co *connectOpts, nonce []byte) (*User, bool) {
	switch {
	case a.Token != "":
		return nil, secretMatches(a.Token, co.Token)
	case a.Username != "":
		return nil, co.User == a.Username && secretMatches(a.Password, co.Pass)
	}
	if co.User == "" && co.Pass == "" && co.Token == "" && co.Nkey == "" && a.NoAuthUser != "" {
		if u := a.noAuthUser(); u != nil {
			return u, true
		}
		return nil, false
	}
	if co.Nkey != "" && a.nonceRequired() {
		// An nkey decides alone: user and password beside it are not
		// looked at (nats-server v2.15.2 does the same, recorded).
		for _, u := range a.Users {
			if u.Nkey != "" && u.Nkey == co.Nkey {
				return u, VerifyNonceSignature(u.Nkey, co.Sig, nonce)
			}
		}
		return nil, false
	}
	for _, u := range a.Users {
		if u.Nkey == "" && u.Username == co.User {
			return u, secretMatches(u.Password, co.Pass)
		}
	}
	return nil, len(a.Users) == 0
}

// VerifyNonceSignature reports whether sig, as a client sends it in
// CONNECT (base64, URL or standard alphabet, padded or not), is the
// signature of nonce by the key whose public half is pub. github.com/nats-io/nkeys
// does the Ed25519 and key-encoding work: it is the library every NATS
// client signs with, maintained by the NATS authors, so what it accepts is
// by definition what clients send.
func VerifyNonceSignature(pub, sig string, nonce []byte) bool {
	if pub == "" || sig == "" || len(nonce) == 0 {
		return false
	}
	kp, err := nkeys.FromPublicKey(pub)
	if err != nil {
		return false
	}
	raw, err := decodeSig(sig)
	if err != nil {
		return false
	}
	return kp.Verify(nonce, raw) == nil
}

// decodeSig decodes a CONNECT sig: nats.go sends raw URL base64, older
// clients standard base64 (nats-server accepts both, recorded).
func decodeSig(sig string) ([]byte, error) {
	s := strings.TrimRight(sig, "=")
	if b, err := base64.RawURLEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return base64.RawStdEncoding.DecodeString(s)
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
