//go:build natsd_testhooks

package cluster

import (
	"os"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server/conn"
)

// Test hooks: built only with -tags natsd_testhooks (the natsd that process
// tests run, internal/testutil.NatsdBin); testhooks_off.go is the
// production build's, where they compile to nothing.
//
// The route-drop hook partitions a cluster without privileges: the file
// named by NATSD_TEST_ROUTE_BLOCK_FILE lists peer server names, one a line.
// While a name is listed, this server closes its route to that peer and
// refuses new ones, dialed or accepted (handshakeInfo asks blockedPeer once
// the peer's INFO names it). Emptying the file lets the configured routes,
// which are redialed forever, come back. Both sides of a cut should list
// each other, as a real partition cuts both ways; one side alone suffices
// to keep the route down.

// routeBlockEnv names the block file.
const routeBlockEnv = "NATSD_TEST_ROUTE_BLOCK_FILE"

// routeBlockPoll is how often the file is read.
const routeBlockPoll = 100 * time.Millisecond

// blocked is the set of peer names the file lists now (process-wide: the
// environment variable is).
var blocked atomic.Pointer[map[string]bool]

// blockedPeer reports whether the route-drop hook cuts this server off
// from the peer named name.
func (c *Cluster) blockedPeer(name string) bool {
	m := blocked.Load()
	return m != nil && name != "" && (*m)[name]
}

// startTestHooks starts the route-drop poller, if the environment asks
// for it. It stops with the cluster.
func (c *Cluster) startTestHooks() {
	path := os.Getenv(routeBlockEnv)
	if path == "" {
		return
	}
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.wg.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.wg.Done()
		c.pollRouteBlock(path)
	}()
}

// pollRouteBlock reads the block file every routeBlockPoll and closes the
// routes to the peers it names, until the cluster shuts down. A missing or
// unreadable file blocks nothing.
func (c *Cluster) pollRouteBlock(path string) {
	last := ""
	for {
		b, _ := os.ReadFile(path)
		if s := string(b); s != last {
			last = s
			m := map[string]bool{}
			for _, name := range strings.Fields(s) {
				m[name] = true
			}
			blocked.Store(&m)
			c.logger().Warn("Test hook: routes blocked to", zap.Strings("peers", strings.Fields(s)))
		}
		for _, r := range c.registered() {
			r.Lock()
			name := r.peer.Name
			r.Unlock()
			if c.blockedPeer(name) {
				r.logger().Warn("Test hook: closing the route to a blocked peer", zap.String("peer", name))
				r.Close(conn.RouteRemoved)
			}
		}
		c.mu.Lock()
		closing := c.closing
		c.mu.Unlock()
		if closing {
			return
		}
		time.Sleep(routeBlockPoll)
	}
}
