package jscluster

import (
	"slices"
	"time"

	"github.com/natsd/natsd/jetstream"
	"github.com/natsd/natsd/jscluster/raftdriver"
)

// Raftz is /raftz (jetstream asks): this server's Raft groups in
// nats-server's form. With account "" or the system account's name, the
// meta group, under the system account's name (nats-server files it
// there too); with another account, that account's streams' groups; with
// group, only the group of that name. What matches nothing is empty.
func (c *Cluster) Raftz(account, group string) jetstream.Raftz {
	sysName := c.sys.Name
	out := jetstream.Raftz{}
	add := func(acc, name string, leaderSince time.Time) {
		if group != "" && group != name {
			return
		}
		st, ok := c.drv.Status(name)
		if !ok {
			return
		}
		if out[acc] == nil {
			out[acc] = map[string]*jetstream.RaftzGroup{}
		}
		out[acc][name] = c.raftzGroup(st, sysName, leaderSince)
	}
	if account == "" || account == sysName {
		c.mu.Lock()
		running := c.metaRunning
		c.mu.Unlock()
		if running {
			var since time.Time
			if ns := c.metaLeaderSince.Load(); ns > 0 && c.metaLeading.Load() {
				since = time.Unix(0, ns).UTC()
			}
			add(sysName, metaGroup, since)
		}
		return out
	}
	c.mu.Lock()
	var groups []*streamGroup
	for _, g := range c.groups {
		if g.account == account {
			groups = append(groups, g)
		}
	}
	c.mu.Unlock()
	for _, g := range groups {
		var since time.Time
		if ns := g.leaderSince.Load(); ns > 0 && g.leader.Load() == c.self {
			since = time.Unix(0, ns).UTC()
		}
		add(account, g.name, since)
	}
	return out
}

// raftzGroup is one group's status as /raftz shows it.
func (c *Cluster) raftzGroup(st raftdriver.Status, sysName string, leaderSince time.Time) *jetstream.RaftzGroup {
	rg := &jetstream.RaftzGroup{
		ID:           idToken(st.ID),
		State:        raftzState(st.State),
		Size:         len(st.Voters),
		QuorumNeeded: len(st.Voters)/2 + 1,
		Observer:     slices.Contains(st.Learners, st.ID),
		Committed:    st.Commit,
		Applied:      st.Applied,
		CatchingUp:   st.Hold != raftdriver.HoldNone,
		// A leader was known, or something was committed: some leader
		// has existed.
		EverHadLeader: st.Leader != 0 || st.Commit > 0,
		Term:          st.Term,
		PTerm:         st.LastTerm,
		PIndex:        st.LastIndex,
		SystemAcc:     true, // Raft's messages travel in the system account
		TrafficAcc:    sysName,
		Peers:         map[string]*jetstream.RaftzGroupPeer{},
	}
	if st.Leader != 0 {
		rg.Leader = idToken(st.Leader)
	}
	if st.Leader == st.ID && !leaderSince.IsZero() {
		rg.LeaderSince = &leaderSince
	}
	if st.Vote != 0 {
		rg.Vote = idToken(st.Vote)
	}
	for _, id := range append(slices.Clone(st.Voters), st.Learners...) {
		if id == st.ID {
			continue
		}
		name := c.nameOf(id)
		p := &jetstream.RaftzGroupPeer{Name: name, Known: name != ""}
		if pr, ok := st.Progress[id]; ok {
			p.LastReplicatedIndex = pr.Match
		}
		if t, ok := st.Seen[id]; ok && !t.IsZero() {
			p.LastSeen = time.Since(t).String()
		}
		rg.Peers[idToken(id)] = p
	}
	return rg
}

// raftzState is nats-server's name for a role (it has no pre-candidate:
// a pre-vote is part of being a candidate).
func raftzState(role string) string {
	switch role {
	case "leader":
		return "LEADER"
	case "candidate", "pre-candidate":
		return "CANDIDATE"
	}
	return "FOLLOWER"
}
