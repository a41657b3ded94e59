package daemon

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/cluster"
	"github.com/natsd/natsd/confparse"
	"github.com/natsd/natsd/server"
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
	flags *Flags
	env   Env
	log   *logger
	srv   *server.Server

	mu       sync.Mutex // guards opts and the listeners
	opts     *Options
	clientLn net.Listener
	httpLn   net.Listener
	httpSrv  *http.Server
	cl       *cluster.Cluster // nil when not clustered
	routeLn  net.Listener

	activated  map[string]net.Listener // from systemd socket activation, by name; set once in Start
	notify     *systemd.Notifier
	lastReload ReloadStatus
	reloads    chan reloadReq
	held       *heldConfig // what the watcher's last reload held back (reload goroutine only)
	watch      *watcher

	portsFile string
	stopOnce  sync.Once
	ldmOnce   sync.Once
	ldmDone   chan struct{} // closed when lame duck mode has drained the clients
	stopping  chan struct{} // closed when shutdown begins
	done      chan struct{} // closed when shutdown is over
}

// Run starts natsd and serves until ctx ends or SIGINT/SIGTERM arrives.
// Shutdown order:
//  1. stop accepting clients (listeners closed);
//  2. close every client with reason "Server Shutdown";
//  3. shut the monitoring HTTP server down;
//  4. wait for every goroutine the server started;
//  5. remove the ports file and pid file, sync the log.
func Run(ctx context.Context, flags *Flags, env Env) error {
	d, err := Start(flags, env)
	if err != nil {
		return err
	}
	sigs := env.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, notifySignals...)
		defer signal.Stop(ch)
		sigs = ch
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

// Start builds the options, binds the listeners and starts serving.
func Start(flags *Flags, env Env) (*Daemon, error) {
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
	d := &Daemon{flags: flags, env: env, log: lg, opts: o, activated: map[string]net.Listener{},
		reloads: make(chan reloadReq), ldmDone: make(chan struct{}), stopping: make(chan struct{}), done: make(chan struct{})}
	d.notify = systemd.NewNotifier()
	for _, w := range diag.Warnings {
		lg.Warn(w.Error())
	}
	lg.Info("Starting natsd")
	lg.Info("  Version:  " + Version + " (nats-server protocol " + server.ProtocolVersion + ")")
	if o.ConfigFile != "" {
		lg.Info("  Using configuration file: " + o.ConfigFile)
	}
	d.srv = server.New(o.Server, lg.Logger, Version)
	d.srv.SetTrace(o.Log.Trace)
	lg.Info("  Name:     " + d.srv.Name())
	lg.Info("  ID:       " + d.srv.ID())

	if err := d.takeActivated(); err != nil {
		d.Shutdown()
		return nil, err
	}
	if err := d.startMonitor(o); err != nil {
		d.Shutdown()
		return nil, err
	}
	if err := d.startCluster(o); err != nil {
		d.Shutdown()
		return nil, err
	}
	ln, err := d.listenFor("client", o.Server.Host, o.Server.Port)
	if err != nil {
		d.Shutdown()
		return nil, fmt.Errorf("cannot listen for client connections: %w", err)
	}
	d.clientLn = ln
	if err := d.srv.Listen(ln); err != nil {
		d.Shutdown()
		return nil, err
	}
	go func() { _ = d.srv.Serve(ln) }()
	lg.Info("Listening for client connections on " + hostPort(o.Server.Host, ln))

	if o.PidFile != "" {
		if err := d.claimPidFile(o.PidFile); err != nil {
			d.Shutdown()
			return nil, err
		}
	}
	if err := d.writePortsFile(); err != nil {
		d.Shutdown()
		return nil, err
	}
	if d.cl != nil {
		d.cl.Start()
	}
	go d.reloadLoop()
	if o.ConfigFile != "" && !flags.NoConfigWatch {
		if w, err := newWatcher(lg.Logger, func() { _ = d.Reload(triggerFileChange) }); err != nil {
			lg.Warn("Cannot watch the config file; reload with SIGHUP", zap.Error(err))
		} else {
			d.watch = w
			w.watch(o.Files)
		}
	}
	lg.Info("Server is ready")
	// Every listener accepts by now (they were bound before Serve started).
	if err := d.notify.Ready(d.statusText()); err != nil {
		lg.Warn("Could not tell systemd we are ready", zap.Error(err))
	}
	if d.notify.Enabled() {
		go d.statusLoop()
	}
	d.startWatchdog()
	d.startTestHooks()
	return d, nil
}

// watchFiles points the watcher at a new set of config files (an include
// was added or removed).
func (d *Daemon) watchFiles(files []string) {
	if d.watch != nil {
		d.watch.watch(files)
	}
}

// hostPort is "host:port" of a listener as configured ("0.0.0.0:4222", not
// Go's "[::]:4222"), for logs.
func hostPort(host string, ln net.Listener) string {
	if a, ok := ln.Addr().(*net.TCPAddr); ok {
		return net.JoinHostPort(host, strconv.Itoa(a.Port))
	}
	return ln.Addr().String()
}

// listen binds host:port; port -1 means any free port.
func listen(host string, port int) (net.Listener, error) {
	if port == server.RandomPort {
		port = 0
	}
	return net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
}

// startCluster binds the route listener and connects the cluster to the
// server; routes are dialed once clients can be served (Start).
func (d *Daemon) startCluster(o *Options) error {
	if !o.Cluster.Enabled() {
		return nil
	}
	ln, err := d.listenFor("cluster", o.Cluster.Host, o.Cluster.Port)
	if err != nil {
		return fmt.Errorf("cannot listen for route connections: %w", err)
	}
	d.cl = cluster.New(o.Cluster, d.srv, d.log.Logger)
	d.srv.SetRouter(d.cl)
	d.routeLn = ln
	if err := d.cl.Listen(ln); err != nil {
		return err
	}
	go func() { _ = d.cl.Serve(ln) }()
	d.log.Info("Cluster name is " + d.cl.Name())
	d.log.Info("Listening for route connections on " + hostPort(o.Cluster.Host, ln))
	return nil
}

func (d *Daemon) startMonitor(o *Options) error {
	if !o.Monitor.Enabled() {
		return nil
	}
	ln, err := d.listenFor("monitor", o.Monitor.Host, o.Monitor.Port)
	if err != nil {
		return fmt.Errorf("cannot listen for monitoring: %w", err)
	}
	hs := d.newMonitorServer(o)
	d.httpLn, d.httpSrv = ln, hs
	go func() { _ = hs.Serve(ln) }()
	d.log.Info("Starting http monitor on " + hostPort(o.Monitor.Host, ln))
	return nil
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
		d.ldmOnce.Do(func() { go d.lameDuck() })
	case sigReload:
		go func() { _ = d.Reload("SIGHUP") }()
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
	d.mu.Lock()
	cl := d.cl
	d.mu.Unlock()
	if cl != nil {
		cl.EnterLameDuck()
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// Tell systemd the stop takes longer than TimeoutStopSec allows,
		// as long as the drain lasts.
		end := time.Now().Add(o.LameDuckDuration)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			_ = d.notify.ExtendTimeout(time.Until(end) + 15*time.Second)
			select {
			case <-d.stopping:
				cancel()
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	_ = d.notify.Status("lame duck mode: draining clients")
	d.srv.LameDuck(ctx)
	cancel()
	d.log.Info("Lame duck mode done")
	close(d.ldmDone)
}

// Shutdown stops natsd in the documented order. It is idempotent.
func (d *Daemon) Shutdown() {
	d.stopOnce.Do(func() {
		_ = d.notify.Stopping()
		d.log.Info("Initiating Shutdown...")
		close(d.stopping)
		if d.watch != nil {
			d.watch.close()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if d.srv != nil {
			if err := d.srv.Shutdown(ctx); err != nil {
				d.log.Warn("Shutdown did not finish cleanly", zap.Error(err))
			}
		}
		d.mu.Lock()
		cl := d.cl
		d.mu.Unlock()
		if cl != nil {
			cl.Shutdown()
		}
		d.mu.Lock()
		hs := d.httpSrv
		d.mu.Unlock()
		if hs != nil {
			_ = hs.Shutdown(ctx)
		}
		if d.portsFile != "" {
			_ = os.Remove(d.portsFile)
		}
		d.mu.Lock()
		pid := d.opts.PidFile
		d.mu.Unlock()
		if pid != "" {
			removePidFile(pid)
		}
		d.log.Info("Server Exiting..")
		_ = d.log.Sync()
		d.log.sink.close()
		close(d.done)
	})
}

// errNoConfigFile is nats-server's answer to a reload without -c.
var errNoConfigFile = errors.New("can only reload config when a file is provided using -c or --config")
