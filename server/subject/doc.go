// Package subject validates NATS subjects and queue names and routes
// published subjects to subscriptions.
//
// # Subjects
//
// A subject is one or more tokens separated by '.'. Tokens may not be empty
// and may not contain space, tab, CR, LF or FF; every other byte, UTF-8 or
// not, is allowed, and matching is byte-exact (case-sensitive). In a
// subscription, a token that is exactly '*' matches any one token and a
// token that is exactly '>' matches one or more trailing tokens; '>' may
// only be the last token. Inside a longer token ("foo*") they are ordinary
// bytes. So "foo.*" matches "foo.bar" but not "foo" or "foo.bar.baz",
// "foo.>" matches "foo.bar" and "foo.bar.baz" but not "foo", and ">"
// matches everything.
//
// These are the rules nats-server 2.15.2 enforces on the wire, taken from
// the protocol notes and the recorded transcripts, which are stricter in
// some places and looser in others than the published docs:
//
//   - ValidSubject is the check for SUB (failure: -ERR 'Invalid Subject').
//   - ValidLiteral (and ValidLiteralBytes, for the read buffer) is the
//     pedantic-mode check for PUB (failure: -ERR 'Invalid Publish
//     Subject', and the message is still delivered). Without pedantic,
//     publish subjects are not validated: a '*' or '>' token in a
//     published subject is just a token, which a subscription wildcard
//     matches ("SUB >" receives "PUB a.>.b"), and a subject with an empty
//     token matches nothing.
//   - ValidQueue accepts any queue name that is a single protocol
//     argument: nats-server does not validate queue names ("q.*" works).
//   - Matches and IsSubsetMatch compare a pattern with a subject, or two
//     patterns (for permissions), without a Sublist.
//
// # Sublist
//
// Sublist is the subject trie (nats-server's "sublist"), generic over the
// subscriber handle so that the server (local subscriptions) and the
// cluster (remote interest) share it. Each level of the trie holds a map
// of literal tokens plus direct pointers to its '*' and '>' children; each
// node holds its plain subscribers and its queue subscribers grouped by
// queue name. Match walks the trie once, following the literal, '*' and
// '>' children at each level, and returns a Result with every plain
// subscriber and, per queue name, every matching member across all
// matching patterns; the caller delivers to each plain subscriber and to
// one member per group.
//
// A bounded cache (1024 subjects) sits in front of the trie. A hit is
// lock-free and allocation-free, which is the common case for a server
// whose publishers reuse subjects. Insert and Remove drop only the cached
// subjects that the changed subscription matches, so unrelated publishers
// keep their hits while clients come and go. Results are immutable and
// shared: callers must not modify them.
//
// Remove prunes the nodes it empties, so the trie's size follows the live
// subscriptions, not their history. Stats reports the counters behind the
// /subsz monitoring endpoint, and All enumerates subscriptions for /subsz
// and for announcing local interest to a new route.
//
// The package uses the standard library only and does no logging; its
// errors start with "subject: ".
package subject
