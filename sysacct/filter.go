package sysacct

import (
	"encoding/json"
	"strings"
)

// filter is the part of a $SYS.REQ.SERVER request that picks which servers
// answer: `nats server info NAME` asks every server and only NAME answers.
// The rules are nats-server's (recorded against v2.15.2): names, hosts and
// clusters match as case-sensitive substrings, or exactly with exact_match;
// a server answers a tags filter only if it has every tag, and a domain
// filter only if its JetStream domain contains it. natsd has neither
// server tags nor a JetStream domain yet, so any tag or domain filters it
// out.
type filter struct {
	Name       string   `json:"server_name"`
	Cluster    string   `json:"cluster"`
	Host       string   `json:"host"`
	Tags       []string `json:"tags"`
	Domain     string   `json:"domain"`
	ExactMatch bool     `json:"exact_match"`
}

// decodeFilter reads the filter from a request's JSON; an empty payload is
// no filter. A payload that does not decode is an error the requester is
// told of, as nats-server does.
func decodeFilter(payload []byte) (filter, error) {
	var f filter
	if len(strings.TrimSpace(string(payload))) == 0 {
		return f, nil
	}
	err := json.Unmarshal(payload, &f)
	return f, err
}

// excludes says whether the server described by in must stay silent.
func (f filter) excludes(in *ServerInfo) bool {
	match := func(have, want string) bool {
		if want == "" {
			return true
		}
		if f.ExactMatch {
			return have == want
		}
		return strings.Contains(have, want)
	}
	if !match(in.Name, f.Name) || !match(in.Host, f.Host) || !match(in.Cluster, f.Cluster) {
		return true
	}
	return len(f.Tags) > 0 || f.Domain != ""
}
