package sysacct

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/cluster"
	"github.com/natsd/natsd/jetstream"
	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/monitor"
)

// DefaultStatszInterval is how often a server broadcasts its statistics on
// $SYS.SERVER.<id>.STATSZ.
const DefaultStatszInterval = 10 * time.Second

// Config is what the service needs; the daemon fills it.
type Config struct {
	Server *server.Server
	// Cluster returns the cluster's statistics (nil: not clustered).
	Cluster func() *cluster.Stats
	// Daemon returns what /varz shows of the daemon.
	Daemon func() monitor.DaemonStats
	// Health is the watchdog's check (HEALTHZ). Optional.
	Health func() error
	// JetStream is the server's JetStream (JSZ, and "jetstream" in every
	// server info); nil when off.
	JetStream *jetstream.Engine
	// Reload runs a config reload and says what it changed (RELOAD).
	// Optional: without it RELOAD is not answered.
	Reload func() ([]string, error)
	Log    *zap.Logger
	// StatszInterval between STATSZ broadcasts (0: the default).
	StatszInterval time.Duration
}

// Service answers the system account's requests and publishes its events.
// It implements server.EventSink.
type Service struct {
	cfg  Config
	srv  *server.Server
	acc  *server.Account
	seq  atomic.Uint64
	subs []*server.Subscription

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// Start subscribes the system account's requests, connects the client
// events and starts the STATSZ heartbeat.
func Start(cfg Config) (*Service, error) {
	if cfg.Log == nil {
		cfg.Log = zap.NewNop()
	}
	if cfg.StatszInterval <= 0 {
		cfg.StatszInterval = DefaultStatszInterval
	}
	s := &Service{cfg: cfg, srv: cfg.Server, acc: cfg.Server.SystemAccount(), stop: make(chan struct{})}
	if s.acc == nil {
		return nil, errors.New("sysacct: the server has no system account")
	}
	// Each endpoint is its own subscription, as nats-server's: a request
	// for one no server has gets "no responders" at once, not a timeout.
	handlers := map[string]server.MsgHandler{
		"$SYS.REQ.SERVER.PING": s.ping,
		"$SYS.REQ.ACCOUNT.*.*": s.accountRequest,
	}
	for _, ep := range serverEndpoints {
		handlers["$SYS.REQ.SERVER."+s.srv.ID()+"."+ep] = s.serverRequest
		if !oneServerOnly[ep] {
			handlers["$SYS.REQ.SERVER.PING."+ep] = s.serverRequest
		}
	}
	for subj, h := range handlers {
		sub, err := s.acc.Subscribe(subj, "", h)
		if err != nil {
			s.Stop()
			return nil, err
		}
		s.subs = append(s.subs, sub)
	}
	s.srv.SetEventSink(s)
	s.wg.Add(1)
	go s.heartbeat()
	return s, nil
}

// Stop publishes $SYS.SERVER.<id>.SHUTDOWN, stops the heartbeat and ends
// the subscriptions. It is idempotent.
func (s *Service) Stop() { s.close(true) }

// Close stops the service without saying the server goes away: a reload
// moved the system account and a new service takes over.
func (s *Service) Close() { s.close(false) }

func (s *Service) close(shutdown bool) {
	s.stopOnce.Do(func() {
		close(s.stop)
		s.wg.Wait()
		s.srv.RemoveEventSink(s)
		if shutdown {
			s.publish("$SYS.SERVER."+s.srv.ID()+".SHUTDOWN", &shutdownEvent{Server: s.info()})
		}
		for _, sub := range s.subs {
			sub.Unsubscribe()
		}
	})
}

// heartbeat broadcasts STATSZ every interval.
func (s *Service) heartbeat() {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.StatszInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.broadcastStatsz()
		}
	}
}

// info is this server's identity for an event or reply; each carries the
// next sequence number.
func (s *Service) info() *ServerInfo {
	in := s.identity()
	in.Seq, in.Time = s.seq.Add(1), time.Now().UTC()
	return in
}

// identity is who this server is: name, host, id, cluster, version.
func (s *Service) identity() *ServerInfo {
	st := s.srv.Stats()
	in := &ServerInfo{Name: st.Name, Host: st.Host, ID: st.ID, Version: server.ProtocolVersion}
	if s.cfg.JetStream != nil {
		// Flag 1: JetStream on. nats-server also sets 2 and 4 (binary
		// stream snapshots, account NRG), which natsd does not have.
		in.JetStream, in.Flags = true, 1
	}
	if cs := s.clusterStats(); cs != nil {
		in.Cluster = cs.Name
	}
	return in
}

func (s *Service) clusterStats() *cluster.Stats {
	if s.cfg.Cluster == nil {
		return nil
	}
	return s.cfg.Cluster()
}

func (s *Service) daemonStats() monitor.DaemonStats {
	if s.cfg.Daemon == nil {
		return monitor.DaemonStats{}
	}
	return s.cfg.Daemon()
}

// publish sends v, as JSON, on subj in the system account.
func (s *Service) publish(subj string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.cfg.Log.Warn("System account: cannot encode "+subj, zap.Error(err))
		return
	}
	if err := s.acc.Publish(subj, "", nil, b); err != nil {
		s.cfg.Log.Warn("System account: cannot publish "+subj, zap.Error(err))
	}
}

// respond answers a request (nothing when it has no reply subject).
func (s *Service) respond(m server.Msg, v any) {
	if len(m.Reply) == 0 {
		return
	}
	s.publish(string(m.Reply), v)
}

// ping answers $SYS.REQ.SERVER.PING with STATSZ, or broadcasts STATSZ when
// it came without a reply subject (nats-server does: recorded).
func (s *Service) ping(m server.Msg) {
	if len(m.Reply) == 0 {
		s.broadcastStatsz()
		return
	}
	if !s.chosen(m) {
		return
	}
	s.respond(m, &statszMsg{Server: s.info(), Statsz: s.statsz()})
}

// chosen applies a request's server filter: false means this server does
// not answer (filtered out, or told the filter does not decode).
func (s *Service) chosen(m server.Msg) bool {
	f, err := decodeFilter(m.Data)
	if err != nil {
		s.respond(m, &reply{Server: s.info(), Error: &apiError{Code: 400, Description: err.Error()}})
		return false
	}
	return !f.excludes(s.identity())
}

func (s *Service) broadcastStatsz() {
	s.publish("$SYS.SERVER."+s.srv.ID()+".STATSZ", &statszMsg{Server: s.info(), Statsz: s.statsz()})
}

// statsz is the server's statistics now.
func (s *Service) statsz() *Statsz {
	st := s.srv.Stats()
	v := monitor.BuildVarz(s.srv, nil, monitor.DaemonStats{})
	z := &Statsz{
		Start: st.Start, Mem: v.Mem, Cores: v.Cores, CPU: v.CPU,
		Connections: st.Connections, TotalConnections: st.TotalConnections, NumSubs: uint32(st.Subscriptions),
		Sent: dataStats{st.OutMsgs, st.OutBytes}, SentToClients: dataStats{st.OutMsgs, st.OutBytes},
		Received: dataStats{st.InMsgs, st.InBytes}, ReceivedFromClients: dataStats{st.InMsgs, st.InBytes},
		SlowConsumers: st.SlowConsumers, ActiveServers: 1, GoMaxProcs: runtime.GOMAXPROCS(0),
	}
	if s.cfg.JetStream != nil {
		js := s.cfg.JetStream.Varz()
		js.Config.StoreDir = "" // STATSZ leaves it out (recorded)
		z.JetStream = js
	}
	for _, a := range s.srv.AccountStats() {
		if a.Conns > 0 {
			z.ActiveAccounts++
		}
	}
	if cs := s.clusterStats(); cs != nil {
		z.ActiveServers += len(cs.Routes)
		for _, r := range cs.Routes {
			z.Routes = append(z.Routes, &routeStatsz{
				ID: r.Rid, Name: r.RemoteName, Sent: dataStats{r.OutMsgs, r.OutBytes}, Received: dataStats{r.InMsgs, r.InBytes}, Pending: r.Pending,
			})
		}
	}
	return z
}

// serverEndpoints are the $SYS.REQ.SERVER.<id|PING>.<endpoint> natsd
// answers; EXPVARZ, IPQUEUESZ and PROFILEZ are nats-server's and not
// (yet) natsd's.
var serverEndpoints = []string{"VARZ", "CONNZ", "SUBSZ", "ROUTEZ", "GATEWAYZ", "LEAFZ", "ACCOUNTZ", "JSZ", "RAFTZ", "HEALTHZ", "STATSZ", "IDZ", "RELOAD", "KICK", "LDM"}

// oneServerOnly are the endpoints asked of one server by its id, never by
// PING (nats-server has no PING subscription for them).
var oneServerOnly = map[string]bool{"RELOAD": true, "KICK": true, "LDM": true}

// serverRequest answers $SYS.REQ.SERVER.PING.<endpoint> and
// $SYS.REQ.SERVER.<id>.<endpoint>.
func (s *Service) serverRequest(m server.Msg) {
	subj := string(m.Subject)
	endpoint := subj[strings.LastIndexByte(subj, '.')+1:]
	if endpoint != "IDZ" && !s.chosen(m) { // IDZ is answered by every server, as nats-server
		return
	}
	switch endpoint {
	case "STATSZ":
		s.respond(m, &statszMsg{Server: s.info(), Statsz: s.statsz()})
		return
	case "IDZ":
		st := s.srv.Stats()
		s.respond(m, &idz{Name: st.Name, Host: st.Host, ID: st.ID})
		return
	case "KICK", "LDM":
		s.clientRequest(m, endpoint)
		return
	}
	data, err := s.endpoint(endpoint, "", m.Data)
	switch {
	case errors.Is(err, errUnknownEndpoint):
		return // nats-server does not answer endpoints it does not have
	case errors.As(err, new(reloadError)):
		s.respond(m, &reply{Server: s.info(), Error: &apiError{Code: 500, Description: err.Error()}})
	case err != nil:
		s.respond(m, &reply{Server: s.info(), Error: &apiError{Code: 400, Description: err.Error()}})
	default:
		s.respond(m, &reply{Server: s.info(), Data: data})
	}
}

// clientRequest answers KICK (close a client) and LDM (tell a client to
// move to another server), both {"cid": N}, with nats-server's replies: the
// server info alone, or code 500. A payload that does not decode, which
// nats-server leaves unanswered, is told so.
func (s *Service) clientRequest(m server.Msg, endpoint string) {
	var o struct {
		CID uint64 `json:"cid"`
	}
	if err := json.Unmarshal(m.Data, &o); err != nil {
		s.respond(m, &reply{Server: s.info(), Error: &apiError{Code: 400, Description: err.Error()}})
		return
	}
	var ok bool
	var missing string
	if endpoint == "KICK" {
		ok, missing = s.srv.Kick(o.CID), "no such client or leafnode id"
		if ok {
			s.cfg.Log.Info(fmt.Sprintf("Closed client %d at the system account's request", o.CID))
		}
	} else {
		ok, missing = s.srv.LameDuckClient(o.CID), "no such client id"
	}
	if !ok {
		s.respond(m, &reply{Server: s.info(), Error: &apiError{Code: 500, Description: missing}})
		return
	}
	s.respond(m, &reply{Server: s.info()})
}

// LameDuck publishes $SYS.SERVER.<id>.LAMEDUCK: the server info alone, as
// nats-server sends it when lame duck mode begins.
func (s *Service) LameDuck() {
	s.publish("$SYS.SERVER."+s.srv.ID()+".LAMEDUCK", s.info())
}

var errUnknownEndpoint = errors.New("unknown endpoint")

// reloadError is a failed reload: nats-server answers it with code 500,
// not 400 (the request was fine; the config was not).
type reloadError struct{ error }

// endpoint computes one endpoint's data, with options decoded from the
// request's JSON (empty: the defaults); acc scopes it to one account.
func (s *Service) endpoint(name, acc string, payload []byte) (any, error) {
	decode := func(v any) error {
		if len(strings.TrimSpace(string(payload))) == 0 {
			return nil
		}
		return json.Unmarshal(payload, v)
	}
	switch name {
	case "VARZ":
		var o struct{}
		if err := decode(&o); err != nil {
			return nil, err
		}
		return monitor.BuildVarz(s.srv, s.clusterStats(), s.daemonStats()), nil
	case "CONNZ":
		var o connzOptions
		if err := decode(&o); err != nil {
			return nil, err
		}
		co := o.monitor()
		if acc != "" {
			co.Account = acc
		}
		if err := co.Validate(); err != nil {
			return nil, err
		}
		return monitor.BuildConnz(s.srv, co), nil
	case "SUBSZ":
		var o subszOptions
		if err := decode(&o); err != nil {
			return nil, err
		}
		so := monitor.SubszOptions{Subs: o.Subscriptions, Offset: o.Offset, Limit: o.Limit, Test: o.Test, Account: o.Account}
		if acc != "" {
			so.Account = acc
		}
		if so.Test != "" && !monitor.ValidSubszTest(so.Test) {
			return nil, errors.New("invalid test subject, must be valid publish subject: " + so.Test)
		}
		return monitor.BuildSubsz(s.srv, so), nil
	case "ROUTEZ":
		var o struct {
			Subs       bool `json:"subscriptions"`
			SubsDetail bool `json:"subscriptions_detail"`
		}
		if err := decode(&o); err != nil {
			return nil, err
		}
		return monitor.BuildRoutez(s.srv.ID(), s.srv.Name(), s.clusterStats(), o.Subs || o.SubsDetail), nil
	case "JSZ":
		var o jetstream.JSZOptions
		if err := decode(&o); err != nil {
			return nil, err
		}
		if s.cfg.JetStream == nil {
			return nil, errUnknownEndpoint
		}
		return s.cfg.JetStream.JSZ(o), nil
	case "RAFTZ":
		var o struct {
			Account string `json:"account"`
			Group   string `json:"group"`
		}
		if err := decode(&o); err != nil {
			return nil, err
		}
		// A server with no Raft group answers an empty map, as
		// nats-server does here (its /raftz says 404 instead).
		rz, ok := s.cfg.JetStream.Raftz(o.Account, o.Group)
		if !ok {
			rz = jetstream.Raftz{}
		}
		return rz, nil
	case "ACCOUNTZ":
		var o struct {
			Account string `json:"account"`
		}
		if err := decode(&o); err != nil {
			return nil, err
		}
		az, ok := monitor.BuildAccountz(s.srv, o.Account)
		if !ok {
			return nil, errors.New("Account " + o.Account + " does not exist")
		}
		return az, nil
	case "GATEWAYZ": // natsd has no gateways: the empty answer
		return map[string]any{"server_id": s.srv.ID(), "now": time.Now().UTC(), "outbound_gateways": map[string]any{}, "inbound_gateways": map[string]any{}}, nil
	case "LEAFZ": // nor leaf nodes (yet)
		return map[string]any{"server_id": s.srv.ID(), "now": time.Now().UTC(), "leafnodes": 0, "leafs": []any{}}, nil
	case "HEALTHZ":
		if s.cfg.Health != nil {
			if err := s.cfg.Health(); err != nil {
				return map[string]any{"status": "unavailable", "status_code": 503, "error": err.Error()}, nil
			}
		}
		return map[string]any{"status": "ok", "status_code": 200}, nil
	case "RELOAD":
		if s.cfg.Reload == nil {
			return nil, errUnknownEndpoint
		}
		changes, err := s.cfg.Reload()
		if err != nil {
			return nil, reloadError{err}
		}
		if changes == nil {
			changes = []string{}
		}
		return &reloadResult{Changes: changes}, nil
	}
	return nil, errUnknownEndpoint
}

// accountRequest answers $SYS.REQ.ACCOUNT.<acc>.<endpoint>: CONNZ and
// SUBSZ scoped to the account, INFO (its /accountz detail), CONNS and
// STATZ (its counters).
func (s *Service) accountRequest(m server.Msg) {
	parts := strings.Split(string(m.Subject), ".")
	if len(parts) != 5 {
		return
	}
	acc, endpoint := parts[3], parts[4]
	if acc == "PING" {
		return // account pings are answered by the importing accounts (not served yet)
	}
	if s.srv.LookupAccount(acc) == nil {
		s.respond(m, &accountReply{Server: s.info(), Error: &apiError{Code: 500, Description: "Account " + acc + " does not exist"}})
		return
	}
	var data any
	var err error
	switch endpoint {
	case "JSZ":
		if s.cfg.JetStream == nil {
			return
		}
		var o jetstream.JSZOptions
		if len(strings.TrimSpace(string(m.Data))) > 0 {
			err = json.Unmarshal(m.Data, &o)
		}
		if err == nil {
			data = s.cfg.JetStream.AccountJSZ(acc, o)
		}
	case "CONNZ", "SUBSZ":
		data, err = s.endpoint(endpoint, acc, m.Data)
	case "INFO":
		az, _ := monitor.BuildAccountz(s.srv, acc)
		data = az.Account
	case "CONNS", "STATZ":
		for _, st := range monitor.BuildAccstatz(s.srv, true).Accounts {
			if st.Account == acc {
				data = st
			}
		}
	default:
		return
	}
	if err != nil {
		s.respond(m, &accountReply{Server: s.info(), Error: &apiError{Code: 400, Description: err.Error()}})
		return
	}
	s.respond(m, &accountReply{Server: s.info(), Data: data})
}

// connzOptions are /connz's options as a $SYS request's JSON carries them
// (nats-server's ConnzOptions).
type connzOptions struct {
	Sort          string `json:"sort"`
	Username      bool   `json:"auth"`
	Subscriptions bool   `json:"subscriptions"`
	SubsDetail    bool   `json:"subscriptions_detail"`
	Offset        int    `json:"offset"`
	Limit         int    `json:"limit"`
	CID           uint64 `json:"cid"`
	State         int    `json:"state"` // 0 open, 1 closed, 2 all
	User          string `json:"user"`
	Account       string `json:"acc"`
	MQTTClient    string `json:"mqtt_client"`
}

func (o connzOptions) monitor() monitor.ConnzOptions {
	state := map[int]string{0: "open", 1: "closed", 2: "any"}[o.State]
	if state == "" {
		state = "open"
	}
	return monitor.ConnzOptions{
		Sort: o.Sort, Username: o.Username, Subs: o.Subscriptions, SubsDetail: o.SubsDetail,
		Offset: o.Offset, Limit: o.Limit, CID: o.CID, State: state, User: o.User, Account: o.Account, MQTTClient: o.MQTTClient,
	}
}

// subszOptions are /subsz's options in a $SYS request.
type subszOptions struct {
	Offset        int    `json:"offset"`
	Limit         int    `json:"limit"`
	Subscriptions bool   `json:"subscriptions"`
	Account       string `json:"account"`
	Test          string `json:"test"`
}

// --- server.EventSink ---

// ClientConnected publishes $SYS.ACCOUNT.<acc>.CONNECT and the account's
// connection counts.
func (s *Service) ClientConnected(c *server.ConnStats) {
	s.publish("$SYS.ACCOUNT."+c.Account+".CONNECT", &connectEvent{
		Type: connectEventType, ID: server.NewEventID(), Timestamp: time.Now().UTC(), Server: s.info(), Client: s.client(c),
	})
	s.accountConns(c.Account)
}

// ClientDisconnected publishes $SYS.ACCOUNT.<acc>.DISCONNECT and the
// account's connection counts.
func (s *Service) ClientDisconnected(c *server.ConnStats) {
	ci := s.client(c)
	ci.RTT = c.RTT.String()
	stop := c.Stop.UTC()
	ci.Stop = &stop
	s.publish("$SYS.ACCOUNT."+c.Account+".DISCONNECT", &disconnectEvent{
		Type: disconnectEventType, ID: server.NewEventID(), Timestamp: time.Now().UTC(), Server: s.info(), Client: ci,
		Sent: dataStats{c.OutMsgs, c.OutBytes}, Received: dataStats{c.InMsgs, c.InBytes}, Reason: c.Reason,
	})
	s.accountConns(c.Account)
}

func (s *Service) client(c *server.ConnStats) *clientInfo {
	return &clientInfo{
		Start: c.Start.UTC(), Host: c.IP, ID: c.Cid, Account: c.Account, User: c.User, Name: c.Name, Lang: c.Lang,
		Version: c.Version, NameTag: c.Account, Kind: "Client", ClientType: "nats",
	}
}

// accountConns publishes an account's connection counts, on the subject
// nats-server uses now and on the older one it still sends.
func (s *Service) accountConns(acc string) {
	for _, st := range monitor.BuildAccstatz(s.srv, true).Accounts {
		if st.Account != acc {
			continue
		}
		ev := &accountConnsEvent{Type: accountConnsEventType, ID: server.NewEventID(), Timestamp: time.Now().UTC(), Server: s.info(), AccStatz: st}
		s.publish("$SYS.ACCOUNT."+acc+".SERVER.CONNS", ev)
		ev.Server = s.info()
		s.publish("$SYS.SERVER.ACCOUNT."+acc+".CONNS", ev)
		return
	}
}
