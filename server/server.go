package server

import (
	"context"
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nkeys"
	"go.uber.org/zap"

	"github.com/natsd/natsd/server/conn"

	"github.com/natsd/natsd/server/subject"
	"github.com/natsd/natsd/tlsconf"
)

// ProtocolVersion is the nats-server release whose client protocol natsd
// implements. It goes in INFO "version": clients gate features on it (nats.js
// wants ≥ 2.8.2 and < 3), so it must read like a nats-server release. natsd's
// own version travels separately (Server.Version, /varz "natsd_version").
const ProtocolVersion = "2.15.2"

// GlobalAccountName is the account of every client (natsd has no other
// accounts yet).
const GlobalAccountName = "$G"

// Server is the client side of one natsd process.
type Server struct {
	log  *zap.Logger
	opts atomic.Pointer[Options]
	// The server's identity, as nats-server's: an nkey server key pair
	// whose public key is the id (the auth callout's requests are JWTs it
	// signs), and a curve key pair (INFO "xkey") that seals encrypted
	// callout requests. Made once; immutable.
	kp      nkeys.KeyPair
	xkp     nkeys.KeyPair
	id      string
	xkey    string
	version string
	start   time.Time

	gacc       *Account // $G
	accountsMu sync.RWMutex
	accounts   map[string]*Account // by name, $G included

	// quit closes when Shutdown begins: a client waiting for the auth
	// callout stops waiting.
	quit chan struct{}

	mu        sync.Mutex
	clients   map[uint64]*client
	listeners map[net.Listener]struct{}
	current   net.Listener // the client listener INFO announces: the newest
	shutdown  bool
	ldm       bool
	peerURLs  []string            // client URLs of cluster peers, for connect_urls
	hadPeers  bool                // a peer's URLs were ever known: connect_urls is never left out again
	peerByID  map[string][]string // the same, per peer server id
	clusterNm string

	tracing    atomic.Bool
	traceSeq   atomic.Uint64 // trace events' server "seq"
	nextCID    atomic.Uint64
	totalConns atomic.Uint64
	stats      counters

	router atomic.Pointer[routerHolder]
	events eventsHolder // the system account's client events (events.go)

	ws     wsServer                           // WebSocket listeners, handshakes and peers' URLs (websocket.go)
	tls    atomic.Pointer[tlsState]           // the client listener's certificates (tls.go)
	mapper atomic.Pointer[tlsconf.UserMapper] // verify_and_map; nil when it does not apply

	internal internalPublisher // the server's own publishing (internal.go)

	closedMu   sync.Mutex
	closedRing []*ConnStats
	closedNext int

	wg sync.WaitGroup // every goroutine the server starts
}

// counters are the server-wide message statistics of /varz.
type counters struct {
	inMsgs, outMsgs, inBytes, outBytes atomic.Int64
	slowConsumers                      atomic.Int64
	staleConnections                   atomic.Int64
}

// New returns a server that serves nothing yet: call Serve with a listener.
// version is natsd's own version.
func New(opts Options, log *zap.Logger, version string) *Server {
	if log == nil {
		log = zap.NewNop()
	}
	o := opts.WithDefaults()
	kp, xkp := newIdentity()
	s := &Server{
		log:       log,
		kp:        kp,
		xkp:       xkp,
		version:   version,
		start:     time.Now(),
		clients:   make(map[uint64]*client),
		listeners: make(map[net.Listener]struct{}),
		quit:      make(chan struct{}),
	}
	s.id, _ = kp.PublicKey()
	s.xkey, _ = xkp.PublicKey()
	s.ws.listeners = map[net.Listener]struct{}{}
	s.ws.pending = map[net.Conn]bool{}
	s.gacc = newAccount(s, GlobalAccountName)
	s.accounts = map[string]*Account{GlobalAccountName: s.gacc}
	s.internal.init(s)
	if o.ServerName == "" {
		o.ServerName = s.id
	}
	s.opts.Store(&o)
	s.setMapper(&o)
	s.setWebSocketPolicy(&o)
	s.configureAccounts(o.Accounts)
	return s
}

// newIdentity makes the server's key pairs. nkeys reads crypto/rand; a
// failure there leaves nothing to run with, so it panics.
func newIdentity() (kp, xkp nkeys.KeyPair) {
	kp, err := nkeys.CreateServer()
	if err == nil {
		xkp, err = nkeys.CreateCurveKeys()
	}
	if err != nil {
		panic("server: cannot make the server's keys: " + err.Error())
	}
	return kp, xkp
}

// ID is the server id sent in INFO: the public key of NKey.
func (s *Server) ID() string { return s.id }

// NKey is the server's nkey key pair (its public key is the id): it signs
// what the server asserts, such as the auth callout's request JWTs.
func (s *Server) NKey() nkeys.KeyPair { return s.kp }

// XKey is the server's curve key pair (its public key is INFO's "xkey"):
// encrypted auth callout requests are sealed with it.
func (s *Server) XKey() nkeys.KeyPair { return s.xkp }

// Name is the configured server name (the id when none is set).
func (s *Server) Name() string { return s.getOpts().ServerName }

// Version is natsd's own version.
func (s *Server) Version() string { return s.version }

// StartTime is when the server was created.
func (s *Server) StartTime() time.Time { return s.start }

// Log returns the server's logger.
func (s *Server) Log() *zap.Logger { return s.log }

func (s *Server) getOpts() *Options { return s.opts.Load() }

// Options returns the options the server runs with. Do not modify.
func (s *Server) Options() *Options { return s.opts.Load() }

// Serve accepts clients on ln until ln is closed (by StopListener or
// Shutdown). It may be called for several listeners at once: a reload that
// moves the client port serves the new listener before closing the old one.
func (s *Server) Serve(ln net.Listener) error {
	if err := s.Listen(ln); err != nil {
		return err
	}
	s.mu.Lock()
	if _, still := s.listeners[ln]; !still || s.shutdown {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()
	conn.AcceptLoop(ln, s.accept, func(err error) {
		s.log.Error("Error accepting client connection", zap.Error(err))
	})
	return nil
}

// Listen makes ln a client listener of the server and the one INFO and
// connect_urls announce (the newest wins: during a port move the new
// address is announced at once) without accepting yet. Call it before
// serving ln in a goroutine of its own, so that nothing (a route's INFO to
// a peer, say) announces the address before it is known. Serve calls it
// too; calling both is fine.
func (s *Server) Listen(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shutdown || s.ldm {
		_ = ln.Close()
		return ErrServerClosed
	}
	if _, known := s.listeners[ln]; !known {
		s.listeners[ln] = struct{}{}
		s.current = ln
	}
	return nil
}

// StopListener stops accepting on ln and closes it; clients already accepted
// stay connected.
func (s *Server) StopListener(ln net.Listener) {
	s.mu.Lock()
	delete(s.listeners, ln)
	if s.current == ln {
		s.current = nil
		for other := range s.listeners {
			s.current = other
		}
	}
	s.mu.Unlock()
	_ = ln.Close()
}

// closeListeners stops accepting clients on every listener, WebSocket ones
// included.
func (s *Server) closeListeners() {
	s.mu.Lock()
	lns := s.listeners
	s.listeners = map[net.Listener]struct{}{}
	for ln := range s.ws.listeners {
		lns[ln] = struct{}{}
	}
	s.ws.listeners = map[net.Listener]struct{}{}
	s.mu.Unlock()
	for ln := range lns {
		_ = ln.Close()
	}
}

// ErrServerClosed is returned by Serve after Shutdown or lame duck mode began.
var ErrServerClosed = errors.New("server: closed")

// accept registers a new client connection and starts it.
func (s *Server) accept(nc net.Conn) {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	o := s.getOpts()
	sock, ct := s.wrapTLS(nc, o)
	c := newClient(s, sock, nil)
	if ct != nil {
		c.sock, c.tls = sock.(*clientSocket), ct
	}
	s.clients[c.cid] = c
	n := len(s.clients)
	s.wg.Add(2)
	s.mu.Unlock()
	s.totalConns.Add(1)
	c.start(n)
}

// removeClient forgets a closed client.
func (s *Server) removeClient(c *client) {
	s.mu.Lock()
	delete(s.clients, c.cid)
	s.mu.Unlock()
}

// NumClients is the number of client connections.
func (s *Server) NumClients() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// NumSubscriptions counts local, remote and internal subscriptions, in
// every account.
func (s *Server) NumSubscriptions() int {
	n := 0
	for _, a := range s.Accounts() {
		n += a.NumSubscriptions()
	}
	return n
}

// SublistStats are the subject index's statistics for /subsz.
func (s *Server) SublistStats() subject.Stats { return s.gacc.sl.Stats() }

// Shutdown closes every listener and client and waits for the server's
// goroutines, or for ctx. It is idempotent.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		return s.wait(ctx)
	}
	s.shutdown = true
	close(s.quit)
	s.mu.Unlock()

	s.closeListeners()
	s.mu.Lock()
	for nc := range s.ws.pending {
		_ = nc.Close() // ends its handshake at once
	}
	s.mu.Unlock()
	for _, c := range s.snapshotClients() {
		c.Close(conn.ServerShutdown)
	}
	return s.wait(ctx)
}

func (s *Server) wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// goroutines reports how many goroutines the process runs (for /varz).
func goroutines() int { return runtime.NumGoroutine() }

// Healthz checks that the server's shared state answers: its lock can be
// taken and the subject trie matches. A wedged server blocks here; the
// caller bounds the wait.
func (s *Server) Healthz() error {
	s.mu.Lock()
	closed := s.shutdown
	s.mu.Unlock()
	if closed {
		return ErrServerClosed
	}
	s.gacc.sl.Match([]byte("_natsd.healthz"))
	return nil
}
