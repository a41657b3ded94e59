package cluster

import (
	"context"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/conn"
)

// Dialing routes.
const (
	dialTimeout     = 2 * time.Second
	reconnectDelay  = time.Second      // explicit routes, between attempts
	maxBackoffDelay = 30 * time.Second // with connect_backoff
	implicitDelay   = 100 * time.Millisecond
)

// solicitor dials one route URL: a configured route (forever, until a reload
// removes it) or a gossiped one (connect_retries more times).
type solicitor struct {
	cl       *Cluster
	url      *url.URL
	key      string
	explicit atomic.Bool // configured (redial forever), not only gossiped
	stop     chan struct{}
	ctx      context.Context // cancelled with stop: ends a TLS handshake in progress
	ctxStop  func()
	once     sync.Once

	mu   sync.Mutex
	peer string // server id at the other end, once known
}

func (s *solicitor) cancel() { s.once.Do(func() { close(s.stop); s.ctxStop() }) }

func (s *solicitor) setPeer(id string) {
	s.mu.Lock()
	s.peer = id
	s.mu.Unlock()
}

func (s *solicitor) peerID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peer
}

// solicit starts dialing u unless a dialer for it exists.
func (c *Cluster) solicit(u *url.URL, explicit bool) {
	key := routeKey(u)
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	if s := c.solicits[key]; s != nil {
		if explicit {
			s.explicit.Store(true) // a gossiped URL that is now configured
		}
		c.mu.Unlock()
		return
	}
	s := &solicitor{cl: c, url: u, key: key, stop: make(chan struct{})}
	s.ctx, s.ctxStop = context.WithCancel(context.Background())
	s.explicit.Store(explicit)
	c.solicits[key] = s
	if explicit {
		// Configured (again): no longer removed, nor the peer behind it.
		// Peers behind other removed routes stay removed.
		delete(c.removed, key)
		for id, k := range c.removedPeers {
			if k == key {
				delete(c.removedPeers, id)
			}
		}
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		s.loop()
		c.mu.Lock()
		if c.solicits[key] == s {
			delete(c.solicits, key)
		}
		c.mu.Unlock()
	}()
}

// loop dials, runs the route until it closes, and dials again while the
// route is still wanted.
func (s *solicitor) loop() {
	c := s.cl
	attempts := 0
	delay := reconnectDelay
	if !s.explicit.Load() {
		// A gossiped route waits a moment: the peer may be dialing us.
		if !s.sleep(time.Duration(rand.Int64N(int64(implicitDelay)))) {
			return
		}
	}
	for {
		if !s.stillWanted() {
			return
		}
		// A peer that dialed us before we reached it (our first dial
		// failed: it was not up yet) is the server at our URL: take it as
		// ours instead of dialing a second connection, which would replace
		// the route carrying traffic and lose what was in flight on it.
		if s.peerID() == "" {
			c.adoptRouteAt(s)
		}
		// Connected to that peer over another connection (it dialed us, or
		// a duplicate was resolved): wait until that changes.
		if id := s.peerID(); id != "" {
			c.mu.Lock()
			_, up := c.routes[id]
			ch := c.changed
			c.mu.Unlock()
			if up {
				select {
				case <-ch:
					continue
				case <-s.stop:
					return
				}
			}
		}
		c.logger().Debug("Trying to connect to route on " + s.url.Host)
		nc, err := net.DialTimeout("tcp", s.url.Host, dialTimeout)
		if o := c.currentOpts(); err == nil && o.TLS != nil {
			if nc, err = c.dialTLS(s.ctx, nc, s.url, o); err != nil && s.ctx.Err() == nil {
				c.logger().Error("TLS route handshake error", zap.String("url", s.key), zap.Error(err))
			}
		}
		if err != nil {
			attempts++
			c.logger().Debug("Error trying to connect to route", zap.String("url", s.key), zap.Error(err))
			if !s.explicit.Load() && attempts > c.currentOpts().ConnectRetries {
				return
			}
			if !s.sleep(s.nextDelay(&delay)) {
				return
			}
			continue
		}
		r := c.newRoute(nc, s)
		if r == nil {
			return
		}
		r.run()
		r.Lock()
		self, registered := r.self, r.registered
		reason, _ := r.ClosedAtLocked()
		r.Unlock()
		if self {
			return // our own address: never again
		}
		if registered {
			attempts, delay = 0, reconnectDelay
		}
		if reason == conn.DuplicateRoute {
			continue // the other connection to that peer stays: wait on it
		}
		if !s.explicit.Load() {
			// A gossiped route gets connect_retries more attempts after it
			// drops or fails (nats-server's rule); then the peer, or new
			// gossip, brings it back.
			attempts++
			if attempts > c.currentOpts().ConnectRetries {
				return
			}
		}
		// Redial with a little jitter so that two servers that both dial do
		// not collide again.
		if !s.sleep(s.nextDelay(&delay) + time.Duration(rand.Int64N(int64(implicitDelay)))) {
			return
		}
	}
}

func (s *solicitor) nextDelay(delay *time.Duration) time.Duration {
	d := *delay
	if s.cl.currentOpts().ConnectBackoff {
		*delay = min(2**delay, maxBackoffDelay)
	}
	return d
}

func (s *solicitor) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-s.stop:
		return false
	}
}

// stillWanted asks, before each dial, whether this route should still be
// dialed: not after shutdown or after a reload removed it.
func (s *solicitor) stillWanted() bool {
	select {
	case <-s.stop:
		return false
	default:
	}
	c := s.cl
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closing && !c.removed[s.key]
}

// adoptRouteAt makes the registered route to the peer listening at s's URL
// (as its INFO announced it), if there is one, the route s dials: s waits on
// it, and it counts as configured (/routez, and a reload that removes the
// URL closes it).
func (c *Cluster) adoptRouteAt(s *solicitor) {
	for _, r := range c.registered() {
		r.Lock()
		pi := r.peer
		match := r.peerRouteURL(&pi).Host == s.url.Host
		if match && r.sol == nil {
			r.sol = s
		}
		r.Unlock()
		if match {
			s.setPeer(pi.ID)
			return
		}
	}
}
