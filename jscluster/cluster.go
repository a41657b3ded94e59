package jscluster

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream"
	"github.com/natsd/natsd/jetstream/journal"
	"github.com/natsd/natsd/jscluster/raftdriver"
	"github.com/natsd/natsd/server"
)

// Config is what a server's clustered JetStream needs.
type Config struct {
	Server  *server.Server
	Engine  *jetstream.Engine
	Journal *journal.Journal
	// Name is the server's server_name; ClusterName the cluster's name.
	Name, ClusterName string
	// ExpectedPeers is how many JetStream servers form the meta group
	// when none has one yet: this server and each one its routes name.
	ExpectedPeers int
	// Tick is Raft's clock (default 100ms: a new leader within about 2 s
	// of losing one).
	Tick   time.Duration
	Logger *zap.Logger
	// Tags are this server's server_tags (lower case); UniqueTag the
	// jetstream block's unique_tag: a stream's replicas go to servers
	// whose tags with that prefix differ.
	Tags      []string
	UniqueTag string
	// MixedWith names the route peers that are nats-servers with
	// JetStream (for /jsz); nil: none known.
	MixedWith func() []string
}

// Cluster is one server's part of clustered JetStream. It implements
// jetstream.Cluster.
type Cluster struct {
	cfg  Config
	log  *zap.Logger
	self uint64
	sys  *server.Account
	drv  *raftdriver.Driver
	tr   *transport

	subs []*server.Subscription
	quit chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	mu sync.Mutex
	// peers are the other clustered JetStream servers heard from
	// (peers.go), by id.
	peers map[uint64]*peer
	// meta is the meta group's state (meta.go); metaRunning: this server
	// runs the meta group (bootstrapped, joined or restarted).
	meta        metaState
	metaRunning bool
	// groups are this server's stream replicas, by group name.
	groups map[string]*streamGroup

	metaLeading atomic.Bool
	// metaLeaderSince is when this server last began to lead the meta
	// group (Unix ns; /raftz's leader_since).
	metaLeaderSince atomic.Int64
	// mixed: a route peer is a nats-server running JetStream (peers.go).
	mixed atomic.Bool
	// catchupSlots bounds the catch-up requests served at once.
	catchupSlots chan struct{}
	// repair: the groups held out of elections until whole (repair.go).
	repair repairs
}

const metaGroup = "_meta_"

// New makes a server's clustered JetStream; Start starts it.
func New(cfg Config) (*Cluster, error) {
	if cfg.Name == "" {
		return nil, errors.New("jscluster: server_name is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	sys := cfg.Server.SystemAccount()
	if sys == nil {
		return nil, errors.New("jscluster: the server has no system account")
	}
	c := &Cluster{
		cfg: cfg, log: cfg.Logger.With(zap.String("component", "jetstream-cluster")), self: NodeID(cfg.Name), sys: sys,
		quit: make(chan struct{}), peers: map[uint64]*peer{}, groups: map[string]*streamGroup{},
		meta: newMetaState(), catchupSlots: make(chan struct{}, catchupServers),
	}
	c.tr = &transport{acc: sys}
	c.drv = raftdriver.New(raftdriver.Config{
		ID: c.self, Log: cfg.Journal, Transport: c.tr, Tick: cfg.Tick, Logger: c.log,
	})
	return c, nil
}

// Start subscribes the transport and the hellos, starts the driver, and
// restarts the meta group when the journal has one; otherwise the meta
// group forms once the expected servers are heard from (peers.go).
func (c *Cluster) Start() error {
	sub, err := c.sys.Subscribe(raftPrefix+idToken(c.self), "", func(m server.Msg) { c.drv.Receive(m.Data) })
	if err != nil {
		return err
	}
	c.subs = append(c.subs, sub)
	if sub, err = c.sys.Subscribe(helloSubject, "", c.onHello); err != nil {
		return err
	}
	c.subs = append(c.subs, sub)
	if sub, err = c.sys.Subscribe(catchupPrefix+idToken(c.self)+".>", "", c.onCatchupRequest); err != nil {
		return err
	}
	c.subs = append(c.subs, sub)
	for name, reason := range c.cfg.Journal.Damaged() {
		c.noteDamagedLog(name, reason)
	}
	c.drv.Start()
	c.wg.Add(1)
	go c.repairLoop()
	for _, g := range c.cfg.Journal.Groups() {
		if g == metaGroup {
			c.startMeta(nil, "restart")
			break
		}
	}
	c.wg.Add(1)
	go c.helloLoop()
	return nil
}

// Stop stops the groups and the driver; the journal is the caller's.
func (c *Cluster) Stop() {
	c.once.Do(func() {
		close(c.quit)
		for _, s := range c.subs {
			s.Unsubscribe()
		}
		c.wg.Wait()
		c.drv.Stop()
		c.mu.Lock()
		groups := c.groups
		c.groups = map[string]*streamGroup{}
		c.mu.Unlock()
		for _, g := range groups {
			g.close(false)
		}
	})
}

// Self is this server's node id.
func (c *Cluster) Self() uint64 { return c.self }

// MetaLeader reports whether this server leads the meta group and has
// applied everything committed before its term (jetstream.Cluster).
func (c *Cluster) MetaLeader() bool { return c.metaLeading.Load() }

// nameOf is a server's name by node id ("" when unknown).
func (c *Cluster) nameOf(id uint64) string {
	if id == c.self {
		return c.cfg.Name
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.peers[id]; p != nil {
		return p.Name
	}
	return c.meta.names[id]
}

// Mixed reports whether a route peer is a nats-server running JetStream:
// then this server answers no JetStream request (jetstream asks), so that
// no request gets two answers, nats-server's and natsd's.
func (c *Cluster) Mixed() bool { return c.mixed.Load() }
