package server

import (
	"encoding/json"
	"slices"

	"github.com/natsd/natsd/server/conn"
	"github.com/natsd/natsd/server/wire"
)

// Kick closes the client with id cid (reason "Kicked", as nats-server's
// $SYS.REQ.SERVER.<id>.KICK). It reports whether there was one.
func (s *Server) Kick(cid uint64) bool {
	c := s.clientByID(cid)
	if c == nil {
		return false
	}
	c.Close(conn.Kicked)
	return true
}

// LameDuckClient tells one client that this server is going away, as lame
// duck mode tells all of them: an async INFO with "ldm": true whose
// connect_urls are the other servers'. The client reconnects elsewhere; the
// server goes on. It reports whether there was such a client.
func (s *Server) LameDuckClient(cid uint64) bool {
	c := s.clientByID(cid)
	if c == nil {
		return false
	}
	info := s.baseInfo(c.ws != nil)
	info.LameDuckMode = true
	s.mu.Lock()
	info.ConnectURLs = slices.Clone(s.peerURLs)
	if c.ws != nil {
		info.ConnectURLs = slices.Clone(s.ws.peerURLs)
	}
	s.mu.Unlock()
	info.ClientID = c.cid
	info.ClientIP = c.Host()
	b, _ := json.Marshal(&info)
	c.Send(wire.AppendInfo(nil, b))
	return true
}

func (s *Server) clientByID(cid uint64) *client {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clients[cid]
}
