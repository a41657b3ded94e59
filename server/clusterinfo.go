package server

import (
	"slices"
)

// What the cluster tells the server about membership, so that clients learn
// every member's URL (connect_urls) and fail over.

// SetClusterName sets the cluster name clients see in INFO ("" when not
// clustered).
func (s *Server) SetClusterName(name string) {
	s.mu.Lock()
	s.clusterNm = name
	s.mu.Unlock()
}

// ClusterName is the cluster name clients see in INFO ("" when not
// clustered).
func (s *Server) ClusterName() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clusterNm
}

// SetPeerURLs records the client URLs of cluster peer id (from its route
// INFO). When the set of peer URLs changes, every client that can take an
// async INFO gets a complete new one.
func (s *Server) SetPeerURLs(id string, urls []string) {
	s.mu.Lock()
	if s.peerByID == nil {
		s.peerByID = map[string][]string{}
	}
	s.peerByID[id] = slices.Clone(urls)
	s.hadPeers = true
	changed := s.recomputePeerURLs()
	s.mu.Unlock()
	if changed {
		s.sendAsyncInfo(infoToNATS)
	}
}

// RemovePeerURLs forgets peer id's client URLs and WebSocket URLs (its last
// route closed, or it entered lame duck mode).
func (s *Server) RemovePeerURLs(id string) {
	s.mu.Lock()
	_, known := s.peerByID[id]
	_, wsKnown := s.ws.peerByID[id]
	delete(s.peerByID, id)
	delete(s.ws.peerByID, id)
	var to infoTarget
	if known && s.recomputePeerURLs() {
		to |= infoToNATS
	}
	if wsKnown && s.recomputeWebSocketPeers() {
		to |= infoToWebSocket
	}
	s.mu.Unlock()
	if to != 0 {
		s.sendAsyncInfo(to)
	}
}

// infoTarget says which clients an async INFO goes to: those whose
// connect_urls changed.
type infoTarget uint8

const (
	infoToNATS      infoTarget = 1 << iota // clients of the client port
	infoToWebSocket                        // WebSocket clients
	infoToAll       = infoToNATS | infoToWebSocket
)

// recomputePeerURLs rebuilds peerURLs (sorted, without duplicates or our own
// URLs) and reports whether it changed. Call with s.mu held.
func (s *Server) recomputePeerURLs() bool {
	own := s.ownClientURLs()
	var all []string
	for _, urls := range s.peerByID {
		for _, u := range urls {
			if !slices.Contains(own, u) && !slices.Contains(all, u) {
				all = append(all, u)
			}
		}
	}
	slices.Sort(all)
	if slices.Equal(all, s.peerURLs) {
		return false
	}
	s.peerURLs = all
	return true
}

// ConnectURLs is what clients get in connect_urls: our own URLs, then the
// peers'. Empty until a peer was first seen (nats-server leaves the field
// out); once peers came, our own URLs stay even after the last one left,
// since a client ignores an INFO without connect_urls and would keep the
// dead members in its pool (recorded from nats-server v2.15.2).
func (s *Server) ConnectURLs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connectURLs()
}

// connectURLs is ConnectURLs with s.mu held.
func (s *Server) connectURLs() []string {
	if s.ldm {
		// In lame duck mode clients are pointed at the other servers only.
		return slices.Clone(s.peerURLs)
	}
	if len(s.peerURLs) == 0 && !s.hadPeers {
		return nil
	}
	return append(s.ownClientURLs(), s.peerURLs...)
}

// sendAsyncInfo sends a complete INFO to every client of the kinds to that
// takes async INFO: CONNECT said protocol ≥ 1 and the first PONG has gone
// out. nats.go replaces its server list with each INFO, so it is never a
// delta.
func (s *Server) sendAsyncInfo(to infoTarget) {
	for _, c := range s.snapshotClients() {
		if c.ws != nil && to&infoToWebSocket == 0 || c.ws == nil && to&infoToNATS == 0 {
			continue
		}
		c.Lock()
		eligible := c.opts.Protocol >= 1 && c.flags.has(firstPongSent) && !c.IsClosedLocked()
		c.Unlock()
		if !eligible {
			continue
		}
		info := s.clientInfo(c, false)
		c.Send(info)
	}
}

// OwnClientURLs are this server's client URLs, as peers should advertise
// them to their clients.
func (s *Server) OwnClientURLs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ownClientURLs()
}
