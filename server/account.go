package server

import (
	"sync"

	"github.com/natsd/natsd/server/subject"
)

// Account is a subject namespace: its own subject index (local, remote and
// internal subscriptions), the local interest routes are told about, and
// the clients that belong to it. Messages never cross accounts. natsd has
// one account, $G, for now; a route message names its account, and one
// natsd does not know is dropped.
type Account struct {
	Name string
	srv  *Server

	sl *subject.Sublist[*subscription]

	interestMu sync.Mutex
	interest   map[interestKey]int32 // local subscriptions per (subject, queue)
}

type interestKey struct{ subject, queue string }

func newAccount(s *Server, name string) *Account {
	return &Account{Name: name, srv: s, sl: subject.NewSublist[*subscription](true), interest: map[interestKey]int32{}}
}

// LookupAccount returns the account named name, or nil.
func (s *Server) LookupAccount(name string) *Account {
	if name == s.gacc.Name {
		return s.gacc
	}
	return nil
}

// GlobalAccountName is the account of every client ($G).
func (s *Server) GlobalAccount() *Account { return s.gacc }

// NumSubscriptions counts the account's local, remote and internal
// subscriptions.
func (a *Account) NumSubscriptions() int { return a.sl.Count() }

// localInterestAdded counts a new local (client or internal) subscription
// and tells the router when the account's interest in (subject, queue)
// changed.
func (a *Account) localInterestAdded(sub *subscription) {
	k := interestKey{sub.subject, sub.queue}
	a.interestMu.Lock()
	n := a.interest[k] + 1
	a.interest[k] = n
	if r := a.srv.getRouter(); r != nil && (sub.queue != "" || n == 1) {
		r.InterestChanged(a.Name, sub.subject, sub.queue, weightFor(sub.queue, n))
	}
	a.interestMu.Unlock()
}

// removeLocalSub takes a local subscription out of the index and the counts.
func (a *Account) removeLocalSub(sub *subscription) {
	if err := a.sl.Remove(sub.subject, sub.queue, sub); err != nil {
		return // already gone (auto-unsubscribe raced a close)
	}
	k := interestKey{sub.subject, sub.queue}
	a.interestMu.Lock()
	n := a.interest[k] - 1
	if n <= 0 {
		delete(a.interest, k)
		n = 0
	} else {
		a.interest[k] = n
	}
	if r := a.srv.getRouter(); r != nil && (sub.queue != "" || n == 0) {
		r.InterestChanged(a.Name, sub.subject, sub.queue, weightFor(sub.queue, n))
	}
	a.interestMu.Unlock()
}

// weightFor is what a route is told of n local subscriptions: 1 for plain
// interest, the member count for a queue group.
func weightFor(queue string, n int32) int32 {
	if queue == "" && n > 0 {
		return 1
	}
	return n
}

// LocalInterest calls each for every account's every (subject, queue) with
// local interest, with its weight, then then(), all under the accounts'
// interest locks, so that no change reaches the router in between: a new
// route sends the enumeration as its RS+ burst and, in then, starts taking
// changes. Neither may block.
func (s *Server) LocalInterest(each func(account, subject, queue string, weight int32), then func()) {
	a := s.gacc
	a.interestMu.Lock()
	defer a.interestMu.Unlock()
	for k, n := range a.interest {
		each(a.Name, k.subject, k.queue, weightFor(k.queue, n))
	}
	if then != nil {
		then()
	}
}
