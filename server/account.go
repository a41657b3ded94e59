package server

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natsd/natsd/server/subject"
)

// Account is a subject namespace: its own subject index (local, remote and
// internal subscriptions), the local interest routes are told about, its
// limits, mappings and imports, and the clients bound to it. Messages never
// cross accounts except through an import. $G, the global account, always
// exists; the accounts block adds more. A route message names its account;
// one natsd does not have is dropped.
type Account struct {
	Name string
	srv  *Server
	// external: made by UpdateAccounts (an operator's account JWT), not
	// by the accounts block; a reload leaves it alone. Guarded by the
	// server's accountsMu.
	external bool

	sl *subject.Sublist[*subscription]

	interestMu sync.Mutex
	interest   map[interestKey]int32 // local subscriptions per (subject, queue)

	// cfg is the account's configuration, replaced whole by a reload; the
	// message path reads it lock-free.
	cfg     atomic.Pointer[accountConfig]
	nconns  atomic.Int32 // clients bound to the account
	stats   accountStats
	updated atomic.Int64 // when its configuration last changed, unix nanoseconds

	// Imports: the internal subscriptions this account's imports made (in
	// the exporting accounts for streams, in this one for services), and
	// the reply mappings of requests other accounts sent to its services.
	importMu   sync.Mutex
	importSubs []*subscription
	replies    *replyMapper // made on the first service request
}

// accountConfig is what a reload may change of an account.
type accountConfig struct {
	limits      AccountLimits
	exports     []*Export
	imports     []*Import
	mappings    *mappings // compiled; nil: none
	mappingList []*Mapping
	msgTrace    *MsgTraceConfig // sampling normalized to 1-100; nil: none
}

type interestKey struct{ subject, queue string }

// accountStats are an account's counters (/accstatz): messages received
// from its clients and routes, and sent to its clients.
type accountStats struct {
	inMsgs, inBytes, outMsgs, outBytes atomic.Int64
	totalConns                         atomic.Int64
	slowConsumers                      atomic.Int64
}

func newAccount(s *Server, name string) *Account {
	a := &Account{Name: name, srv: s, sl: subject.NewSublist[*subscription](true), interest: map[interestKey]int32{}}
	a.cfg.Store(&accountConfig{})
	a.updated.Store(time.Now().UnixNano())
	return a
}

// LookupAccount returns the account named name, or nil.
func (s *Server) LookupAccount(name string) *Account {
	if name == GlobalAccountName {
		return s.gacc
	}
	s.accountsMu.RLock()
	defer s.accountsMu.RUnlock()
	return s.accounts[name]
}

// GlobalAccount is the account of clients that belong to no other ($G).
func (s *Server) GlobalAccount() *Account { return s.gacc }

// Accounts returns every account, $G first, the others by name.
func (s *Server) Accounts() []*Account {
	s.accountsMu.RLock()
	defer s.accountsMu.RUnlock()
	return s.accountsLocked()
}

func (s *Server) accountsLocked() []*Account {
	out := make([]*Account, 0, len(s.accounts))
	for _, a := range s.accounts {
		out = append(out, a)
	}
	slices.SortFunc(out, func(x, y *Account) int {
		if x == s.gacc || y == s.gacc {
			return map[bool]int{true: -1, false: 1}[x == s.gacc]
		}
		return strings.Compare(x.Name, y.Name)
	})
	return out
}

// configureAccounts makes the server's accounts those of cfgs (and $G):
// new ones are created, existing ones take their new configuration, and
// ones no longer configured are dropped (their clients no longer
// authenticate: a reload closes them). Then every account's imports are
// made again.
func (s *Server) configureAccounts(cfgs []*AccountConfig) {
	sys := s.getOpts().SystemAccount
	s.accountsMu.Lock()
	want := map[string]*AccountConfig{}
	for _, c := range cfgs {
		want[c.Name] = c
	}
	if _, ok := want[sys]; !ok && sys != "" {
		// The system account exists whether or not it is configured.
		c := &AccountConfig{Name: sys}
		want[sys] = c
		cfgs = append(cfgs[:len(cfgs):len(cfgs)], c)
	}
	for name, a := range s.accounts {
		if _, ok := want[name]; !ok && name != GlobalAccountName && !a.external {
			delete(s.accounts, name)
		}
	}
	for _, c := range cfgs {
		s.storeAccountLocked(c, false)
	}
	if _, ok := want[GlobalAccountName]; !ok {
		s.gacc.cfg.Store(&accountConfig{})
	}
	accounts := s.accountsLocked()
	s.accountsMu.Unlock()

	// Outside accountsMu: subscribing tells the router, and the imports
	// look accounts up.
	for _, a := range accounts {
		a.makeImports()
	}
}

// storeAccountLocked makes the account c names, or gives the existing one
// c's configuration. Call with accountsMu held.
func (s *Server) storeAccountLocked(c *AccountConfig, external bool) *Account {
	a := s.accounts[c.Name]
	if a == nil {
		a = newAccount(s, c.Name)
		a.external = external
		s.accounts[c.Name] = a
	}
	a.cfg.Store(&accountConfig{limits: c.Limits, exports: c.Exports, imports: c.Imports, mappings: compileMappings(c.Mappings), mappingList: c.Mappings, msgTrace: msgTraceConfig(c.MsgTrace)})
	a.updated.Store(time.Now().UnixNano())
	return a
}

// UpdateAccounts adds the accounts of cfgs or reconfigures them, leaving
// every other account as it is: how an operator's account JWTs become
// accounts, when a client of one first connects and when an update is
// pushed. Accounts made here are not the accounts block's: a reload does
// not drop them. Every account's imports are made again (an importer may
// see an export that is new), and an account whose max_connections went
// down has its newest clients over it closed, as nats-server does.
// Callers check imports against exports: the server does not.
func (s *Server) UpdateAccounts(cfgs []*AccountConfig) {
	s.accountsMu.Lock()
	changed := make([]*Account, 0, len(cfgs))
	for _, c := range cfgs {
		changed = append(changed, s.storeAccountLocked(c, true))
	}
	accounts := s.accountsLocked()
	s.accountsMu.Unlock()
	for _, a := range accounts {
		a.makeImports()
	}
	for _, a := range changed {
		a.enforceMaxConnections()
	}
}

// limits are the account's limits now.
func (a *Account) limits() AccountLimits { return a.cfg.Load().limits }

// NumSubscriptions counts the account's local, remote and internal
// subscriptions.
func (a *Account) NumSubscriptions() int { return a.sl.Count() }

// NumClients counts the clients bound to the account.
func (a *Account) NumClients() int { return int(a.nconns.Load()) }

// bind counts a client into the account, unless the account is full. It
// reports whether it did.
func (a *Account) bind() bool {
	max := a.limits().MaxConnections
	for {
		n := a.nconns.Load()
		if max > 0 && int(n) >= max {
			return false
		}
		if a.nconns.CompareAndSwap(n, n+1) {
			a.stats.totalConns.Add(1)
			return true
		}
	}
}

// unbind counts a client out.
func (a *Account) unbind() { a.nconns.Add(-1) }

// localInterestAdded counts a new local (client or internal) subscription
// and tells the router when the account's interest in (subject, queue)
// changed. Subscriptions that must stay local (a service import's) are not
// counted.
func (a *Account) localInterestAdded(sub *subscription) {
	if sub.noRoute {
		return
	}
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
	if sub.noRoute {
		return
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
// local interest, with its weight, then then(), while every account's
// interest lock is held (taken in account order) and no account can be
// added: no change reaches the router in between. A new route sends the
// enumeration as its RS+ burst and, in then, starts taking changes.
// Neither may block.
func (s *Server) LocalInterest(each func(account, subject, queue string, weight int32), then func()) {
	s.accountsMu.RLock()
	defer s.accountsMu.RUnlock()
	accounts := s.accountsLocked()
	for _, a := range accounts {
		a.interestMu.Lock()
	}
	defer func() {
		for _, a := range accounts {
			a.interestMu.Unlock()
		}
	}()
	for _, a := range accounts {
		for k, n := range a.interest {
			each(a.Name, k.subject, k.queue, weightFor(k.queue, n))
		}
	}
	if then != nil {
		then()
	}
}

// userAccount is the account u's clients are bound to ($G when it names
// none), or nil when that account does not exist.
func (s *Server) userAccount(u *User) *Account {
	if u == nil || u.Account == "" {
		return s.gacc
	}
	return s.LookupAccount(u.Account)
}

// SystemAccount is the system account ($SYS unless system_account names
// another).
func (s *Server) SystemAccount() *Account {
	return s.LookupAccount(s.getOpts().SystemAccount)
}
