package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
)

// An endpoint is a socket natsd listens on. Every kind is a row of
// endpointTable, and start, reload and shutdown go through the table, so a
// new kind (websocket, leafnode) is one more row with its options, its diff
// sections and its serve function — not another copy of bind, move and stop.
//
// Each endpoint is either bound by natsd or came from systemd socket
// activation. An activated socket is kept for the life of the process: it is
// never served itself but through a copy (dupListener), so that stopping the
// endpoint (a reload that disables it, lame duck mode) closes the copy and the
// socket stays open — queuing connections — until natsd exits. A reload that
// would move it logs that it keeps it; the socket unit says where it listens.

// endpointKind is a row of the table.
type endpointKind struct {
	name string // "client"; also its FileDescriptorName= under socket activation
	what string // "client connections", as errors say "cannot listen for …"
	// addr is where the options put the endpoint; on false means none.
	addr func(o *Options) (host string, port int, on bool)
	// sections are the diff sections (diff.go) that change addr: the diff,
	// not this table, says whether a reload moves the endpoint.
	sections []section
	// serve hands ln to the component that owns the endpoint and starts
	// accepting on it in a tracked goroutine. The returned stop makes it
	// stop accepting on ln and closes ln; connections accepted stay.
	serve func(d *Daemon, ln net.Listener) (stop func())
	// serving is the log line once it serves, before "on host:port".
	serving string
}

// endpointTable is in the order endpoints start, move and stop. The client
// listener comes first: the server announces it (INFO, connect_urls, route
// gossip) before routes can be accepted or dialed.
var endpointTable = []*endpointKind{
	{
		name: "client", what: "client connections", serving: "Listening for client connections",
		addr:     func(o *Options) (string, int, bool) { return o.Server.Host, o.Server.Port, true },
		sections: []section{secClientListener},
		serve:    serveClients,
	},
	{
		// Before the cluster: route INFO announces its URLs
		// (ws_connect_urls) from the first route on.
		name: "websocket", what: "websocket connections", serving: "Listening for websocket clients",
		addr: func(o *Options) (string, int, bool) {
			w := o.Server.WebSocket
			if !w.Enabled() {
				return "", 0, false
			}
			return w.Host, w.Port, true
		},
		sections: []section{secWebSocketListener},
		serve:    serveWebSocket,
	},
	{
		name: "cluster", what: "route connections", serving: "Listening for route connections",
		addr:     func(o *Options) (string, int, bool) { return o.Cluster.Host, o.Cluster.Port, o.Cluster.Enabled() },
		sections: []section{secClusterListener, secClusterEnable},
		serve:    serveRoutes,
	},
	{
		name: "monitor", what: "monitoring", serving: "Starting http monitor",
		addr:     func(o *Options) (string, int, bool) { return o.Monitor.Host, o.Monitor.Port, o.Monitor.Enabled() },
		sections: []section{secMonitorHost, secMonitorListener},
		serve:    serveMonitor,
	},
	{
		// HTTPS monitoring (https_port), with the top-level tls block's
		// certificate, whatever its files are now (monitorTLSConfig).
		name: "https", what: "HTTPS monitoring", serving: "Starting https monitor",
		addr: func(o *Options) (string, int, bool) {
			return o.Monitor.Host, o.Monitor.HTTPSPort, o.Monitor.HTTPSPort != 0
		},
		sections: []section{secMonitorHost, secMonitorTLS},
		serve:    serveMonitorTLS,
	},
}

// endpointIndex is the row of the endpoint named name.
func endpointIndex(name string) int {
	return slices.IndexFunc(endpointTable, func(k *endpointKind) bool { return k.name == name })
}

// endpoint is a live endpoint: a listener and how to stop serving it.
type endpoint struct {
	kind      *endpointKind
	host      string       // as configured: logs say 0.0.0.0:4222, not [::]:4222
	ln        net.Listener // what is served
	activated bool         // ln is a copy of a socket from systemd
	stop      func()       // set once served
}

// close releases an endpoint that was opened but never served.
func (e *endpoint) close() { _ = e.ln.Close() }

// address is host:port as configured, for logs.
func (e *endpoint) address() string {
	if a, ok := e.ln.Addr().(*net.TCPAddr); ok {
		return net.JoinHostPort(e.host, strconv.Itoa(a.Port))
	}
	return e.ln.Addr().String()
}

// openEndpoint binds host:port for k, or takes a copy of the socket systemd
// passed for it. Port -1 means any free port.
func (d *Daemon) openEndpoint(k *endpointKind, host string, port int) (*endpoint, error) {
	if a := d.activated[k.name]; a != nil {
		ln, err := dupListener(a)
		if err != nil {
			return nil, fmt.Errorf("cannot listen for %s: the socket from systemd socket activation: %w", k.what, err)
		}
		return &endpoint{kind: k, host: host, ln: ln, activated: true}, nil
	}
	if port == server.RandomPort {
		port = 0
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("cannot listen for %s: %w", k.what, err)
	}
	return &endpoint{kind: k, host: host, ln: ln}, nil
}

// dupListener is a listener on a copy of ln's socket: closing it leaves ln
// (and the socket) open.
func dupListener(ln net.Listener) (net.Listener, error) {
	f, ok := ln.(interface{ File() (*os.File, error) })
	if !ok {
		return nil, errors.New("not a socket")
	}
	file, err := f.File()
	if err != nil {
		return nil, err
	}
	defer file.Close() // FileListener made its own copy
	return net.FileListener(file)
}

// serveEndpoint starts serving e and puts it in row i of the live table.
func (d *Daemon) serveEndpoint(i int, e *endpoint) {
	e.stop = e.kind.serve(d, e.ln)
	d.mu.Lock()
	d.live[i] = e
	d.mu.Unlock()
	d.log.Info(e.kind.serving + " on " + e.address())
}

// liveEndpoint is row i of the live table (nil when the endpoint is off).
func (d *Daemon) liveEndpoint(i int) *endpoint {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.live[i]
}

// listener is the live listener of the endpoint named name, or nil.
func (d *Daemon) listener(name string) net.Listener {
	if e := d.liveEndpoint(endpointIndex(name)); e != nil {
		return e.ln
	}
	return nil
}

// openAll binds (or takes from socket activation) every endpoint o enables,
// in table order, without serving any: a port in use fails the start with
// nothing served. On an error nothing stays open.
func (d *Daemon) openAll(o *Options) ([]*endpoint, error) {
	opened := make([]*endpoint, len(endpointTable))
	for i, k := range endpointTable {
		host, port, on := k.addr(o)
		if !on {
			continue
		}
		e, err := d.openEndpoint(k, host, port)
		if err != nil {
			for _, o := range opened {
				if o != nil {
					o.close()
				}
			}
			return nil, err
		}
		opened[i] = e
	}
	return opened, nil
}

// endpointMove is what a reload does to one endpoint: serve next (nil: the
// endpoint goes off) in place of the live one. It is decided, and next is
// bound, before anything is applied.
type endpointMove struct {
	row  int
	next *endpoint
}

type endpointMoves []endpointMove

// abort closes what prepareEndpoints bound: the reload applies nothing.
func (ms endpointMoves) abort() {
	for _, m := range ms {
		if m.next != nil {
			m.next.close()
		}
	}
}

// prepareEndpoints binds every endpoint the changes move or turn on. If one
// cannot be bound, the others are closed and the error returned: nothing is
// applied.
func (d *Daemon) prepareEndpoints(next *Options, changes []Change) (endpointMoves, error) {
	var moves endpointMoves
	for i, k := range endpointTable {
		if !slices.ContainsFunc(k.sections, func(s section) bool { return has(changes, s) }) {
			continue
		}
		old := d.liveEndpoint(i)
		host, port, on := k.addr(next)
		switch {
		case !on:
			if old != nil {
				moves = append(moves, endpointMove{row: i})
			}
		case old != nil && old.activated:
			d.log.Warn(fmt.Sprintf("The %s listener came from systemd socket activation: keeping it; edit the socket unit to move it", k.name))
		default:
			e, err := d.openEndpoint(k, host, port)
			if err != nil {
				moves.abort()
				return nil, err
			}
			moves = append(moves, endpointMove{row: i, next: e})
		}
	}
	return moves, nil
}

// commitEndpoints swaps the endpoints, in table order: the new listener
// serves before the old one stops, so that there is no moment without one
// and the server announces the new address at once (it announces the
// newest listener it was given).
func (d *Daemon) commitEndpoints(moves endpointMoves) {
	for _, m := range moves {
		old := d.liveEndpoint(m.row)
		if m.next != nil {
			d.serveEndpoint(m.row, m.next)
		} else {
			d.mu.Lock()
			d.live[m.row] = nil
			d.mu.Unlock()
		}
		if old == nil {
			continue
		}
		if d.hooks.beforeStopOld != nil && m.next != nil {
			d.hooks.beforeStopOld(old.kind.name)
		}
		old.stop()
		if m.next == nil {
			d.log.Info(fmt.Sprintf("Stopped listening for %s on %s", old.kind.what, old.address()))
		}
	}
}

// stopEndpoints stops every live endpoint (shutdown), then closes the
// sockets systemd passed: kept until now, they go with the process.
func (d *Daemon) stopEndpoints() {
	for i := range endpointTable {
		d.mu.Lock()
		e := d.live[i]
		d.live[i] = nil
		d.mu.Unlock()
		if e != nil {
			e.stop()
		}
	}
	for _, ln := range d.activated {
		_ = ln.Close()
	}
}

// The serve functions of the table.

func serveClients(d *Daemon, ln net.Listener) func() {
	// Listen before the goroutine: from here on INFO announces ln.
	if err := d.srv.Listen(ln); err != nil {
		return func() {} // shutting down or in lame duck mode: ln is closed
	}
	if !d.tasks.Go("client listener", func() { _ = d.srv.Serve(ln) }) {
		d.srv.StopListener(ln)
	}
	return func() { d.srv.StopListener(ln) }
}

func serveWebSocket(d *Daemon, ln net.Listener) func() {
	if err := d.srv.ListenWebSocket(ln); err != nil {
		return func() {} // shutting down or in lame duck mode: ln is closed
	}
	if !d.tasks.Go("websocket listener", func() { _ = d.srv.ServeWebSocket(ln) }) {
		d.srv.StopWebSocketListener(ln)
	}
	return func() { d.srv.StopWebSocketListener(ln) }
}

func serveRoutes(d *Daemon, ln net.Listener) func() {
	cl := d.cluster()
	if cl == nil || cl.Listen(ln) != nil {
		_ = ln.Close()
		return func() {}
	}
	if !d.tasks.Go("route listener", func() { _ = cl.Serve(ln) }) {
		cl.StopListener(ln)
	}
	return func() { cl.StopListener(ln) }
}

// monitorStopTimeout bounds how long a stopping monitoring listener waits
// for the requests in flight.
const monitorStopTimeout = 2 * time.Second

func serveMonitor(d *Daemon, ln net.Listener) func() {
	return serveHTTP(d, "monitor listener", ln)
}

func serveMonitorTLS(d *Daemon, ln net.Listener) func() {
	return serveHTTP(d, "https monitor listener", tls.NewListener(ln, d.monitorTLSConfig()))
}

func serveHTTP(d *Daemon, name string, ln net.Listener) func() {
	hs := &http.Server{Handler: &d.monitor, ReadHeaderTimeout: 5 * time.Second}
	// What net/http reports (a failed TLS handshake: a browser refusing the
	// certificate, plain HTTP on the HTTPS port) is the client's problem:
	// natsd's log at debug, not stderr.
	if l, err := zap.NewStdLogAt(d.log.Logger.Named("monitoring"), zap.DebugLevel); err == nil {
		hs.ErrorLog = l
	}
	if !d.tasks.Go(name, func() { _ = hs.Serve(ln) }) {
		_ = ln.Close()
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), monitorStopTimeout)
		defer cancel()
		if hs.Shutdown(ctx) != nil {
			_ = hs.Close()
		}
	}
}
