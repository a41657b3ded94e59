package jetstream

import (
	"time"
)

// What monitoring shows of JetStream: /jsz, /varz's "jetstream",
// $SYS.REQ.SERVER.<id>.JSZ and $SYS.REQ.ACCOUNT.<acc>.JSZ, in
// nats-server's JSON (recorded against v2.15.2).

// JSZOptions are /jsz's query options.
type JSZOptions struct {
	Account    string `json:"account,omitempty"`
	Accounts   bool   `json:"accounts,omitempty"`
	Streams    bool   `json:"streams,omitempty"`
	Consumer   bool   `json:"consumer,omitempty"`
	Config     bool   `json:"config,omitempty"`
	LeaderOnly bool   `json:"leader_only,omitempty"`
	Offset     int    `json:"offset,omitempty"`
	Limit      int    `json:"limit,omitempty"`
}

// JSConfig is the server's JetStream configuration as /jsz shows it.
type JSConfig struct {
	MaxMemory    int64         `json:"max_memory"`
	MaxStore     int64         `json:"max_storage"`
	StoreDir     string        `json:"store_dir,omitempty"`
	SyncInterval time.Duration `json:"sync_interval,omitempty"`
	SyncAlways   bool          `json:"sync_always,omitempty"`
	Domain       string        `json:"domain,omitempty"`
	UniqueTag    string        `json:"unique_tag,omitempty"`
	Strict       bool          `json:"strict,omitempty"`
}

// JSStats are usage totals.
type JSStats struct {
	Memory         uint64   `json:"memory"`
	Store          uint64   `json:"storage"`
	ReservedMemory uint64   `json:"reserved_memory"`
	ReservedStore  uint64   `json:"reserved_storage"`
	Accounts       int      `json:"accounts"`
	HAAssets       int      `json:"ha_assets"`
	API            APIStats `json:"api"`
}

// JSLimits are the server's defaults for accounts.
type JSLimits struct {
	MaxAckPending int `json:"default_max_consumers,omitempty"`
}

// JSZ is /jsz.
type JSZ struct {
	JSStats
	ID        string           `json:"server_id"`
	Now       time.Time        `json:"now"`
	Disabled  bool             `json:"disabled,omitempty"`
	Config    JSConfig         `json:"config,omitempty"`
	Limits    *JSLimits        `json:"limits,omitempty"`
	Streams   int              `json:"streams"`
	Consumers int              `json:"consumers"`
	Messages  uint64           `json:"messages"`
	Bytes     uint64           `json:"bytes"`
	Accounts  []*AccountDetail `json:"account_details,omitempty"`
	Meta      *MetaClusterInfo `json:"meta_cluster,omitempty"`
	Total     int              `json:"total"`
}

// MetaClusterInfo is /jsz's "meta_cluster": the meta group as this server
// sees it (nats-server's fields, and natsd's mixed_with).
type MetaClusterInfo struct {
	Name     string      `json:"name,omitempty"`
	Leader   string      `json:"leader,omitempty"`
	Peer     string      `json:"peer,omitempty"`
	Replicas []*PeerInfo `json:"replicas,omitempty"`
	Size     int         `json:"cluster_size"`
	Pending  int         `json:"pending"`
	// MixedWith names the route peers that are nats-servers running
	// JetStream: their replication is nats-server's own, so natsd cannot
	// share a meta group with them.
	MixedWith []string `json:"mixed_with,omitempty"`
}

// AccountDetail is one account in /jsz?accounts=1.
type AccountDetail struct {
	Name string `json:"name"`
	ID   string `json:"id"`
	JSStats
	Streams []StreamDetail `json:"stream_detail,omitempty"`
}

// StreamDetail is one stream in /jsz?streams=1.
type StreamDetail struct {
	Name      string          `json:"name"`
	Created   time.Time       `json:"created"`
	Cluster   *ClusterInfo    `json:"cluster,omitempty"`
	Config    *StreamConfig   `json:"config,omitempty"`
	State     StreamState     `json:"state"`
	Consumers []*ConsumerInfo `json:"consumer_detail,omitempty"`
}

// VarzJetStream is /varz's "jetstream" section.
type VarzJetStream struct {
	Config JSConfig  `json:"config"`
	Stats  JSStats   `json:"stats"`
	Limits *JSLimits `json:"limits,omitempty"`
}

func (e *Engine) jsConfig() JSConfig {
	c := JSConfig{MaxMemory: e.cfg.MaxMemory, MaxStore: e.cfg.MaxStore, StoreDir: e.dir, Domain: e.cfg.Domain,
		UniqueTag: e.cfg.UniqueTag, Strict: true}
	if e.cfg.SyncAlways() {
		c.SyncAlways = true
	} else {
		c.SyncInterval = e.cfg.SyncInterval
	}
	return c
}

func (e *Engine) stats() (JSStats, Usage) {
	u := e.Usage()
	return JSStats{Memory: u.Memory, Store: u.Store, ReservedMemory: u.ReservedMemory, ReservedStore: u.ReservedStore,
		Accounts: u.Accounts, API: APIStats{Level: APILevel, Total: u.APITotal, Errors: u.Errors}}, u
}

// Varz is /varz's jetstream section.
func (e *Engine) Varz() *VarzJetStream {
	st, _ := e.stats()
	return &VarzJetStream{Config: e.jsConfig(), Stats: st, Limits: &JSLimits{MaxAckPending: defaultMaxAckPending}}
}

// JSZ is /jsz with opts.
func (e *Engine) JSZ(opts JSZOptions) *JSZ {
	st, u := e.stats()
	z := &JSZ{JSStats: st, ID: e.srv.ID(), Now: now(), Config: e.jsConfig(), Limits: &JSLimits{MaxAckPending: defaultMaxAckPending},
		Streams: u.Streams, Consumers: u.Consumers, Messages: u.Messages, Bytes: u.Bytes}
	if mi, ok := e.cluster.(interface{ MetaInfo() *MetaClusterInfo }); ok {
		z.Meta = mi.MetaInfo()
	}
	accounts := e.enabledAccounts()
	z.Total = len(accounts)
	if !opts.Accounts && opts.Account == "" {
		return z
	}
	for _, ja := range accounts {
		if opts.Account != "" && ja.name != opts.Account {
			continue
		}
		z.Accounts = append(z.Accounts, ja.detail(opts))
	}
	return z
}

// AccountJSZ is $SYS.REQ.ACCOUNT.<acc>.JSZ: the account's usage (nil when
// it has no JetStream).
func (e *Engine) AccountJSZ(name string, opts JSZOptions) *AccountDetail {
	ja := e.lookup(name)
	if ja == nil || !ja.isEnabled() {
		return nil
	}
	return ja.detail(opts)
}

func (ja *jsAccount) detail(opts JSZOptions) *AccountDetail {
	au := ja.usage()
	d := &AccountDetail{Name: ja.name, ID: ja.name, JSStats: JSStats{
		Memory: au.memory, Store: au.store, ReservedMemory: au.reservedMemory, ReservedStore: au.reservedStore,
		API: APIStats{Total: ja.apiTotal.Load(), Errors: ja.apiErrors.Load()},
	}}
	if !opts.Streams {
		return d
	}
	for _, mset := range ja.sortedStreams() {
		si := mset.info(infoOpts{cluster: true})
		sd := StreamDetail{Name: mset.name, Created: si.Created, Cluster: si.Cluster, State: si.State}
		if opts.Config {
			cfg := si.Config
			sd.Config = &cfg
		}
		if opts.Consumer {
			for _, o := range mset.sortedConsumers() {
				ci := o.info(false)
				if !opts.Config {
					ci.Config = nil
				}
				sd.Consumers = append(sd.Consumers, ci)
			}
		}
		d.Streams = append(d.Streams, sd)
	}
	return d
}
