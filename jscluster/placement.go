package jscluster

import (
	"errors"
	"hash/fnv"
	"slices"
	"sort"
	"strings"

	"github.com/natsd/natsd/jetstream"
)

// place picks the servers for a new stream's replicas: members of the
// meta group heard from recently (this one included) that carry every tag
// the stream's placement asks for, the least loaded first (fewest
// replicas assigned), ties broken by a hash of server and stream so that
// streams spread instead of piling on the first name; with unique_tag,
// no two replicas share that tag's value (one per zone, say).
func (c *Cluster) place(cfg *jetstream.StreamConfig) ([]string, *jetstream.APIError) {
	return c.placeExcluding(cfg, nil)
}

// placeExcluding is place without the servers in exclude (those a stream
// has already, or is leaving): it returns every candidate, in order, that
// may join them (the caller takes what it needs).
func (c *Cluster) placeExcluding(cfg *jetstream.StreamConfig, exclude []string) ([]string, *jetstream.APIError) {
	noPeers := jetstream.NewAPIErrorf(10005, errors.New("no suitable peers for placement"))
	var want []string
	if p := cfg.Placement; p != nil {
		if p.Cluster != "" && p.Cluster != c.cfg.ClusterName {
			return nil, noPeers
		}
		for _, t := range p.Tags {
			want = append(want, strings.ToLower(strings.TrimSpace(t)))
		}
	}
	st, ok := c.drv.Status(metaGroup)
	if !ok {
		return nil, jetstream.NewAPIError(10008)
	}
	member := map[uint64]bool{}
	for _, id := range st.Voters {
		member[id] = true
	}
	for _, id := range st.Learners {
		member[id] = true
	}
	tags := map[string][]string{c.cfg.Name: c.cfg.Tags}
	c.mu.Lock()
	var names []string
	skip := func(n string) bool { return c.meta.removed[n] || slices.Contains(exclude, n) }
	if !skip(c.cfg.Name) {
		names = append(names, c.cfg.Name)
	}
	for _, p := range c.alivePeersLocked() {
		tags[p.Name] = p.Tags
		if member[p.ID] && !skip(p.Name) {
			names = append(names, p.Name)
		}
	}
	load := map[string]int{}
	for _, acc := range c.meta.streams {
		for _, a := range acc {
			for _, n := range a.peers {
				load[n]++
			}
		}
	}
	c.mu.Unlock()
	names = slices.DeleteFunc(names, func(n string) bool {
		for _, t := range want {
			if !slices.Contains(tags[n], t) {
				return true
			}
		}
		return false
	})
	tie := func(n string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(n + "\x00" + cfg.Name))
		return h.Sum64()
	}
	sort.Slice(names, func(i, j int) bool {
		if load[names[i]] != load[names[j]] {
			return load[names[i]] < load[names[j]]
		}
		return tie(names[i]) < tie(names[j])
	})
	if u := strings.ToLower(c.cfg.UniqueTag); u != "" {
		used := map[string]bool{}
		for _, n := range exclude {
			if v := uniqueValue(tags[n], u); v != "" {
				used[v] = true
			}
		}
		names = slices.DeleteFunc(names, func(n string) bool {
			v := uniqueValue(tags[n], u)
			if v == "" || used[v] {
				return true
			}
			used[v] = true
			return false
		})
	}
	if exclude != nil {
		return names, nil
	}
	if len(names) < cfg.Replicas {
		if len(want) > 0 || c.cfg.UniqueTag != "" {
			return nil, noPeers
		}
		return nil, jetstream.NewAPIErrorf(10005, errors.New("insufficient resources"))
	}
	return names[:cfg.Replicas], nil
}

// uniqueValue is the value of the tag with prefix unique ("az:" in
// "az:1"), "" when the server has none.
func uniqueValue(tags []string, unique string) string {
	for _, t := range tags {
		if strings.HasPrefix(t, unique) {
			return t
		}
	}
	return ""
}
