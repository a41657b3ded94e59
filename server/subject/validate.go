package subject

import (
	"bytes"
	"strings"
)

// The rules here are the ones nats-server 2.15.2 enforces on the wire (see
// the protocol notes 1.8/1.9 and the errors corpus), not the stricter
// "alphanumeric" advice of the public docs: any byte other than the five
// whitespace bytes is allowed in a token, and '*' and '>' are wildcards only
// when they make up a whole token.

const (
	sep = '.' // token separator
	pwc = '*' // partial wildcard: exactly one token
	fwc = '>' // full wildcard: one or more trailing tokens
)

// isSpace reports the bytes a subject token may not contain. The client
// parser splits SUB arguments at the first four, and nats-server also
// refuses form feed in a subscription subject.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'
}

// ValidSubject reports whether s is acceptable as a subscription subject:
// one or more non-empty tokens separated by '.', no whitespace anywhere, and
// '>' (as a whole token) only as the last token. A '*' or '>' inside a
// longer token ("foo*", "a>b") is an ordinary literal byte.
func ValidSubject(s string) bool { return validSubject(s, false) }

// ValidLiteral reports whether s is acceptable as a publish subject in
// pedantic mode: a valid subject with no wildcard token.
func ValidLiteral(s string) bool { return validSubject(s, true) }

// ValidLiteralBytes is ValidLiteral for a subject still in the read buffer.
// It exists because the pedantic check sits on the publish hot path, and
// converting the parser's []byte to a string there would allocate for
// subjects longer than the compiler's 32-byte stack buffer.
func ValidLiteralBytes(b []byte) bool { return validSubject(b, true) }

// validSubject is the single implementation behind the string and []byte
// entry points, so the two can never disagree.
func validSubject[T string | []byte](s T, literal bool) bool {
	if len(s) == 0 {
		return false
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			c := s[i]
			if isSpace(c) {
				return false
			}
			if c != sep {
				continue
			}
		}
		// s[start:i] is a complete token.
		switch i - start {
		case 0:
			return false // leading, trailing or doubled '.'
		case 1:
			switch s[start] {
			case pwc:
				if literal {
					return false
				}
			case fwc:
				if literal || i != len(s) {
					return false // '>' must be the last token
				}
			}
		}
		start = i + 1
	}
	return true
}

// ValidQueue reports whether s is acceptable as a queue group name.
// nats-server 2.15.2 does not validate queue names (the corpus case
// queue_name_with_wildcard subscribes with queue "q.*" and gets deliveries),
// so the only requirements are the ones the wire imposes: the name must be
// non-empty and must be a single protocol argument, i.e. free of the
// separator bytes space, tab, CR and LF, or it could not be sent on in an
// RS+ line. The reserved name "_sys_" is refused by the server as a
// permissions violation, not here.
func ValidQueue(s string) bool {
	if len(s) == 0 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case ' ', '\t', '\r', '\n':
			return false
		}
	}
	return true
}

// HasWildcard reports whether s has a '*' or '>' token. It does not
// validate s.
func HasWildcard(s string) bool {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != sep {
			continue
		}
		if i-start == 1 && (s[start] == pwc || s[start] == fwc) {
			return true
		}
		start = i + 1
	}
	return false
}

// wellFormed reports whether a published subject can match anything: it is
// non-empty and has no empty token. Published subjects are otherwise not
// validated (nats-server delivers PUB a.>.b to '>' as three literal tokens),
// but a subject with an empty token matches no subscription, not even '>'
// (corpus case pub_invalid_subject_pedantic).
func wellFormed(s string) bool {
	return s != "" && s[0] != sep && s[len(s)-1] != sep && !strings.Contains(s, "..")
}

// wellFormedBytes is wellFormed for a subject in a read buffer.
func wellFormedBytes(s []byte) bool {
	return len(s) > 0 && s[0] != sep && s[len(s)-1] != sep && bytes.Index(s, dotdot) < 0
}

var dotdot = []byte("..")

// nextToken splits s at its first '.', returning the token, the rest and
// whether there was a rest at all. (IndexByte rather than a generic loop:
// it is the inner loop of matching and cache invalidation.)
func nextToken(s string) (tok, rest string, more bool) {
	if i := strings.IndexByte(s, sep); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// nextTokenBytes is nextToken for a subject in a read buffer.
func nextTokenBytes(s []byte) (tok, rest []byte, more bool) {
	if i := bytes.IndexByte(s, sep); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, nil, false
}

// isWild reports whether tok is the wildcard token w.
func isWild[T string | []byte](tok T, w byte) bool { return len(tok) == 1 && tok[0] == w }

// Matches reports whether the subscription subject pattern matches the
// published subject literal, exactly as a Sublist holding pattern would
// route literal. Tokens are compared byte for byte (case-sensitive). A '*'
// or '>' token in literal is an ordinary token: it is matched by a wildcard
// or by an identical literal token in pattern. An invalid pattern, or a
// literal with an empty token, matches nothing.
func Matches(pattern, literal string) bool {
	if !ValidSubject(pattern) || !wellFormed(literal) {
		return false
	}
	return matchTokens(pattern, literal)
}

// matchTokens is Matches without the validation, for callers that already
// know pattern is valid and literal well formed (cache invalidation).
func matchTokens(pattern, literal string) bool {
	for {
		pt, prest, pmore := nextToken(pattern)
		lt, lrest, lmore := nextToken(literal)
		if isWild(pt, fwc) {
			return true // literal has at least the token lt left
		}
		if !isWild(pt, pwc) && pt != lt {
			return false
		}
		if pmore != lmore {
			return false
		}
		if !pmore {
			return true
		}
		pattern, literal = prest, lrest
	}
}

// IsSubsetMatch reports whether every subject that the subscription subject
// sub can match is also matched by pattern, i.e. whether sub's interest lies
// inside pattern. Both are read as subscription subjects, so a '*' or '>'
// token in sub is a wildcard ("foo.*" is inside "foo.>" but not inside
// "foo.bar"). Permissions use it to decide whether a wildcard subscription
// falls under an allow or deny entry. It is false if either is invalid.
func IsSubsetMatch(sub, pattern string) bool {
	if !ValidSubject(sub) || !ValidSubject(pattern) {
		return false
	}
	for {
		st, srest, smore := nextToken(sub)
		pt, prest, pmore := nextToken(pattern)
		switch {
		case isWild(pt, fwc):
			return true // covers st and everything after it
		case isWild(st, fwc):
			return false // one or more tokens; pt covers exactly one
		case isWild(pt, pwc):
			// covers any single token, including a '*' in sub
		case isWild(st, pwc):
			return false // a literal pt covers only itself
		case st != pt:
			return false
		}
		if smore != pmore {
			return false
		}
		if !smore {
			return true
		}
		sub, pattern = srest, prest
	}
}
