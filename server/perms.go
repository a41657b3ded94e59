package server

import (
	"strings"
	"time"

	"github.com/natsd/natsd/server/subject"
)

// perms is a user's permissions, compiled: allow and deny lists as subject
// tries, so that a check costs one match.
type perms struct {
	pubAllow, pubDeny *subject.Sublist[int]
	subAllow, subDeny *subject.Sublist[int]
	resp              *ResponsePermission
	pubCache          map[string]bool
}

// maxPubCache bounds the per-client cache of publish decisions.
const maxPubCache = 128

func newPerms(p *Permissions) *perms {
	cp := &perms{}
	if p.Publish != nil {
		cp.pubAllow = permList(p.Publish.Allow)
		cp.pubDeny = permList(p.Publish.Deny)
		cp.pubCache = make(map[string]bool)
	}
	if p.Subscribe != nil {
		cp.subAllow = permList(p.Subscribe.Allow)
		cp.subDeny = permList(p.Subscribe.Deny)
	}
	if p.Response != nil {
		r := *p.Response
		if r.MaxMsgs == 0 {
			r.MaxMsgs = DefaultResponseMaxMsgs
		}
		if r.Expires == 0 {
			r.Expires = DefaultResponseExpires
		}
		cp.resp = &r
		if cp.pubAllow == nil {
			// allow_responses without a publish allow list means: publish
			// nothing but replies, a deny list notwithstanding (nats-server
			// turns the blanket allow off).
			cp.pubAllow = subject.NewSublist[int](false)
			if cp.pubCache == nil {
				cp.pubCache = make(map[string]bool)
			}
		}
	}
	return cp
}

// permList compiles a list; nil when the list is absent. An entry may be
// "subject queue" (a queue permission). Entries that are not valid subjects
// were refused when the options were built.
func permList(entries []string) *subject.Sublist[int] {
	if entries == nil {
		return nil
	}
	l := subject.NewSublist[int](false)
	for i, e := range entries {
		subj, queue, _ := strings.Cut(strings.TrimSpace(e), " ")
		_ = l.Insert(subj, strings.TrimSpace(queue), i)
	}
	return l
}

// ValidPermission reports whether a permission entry ("subject" or
// "subject queue") is well formed; the daemon checks entries with it.
func ValidPermission(e string) bool {
	subj, queue, hasQueue := strings.Cut(strings.TrimSpace(e), " ")
	if !subject.ValidSubject(subj) {
		return false
	}
	return !hasQueue || subject.ValidQueue(strings.TrimSpace(queue))
}

// canSubscribe applies subscribe permissions as nats-server does: an allow
// list admits a plain subscription through a plain entry and a queue
// subscription through an entry naming its queue; a deny list refuses the
// same way. "_sys_" is reserved. Called with the client's lock held.
func (c *client) canSubscribe(subj, queue []byte) bool {
	if string(queue) == "_sys_" {
		return false
	}
	p := c.perms
	if p == nil {
		return true
	}
	allowed := true
	if p.subAllow != nil {
		r := p.subAllow.Match(subj)
		allowed = len(r.Plain) > 0
		if len(queue) > 0 && len(r.Queues) > 0 {
			allowed = queueIn(queue, r)
		}
	}
	if allowed && p.subDeny != nil {
		r := p.subDeny.Match(subj)
		allowed = len(r.Plain) == 0
		if len(queue) > 0 && len(r.Queues) > 0 {
			allowed = !queueIn(queue, r)
		}
	}
	return allowed
}

func queueIn(queue []byte, r *subject.Result[int]) bool {
	for _, qg := range r.Queues {
		if subject.Matches(qg.Name, string(queue)) {
			return true
		}
	}
	return false
}

// canPublish applies publish permissions (and allow_responses). Called with
// the client's lock held.
func (c *client) canPublish(subj []byte) bool {
	p := c.perms
	if p.pubAllow == nil && p.pubDeny == nil {
		return true
	}
	ok, cached := p.pubCache[string(subj)]
	if !cached {
		ok = true
		if p.pubAllow != nil {
			ok = len(p.pubAllow.Match(subj).Plain) > 0
		}
		if ok && p.pubDeny != nil {
			ok = len(p.pubDeny.Match(subj).Plain) == 0
		}
		if len(p.pubCache) >= maxPubCache {
			clear(p.pubCache)
		}
		p.pubCache[string(subj)] = ok
	}
	if !ok && p.resp != nil {
		return c.useReply(subj)
	}
	return ok
}

// deliverable filters deliveries to a wildcard subscription that overlaps a
// deny entry: "SUB sub.>" is allowed, a message on denied "sub.secret" is not
// delivered to it.
func (p *perms) deliverable(sub *subscription, subj []byte) bool {
	if p.subDeny == nil || !subject.HasWildcard(sub.subject) {
		return true
	}
	return !p.subDeny.HasInterest(subj)
}

// replyGrant is one request a client with allow_responses may answer.
type replyGrant struct {
	n       int
	expires time.Time
}

// grantReply records that the client received a request with this reply
// subject. Called with the client's lock held.
func (c *client) grantReply(reply []byte) {
	if c.replies == nil {
		c.replies = make(map[string]*replyGrant)
	}
	now := time.Now()
	if len(c.replies) > 1024 {
		for k, g := range c.replies {
			if now.After(g.expires) {
				delete(c.replies, k)
			}
		}
	}
	c.replies[string(reply)] = &replyGrant{expires: now.Add(c.perms.resp.Expires)}
}

// useReply spends one reply of a grant. Called with the client's lock held.
func (c *client) useReply(subj []byte) bool {
	g := c.replies[string(subj)]
	if g == nil {
		return false
	}
	if time.Now().After(g.expires) {
		delete(c.replies, string(subj))
		return false
	}
	g.n++
	if max := c.perms.resp.MaxMsgs; max > 0 && g.n >= max {
		delete(c.replies, string(subj))
	}
	return true
}

func pubPermViolation(subj []byte) string {
	return `Permissions Violation for Publish to "` + string(subj) + `"`
}

func replyPermViolation(reply []byte) string {
	return `Permissions Violation for Publish with Reply of "` + string(reply) + `"`
}

func subPermViolation(subj, queue []byte) string {
	if len(queue) > 0 {
		return `Permissions Violation for Subscription to "` + string(subj) + `" using queue "` + string(queue) + `"`
	}
	return `Permissions Violation for Subscription to "` + string(subj) + `"`
}
