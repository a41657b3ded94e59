package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Redaction of credentials in what natsd logs about a CONNECT. nats-server
// traces a CONNECT with the value of pass, auth_token, sig and nkey replaced
// by [REDACTED] (recorded from 2.15.2 with -DV:
// <<- [CONNECT {"user":"alice","pass":"[REDACTED]","name":"good"}]). Its
// replacement is textual and misses escaped quotes ("pass":"a\"b" leaves
// b"), escaped keys ("p\u0061ss") and jwt; natsd redacts by reading the
// JSON, so that whatever the CONNECT looks like, a credential never reaches
// the log.

// redactedKeys are the CONNECT fields whose values are never logged: the
// credentials, and nkey as nats-server does.
var redactedKeys = []string{"pass", "auth_token", "sig", "jwt", "nkey"}

const redactedText = "[REDACTED]"

// isRedactedKey reports whether a decoded JSON key names a credential.
// encoding/json matches keys to fields case-insensitively, with Unicode
// folding ("PASS", "paſs" and "p\u0061ss" all set Pass), so this does too.
func isRedactedKey(key string) bool {
	for _, k := range redactedKeys {
		if strings.EqualFold(key, k) {
			return true
		}
	}
	return false
}

// redactConnect returns arg, a CONNECT's JSON, with the value of every
// credential field — at any depth, however often it appears — replaced by
// "[REDACTED]" (a null stays null). The rest is kept byte for byte, so the
// result is JSON when arg is. Input that is not valid JSON is redacted more bluntly: from the
// first thing that could name a credential, the rest goes.
func redactConnect(arg []byte) []byte {
	if !json.Valid(arg) {
		return redactMalformed(arg)
	}
	out := make([]byte, 0, len(arg)+16)
	for i := 0; i < len(arg); {
		if arg[i] != '"' {
			out = append(out, arg[i])
			i++
			continue
		}
		end := stringEnd(arg, i) // valid JSON: always found
		tok := arg[i:end]
		out = append(out, tok...)
		i = end
		// A string is a key when a ':' follows it.
		j := skipSpace(arg, i)
		if j >= len(arg) || arg[j] != ':' {
			continue
		}
		var key string
		if json.Unmarshal(tok, &key) != nil || !isRedactedKey(key) {
			continue
		}
		vstart := skipSpace(arg, j+1)
		out = append(out, arg[i:vstart]...)
		if arg[vstart] == 'n' {
			out = append(out, "null"...) // nothing to hide
		} else {
			// Quoted whatever the value was, so that the line stays JSON.
			out = append(out, `"`+redactedText+`"`...)
		}
		i = valueEnd(arg, vstart)
	}
	return out
}

// stringEnd returns the index just past the string starting at b[i] ('"'),
// or len(b) if it is not closed.
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// valueEnd returns the index just past the JSON value starting at b[i], in
// valid JSON.
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				j = stringEnd(b, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
		return len(b)
	}
	j := i
	for j < len(b) && !isMalformedDelim(b[j]) {
		j++
	}
	return j
}

// redactMalformed handles a CONNECT that is not JSON (natsd refuses it, but
// a client may still have put a real password in it). It keeps the input
// up to the first token that could name a credential — a string or bare
// word containing one of the key names in any case, or a string whose
// escapes could spell one — and replaces everything after that token (and
// a ':' right after it) with [REDACTED].
func redactMalformed(arg []byte) []byte {
	for i := 0; i < len(arg); {
		c := arg[i]
		var end int
		var suspect bool
		switch {
		case c == '"':
			end = stringEnd(arg, i)
			tok := arg[i:end]
			suspect = bytes.IndexByte(tok, '\\') >= 0 || containsKeyName(tok)
		case isMalformedDelim(c):
			i++
			continue
		default:
			end = i
			for end < len(arg) && !isMalformedDelim(arg[end]) && arg[end] != '"' {
				end++
			}
			suspect = containsKeyName(arg[i:end])
		}
		if suspect {
			if j := skipSpace(arg, end); j < len(arg) && arg[j] == ':' {
				end = j + 1
			}
			out := append([]byte{}, arg[:end]...)
			return append(out, redactedText...)
		}
		i = end
	}
	return arg
}

func isMalformedDelim(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', ',', ':', '{', '}', '[', ']':
		return true
	}
	return false
}

// containsKeyName reports whether b contains a credential key name, in any
// case: Unicode folding as well as ASCII, since "paſs" decodes to a key
// encoding/json takes for "pass".
func containsKeyName(b []byte) bool {
	s := string(b)
	for _, k := range redactedKeys {
		if containsFold(s, k) {
			return true
		}
	}
	return false
}

// containsFold is a case-insensitive strings.Contains under Unicode
// simple folding; k is ASCII.
func containsFold(s, k string) bool {
	for i := range s {
		if hasPrefixFold(s[i:], k) {
			return true
		}
	}
	return false
}

// hasPrefixFold reports whether s starts with k (ASCII) under Unicode
// simple folding, rune by rune.
func hasPrefixFold(s, k string) bool {
	for _, kr := range k {
		if s == "" {
			return false
		}
		r, n := utf8.DecodeRuneInString(s)
		if !strings.EqualFold(string(r), string(kr)) {
			return false
		}
		s = s[n:]
	}
	return true
}

// connectJSONError is what natsd logs about a CONNECT it cannot decode:
// encoding/json's error without the input's bytes it may quote (a syntax
// error names the offending character, which may belong to a password).
func connectJSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at offset %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("cannot decode field %q as %s", te.Field, te.Type)
	}
	return errors.New("invalid JSON")
}
