package monitor

import (
	"net/http"
	"time"

	"github.com/natsd/natsd/server"
)

// /accountz and /accstatz, with nats-server's field names.

// Accountz is /accountz: the accounts, or one account's detail (?acc=).
type Accountz struct {
	ID            string          `json:"server_id"`
	Now           time.Time       `json:"now"`
	SystemAccount string          `json:"system_account,omitempty"`
	Accounts      []string        `json:"accounts,omitempty"`
	Account       *AccountDetailz `json:"account_detail,omitempty"`
}

// AccountDetailz is one account in /accountz?acc=.
type AccountDetailz struct {
	Name        string       `json:"account_name"`
	Updated     time.Time    `json:"update_time"`
	Expired     bool         `json:"expired"`
	Complete    bool         `json:"complete"`
	JetStream   bool         `json:"jetstream_enabled"`
	LeafNodes   int          `json:"leafnode_connections"`
	Clients     int          `json:"client_connections"`
	SubCount    int          `json:"subscriptions"`
	Mappings    []MappingZ   `json:"mappings,omitempty"`
	Exports     []ExportZ    `json:"exports,omitempty"`
	Imports     []ImportZ    `json:"imports,omitempty"`
	NameTag     string       `json:"name_tag,omitempty"`
	SublistStat SublistStatz `json:"sublist_stats"`
}

// MappingZ is one destination of a mapping in /accountz.
type MappingZ struct {
	Source string `json:"src"`
	Dest   string `json:"dest"`
	Weight int    `json:"weight"`
}

// ExportZ is one export in /accountz.
type ExportZ struct {
	Subject      string   `json:"subject"`
	Type         string   `json:"type"`
	Accounts     []string `json:"approved_accounts,omitempty"`
	ResponseType string   `json:"response_type,omitempty"`
}

// ImportZ is one import in /accountz.
type ImportZ struct {
	Subject      string `json:"subject"`
	Account      string `json:"account"`
	To           string `json:"to,omitempty"`
	LocalSubject string `json:"local_subject"`
	Type         string `json:"type"`
	Invalid      bool   `json:"invalid"`
	Share        bool   `json:"share"`
	Tracking     bool   `json:"tracking"`
}

// SublistStatz are a subject index's statistics.
type SublistStatz struct {
	NumSubs   uint32  `json:"num_subscriptions"`
	NumCache  uint32  `json:"num_cache"`
	NumInsert uint64  `json:"num_inserts"`
	NumRemove uint64  `json:"num_removes"`
	NumMatch  uint64  `json:"num_matches"`
	CacheHit  float64 `json:"cache_hit_rate"`
	MaxFanout uint32  `json:"max_fanout"`
	AvgFanout float64 `json:"avg_fanout"`
}

// responseTypeNames are nats-server's names of service response types.
var responseTypeNames = map[string]string{"": "Singleton", server.ResponseSingle: "Singleton", server.ResponseStream: "Streamed", server.ResponseChunked: "Chunked"}

// BuildAccountz makes /accountz: every account's name, or with acc the
// detail of that account (ok false: no such account).
func BuildAccountz(srv *server.Server, acc string) (az *Accountz, ok bool) {
	az = &Accountz{ID: srv.ID(), Now: time.Now().UTC()}
	if acc == "" {
		for _, a := range srv.Accounts() {
			az.Accounts = append(az.Accounts, a.Name)
		}
		return az, true
	}
	d, ok := srv.AccountDetail(acc)
	if !ok {
		return nil, false
	}
	st := d.Index
	dz := &AccountDetailz{
		Name: d.Name, Updated: d.Updated.UTC(), Complete: true, Clients: d.Conns, SubCount: d.NumSubs, NameTag: d.Name,
		SublistStat: SublistStatz{
			NumSubs: uint32(st.NumSubs), NumCache: uint32(st.NumCache), NumInsert: st.NumInserts, NumRemove: st.NumRemoves,
			NumMatch: st.NumMatches, CacheHit: st.CacheHitRate, MaxFanout: uint32(st.MaxFanout), AvgFanout: st.AvgFanout,
		},
	}
	for _, m := range d.Mappings {
		for _, dst := range m.Dests {
			dz.Mappings = append(dz.Mappings, MappingZ{Source: m.Source, Dest: dst.Subject, Weight: dst.Weight})
		}
	}
	for _, x := range d.Exports {
		ez := ExportZ{Subject: x.Subject, Type: "stream", Accounts: x.Accounts}
		if x.Service {
			ez.Type = "service"
			ez.ResponseType = responseTypeNames[x.ResponseType]
		}
		dz.Exports = append(dz.Exports, ez)
	}
	for _, im := range d.Imports {
		iz := ImportZ{Subject: im.Subject, Account: im.Account, To: im.To, LocalSubject: im.Subject, Type: "stream"}
		if im.Service {
			iz.Type = "service"
			if iz.To == "" {
				iz.To = im.Subject // nats-server shows where requests go in
			}
		}
		switch {
		case im.Prefix != "" && im.To != "":
			iz.LocalSubject = im.Prefix + "." + im.To
		case im.Prefix != "":
			iz.LocalSubject = im.Prefix + "." + im.Subject
		case im.To != "":
			iz.LocalSubject = im.To
		}
		dz.Imports = append(dz.Imports, iz)
	}
	az.Account = dz
	return az, true
}

// Accstatz is /accstatz.
type Accstatz struct {
	ID       string     `json:"server_id"`
	Now      time.Time  `json:"now"`
	Accounts []AccStatz `json:"account_statz"`
}

// AccStatz is one account in /accstatz.
type AccStatz struct {
	Account       string    `json:"acc"`
	Name          string    `json:"name"`
	Conns         int       `json:"conns"`
	LeafNodes     int       `json:"leafnodes"`
	TotalConns    int64     `json:"total_conns"`
	NumSubs       int       `json:"num_subscriptions"`
	Sent          DataStats `json:"sent"`
	Received      DataStats `json:"received"`
	SlowConsumers int64     `json:"slow_consumers"`
}

// DataStats are message and byte counts.
type DataStats struct {
	Msgs  int64 `json:"msgs"`
	Bytes int64 `json:"bytes"`
}

// BuildAccstatz makes /accstatz: the accounts with clients, or (unused) all.
func BuildAccstatz(srv *server.Server, unused bool) *Accstatz {
	az := &Accstatz{ID: srv.ID(), Now: time.Now().UTC(), Accounts: []AccStatz{}}
	for _, st := range srv.AccountStats() {
		if st.Conns == 0 && !unused {
			continue
		}
		az.Accounts = append(az.Accounts, AccStatz{
			Account: st.Name, Name: st.Name, Conns: st.Conns, TotalConns: st.TotalConns, NumSubs: st.NumSubs,
			Sent: DataStats{st.OutMsgs, st.OutBytes}, Received: DataStats{st.InMsgs, st.InBytes}, SlowConsumers: st.SlowConsumers,
		})
	}
	return az
}

func (h *handler) accountz(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	acc := q.str("acc")
	az, ok := BuildAccountz(h.src.Server, acc)
	if !ok {
		badRequest(w, "Account "+acc+" does not exist")
		return
	}
	writeJSON(w, http.StatusOK, az)
}

func (h *handler) accstatz(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	unused := q.boolean("unused")
	if q.fail(w) {
		return
	}
	writeJSON(w, http.StatusOK, BuildAccstatz(h.src.Server, unused))
}
