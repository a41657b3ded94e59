package server

import (
	"cmp"
	"errors"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/natsd/natsd/server/subject"
)

// Data behind the monitoring endpoints, as plain structs with nats-server's
// JSON field names. The HTTP side lives in server/monitor.

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

	subsAll  []SubDetail // kept for closed connections
	userAll  string
	activity time.Time
	rtt      time.Duration // what RTT shows, for sort=rtt
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

// connInfo snapshots c for /connz.
func (c *client) connInfo() *ConnInfo {
	c.Lock()
	defer c.Unlock()
	return c.connInfoLocked()
}

// connInfoLocked is connInfo with the client's lock held (Closed takes it
// before the subscriptions go, so that a closed connection still lists
// them).
func (c *client) connInfoLocked() *ConnInfo {
	now := time.Now()
	last := c.LastActivityLocked()
	start := c.Start()
	inMsgs, inBytes := c.In()
	outMsgs, outBytes := c.OutLocked()
	ci := &ConnInfo{
		Cid:          c.cid,
		Kind:         "Client",
		Type:         "nats",
		IP:           c.Host(),
		Port:         c.Port(),
		Start:        start,
		LastActivity: last,
		Uptime:       FormatDuration(now.Sub(start)),
		Idle:         FormatDuration(now.Sub(last)),
		Pending:      c.PendingLocked(),
		InMsgs:       inMsgs,
		OutMsgs:      outMsgs,
		InBytes:      inBytes,
		OutBytes:     outBytes,
		NumSubs:      uint32(len(c.subs)),
		Name:         c.opts.Name,
		Lang:         c.opts.Lang,
		Version:      c.opts.Version,
		Account:      c.acc.Name,
		activity:     last,
	}
	if rtt := c.RTTLocked(); rtt > 0 {
		ci.RTT = rtt.String()
		ci.rtt = rtt
	}
	if c.user != nil {
		ci.userAll = c.user.Username
	} else if c.opts.User != "" && c.authed.Load() {
		ci.userAll = c.opts.User
	}
	if c.IsClosedLocked() {
		reason, stop := c.ClosedAtLocked()
		ci.Stop = &stop
		ci.Reason = reason.String()
		ci.Uptime = FormatDuration(stop.Sub(start))
	}
	for _, sub := range c.subs {
		ci.subsAll = append(ci.subsAll, sub.detail(c.cid))
	}
	ci.NumSubs = uint32(len(ci.subsAll))
	return ci
}

func (sub *subscription) detail(cid uint64) SubDetail {
	return SubDetail{Account: sub.acc.Name, Subject: sub.subject, Queue: sub.queue, Sid: string(sub.sid), Msgs: sub.delivered, Max: sub.max, Cid: cid}
}

// FormatDuration formats like nats-server's uptime: "1d2h3m4s", "5s".
func FormatDuration(d time.Duration) string {
	tsecs := int64(d / time.Second)
	tmins := tsecs / 60
	thrs := tmins / 60
	tdays := thrs / 24
	tyrs := tdays / 365
	switch {
	case tyrs > 0:
		return strconv.FormatInt(tyrs, 10) + "y" + strconv.FormatInt(tdays%365, 10) + "d" + strconv.FormatInt(thrs%24, 10) + "h" + strconv.FormatInt(tmins%60, 10) + "m" + strconv.FormatInt(tsecs%60, 10) + "s"
	case tdays > 0:
		return strconv.FormatInt(tdays, 10) + "d" + strconv.FormatInt(thrs%24, 10) + "h" + strconv.FormatInt(tmins%60, 10) + "m" + strconv.FormatInt(tsecs%60, 10) + "s"
	case thrs > 0:
		return strconv.FormatInt(thrs, 10) + "h" + strconv.FormatInt(tmins%60, 10) + "m" + strconv.FormatInt(tsecs%60, 10) + "s"
	case tmins > 0:
		return strconv.FormatInt(tmins, 10) + "m" + strconv.FormatInt(tsecs%60, 10) + "s"
	}
	return strconv.FormatInt(tsecs, 10) + "s"
}

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

// DefaultConnzLimit is /connz's default page size.
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

// Connz lists connections as nats-server's /connz does. It never fails:
// options Validate would refuse still give a page.
func (s *Server) Connz(o ConnzOptions) *Connz {
	o.Offset = max(o.Offset, 0)
	if o.Limit <= 0 {
		o.Limit = DefaultConnzLimit
	}
	if o.CID != 0 {
		o.Limit = 1 // as nats-server: one connection at most
	}
	if o.Account != "" && o.Account != GlobalAccountName {
		// nats-server answers an unknown account with an empty page that
		// has no server id and null connections.
		return &Connz{Now: time.Now().UTC(), Offset: o.Offset, Limit: o.Limit}
	}
	var list []*ConnInfo
	if o.State != "closed" {
		for _, c := range s.snapshotClients() {
			list = append(list, c.connInfo())
		}
	}
	if o.State == "closed" || o.State == "any" || o.State == "all" {
		s.closedMu.Lock()
		for _, ci := range s.closedRing {
			cp := *ci
			list = append(list, &cp)
		}
		s.closedMu.Unlock()
	}
	if o.User != "" {
		list = slices.DeleteFunc(list, func(ci *ConnInfo) bool { return ci.userAll != o.User })
	}
	// total counts the connections in the state asked for, before the cid
	// and mqtt_client filters pick from them (nats-server's numbers).
	total := len(list)
	switch {
	case o.MQTTClient != "":
		list = nil
	case o.CID != 0:
		list = slices.DeleteFunc(list, func(ci *ConnInfo) bool { return ci.Cid != o.CID })
	}
	sortConns(list, o.Sort)
	// Offset and Limit are any non-negative ints: no start+limit, which
	// overflows for limit=MaxInt.
	start := min(o.Offset, len(list))
	page := list[start : start+min(o.Limit, len(list)-start)]
	for _, ci := range page {
		if o.Username {
			ci.AuthorizedUser = ci.userAll
		}
		if o.SubsDetail {
			ci.SubsDetail = ci.subsAll
		} else if o.Subs {
			for _, d := range ci.subsAll {
				ci.Subs = append(ci.Subs, d.Subject)
			}
		}
	}
	if page == nil {
		page = []*ConnInfo{}
	}
	return &Connz{ID: s.id, Now: time.Now().UTC(), NumConns: len(page), Total: total, Offset: o.Offset, Limit: o.Limit, Conns: page}
}

func sortConns(list []*ConnInfo, by string) {
	var key func(a, b *ConnInfo) int
	switch by {
	case "start":
		key = func(a, b *ConnInfo) int { return a.Start.Compare(b.Start) }
	case "subs":
		key = func(a, b *ConnInfo) int { return cmp.Compare(b.NumSubs, a.NumSubs) }
	case "pending":
		key = func(a, b *ConnInfo) int { return cmp.Compare(b.Pending, a.Pending) }
	case "msgs_to":
		key = func(a, b *ConnInfo) int { return cmp.Compare(b.OutMsgs, a.OutMsgs) }
	case "msgs_from":
		key = func(a, b *ConnInfo) int { return cmp.Compare(b.InMsgs, a.InMsgs) }
	case "bytes_to":
		key = func(a, b *ConnInfo) int { return cmp.Compare(b.OutBytes, a.OutBytes) }
	case "bytes_from":
		key = func(a, b *ConnInfo) int { return cmp.Compare(b.InBytes, a.InBytes) }
	case "last":
		key = func(a, b *ConnInfo) int { return b.activity.Compare(a.activity) }
	case "idle":
		key = func(a, b *ConnInfo) int { return a.activity.Compare(b.activity) }
	case "uptime":
		// Shortest first, as nats-server: a closed connection's uptime
		// ends at its stop.
		now := time.Now()
		key = func(a, b *ConnInfo) int { return cmp.Compare(uptimeOf(a, now), uptimeOf(b, now)) }
	case "stop":
		key = func(a, b *ConnInfo) int { return stopOf(b).Compare(stopOf(a)) }
	case "reason":
		key = func(a, b *ConnInfo) int { return cmp.Compare(a.Reason, b.Reason) }
	case "rtt":
		key = func(a, b *ConnInfo) int { return cmp.Compare(b.rtt, a.rtt) }
	}
	slices.SortStableFunc(list, func(a, b *ConnInfo) int {
		if key != nil {
			if r := key(a, b); r != 0 {
				return r
			}
		}
		return cmp.Compare(a.Cid, b.Cid)
	})
}

func uptimeOf(c *ConnInfo, now time.Time) time.Duration {
	if c.Stop != nil {
		return c.Stop.Sub(c.Start)
	}
	return now.Sub(c.Start)
}

func stopOf(c *ConnInfo) time.Time {
	if c.Stop == nil {
		return time.Time{}
	}
	return *c.Stop
}

// Subsz is /subsz.
type Subsz struct {
	ID        string      `json:"server_id"`
	Now       time.Time   `json:"now"`
	NumSubs   uint32      `json:"num_subscriptions"`
	NumCache  uint32      `json:"num_cache"`
	NumInsert uint64      `json:"num_inserts"`
	NumRemove uint64      `json:"num_removes"`
	NumMatch  uint64      `json:"num_matches"`
	CacheHit  float64     `json:"cache_hit_rate"`
	MaxFanout uint32      `json:"max_fanout"`
	AvgFanout float64     `json:"avg_fanout"`
	Total     int         `json:"total"`
	Offset    int         `json:"offset"`
	Limit     int         `json:"limit"`
	Subs      []SubDetail `json:"subscriptions_list,omitempty"`
}

// SubszOptions are /subsz's query parameters. Subsz accepts any values, as
// Connz does; ValidSubszTest is the check nats-server makes on Test.
type SubszOptions struct {
	Subs    bool
	Offset  int
	Limit   int
	Test    string // only subscriptions matching this literal subject
	Account string // acc: "" or $G for natsd's one account
}

// ValidSubszTest reports whether test is a subject /subsz can match
// against: what nats-server calls a valid publish subject — non-empty
// tokens, none of them a wildcard. Other bytes, spaces included, pass.
func ValidSubszTest(test string) bool {
	return test != "" && !subject.HasWildcard(test) &&
		test[0] != '.' && test[len(test)-1] != '.' && !strings.Contains(test, "..")
}

// Subsz reports the subject trie as nats-server's /subsz does. Listings show
// local subscriptions only.
func (s *Server) Subsz(o SubszOptions) *Subsz {
	o.Offset = max(o.Offset, 0)
	if o.Limit <= 0 {
		o.Limit = DefaultConnzLimit
	}
	if o.Account != "" && o.Account != GlobalAccountName {
		// An account natsd does not have: nats-server shows it empty.
		return &Subsz{ID: s.id, Now: time.Now().UTC(), Offset: o.Offset, Limit: o.Limit}
	}
	st := s.gacc.sl.Stats()
	sz := &Subsz{
		ID: s.id, Now: time.Now().UTC(),
		NumSubs: uint32(st.NumSubs), NumCache: uint32(st.NumCache), NumInsert: st.NumInserts, NumRemove: st.NumRemoves,
		NumMatch: st.NumMatches, CacheHit: st.CacheHitRate, MaxFanout: uint32(st.MaxFanout), AvgFanout: st.AvgFanout,
		Offset: o.Offset, Limit: o.Limit,
	}
	if !o.Subs {
		return sz
	}
	var all []SubDetail
	if o.Test != "" {
		r := s.gacc.sl.Match([]byte(o.Test))
		for _, sub := range r.Plain {
			all = appendLocalDetail(all, sub)
		}
		for _, qg := range r.Queues {
			for _, sub := range qg.Members {
				all = appendLocalDetail(all, sub)
			}
		}
	} else {
		s.gacc.sl.All(func(_, _ string, sub *subscription) bool {
			all = appendLocalDetail(all, sub)
			return true
		})
	}
	slices.SortFunc(all, func(a, b SubDetail) int {
		return cmp.Or(cmp.Compare(a.Cid, b.Cid), cmp.Compare(a.Sid, b.Sid))
	})
	sz.Total = len(all)
	start := min(o.Offset, len(all))
	sz.Subs = all[start : start+min(o.Limit, len(all)-start)]
	return sz
}

// appendLocalDetail lists a client's subscription (subscriptions_list
// shows clients' only, with their cid and sid).
func appendLocalDetail(all []SubDetail, sub *subscription) []SubDetail {
	c, ok := sub.to.(*client)
	if !ok {
		return all
	}
	c.Lock()
	d := sub.detail(c.cid)
	c.Unlock()
	return append(all, d)
}

// Varz is /varz: the fields natsd has, with nats-server's names.
type Varz struct {
	ID               string            `json:"server_id"`
	Name             string            `json:"server_name"`
	Version          string            `json:"version"`
	NatsdVersion     string            `json:"natsd_version"`
	Proto            int               `json:"proto"`
	GoVersion        string            `json:"go"`
	Host             string            `json:"host"`
	Port             int               `json:"port"`
	AuthRequired     bool              `json:"auth_required,omitempty"`
	MaxConn          int               `json:"max_connections"`
	MaxSubs          int               `json:"max_subscriptions,omitempty"`
	PingInterval     time.Duration     `json:"ping_interval"`
	MaxPingsOut      int               `json:"ping_max"`
	HTTPHost         string            `json:"http_host"`
	HTTPPort         int               `json:"http_port"`
	HTTPBasePath     string            `json:"http_base_path"`
	HTTPSPort        int               `json:"https_port"`
	AuthTimeout      float64           `json:"auth_timeout"`
	MaxControlLine   int               `json:"max_control_line"`
	MaxPayload       int               `json:"max_payload"`
	MaxPending       int64             `json:"max_pending"`
	Cluster          ClusterOptsVarz   `json:"cluster"`
	TLSTimeout       float64           `json:"tls_timeout"`
	WriteDeadline    time.Duration     `json:"write_deadline"`
	Start            time.Time         `json:"start"`
	Now              time.Time         `json:"now"`
	Uptime           string            `json:"uptime"`
	Mem              int64             `json:"mem"`
	Cores            int               `json:"cores"`
	MaxProcs         int               `json:"gomaxprocs"`
	CPU              float64           `json:"cpu"`
	Connections      int               `json:"connections"`
	TotalConnections uint64            `json:"total_connections"`
	Routes           int               `json:"routes"`
	Remotes          int               `json:"remotes"`
	Leafs            int               `json:"leafnodes"`
	InMsgs           int64             `json:"in_msgs"`
	OutMsgs          int64             `json:"out_msgs"`
	InBytes          int64             `json:"in_bytes"`
	OutBytes         int64             `json:"out_bytes"`
	SlowConsumers    int64             `json:"slow_consumers"`
	StaleConnections int64             `json:"stale_connections"`
	Subscriptions    uint32            `json:"subscriptions"`
	HTTPReqStats     map[string]uint64 `json:"http_req_stats"`
	ConfigLoadTime   time.Time         `json:"config_load_time"`
	ConnectURLs      []string          `json:"connect_urls,omitempty"`
	ConfigDigest     string            `json:"config_digest,omitempty"`
	SystemAccount    string            `json:"system_account,omitempty"`
	// natsd's reload status: when the last reload ran and how it ended.
	LastReload      *time.Time `json:"last_reload,omitempty"`
	LastReloadError string     `json:"last_reload_error,omitempty"`
	Goroutines      int        `json:"goroutines"`
}

// ClusterOptsVarz is /varz "cluster".
type ClusterOptsVarz struct {
	Name        string   `json:"name,omitempty"`
	Host        string   `json:"addr,omitempty"`
	Port        int      `json:"cluster_port,omitempty"`
	AuthTimeout float64  `json:"auth_timeout,omitempty"`
	URLs        []string `json:"urls,omitempty"`
	TLSTimeout  float64  `json:"tls_timeout,omitempty"`
}

// Varz fills the server's part of /varz; the daemon adds cluster, HTTP and
// reload fields.
func (s *Server) Varz() *Varz {
	o := s.getOpts()
	now := time.Now()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.mu.Lock()
	host, port := s.clientHostPort()
	nconn := len(s.clients)
	var urls []string
	if len(s.peerURLs) > 0 {
		urls = append(s.ownClientURLs(), s.peerURLs...)
	}
	s.mu.Unlock()
	return &Varz{
		ID: s.id, Name: o.ServerName, Version: ProtocolVersion, NatsdVersion: s.version, Proto: 1,
		GoVersion: runtime.Version(), Host: host, Port: port, AuthRequired: o.Auth.Required(),
		MaxConn: o.MaxConnections, MaxSubs: o.MaxSubs, PingInterval: o.PingInterval, MaxPingsOut: o.PingMax,
		AuthTimeout: o.Auth.Timeout.Seconds(), MaxControlLine: o.MaxControlLine, MaxPayload: o.MaxPayload,
		MaxPending: o.MaxPending, TLSTimeout: 2, WriteDeadline: o.WriteDeadline,
		Start: s.start, Now: now, Uptime: FormatDuration(now.Sub(s.start)),
		Mem: int64(ms.Sys - ms.HeapReleased), Cores: runtime.NumCPU(), MaxProcs: runtime.GOMAXPROCS(0),
		CPU:         processCPU(now.Sub(s.start)),
		Connections: nconn, TotalConnections: s.totalConns.Load(),
		InMsgs: s.stats.inMsgs.Load(), OutMsgs: s.stats.outMsgs.Load(),
		InBytes: s.stats.inBytes.Load(), OutBytes: s.stats.outBytes.Load(),
		SlowConsumers: s.stats.slowConsumers.Load(), StaleConnections: s.stats.staleConnections.Load(),
		Subscriptions: uint32(s.gacc.sl.Count()), ConnectURLs: urls, Goroutines: goroutines(),
	}
}

// ClientURL is "nats://host:port" for the client listener, for logs and the
// ports file.
func (s *Server) ClientURL() string {
	s.mu.Lock()
	host, port := s.clientHostPort()
	s.mu.Unlock()
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(port))
}
