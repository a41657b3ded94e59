package monitor

import (
	"strings"
	"time"

	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/subject"
)

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

// BuildSubsz reports an account's subject index as nats-server's /subsz does.
// Listings show client subscriptions only.
func BuildSubsz(srv *server.Server, o SubszOptions) *Subsz {
	o.Offset = max(o.Offset, 0)
	if o.Limit <= 0 {
		o.Limit = DefaultConnzLimit
	}
	st, ok := srv.IndexStats(o.Account)
	if !ok {
		// An account natsd does not have: nats-server shows it empty.
		return &Subsz{ID: srv.ID(), Now: time.Now().UTC(), Offset: o.Offset, Limit: o.Limit}
	}
	sz := &Subsz{
		ID: srv.ID(), Now: time.Now().UTC(),
		NumSubs: uint32(st.NumSubs), NumCache: uint32(st.NumCache), NumInsert: st.NumInserts, NumRemove: st.NumRemoves,
		NumMatch: st.NumMatches, CacheHit: st.CacheHitRate, MaxFanout: uint32(st.MaxFanout), AvgFanout: st.AvgFanout,
		Offset: o.Offset, Limit: o.Limit,
	}
	if !o.Subs {
		return sz
	}
	all, _ := srv.Subs(o.Account, o.Test)
	sz.Total = len(all)
	for _, s := range page(all, o.Offset, o.Limit) {
		sz.Subs = append(sz.Subs, subDetail(s))
	}
	return sz
}
