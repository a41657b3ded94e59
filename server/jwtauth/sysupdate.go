package jwtauth

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/jwt/v2"
	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
)

// The system account's claims-update service: account JWTs pushed by an
// operator's tools (nsc push) on
//
//	$SYS.REQ.ACCOUNT.<account>.CLAIMS.UPDATE   every resolver
//	$SYS.REQ.CLAIMS.UPDATE                     full and cache
//	$SYS.REQ.ACCOUNT.<account>.CLAIMS.LOOKUP   full: the stored JWT
//
// are checked, stored and applied, and answered as nats-server v2.15.2
// answers (recorded): {"server":{…},"data":{"account","code":200,"message"}}
// or {"server":{…},"error":{"account","code":500,"description"}}.
//
// The internal subscriptions' handlers run on the publisher's goroutine and
// must not block: they queue the request for one worker, which stores,
// applies and replies.

// Subjects of the service.
const (
	subjAccountUpdate = "$SYS.REQ.ACCOUNT.*.CLAIMS.UPDATE"
	subjClaimsUpdate  = "$SYS.REQ.CLAIMS.UPDATE"
	subjAccountLookup = "$SYS.REQ.ACCOUNT.*.CLAIMS.LOOKUP"
)

// sysQueue bounds the requests waiting for the worker; more are dropped
// (and logged): a flood of pushes cannot grow memory.
const sysQueue = 256

type sysService struct {
	a    *Auth
	acc  *server.Account
	subs []*server.Subscription
	reqs chan sysRequest
	done chan struct{}
	wg   sync.WaitGroup
	seq  atomic.Uint64
}

type sysRequest struct {
	subject, reply string
	data           []byte
}

func startSysService(a *Auth, acc *server.Account) (*sysService, error) {
	s := &sysService{a: a, acc: acc, reqs: make(chan sysRequest, sysQueue), done: make(chan struct{})}
	subjects := []string{subjAccountUpdate}
	if a.res.kind() != ResolverMemory {
		subjects = append(subjects, subjClaimsUpdate)
	}
	if a.res.kind() == ResolverFull {
		subjects = append(subjects, subjAccountLookup)
	}
	for _, subj := range subjects {
		sub, err := acc.Subscribe(subj, "", s.enqueue)
		if err != nil {
			s.stop()
			return nil, err
		}
		s.subs = append(s.subs, sub)
	}
	s.wg.Add(1)
	go s.run()
	return s, nil
}

// enqueue is the subscriptions' handler (publisher's goroutine).
func (s *sysService) enqueue(m server.Msg) {
	r := sysRequest{subject: string(m.Subject), reply: string(m.Reply), data: bytes.Clone(m.Data)}
	select {
	case s.reqs <- r:
	default:
		s.a.log.Warn("Claims update dropped: too many waiting", zap.String("subject", r.subject))
	}
}

func (s *sysService) stop() {
	for _, sub := range s.subs {
		sub.Unsubscribe()
	}
	close(s.done)
	s.wg.Wait()
}

func (s *sysService) run() {
	defer s.wg.Done()
	for {
		select {
		case r := <-s.reqs:
			s.handle(r)
		case <-s.done:
			return
		}
	}
}

// accountOf is the account token of $SYS.REQ.ACCOUNT.<account>.…, or "".
func accountOf(subject string) string {
	t := strings.Split(subject, ".")
	if len(t) == 6 && t[2] == "ACCOUNT" {
		return t[3]
	}
	return ""
}

func (s *sysService) handle(r sysRequest) {
	subjAcc := accountOf(r.subject)
	if strings.HasSuffix(r.subject, ".CLAIMS.LOOKUP") {
		if tok, err := s.a.res.fetch(subjAcc); err == nil {
			s.publish(r.reply, []byte(tok))
		}
		return
	}
	kind := s.a.res.kind()
	fail := func(acc, why string) {
		if acc == "" {
			acc = "n/a"
		}
		s.a.log.Error("jwt update resulted in error", zap.String("account", acc), zap.String("error", why))
		s.reply(r.reply, &updateResult{Error: &updateError{Account: acc, Code: 500, Description: "jwt update resulted in error - " + why}})
	}
	tok := string(bytes.TrimSpace(r.data))
	ac, err := jwt.DecodeAccountClaims(tok)
	if err != nil {
		fail(subjAcc, err.Error())
		return
	}
	if subjAcc != "" && ac.Subject != subjAcc {
		fail(subjAcc, errSubjectMismatch.Error())
		return
	}
	if _, err := s.a.verifyAccount(ac.Subject, tok); err != nil {
		// nats-server's full and cache resolvers store such a JWT and
		// answer 200 (recorded); natsd stores nothing it cannot serve, and
		// says why.
		fail(ac.Subject, errAccountValidation.Error())
		return
	}
	stored, err := s.a.res.update(ac.Subject, tok)
	if err != nil {
		fail(ac.Subject, err.Error())
		return
	}
	msg := "jwt updated"
	switch {
	case !stored && kind == ResolverCache:
		msg = "jwt update cache skipped"
	case !stored:
		msg = "jwt update skipped"
	case kind == ResolverCache:
		msg = "jwt updated cache"
	}
	if stored {
		s.a.apply(ac)
	}
	s.a.log.Info("Account claims update: "+msg, zap.String("account", ac.Subject))
	s.reply(r.reply, &updateResult{Data: &updateData{Account: ac.Subject, Code: 200, Message: msg}})
}

// apply makes a pushed account's new claims the server's, when the account
// is loaded (one that is not is loaded from the resolver when a client of
// it connects), and disconnects the users they revoke.
func (a *Auth) apply(ac *jwt.AccountClaims) {
	a.mu.Lock()
	if _, ok := a.loaded[ac.Subject]; !ok {
		a.mu.Unlock()
		return
	}
	a.loaded[ac.Subject] = ac
	for _, im := range ac.Imports {
		if im != nil {
			_ = a.loadLocked(im.Account, 1) // a new import's exporter
		}
	}
	a.applyLocked()
	a.mu.Unlock()
	if acc := a.srv.LookupAccount(ac.Subject); acc != nil {
		acc.RevokeClients(func(tag any) bool {
			t, ok := tag.(*userTag)
			if !ok {
				return false
			}
			if t.issuer != ac.Subject && !ac.SigningKeys.Contains(t.issuer) {
				return true // its signing key was removed
			}
			return ac.Revocations.IsRevoked(t.pub, time.Unix(t.iat, 0))
		})
	}
}

// The reply, in nats-server's shape.
type updateResult struct {
	Server serverInfo   `json:"server"`
	Data   *updateData  `json:"data,omitempty"`
	Error  *updateError `json:"error,omitempty"`
}

type serverInfo struct {
	Name      string    `json:"name"`
	Host      string    `json:"host"`
	ID        string    `json:"id"`
	Version   string    `json:"ver"`
	JetStream bool      `json:"jetstream"`
	Flags     uint64    `json:"flags"`
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
}

type updateData struct {
	Account string `json:"account"`
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type updateError struct {
	Account     string `json:"account"`
	Code        int    `json:"code"`
	Description string `json:"description"`
}

func (s *sysService) reply(to string, res *updateResult) {
	if to == "" {
		return
	}
	srv := s.a.srv
	res.Server = serverInfo{Name: srv.Name(), Host: srv.Options().Host, ID: srv.ID(), Version: server.ProtocolVersion,
		Seq: s.seq.Add(1), Time: time.Now().UTC()}
	b, err := json.Marshal(res)
	if err != nil {
		return
	}
	s.publish(to, b)
}

func (s *sysService) publish(to string, data []byte) {
	if to == "" {
		return
	}
	if err := s.acc.Publish(to, "", nil, data); err != nil {
		s.a.log.Warn("Claims update reply not sent", zap.String("reply", to), zap.Error(err))
	}
}
