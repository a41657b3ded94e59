package daemon

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"time"

	"github.com/natsd/natsd/sysacct"

	"go.uber.org/zap"

	"github.com/natsd/natsd/cluster"
	"github.com/natsd/natsd/confparse"
	"github.com/natsd/natsd/jetstream"
	"github.com/natsd/natsd/jetstream/journal"
	"github.com/natsd/natsd/jscluster"
	"github.com/natsd/natsd/server"
	"github.com/natsd/natsd/server/authcallout"
	"github.com/natsd/natsd/server/jwtauth"
	"github.com/natsd/natsd/systemd"
)

// Version is natsd's own version, set at build time from git
// (-ldflags "-X github.com/natsd/natsd/daemon.Version=…").
var Version = "0.0.0-dev"

//go:embed default.conf
var defaultConfig []byte

// defaultConfigName names the embedded config in messages.
const defaultConfigName = "<built-in default.conf>"

// Load parses the config file named by flags (or the built-in default) and
// builds options with the flags overlaid. The returned error holds every
// problem, as "file:line:col: message" lines.
func Load(flags *Flags) (*Options, *Diagnostics, error) {
	var doc *confparse.Document
	var err error
	if flags != nil && flags.ConfigFile != "" {
		doc, err = confparse.ParseFile(flags.ConfigFile, nil)
	} else {
		doc, err = confparse.Parse(defaultConfigName, defaultConfig, nil)
		if doc != nil {
			doc.Files = nil
		}
	}
	if err != nil {
		return nil, nil, err
	}
	o, diag := Build(doc, flags)
	if flags == nil || flags.ConfigFile == "" {
		o.ConfigFile, o.Files = "", nil
	}
	if err := diag.Err(); err != nil {
		return nil, diag, err
	}
	return o, diag, nil
}

// Env is what Run needs from the process; tests give their own.
type Env struct {
	Stderr  io.Writer
	Program string // for the ports file name; default "natsd"
	// Signals delivers the process's signals; nil means the real ones.
	Signals <-chan os.Signal
}

// Daemon owns every component of a running natsd and their lifecycle.
type Daemon struct {
	flags  *Flags
	env    Env
	log    *logger
	srv    *server.Server
	sys    atomic.Pointer[sysacct.Service] // the system account's events and requests
	notify *systemd.Notifier
	jwt    *jwtauth.Auth     // operator mode; nil when off
	js     *jetstream.Engine // JetStream; nil when off
	// jsc and journal are clustered JetStream (jetstream with a cluster
	// block): nil otherwise.
	jsc     *jscluster.Cluster
	journal *journal.Journal
	// callout is the auth callout (nil when none): started with the
	// server, kept across reloads (it cannot change), stopped after it.
	callout *authcallout.Callout

	// life is the lifecycle owner (lifecycle.go): Start's wiring, each
	// reload's apply and Shutdown's start hold it.
	life    sync.Mutex
	stopped bool  // under life: Shutdown began, no reload applies
	tasks   tasks // every goroutine the daemon starts

	mu         sync.Mutex // guards what monitoring and status read while a reload writes:
	opts       *Options
	live       []*endpoint      // the endpoint table's live rows (endpoints.go); nil when off
	cl         *cluster.Cluster // nil when not clustered
	lastReload ReloadStatus

	activated map[string]net.Listener // from systemd socket activation, by name; set once in Start, closed by Shutdown
	monitor   monitorHandler          // what the monitor endpoint serves
	certs     certCache               // the configured certificates' expiry, for /metrics
	reloads   chan reloadReq
	held      *heldConfig // what the watcher's last reload held back (reload goroutine only)
	watch     *watcher
	certWatch *watcher  // the TLS certificate files' (tls.go); under life
	tls       tlsStores // under mu
	portsFile string
	control   interface{ Close() error } // the control socket (control.go); nil when none

	stopOnce sync.Once
	ldmOnce  sync.Once
	ldmDone  chan struct{}   // closed when lame duck mode has drained the clients
	stopCtx  context.Context // cancelled when shutdown begins
	stopping <-chan struct{} // stopCtx.Done()
	stop     func()          // cancels stopCtx
	done     chan struct{}   // closed when shutdown is over

	hooks testSeams
}

// testSeams let the package's tests hold the daemon at a point of a
// reload; they are nil in natsd.
type testSeams struct {
	beforeApply   func()            // a reload has its changes and is about to apply them
	beforeStopOld func(name string) // an endpoint moved: the new listener serves, the old one is still open
}

// Run starts natsd and serves until ctx ends, SIGINT or SIGTERM arrives, or
// lame duck mode is over. Shutdown order:
//  1. tell systemd STOPPING=1;
//  2. wait for a reload in progress to finish (what it started is stopped
//     below), then refuse new reloads and new goroutines: the reload,
//     status and watchdog loops end, and the config watcher is closed;
//  3. the system account publishes $SYS.SERVER.<id>.SHUTDOWN (clients and
//     routes still hear it) and ends its subscriptions; then stop every
//     endpoint in table order — client, cluster, monitor — so nothing new
//     is accepted (monitoring requests in flight finish), and close the
//     sockets systemd passed;
//  4. close every client with reason "Server Shutdown" and wait for the
//     server's goroutines;
//  5. close every route, stop dialing, wait for the cluster's goroutines;
//  6. wait for every goroutine the daemon started (bounded, as 4);
//  7. remove the ports file and pid file, sync and close the log.
func Run(ctx context.Context, flags *Flags, env Env) error {
	// Signals are caught before Start: it says "ready" (ports file,
	// READY=1), and a SIGTERM right after must shut down as any other, not
	// kill the process with its pid and ports files left behind.
	sigs := env.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, notifySignals...)
		defer signal.Stop(ch)
		sigs = ch
	}
	d, err := Start(flags, env)
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			d.Shutdown()
			return nil
		case <-d.ldmDone:
			d.Shutdown()
			return nil
		case sig := <-sigs:
			if d.handleSignal(sig) {
				d.Shutdown()
				return nil
			}
		}
	}
}

// Start builds the options, binds the listeners and starts serving. On an
// error nothing is left running.
func Start(flags *Flags, env Env) (_ *Daemon, err error) {
	if env.Stderr == nil {
		env.Stderr = os.Stderr
	}
	if env.Program == "" {
		env.Program = "natsd"
	}
	o, diag, err := Load(flags)
	if err != nil {
		return nil, err
	}
	if o.PidFile != "" {
		// Before anything is bound: a second natsd given a running one's
		// pid file stops here, touching nothing.
		if _, err := checkPidFile(o.PidFile); err != nil {
			return nil, err
		}
	}
	lg, err := newLogger(o.Log, env.Stderr)
	if err != nil {
		return nil, err
	}
	ja, err := newOperatorAuth(o, lg)
	if err != nil {
		return nil, err
	}
	co := newCallout(o, lg)
	d := newDaemon(flags, env, lg, o)
	d.jwt = ja
	d.callout = co
	// The one clean-up for every failure below: Shutdown stops whatever
	// was started, and only that.
	defer func() {
		if err != nil {
			d.Shutdown()
		}
	}()
	for _, w := range diag.Warnings {
		lg.Warn(w.Error())
	}
	lg.Info("Starting natsd")
	lg.Info("  Version:  " + Version + " (nats-server protocol " + server.ProtocolVersion + ")")
	if o.ConfigFile != "" {
		lg.Info("  Using configuration file: " + o.ConfigFile)
	}
	lg.Info("  Name:     " + d.srv.Name())
	lg.Info("  ID:       " + d.srv.ID())
	if err := d.start(o); err != nil {
		return nil, err
	}
	return d, nil
}

func newDaemon(flags *Flags, env Env, lg *logger, o *Options) *Daemon {
	stopCtx, stop := context.WithCancel(context.Background())
	d := &Daemon{flags: flags, env: env, log: lg, opts: o, notify: systemd.NewNotifier(),
		live: make([]*endpoint, len(endpointTable)), activated: map[string]net.Listener{},
		reloads: make(chan reloadReq), ldmDone: make(chan struct{}), stopCtx: stopCtx, stopping: stopCtx.Done(), stop: stop,
		done: make(chan struct{})}
	d.srv = server.New(o.Server, lg.Logger, Version)
	d.srv.SetTrace(o.Log.Trace)
	d.monitor.set(d.newMonitorHandler(o))
	return d
}

// start wires and starts the components, holding the lifecycle.
func (d *Daemon) start(o *Options) error {
	d.life.Lock()
	defer d.life.Unlock()
	if err := d.takeActivated(); err != nil {
		return err
	}
	// The certificates first: a file that went missing since the config
	// was checked fails the start before anything is bound.
	cst, err := newStore("tls", o.Server.TLS)
	if err != nil {
		return err
	}
	kst, err := newStore("cluster.tls", o.Cluster.TLS)
	if err != nil {
		return err
	}
	wst, err := newStore("websocket.tls", wsTLS(o))
	if err != nil {
		return err
	}
	d.setClientStore(cst)
	d.setClusterStore(kst)
	d.setWebSocketStore(wst)
	d.srv.SetTLS(cst)
	d.srv.SetWebSocketTLS(wst)
	for _, r := range d.stores().refs() {
		d.warnExpiry(r, false) // expired ones: the config's own warning
	}
	if d.jwt != nil {
		// Before any client is served: the system account and its
		// claims-update service, the resolver's directory.
		if err := d.jwt.Start(d.srv); err != nil {
			return err
		}
	}
	if d.callout != nil {
		// Before any client is served: the reply inbox in the service's
		// account.
		d.callout.Start(d.srv)
	}
	if err := d.startJetStream(o); err != nil {
		return err
	}
	opened, err := d.openAll(o)
	if err != nil {
		return err
	}
	if o.Cluster.Enabled() {
		// Before its endpoint serves; routes are dialed once clients can
		// be served (below).
		d.setCluster(d.newCluster(o))
		d.log.Info("Cluster name is " + d.cl.Name())
	}
	for i, e := range opened {
		if e != nil {
			d.serveEndpoint(i, e)
		}
	}
	d.logClientTLS(o)
	if o.PidFile != "" {
		if err := d.claimPidFile(o.PidFile); err != nil {
			return err
		}
	}
	// Before READY=1: from then on systemctl reload may come.
	d.startControl(o.PidFile)
	if cl := d.cluster(); cl != nil {
		cl.Start()
	}
	d.tasks.Go("reload loop", d.reloadLoop)
	if err := d.startSystemAccount(); err != nil {
		return err
	}
	if o.ConfigFile != "" && !d.flags.NoConfigWatch {
		reload := func() { _ = d.Reload(triggerFileChange) }
		if w, err := newWatcher(d.log.Logger, reload, d.tasks.Go); err != nil {
			d.log.Warn("Cannot watch the config file; reload with SIGHUP", zap.Error(err))
		} else {
			d.watch = w
			w.watch(o.Files)
		}
	}
	d.startCertWatch()
	// The ports file says "ready" to whoever waits for it (scripts, tests):
	// it is written once everything above runs, the config watcher included,
	// so that an edit made right after it appears is seen.
	if err := d.writePortsFile(); err != nil {
		return err
	}
	d.log.Info("Server is ready")
	// Every listener accepts by now (they were bound before Serve started).
	if err := d.notify.Ready(d.statusText()); err != nil {
		d.log.Warn("Could not tell systemd we are ready", zap.Error(err))
	}
	if d.notify.Enabled() {
		d.tasks.Go("systemd status", d.statusLoop)
	}
	d.startWatchdog()
	d.startTestHooks()
	return nil
}

// newCluster makes the cluster for o, with the routes' certificates.
func (d *Daemon) newCluster(o *Options) *cluster.Cluster {
	cl := cluster.New(o.Cluster, d.srv, d.log.Logger)
	cl.SetTLS(d.stores().cluster)
	return cl
}

// cluster is the running cluster, or nil.
func (d *Daemon) cluster() *cluster.Cluster {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cl
}

// setCluster makes cl the running cluster (nil: none) and the server's
// router.
func (d *Daemon) setCluster(cl *cluster.Cluster) {
	d.mu.Lock()
	d.cl = cl
	d.mu.Unlock()
	if cl == nil {
		d.srv.SetRouter(nil)
		return
	}
	d.srv.SetRouter(cl)
}

// currentOpts are the options natsd runs with.
func (d *Daemon) currentOpts() *Options {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.opts
}

// watchFiles points the watcher at a new set of config files (an include
// was added or removed).
func (d *Daemon) watchFiles(files []string) {
	if d.watch != nil {
		d.watch.watch(files)
	}
}

// handleSignal acts on a signal; it reports whether to shut down.
func (d *Daemon) handleSignal(sig os.Signal) bool {
	d.log.Info(fmt.Sprintf("Trapped %q signal", sig.String()))
	switch sig {
	case sigQuit:
		return true
	case sigTerm:
		if d.srv.InLameDuck() {
			d.log.Info("Lame duck mode in progress: SIGTERM ignored")
			return false
		}
		return true
	case sigLameDuck:
		d.ldmOnce.Do(func() { d.tasks.Go("lame duck", d.lameDuck) })
	case sigReload:
		d.tasks.Go("reload (SIGHUP)", func() { _ = d.Reload("SIGHUP") })
	case sigReopen:
		if ok, err := d.log.sink.reopen(); !ok {
			d.log.Info("File log re-open ignored, not a file logger")
		} else if err != nil {
			d.log.Error("File log re-open failed", zap.Error(err))
		} else {
			d.log.Info("File log re-opened")
		}
	}
	return false
}

// lameDuck drains clients over lame_duck_duration, then lets Run shut down.
func (d *Daemon) lameDuck() {
	o := d.srv.Options()
	d.log.Info(fmt.Sprintf("Entering lame duck mode, stop accepting new clients; closing them over %v after a %v grace period", o.LameDuckDuration, o.LameDuckGracePeriod))
	if sys := d.sys.Load(); sys != nil {
		sys.LameDuck()
	}
	if cl := d.cluster(); cl != nil {
		cl.EnterLameDuck()
	}
	// Shutdown (SIGINT, or ctx) ends the drain early.
	ctx, cancel := context.WithCancel(d.stopCtx)
	defer cancel()
	d.tasks.Go("lame duck timeout", func() {
		// Tell systemd the stop takes longer than TimeoutStopSec allows,
		// as long as the drain lasts.
		end := time.Now().Add(o.LameDuckDuration)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			_ = d.notify.ExtendTimeout(time.Until(end) + 15*time.Second)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	})
	_ = d.notify.Status("lame duck mode: draining clients")
	d.srv.LameDuck(ctx)
	d.log.Info("Lame duck mode done")
	close(d.ldmDone)
}

// errNoConfigFile is nats-server's answer to a reload without -c.
var errNoConfigFile = errors.New("can only reload config when a file is provided using -c or --config")

// startSystemAccount starts the system account's service on the account
// the options name, replacing the one running (a reload changed
// system_account).
func (d *Daemon) startSystemAccount() error {
	sys, err := sysacct.Start(sysacct.Config{
		Server: d.srv, Cluster: d.clusterStats, Daemon: d.daemonStats, Health: d.health, Log: d.log.Logger, JetStream: d.js,
		Reload: func() ([]string, error) { return d.ReloadReport(triggerSystemRequest) },
	})
	if err != nil {
		return err
	}
	if old := d.sys.Swap(sys); old != nil {
		old.Close()
	}
	return nil
}
