package server

import (
	"bytes"
	"crypto/rand"
	"errors"
	"strconv"
	"sync"

	"github.com/natsd/natsd/server/subject"
	"github.com/natsd/natsd/server/wire"
)

// The internal-subscription seam: the server subscribes and publishes
// inside an account as itself, with delivery to a Go function. It is what
// the system account's services and JetStream stand on. Internal
// subscriptions are local interest like a client's (routes are told), and
// an internal publish is delivered like a client's (local subscribers,
// queue groups, routes).

// Msg is a message as an internal subscriber gets it. Its slices are valid
// only during the call: copy what you keep.
type Msg struct {
	Subject []byte
	Reply   []byte
	Header  []byte // the header block ("NATS/1.0…\r\n\r\n"), nil when none
	Data    []byte // the payload
}

// MsgHandler receives the messages of an internal subscription. It runs on
// the publisher's goroutine (a client's reader, say): it must not block. It
// may call Publish.
type MsgHandler func(m Msg)

// internalSub is the subscriber of an internal subscription.
type internalSub struct{ fn MsgHandler }

func (s *internalSub) deliver(p *producer, _ *subscription, m *wire.Msg) bool {
	if p.trace != nil && p.trace.only {
		// Traced only: not delivered. nats-server reports no egress to
		// the server's own subscriptions (recorded), so neither do we.
		return true
	}
	s.fn(Msg{Subject: m.Subject, Reply: m.Reply, Header: m.Header(), Data: m.Payload()})
	p.outMsgs++
	p.outBytes += int64(len(m.Data))
	p.accStats.outMsgs++
	p.accStats.outBytes += int64(len(m.Data))
	return true
}

func (s *internalSub) remote() bool { return false }

// Subscription is an internal subscription.
type Subscription struct{ sub *subscription }

// Subscribe subscribes fn to subject (wildcards allowed) in the account,
// as a member of queue group queue unless queue is "".
func (a *Account) Subscribe(subj, queue string, fn MsgHandler) (*Subscription, error) {
	if fn == nil {
		return nil, errors.New("server: internal subscription without a handler")
	}
	sub := &subscription{to: &internalSub{fn}, acc: a, subject: subj, queue: queue}
	if err := a.sl.Insert(subj, queue, sub); err != nil {
		return nil, err
	}
	a.localInterestAdded(sub)
	return &Subscription{sub}, nil
}

// Unsubscribe ends the subscription. It is idempotent.
func (s *Subscription) Unsubscribe() { s.sub.acc.removeLocalSub(s.sub) }

// internalPublisher is the server publishing as itself: producers from a
// pool, so that publishing from any goroutine — also from inside a
// MsgHandler, while another internal publish is under way — never waits
// for another.
type internalPublisher struct{ pool sync.Pool }

func (ip *internalPublisher) init(s *Server) {
	ip.pool.New = func() any {
		p := &internalProducer{}
		p.p.init(s, false)
		return p
	}
}

// internalProducer is one pooled producer with its message scratch.
type internalProducer struct {
	p    producer
	data []byte
	nums [2][20]byte
}

// Errors of Publish.
var (
	ErrBadSubject = errors.New("server: publish subject must be a valid literal subject")
	ErrBadReply   = errors.New("server: reply subject must be a valid literal subject")
	ErrBadHeader  = errors.New(`server: header block must start with "NATS/1.0" and end with a blank line`)
)

// Publish publishes a message in the account as the server itself: to
// local subscribers, queue groups and routes, as a client's PUB (or HPUB
// when header is not empty) would be. It returns once the message is queued
// for every subscriber; it never waits for a slow one.
func (a *Account) Publish(subj, reply string, header, data []byte) error {
	return a.PublishTo("", subj, reply, header, data)
}

// PublishTo is Publish routed on subject to (when not empty) while the
// receivers see subj: how JetStream delivers a stored message to a
// consumer's inbox under the subject it was published on.
func (a *Account) PublishTo(to, subj, reply string, header, data []byte) error {
	if !subject.ValidLiteral(subj) {
		return ErrBadSubject
	}
	if reply != "" && !subject.ValidLiteral(reply) {
		return ErrBadReply
	}
	if len(header) > 0 && (!bytes.HasPrefix(header, []byte("NATS/1.0")) || !bytes.HasSuffix(header, []byte("\r\n\r\n"))) {
		return ErrBadHeader
	}
	ip := a.srv.internal.pool.Get().(*internalProducer)
	defer a.srv.internal.pool.Put(ip)
	ip.data = append(append(ip.data[:0], header...), data...)
	if to != "" && !subject.ValidLiteral(to) {
		return ErrBadSubject
	}
	m := wire.Msg{Subject: []byte(subj), Data: ip.data, HdrLen: len(header)}
	if to != "" {
		m.Deliver = []byte(to)
	}
	if reply != "" {
		m.Reply = []byte(reply)
	}
	m.SizeField = strconv.AppendInt(ip.nums[0][:0], int64(len(ip.data)), 10)
	if len(header) > 0 {
		m.HdrField = strconv.AppendInt(ip.nums[1][:0], int64(len(header)), 10)
	}
	ip.p.publish(a, nil, &m)
	ip.p.flush()
	return nil
}

// HasInterest reports whether anyone subscribes to subj in the account:
// a client, an internal subscription or a route (the cluster's interest).
// JetStream asks it of a push consumer's deliver subject.
func (a *Account) HasInterest(subj string) bool { return a.sl.HasInterest([]byte(subj)) }

// HasExactInterest reports whether a subscription in the account is on
// subj itself rather than on a wildcard that matches it. A JetStream
// snapshot waits for it: its requester subscribes the deliver subject only
// once the reply is in, and the wildcard of its request multiplexer
// (_INBOX.<id>.*) already matches, though the client drops what arrives
// there for a subject it does not await.
func (a *Account) HasExactInterest(subj string) bool {
	r := a.sl.Match([]byte(subj))
	for _, s := range r.Plain {
		if s.subject == subj {
			return true
		}
	}
	for _, q := range r.Queues {
		for _, s := range q.Members {
			if s.subject == subj {
				return true
			}
		}
	}
	return false
}

// NewEventID is a unique id for an advisory or event: 22 base-62
// characters, like nats-server's NUIDs (the system account's events and
// JetStream's advisories).
func NewEventID() string { return RandomID(22) }

// RandomID is n random base-62 characters: the names and ids nats-server
// makes up (event ids, dynamic cluster names, ephemeral consumer names,
// snapshot transfers).
func RandomID(n int) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}
