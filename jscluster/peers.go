package jscluster

import (
	"encoding/json"
	"slices"
	"sort"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
)

// Every clustered JetStream server says hello in the system account once
// a second: its name, its id, whether it runs the meta group. That is how
// servers find each other to form the meta group, how the meta leader
// learns of a server to add, and what placement counts as alive.

const (
	helloSubject  = "$NATSD.JSC.HELLO"
	helloInterval = time.Second
	// peerAlive: a server not heard from for this long gets no new
	// replicas.
	peerAlive = 5 * time.Second
)

type hello struct {
	Name    string `json:"name"`
	ID      uint64 `json:"id"`
	Cluster string `json:"cluster,omitempty"`
	// Meta: the server runs the meta group (as a member, or waiting to be
	// added).
	Meta bool     `json:"meta"`
	Tags []string `json:"tags,omitempty"`
	V    int      `json:"v"` // the transport's version
}

type peer struct {
	hello
	seen time.Time
}

func (c *Cluster) helloLoop() {
	defer c.wg.Done()
	t := time.NewTicker(helloInterval)
	defer t.Stop()
	for {
		if c.cfg.MixedWith != nil {
			mixed := c.cfg.MixedWith()
			if len(mixed) > 0 && !c.mixed.Load() {
				c.log.Error("JetStream cluster mixed with nats-servers running JetStream: natsd's JetStream answers no request while they are routed here; core NATS is not affected",
					zap.Strings("nats_servers", mixed))
			}
			c.mixed.Store(len(mixed) > 0)
		}
		c.sayHello()
		c.maybeFormMeta()
		c.maybeAddMembers()
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
	}
}

func (c *Cluster) sayHello() {
	c.mu.Lock()
	h := hello{Name: c.cfg.Name, ID: c.self, Cluster: c.cfg.ClusterName, Meta: c.metaRunning, Tags: c.cfg.Tags, V: 1}
	c.mu.Unlock()
	b, _ := json.Marshal(h)
	_ = c.sys.Publish(helloSubject, "", nil, b)
}

// onHello records a server (the subscription's handler: it must not
// block).
func (c *Cluster) onHello(m server.Msg) {
	var h hello
	if err := json.Unmarshal(m.Data, &h); err != nil || h.ID == 0 || h.ID == c.self {
		return
	}
	if NodeID(h.Name) != h.ID {
		return // not a name and id of ours
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.peers[h.ID]
	if p == nil {
		c.log.Info("JetStream cluster peer found", zap.String("peer", h.Name))
		p = &peer{}
		c.peers[h.ID] = p
	}
	p.hello, p.seen = h, time.Now()
}

// alivePeersLocked are the servers heard from recently (not this one),
// copied: onHello changes them under c.mu.
func (c *Cluster) alivePeersLocked() []peer {
	var out []peer
	for _, p := range c.peers {
		if time.Since(p.seen) < peerAlive {
			out = append(out, *p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// maybeFormMeta starts the meta group when this server has none: it joins
// one that runs already, or, when every expected server is here and none
// runs one, forms it with them. Every one of them sees the same servers
// and so forms the same membership; a server that comes later joins and
// is added by the leader (maybeAddMembers). A server that is not heard
// from is never removed automatically: shrinking the membership because a
// node is unreachable is how a partition becomes two majorities.
func (c *Cluster) maybeFormMeta() {
	c.mu.Lock()
	if c.metaRunning {
		c.mu.Unlock()
		return
	}
	alive := c.alivePeersLocked()
	c.mu.Unlock()
	for _, p := range alive {
		if p.Meta {
			c.startMeta(nil, "join")
			return
		}
	}
	if len(alive)+1 < c.cfg.ExpectedPeers {
		return
	}
	ids := []uint64{c.self}
	for _, p := range alive {
		ids = append(ids, p.ID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	c.startMeta(ids, "form")
}

// startMeta runs the meta group: formed with peers, joining (nil peers,
// empty log), or restarted from the journal.
func (c *Cluster) startMeta(peers []uint64, how string) {
	c.mu.Lock()
	if c.metaRunning {
		c.mu.Unlock()
		return
	}
	c.metaRunning = true
	c.mu.Unlock()
	if err := c.drv.AddGroup(metaGroup, peers, 0, &metaSM{c: c}); err != nil {
		c.log.Error("JetStream meta group did not start", zap.Error(err))
		return
	}
	c.applyHold(metaGroup)
	if how == "form" && len(peers) > 0 && peers[0] == c.self {
		// Every server forms the same membership: the lowest id campaigns
		// at once rather than wait out an election timeout.
		_ = c.drv.Campaign(metaGroup)
	}
	names := make([]string, 0, len(peers))
	for _, id := range peers {
		names = append(names, c.nameOf(id))
	}
	c.log.Info("JetStream meta group started", zap.String("how", how), zap.Strings("peers", names))
}

// maybeAddMembers: the meta leader adds each server that runs the meta
// group but is not in it, as a voter up to five, as a learner beyond.
func (c *Cluster) maybeAddMembers() {
	if !c.MetaLeader() {
		return
	}
	st, ok := c.drv.Status(metaGroup)
	if !ok {
		return
	}
	member := map[uint64]bool{}
	for _, id := range st.Voters {
		member[id] = true
	}
	for _, id := range st.Learners {
		member[id] = true
	}
	c.mu.Lock()
	alive := c.alivePeersLocked()
	removed := c.meta.removed
	var skip []uint64
	for _, p := range alive {
		if removed[p.Name] {
			skip = append(skip, p.ID)
		}
	}
	c.mu.Unlock()
	for _, p := range alive {
		if !p.Meta || member[p.ID] || slices.Contains(skip, p.ID) {
			continue
		}
		learner := len(st.Voters) >= 5
		if err := c.drv.ProposeConfChange(metaGroup, confChangeAdd(p.ID, learner)); err != nil {
			c.log.Warn("JetStream meta group: adding a server failed", zap.String("peer", p.Name), zap.Error(err))
			return
		}
		c.log.Info("JetStream meta group: adding a server", zap.String("peer", p.Name), zap.Bool("learner", learner))
		return // one change at a time
	}
}
