package cluster

import (
	"time"

	"github.com/natsd/natsd/server"
)

// Local is the server this cluster belongs to, as the cluster sees it: its
// identity, the client URLs it announces, and the link through which each
// route carries interest and messages. *server.Server implements it; tests
// may give their own.
type Local interface {
	// ID and Name identify this server to its peers.
	ID() string
	Name() string
	// OwnClientURLs are this server's client URLs, as peers should
	// announce them to their clients.
	OwnClientURLs() []string
	// SetClusterName tells clients the cluster's name (it may be adopted
	// from a peer).
	SetClusterName(name string)
	// OwnWebSocketURLs are this server's WebSocket URLs, as peers should
	// announce them to their WebSocket clients (ws_connect_urls).
	OwnWebSocketURLs() []string
	// SetPeerURLs and SetPeerWebSocketURLs tell clients about peers'
	// client and WebSocket URLs (connect_urls); RemovePeerURLs forgets
	// both.
	SetPeerURLs(id string, urls []string)
	SetPeerWebSocketURLs(id string, urls []string)
	RemovePeerURLs(id string)
	// LocalInterest enumerates local interest for a new route's RS+ burst,
	// then calls then while no change can slip in (see server.Server).
	LocalInterest(each func(account, subject, queue string, weight int32), then func())
	// NewRouteLink is the server's side of one route connection.
	NewRouteLink(rt server.Route) *server.RouteLink
	// CountSlowConsumer counts a route cut for a stuck write in /varz.
	CountSlowConsumer()
}

// Limits bound a route connection. The daemon gives routes the top-level
// values (as nats-server does); the cluster never reads the server's.
type Limits struct {
	MaxPayload     int           // announced in the route INFO
	MaxControlLine int           // a route allows 16× this (queue lists are long)
	MaxPending     int64         // past half of it producers are stalled; a route is never cut for it
	WriteDeadline  time.Duration // a write that outlasts it cuts the route
}

var _ Local = (*server.Server)(nil)
