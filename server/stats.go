package server

import (
	"cmp"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/natsd/natsd/server/subject"
	"github.com/natsd/natsd/tlsconf"
)

// The server's typed statistics. Monitoring (server/monitor) owns the
// responses and their query semantics and builds them from these.

// Stats are the server's counters and what it announces now.
type Stats struct {
	ID, Name         string
	Version          string // natsd's own
	Start            time.Time
	Host             string // the client address announced
	Port             int
	Connections      int
	TotalConnections uint64
	InMsgs, OutMsgs  int64
	InBytes          int64
	OutBytes         int64
	SlowConsumers    int64
	StaleConnections int64
	Subscriptions    int
	ConnectURLs      []string
	// TLSCertNotAfter is when the client listener's current certificate
	// expires (zero without TLS).
	TLSCertNotAfter time.Time
	// The WebSocket listener: its host and bound port (0: none), and when
	// websocket.tls's certificate expires (zero without wss).
	WebSocketHost         string
	WebSocketPort         int
	WebSocketCertNotAfter time.Time
}

// Stats returns the server's counters now.
func (s *Server) Stats() Stats {
	o := s.getOpts()
	s.mu.Lock()
	host, port := s.clientHostPort()
	nconn := len(s.clients)
	urls := s.connectURLs()
	var wsHost string
	var wsPort int
	if s.ws.current != nil {
		wsHost, wsPort = s.wsHostPort(o.WebSocket)
	}
	s.mu.Unlock()
	var wsNotAfter time.Time
	if st := s.ws.tls.Load(); st != nil && o.WebSocket != nil && !o.WebSocket.NoTLS {
		wsNotAfter = st.store.NotAfter()
	}
	return Stats{
		ID: s.id, Name: o.ServerName, Version: s.version, Start: s.start,
		Host: host, Port: port, Connections: nconn, TotalConnections: s.totalConns.Load(),
		InMsgs: s.stats.inMsgs.Load(), OutMsgs: s.stats.outMsgs.Load(),
		InBytes: s.stats.inBytes.Load(), OutBytes: s.stats.outBytes.Load(),
		SlowConsumers: s.stats.slowConsumers.Load(), StaleConnections: s.stats.staleConnections.Load(),
		Subscriptions: s.NumSubscriptions(), ConnectURLs: urls,
		TLSCertNotAfter: s.tlsNotAfter(o),
		WebSocketHost:   wsHost, WebSocketPort: wsPort, WebSocketCertNotAfter: wsNotAfter,
	}
}

// tlsNotAfter is the expiry of the client listener's certificate, when
// clients use TLS.
func (s *Server) tlsNotAfter(o *Options) time.Time {
	if st := s.tls.Load(); st != nil && o.TLS != nil {
		return st.store.NotAfter()
	}
	return time.Time{}
}

// ConnStats is one client connection as monitoring shows it.
type ConnStats struct {
	Cid uint64
	// Type is how the client connected: "nats", or "websocket" (/connz
	// "type", as nats-server's).
	Type         string
	IP           string
	Port         int
	Start        time.Time
	LastActivity time.Time
	Stop         time.Time // zero while open
	Reason       string    // why it closed; "" while open
	RTT          time.Duration
	Pending      int
	InMsgs       int64
	OutMsgs      int64
	InBytes      int64
	OutBytes     int64
	Name         string
	Lang         string
	Version      string
	User         string // the user it authenticated as ("" for none)
	Account      string
	Subs         []SubStats // in no particular order
	// The TLS session ("" and nil for a plain-text connection, or one
	// still in its handshake): version ("1.3"), cipher suite, whether the
	// handshake came before INFO, the certificates the client presented.
	TLSVersion     string
	TLSCipherSuite string
	TLSFirst       bool
	TLSPeerCerts   []TLSPeerCert
}

// TLSPeerCert is one certificate a client presented (/connz tls_peer_certs).
type TLSPeerCert = tlsconf.PeerCert

// SubStats is one client subscription as monitoring shows it.
type SubStats struct {
	Account string
	Subject string
	Queue   string
	Sid     string
	Msgs    int64 // delivered so far
	Max     int64 // auto-unsubscribe limit (0: none)
	Cid     uint64
}

// Conns snapshots the open client connections and, with closed, the
// remembered closed ones (the newest maxClosed), in cid order.
func (s *Server) Conns(open, closed bool) []*ConnStats {
	var list []*ConnStats
	if open {
		for _, c := range s.snapshotClients() {
			c.Lock()
			list = append(list, c.statsLocked())
			c.Unlock()
		}
	}
	if closed {
		s.closedMu.Lock()
		for _, cs := range s.closedRing {
			cp := *cs
			list = append(list, &cp)
		}
		s.closedMu.Unlock()
	}
	slices.SortStableFunc(list, func(a, b *ConnStats) int { return cmp.Compare(a.Cid, b.Cid) })
	return list
}

// statsLocked snapshots c with its lock held (Closed takes it before the
// subscriptions go, so that a closed connection still lists them).
func (c *client) statsLocked() *ConnStats {
	inMsgs, inBytes := c.In()
	outMsgs, outBytes := c.OutLocked()
	cs := &ConnStats{
		Cid: c.cid, Type: "nats", IP: c.Host(), Port: c.Port(), Start: c.Start(), LastActivity: c.LastActivityLocked(),
		RTT: c.RTTLocked(), Pending: c.PendingLocked(),
		InMsgs: inMsgs, OutMsgs: outMsgs, InBytes: inBytes, OutBytes: outBytes,
		Name: c.opts.Name, Lang: c.opts.Lang, Version: c.opts.Version, Account: c.accountName(),
	}
	if c.user != nil {
		cs.User = c.user.Name()
	} else if c.opts.User != "" && c.authed.Load() {
		cs.User = c.opts.User
	}
	if c.tls != nil && c.tls.sess != nil {
		s := c.tls.sess
		cs.TLSVersion, cs.TLSCipherSuite, cs.TLSFirst, cs.TLSPeerCerts = s.Version, s.CipherSuite, s.First, s.PeerCerts
	}
	if c.ws != nil {
		cs.Type = "websocket"
		if s := c.ws.sess; s != nil {
			cs.TLSVersion, cs.TLSCipherSuite, cs.TLSPeerCerts = s.Version, s.CipherSuite, s.PeerCerts
		}
	}
	if c.IsClosedLocked() {
		reason, stop := c.ClosedAtLocked()
		cs.Stop, cs.Reason = stop, reason.String()
	}
	for _, sub := range c.subs {
		cs.Subs = append(cs.Subs, sub.stats(c.cid))
	}
	return cs
}

// accountName is the name of the client's account.
func (c *client) accountName() string { return c.acc.Load().Name }

func (sub *subscription) stats(cid uint64) SubStats {
	return SubStats{Account: sub.acc.Name, Subject: sub.subject, Queue: sub.queue, Sid: string(sub.sid), Msgs: sub.delivered, Max: sub.max, Cid: cid}
}

// IndexStats are the statistics of account acc's subject index; ok is
// false for an account the server does not have.
func (s *Server) IndexStats(acc string) (st subject.Stats, ok bool) {
	a := s.gacc
	if acc != "" {
		if a = s.LookupAccount(acc); a == nil {
			return st, false
		}
	}
	return a.sl.Stats(), true
}

// Subs lists the client subscriptions of account acc ("" for $G) — those
// that match the literal subject test, or all when test is "" — ordered by
// cid and sid. ok is false for an account the server does not have.
func (s *Server) Subs(acc, test string) (subs []SubStats, ok bool) {
	a := s.gacc
	if acc != "" {
		if a = s.LookupAccount(acc); a == nil {
			return nil, false
		}
	}
	add := func(sub *subscription) {
		if c, ok := sub.to.(*client); ok { // listings show clients' subscriptions, with cid and sid
			c.Lock()
			subs = append(subs, sub.stats(c.cid))
			c.Unlock()
		}
	}
	if test != "" {
		r := a.sl.Match([]byte(test))
		for _, sub := range r.Plain {
			add(sub)
		}
		for _, qg := range r.Queues {
			for _, sub := range qg.Members {
				add(sub)
			}
		}
	} else {
		a.sl.All(func(_, _ string, sub *subscription) bool {
			add(sub)
			return true
		})
	}
	slices.SortFunc(subs, func(a, b SubStats) int {
		return cmp.Or(cmp.Compare(a.Cid, b.Cid), cmp.Compare(a.Sid, b.Sid))
	})
	return subs, true
}

// ClientURL is "nats://host:port" for the client listener, for logs and the
// ports file.
func (s *Server) ClientURL() string {
	s.mu.Lock()
	host, port := s.clientHostPort()
	s.mu.Unlock()
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// AccountStats are one account's counters (/accstatz).
type AccountStats struct {
	Name          string
	Conns         int   // clients bound now
	TotalConns    int64 // clients ever bound
	NumSubs       int
	InMsgs        int64 // received from its clients and routes
	InBytes       int64
	OutMsgs       int64 // sent to its clients
	OutBytes      int64
	SlowConsumers int64
}

// AccountStats returns every account's counters, $G first, then by name.
func (s *Server) AccountStats() []AccountStats {
	var out []AccountStats
	for _, a := range s.Accounts() {
		out = append(out, a.Stats())
	}
	return out
}

// Stats returns the account's counters.
func (a *Account) Stats() AccountStats {
	st := &a.stats
	return AccountStats{
		Name: a.Name, Conns: a.NumClients(), TotalConns: st.totalConns.Load(), NumSubs: a.NumSubscriptions(),
		InMsgs: st.inMsgs.Load(), InBytes: st.inBytes.Load(), OutMsgs: st.outMsgs.Load(), OutBytes: st.outBytes.Load(),
		SlowConsumers: st.slowConsumers.Load(),
	}
}

// AccountDetail is one account's configuration and state (/accountz?acc=).
type AccountDetail struct {
	AccountStats
	Updated  time.Time
	Exports  []*Export
	Imports  []*Import
	Mappings []*Mapping
	Index    subject.Stats
}

// AccountDetail returns account name's detail; ok is false when there is
// no such account.
func (s *Server) AccountDetail(name string) (d AccountDetail, ok bool) {
	a := s.LookupAccount(name)
	if a == nil {
		return d, false
	}
	cfg := a.cfg.Load()
	return AccountDetail{
		AccountStats: a.Stats(), Updated: time.Unix(0, a.updated.Load()),
		Exports: cfg.exports, Imports: cfg.imports, Mappings: cfg.mappingList, Index: a.sl.Stats(),
	}, true
}
