package monitor

import (
	"cmp"
	"errors"
	"slices"
	"time"

	"github.com/natsd/natsd/server"
)

// ConnzOptions are /connz's query parameters. Connz accepts any values
// (a negative offset counts as 0, a limit of 0 or less as the default);
// Validate reports the combinations nats-server refuses.
type ConnzOptions struct {
	Sort       string // cid (default), start, subs, pending, msgs_to, msgs_from, bytes_to, bytes_from, last, idle, uptime, stop, reason, rtt
	Username   bool   // auth=true: show authorized_user
	Subs       bool
	SubsDetail bool
	Offset     int
	Limit      int // default 1024
	CID        uint64
	State      string // open (default), closed, any/all
	User       string
	Account    string
	MQTTClient string // mqtt_client: natsd has no MQTT clients, so any value matches none
}

// Connz is /connz.
type Connz struct {
	ID       string      `json:"server_id"`
	Now      time.Time   `json:"now"`
	NumConns int         `json:"num_connections"`
	Total    int         `json:"total"`
	Offset   int         `json:"offset"`
	Limit    int         `json:"limit"`
	Conns    []*ConnInfo `json:"connections"`
}

// ConnInfo is one entry of /connz.
type ConnInfo struct {
	Cid            uint64      `json:"cid"`
	Kind           string      `json:"kind"`
	Type           string      `json:"type"`
	IP             string      `json:"ip"`
	Port           int         `json:"port"`
	Start          time.Time   `json:"start"`
	LastActivity   time.Time   `json:"last_activity"`
	Stop           *time.Time  `json:"stop,omitempty"`
	Reason         string      `json:"reason,omitempty"`
	RTT            string      `json:"rtt,omitempty"`
	Uptime         string      `json:"uptime"`
	Idle           string      `json:"idle"`
	Pending        int         `json:"pending_bytes"`
	InMsgs         int64       `json:"in_msgs"`
	OutMsgs        int64       `json:"out_msgs"`
	InBytes        int64       `json:"in_bytes"`
	OutBytes       int64       `json:"out_bytes"`
	NumSubs        uint32      `json:"subscriptions"`
	Name           string      `json:"name,omitempty"`
	Lang           string      `json:"lang,omitempty"`
	Version        string      `json:"version,omitempty"`
	AuthorizedUser string      `json:"authorized_user,omitempty"`
	Account        string      `json:"account,omitempty"`
	Subs           []string    `json:"subscriptions_list,omitempty"`
	SubsDetail     []SubDetail `json:"subscriptions_list_detail,omitempty"`
	TLSVersion     string      `json:"tls_version,omitempty"`
	TLSCipherSuite string      `json:"tls_cipher_suite,omitempty"`
	TLSPeerCerts   []PeerCert  `json:"tls_peer_certs,omitempty"`
	TLSFirst       bool        `json:"tls_first,omitempty"`
}

// PeerCert is one certificate a TLS client presented.
type PeerCert struct {
	Subject    string `json:"subject,omitempty"`
	SPKISHA256 string `json:"spki_sha256,omitempty"`
	CertSHA256 string `json:"cert_sha256,omitempty"`
}

// SubDetail is one subscription in /connz and /subsz listings.
type SubDetail struct {
	Account string `json:"account,omitempty"`
	Subject string `json:"subject"`
	Queue   string `json:"qgroup,omitempty"`
	Sid     string `json:"sid"`
	Msgs    int64  `json:"msgs"`
	Max     int64  `json:"max,omitempty"`
	Cid     uint64 `json:"cid"`
}

func subDetail(s server.SubStats) SubDetail {
	return SubDetail{Account: s.Account, Subject: s.Subject, Queue: s.Queue, Sid: s.Sid, Msgs: s.Msgs, Max: s.Max, Cid: s.Cid}
}

// DefaultConnzLimit is /connz's (and /subsz's) default page size.
const DefaultConnzLimit = 1024

// ValidConnzSort reports whether sort is a sort key /connz knows.
func ValidConnzSort(sort string) bool {
	switch sort {
	case "", "cid", "start", "subs", "pending", "msgs_to", "msgs_from", "bytes_to", "bytes_from", "last", "idle", "uptime", "stop", "reason", "rtt":
		return true
	}
	return false
}

// Validate reports what nats-server answers 400 to, with its text: an
// unknown sort key, and sort=stop or sort=reason on anything but closed
// connections (open ones have neither).
func (o *ConnzOptions) Validate() error {
	if !ValidConnzSort(o.Sort) {
		return errors.New("invalid sorting option: " + o.Sort)
	}
	if (o.Sort == "stop" || o.Sort == "reason") && o.State != "closed" {
		return errors.New("sort by " + o.Sort + " only valid on closed connections")
	}
	return nil
}

// BuildConnz lists connections as nats-server's /connz does. It never fails:
// options Validate would refuse still give a page.
func BuildConnz(srv *server.Server, o ConnzOptions) *Connz {
	o.Offset = max(o.Offset, 0)
	if o.Limit <= 0 {
		o.Limit = DefaultConnzLimit
	}
	if o.CID != 0 {
		o.Limit = 1 // as nats-server: one connection at most
	}
	if o.Account != "" && srv.LookupAccount(o.Account) == nil {
		// nats-server answers an unknown account with an empty page that
		// has no server id and null connections.
		return &Connz{Now: time.Now().UTC(), Offset: o.Offset, Limit: o.Limit}
	}
	open := o.State != "closed"
	closed := o.State == "closed" || o.State == "any" || o.State == "all"
	list := srv.Conns(open, closed)
	if o.User != "" {
		list = slices.DeleteFunc(list, func(c *server.ConnStats) bool { return c.User != o.User })
	}
	if o.Account != "" {
		list = slices.DeleteFunc(list, func(c *server.ConnStats) bool { return c.Account != o.Account })
	}
	// total counts the connections in the state asked for, before the cid
	// and mqtt_client filters pick from them (nats-server's numbers).
	total := len(list)
	switch {
	case o.MQTTClient != "":
		list = nil
	case o.CID != 0:
		list = slices.DeleteFunc(list, func(c *server.ConnStats) bool { return c.Cid != o.CID })
	}
	now := time.Now()
	SortConns(list, o.Sort, now)
	conns := []*ConnInfo{}
	for _, c := range page(list, o.Offset, o.Limit) {
		conns = append(conns, connInfo(c, &o, now))
	}
	return &Connz{ID: srv.ID(), Now: now.UTC(), NumConns: len(conns), Total: total, Offset: o.Offset, Limit: o.Limit, Conns: conns}
}

// connInfo is the /connz entry of c.
func connInfo(c *server.ConnStats, o *ConnzOptions, now time.Time) *ConnInfo {
	ci := &ConnInfo{
		Cid: c.Cid, Kind: "Client", Type: cmp.Or(c.Type, "nats"), IP: c.IP, Port: c.Port,
		Start: c.Start, LastActivity: c.LastActivity,
		Uptime: FormatDuration(uptimeOf(c, now)), Idle: FormatDuration(now.Sub(c.LastActivity)),
		Pending: c.Pending, InMsgs: c.InMsgs, OutMsgs: c.OutMsgs, InBytes: c.InBytes, OutBytes: c.OutBytes,
		NumSubs: uint32(len(c.Subs)), Name: c.Name, Lang: c.Lang, Version: c.Version, Account: c.Account,
	}
	if c.RTT > 0 {
		ci.RTT = c.RTT.String()
	}
	ci.TLSVersion, ci.TLSCipherSuite, ci.TLSFirst = c.TLSVersion, c.TLSCipherSuite, c.TLSFirst
	for _, pc := range c.TLSPeerCerts {
		ci.TLSPeerCerts = append(ci.TLSPeerCerts, PeerCert{Subject: pc.Subject, SPKISHA256: pc.SPKISHA256, CertSHA256: pc.CertSHA256})
	}
	if !c.Stop.IsZero() {
		stop := c.Stop
		ci.Stop = &stop
		ci.Reason = c.Reason
	}
	if o.Username {
		ci.AuthorizedUser = c.User
	}
	if o.SubsDetail || o.Subs {
		subs := slices.Clone(c.Subs)
		slices.SortFunc(subs, func(a, b server.SubStats) int { return cmp.Compare(a.Sid, b.Sid) })
		for _, s := range subs {
			if o.SubsDetail {
				ci.SubsDetail = append(ci.SubsDetail, subDetail(s))
			} else {
				ci.Subs = append(ci.Subs, s.Subject)
			}
		}
	}
	return ci
}

// SortConns orders connections by a /connz sort key, ties (and the
// default) by cid.
func SortConns(list []*server.ConnStats, by string, now time.Time) {
	var key func(a, b *server.ConnStats) int
	switch by {
	case "start":
		key = func(a, b *server.ConnStats) int { return a.Start.Compare(b.Start) }
	case "subs":
		key = func(a, b *server.ConnStats) int { return cmp.Compare(len(b.Subs), len(a.Subs)) }
	case "pending":
		key = func(a, b *server.ConnStats) int { return cmp.Compare(b.Pending, a.Pending) }
	case "msgs_to":
		key = func(a, b *server.ConnStats) int { return cmp.Compare(b.OutMsgs, a.OutMsgs) }
	case "msgs_from":
		key = func(a, b *server.ConnStats) int { return cmp.Compare(b.InMsgs, a.InMsgs) }
	case "bytes_to":
		key = func(a, b *server.ConnStats) int { return cmp.Compare(b.OutBytes, a.OutBytes) }
	case "bytes_from":
		key = func(a, b *server.ConnStats) int { return cmp.Compare(b.InBytes, a.InBytes) }
	case "last":
		key = func(a, b *server.ConnStats) int { return b.LastActivity.Compare(a.LastActivity) }
	case "idle":
		key = func(a, b *server.ConnStats) int { return a.LastActivity.Compare(b.LastActivity) }
	case "uptime":
		// Shortest first, as nats-server: a closed connection's uptime
		// ends at its stop.
		key = func(a, b *server.ConnStats) int { return cmp.Compare(uptimeOf(a, now), uptimeOf(b, now)) }
	case "stop":
		key = func(a, b *server.ConnStats) int { return b.Stop.Compare(a.Stop) }
	case "reason":
		key = func(a, b *server.ConnStats) int { return cmp.Compare(a.Reason, b.Reason) }
	case "rtt":
		key = func(a, b *server.ConnStats) int { return cmp.Compare(b.RTT, a.RTT) }
	}
	slices.SortStableFunc(list, func(a, b *server.ConnStats) int {
		if key != nil {
			if r := key(a, b); r != 0 {
				return r
			}
		}
		return cmp.Compare(a.Cid, b.Cid)
	})
}

func uptimeOf(c *server.ConnStats, now time.Time) time.Duration {
	if !c.Stop.IsZero() {
		return c.Stop.Sub(c.Start)
	}
	return now.Sub(c.Start)
}
