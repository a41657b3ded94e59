package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/url"

	"go.uber.org/zap"

	"github.com/natsd/natsd/tlsconf"
)

// Route TLS, in nats-server's order (recorded with v2.15.2 peers both
// ways): the handshake comes first on both sides, before any protocol —
// the accepting side sends its INFO only over TLS, the dialing side sends
// CONNECT and INFO only over TLS. Both sides verify: the accepting side
// asks for the dialer's certificate and verifies it against its CA
// (cluster.tls always verifies), the dialer verifies the accepting side's
// certificate for the host of the route URL (an IP address needs an IP
// SAN) unless insecure. pinned_certs and verify_cert_and_check_known_urls
// are tlsconf's. A peer that fails the handshake never reaches the route
// protocol: it is closed and logged as an error, and a route natsd dials is
// dialed again as after any failed dial.

// routeTLS is cluster.tls as the daemon set it.
type routeTLS struct {
	store    *tlsconf.Store
	listener *tls.Config // store.RouteListenerConfig: each handshake uses the current files
}

// SetTLS gives the cluster the certificates of cluster.tls (nil: none).
// Options.TLS says whether routes use TLS; st says with which files. Routes
// already up keep their session; new ones (and redials) use st.
func (c *Cluster) SetTLS(st *tlsconf.Store) {
	if st == nil {
		c.tls.Store(nil)
		return
	}
	c.tls.Store(&routeTLS{store: st, listener: st.RouteListenerConfig(c.knownHosts)})
}

// knownHosts are the hosts of the configured route URLs, for
// verify_cert_and_check_known_urls.
func (c *Cluster) knownHosts() []string {
	var out []string
	for _, u := range c.currentOpts().Routes {
		out = append(out, u.Hostname())
	}
	return out
}

// acceptTLS runs the server side of an accepted route's handshake; on
// failure it closes nc and returns nil. Shutdown closes nc to end it early.
func (c *Cluster) acceptTLS(nc net.Conn, o *Options) net.Conn {
	rt := c.tls.Load()
	if rt == nil {
		c.logger().Error("TLS route handshake error: no certificates set for cluster.tls", zap.String("remote", nc.RemoteAddr().String()))
		_ = nc.Close()
		return nil
	}
	if !c.trackHandshake(nc, true) {
		_ = nc.Close()
		return nil
	}
	defer c.trackHandshake(nc, false)
	tc := tlsconf.Server(nc, rt.listener)
	if err := tc.Handshake(context.Background(), o.TLS.HandshakeTimeout()); err != nil {
		c.logger().Error("TLS route handshake error", zap.String("remote", nc.RemoteAddr().String()), zap.Error(err))
		_ = nc.Close()
		return nil
	}
	return tc
}

// dialTLS runs the client side of the handshake on a route natsd dialed to
// u; on failure it closes nc and returns the error.
func (c *Cluster) dialTLS(ctx context.Context, nc net.Conn, u *url.URL, o *Options) (net.Conn, error) {
	rt := c.tls.Load()
	if rt == nil {
		_ = nc.Close()
		return nil, errNoRouteTLS
	}
	tc := tlsconf.Client(nc, rt.store.RouteDialConfig(u.Hostname()))
	if err := tc.Handshake(ctx, o.TLS.HandshakeTimeout()); err != nil {
		_ = nc.Close()
		return nil, err
	}
	return tc, nil
}

var errNoRouteTLS = errors.New("tls: no certificates set for cluster.tls")

// trackHandshake adds (or removes) an accepted socket in its handshake, so
// that Shutdown closes it; adding fails once the cluster is closing.
func (c *Cluster) trackHandshake(nc net.Conn, add bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !add {
		delete(c.handshaking, nc)
		return true
	}
	if c.closing {
		return false
	}
	c.handshaking[nc] = struct{}{}
	return true
}
