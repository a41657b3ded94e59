package daemon

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/cluster"
	"github.com/natsd/natsd/server/monitor"
)

// A reload is: parse the file and its includes, build complete new options
// with the flags overlaid, validate, diff against the running options, and
// only then apply each change through the component that owns it, logging
// one line per change. Any error before applying leaves the running config
// untouched. Reloads never overlap: every trigger (file change, SIGHUP,
// natsd --signal reload, systemctl reload) goes through one goroutine.

// reloadReq asks the reload goroutine for a reload and waits for its result.
type reloadReq struct {
	trigger string
	done    chan error
}

// ReloadStatus is the outcome of the last reload, for /varz and systemd.
type ReloadStatus struct {
	Time    time.Time
	Err     error
	Changes int
}

// Reload reloads the config now (from any goroutine) and returns the result.
func (d *Daemon) Reload(trigger string) error {
	req := reloadReq{trigger: trigger, done: make(chan error, 1)}
	select {
	case d.reloads <- req:
	case <-d.stopping:
		return errors.New("natsd is shutting down")
	}
	return <-req.done
}

// reloadLoop serves reload requests one at a time.
func (d *Daemon) reloadLoop() {
	for {
		select {
		case req := <-d.reloads:
			if req.trigger == "" {
				req.done <- nil // a health probe: the loop answers
				continue
			}
			req.done <- d.reload(req.trigger)
		case <-d.stopping:
			return
		}
	}
}

func (d *Daemon) reload(trigger string) (err error) {
	d.mu.Lock()
	cur := d.opts
	d.mu.Unlock()
	if d.flags == nil || d.flags.ConfigFile == "" {
		return errNoConfigFile
	}
	next, diag, err := Load(d.flags)
	if diag != nil {
		for _, w := range diag.Warnings {
			d.log.Warn(w.Error())
		}
	}
	if err == nil && next.Digest == cur.Digest && filesEqual(next.Files, cur.Files) {
		d.log.Debug("Config reload (" + trigger + "): nothing changed")
		if d.held != nil {
			// The file is back to the running config: nothing is held now.
			d.held = nil
			d.recordReload(0, nil)
			d.log.Info("The held-back configuration was replaced by the running one")
		}
		return nil
	}
	_ = d.notify.Reloading()
	applied := 0 // a reload that fails applies nothing
	defer func() {
		d.recordReload(applied, err)
		// A reload ends with READY=1 either way, or systemd would show the
		// unit as reloading forever; STATUS= says how it went.
		_ = d.notify.Ready(d.statusText())
	}()
	if err != nil {
		d.log.Error("Failed to reload server configuration: " + oneLine(err))
		return err
	}
	changes := Diff(cur, next)
	if trigger == triggerFileChange && len(changes) > 0 {
		if err = d.holdBack(cur, next, changes); err != nil {
			// Watch the held config's files too: saving it again applies it.
			d.watchFiles(append(slices.Clone(cur.Files), next.Files...))
			return err
		}
	}
	d.held = nil
	if len(changes) == 0 {
		// The file changed (a comment, formatting): the options did not.
		d.mu.Lock()
		d.opts = next
		d.mu.Unlock()
		d.log.Info("Reloaded server configuration (" + trigger + "): no option changed")
		d.watchFiles(next.Files)
		return nil
	}
	if err = d.apply(cur, next, changes); err != nil {
		d.log.Error("Failed to reload server configuration: " + oneLine(err))
		return err
	}
	applied = len(changes)
	for _, c := range changes {
		d.log.Info("Reloaded: " + c.String())
	}
	d.log.Info(fmt.Sprintf("Reloaded server configuration (%s): %d changes, digest %s", trigger, len(changes), next.Digest[:12]))
	d.watchFiles(next.Files)
	return nil
}

func filesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (d *Daemon) recordReload(changes int, err error) {
	d.mu.Lock()
	d.lastReload = ReloadStatus{Time: time.Now(), Err: err, Changes: changes}
	d.mu.Unlock()
}

// oneLine joins a multi-line error (an ErrorList) with "; ".
func oneLine(err error) string {
	s := err.Error()
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			out = append(out, "; "...)
			continue
		}
		out = append(out, s[i])
	}
	return string(out)
}

// apply makes next the running options. New listeners are bound first: if
// one cannot be bound, nothing is applied. Then, in order: logging, the
// server (limits, auth, names), the client listener, clustering, the monitor,
// the files natsd writes. Existing connections stay up throughout.
func (d *Daemon) apply(cur, next *Options, changes []Change) error {
	var clientLn, routeLn, httpLn net.Listener
	closeAll := func() {
		for _, ln := range []net.Listener{clientLn, routeLn, httpLn} {
			if ln != nil {
				_ = ln.Close()
			}
		}
	}
	var err error
	if has(changes, secClientListener) {
		if clientLn, err = d.rebind("client", next.Server.Host, next.Server.Port, true); err != nil {
			closeAll()
			return err
		}
	}
	if next.Cluster.Enabled() && (has(changes, secClusterListener) || has(changes, secClusterEnable)) {
		starting := !cur.Cluster.Enabled()
		if routeLn, err = d.rebind("cluster", next.Cluster.Host, next.Cluster.Port, !starting); err != nil {
			closeAll()
			return err
		}
	}
	monitorActivated := d.activated["monitor"] != nil
	if has(changes, secMonitor) && monitorActivated {
		d.log.Warn("The monitor listener came from systemd socket activation: keeping it as it is; edit the socket unit to change it")
	}
	if next.Monitor.Enabled() && has(changes, secMonitor) && !monitorActivated {
		if httpLn, err = d.rebind("monitor", next.Monitor.Host, next.Monitor.Port, true); err != nil {
			closeAll()
			return err
		}
	}
	if has(changes, secLogFile) {
		if err := d.log.setFile(next.Log.File); err != nil {
			closeAll()
			return err
		}
	}

	// From here on nothing fails.
	d.log.apply(next.Log)
	d.srv.SetTrace(next.Log.Trace)
	d.srv.Apply(next.Server, serverChanges(changes))

	d.mu.Lock()
	d.opts = next
	oldClient := d.clientLn
	if clientLn != nil {
		d.clientLn = clientLn
	}
	d.mu.Unlock()
	if clientLn != nil && clientLn != oldClient {
		_ = d.srv.Listen(clientLn)
		go func() { _ = d.srv.Serve(clientLn) }()
		d.srv.StopListener(oldClient)
		d.log.Info("Listening for client connections on " + hostPort(next.Server.Host, clientLn))
	}

	d.applyCluster(cur, next, changes, routeLn)
	if has(changes, secMonitor) && !monitorActivated {
		d.applyMonitor(next, httpLn)
	}
	if has(changes, secFiles) || clientLn != nil || routeLn != nil || httpLn != nil {
		if cur.PidFile != "" && cur.PidFile != next.PidFile {
			removePidFile(cur.PidFile)
		}
		if next.PidFile != "" {
			if err := d.claimPidFile(next.PidFile); err != nil {
				d.log.Error("Writing pid file", zap.Error(err))
			}
		}
		if d.portsFile != "" {
			_ = os.Remove(d.portsFile)
			d.portsFile = ""
		}
		if err := d.writePortsFile(); err != nil {
			d.log.Error("Writing ports file", zap.Error(err))
		}
	}
	return nil
}

// rebind opens a listener for a changed address (moving) or for a component
// being started. A socket-activated listener is kept for the life of the
// process: when it would move, natsd says so and keeps it; a component that
// starts takes it.
func (d *Daemon) rebind(name, host string, port int, moving bool) (net.Listener, error) {
	if inherited := d.activated[name]; inherited != nil {
		if !moving {
			return inherited, nil
		}
		d.log.Warn(fmt.Sprintf("The %s listener came from systemd socket activation: keeping it; edit the socket unit to move it", name))
		return nil, nil
	}
	ln, err := listen(host, port)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for %s connections on %s: %w", name, net.JoinHostPort(host, fmt.Sprint(port)), err)
	}
	return ln, nil
}

// applyCluster starts, stops or changes clustering.
func (d *Daemon) applyCluster(cur, next *Options, changes []Change, routeLn net.Listener) {
	switch {
	case !cur.Cluster.Enabled() && next.Cluster.Enabled():
		// A cluster block added to a running standalone server.
		if routeLn == nil {
			return
		}
		cl := cluster.New(next.Cluster, d.srv, d.log.Logger)
		d.mu.Lock()
		d.cl, d.routeLn = cl, routeLn
		d.mu.Unlock()
		d.srv.SetRouter(cl)
		_ = cl.Listen(routeLn)
		go func() { _ = cl.Serve(routeLn) }()
		d.log.Info("Clustering started: listening for route connections on " + hostPort(next.Cluster.Host, routeLn))
		cl.Start()
	case cur.Cluster.Enabled() && !next.Cluster.Enabled():
		d.mu.Lock()
		cl := d.cl
		d.cl, d.routeLn = nil, nil
		d.mu.Unlock()
		if cl != nil {
			d.srv.SetRouter(nil)
			cl.Shutdown()
			d.srv.SetClusterName("")
			d.log.Info("Clustering stopped")
		}
	case next.Cluster.Enabled():
		d.mu.Lock()
		cl, old := d.cl, d.routeLn
		if routeLn != nil {
			d.routeLn = routeLn
		}
		d.mu.Unlock()
		if cl == nil {
			return
		}
		if routeLn != nil {
			_ = cl.Listen(routeLn)
			go func() { _ = cl.Serve(routeLn) }()
			cl.StopListener(old)
			d.log.Info("Listening for route connections on " + hostPort(next.Cluster.Host, routeLn))
		}
		if has(changes, secCluster) || has(changes, secServer) {
			// Server limits are the routes' too (routeLimits).
			cl.Apply(next.Cluster, clusterChanges(cur, next, changes))
		}
	}
}

// applyMonitor moves (or starts, or stops) the monitoring listener.
func (d *Daemon) applyMonitor(next *Options, ln net.Listener) {
	d.mu.Lock()
	oldSrv := d.httpSrv
	d.httpSrv, d.httpLn = nil, nil
	d.mu.Unlock()
	if oldSrv != nil {
		_ = oldSrv.Close()
	}
	if ln == nil {
		return
	}
	hs := d.newMonitorServer(next)
	d.mu.Lock()
	d.httpSrv, d.httpLn = hs, ln
	d.mu.Unlock()
	go func() { _ = hs.Serve(ln) }()
	d.log.Info("Starting http monitor on " + hostPort(next.Monitor.Host, ln))
}

func (d *Daemon) newMonitorServer(o *Options) *http.Server {
	src := monitor.Sources{Server: d.srv, Cluster: d.clusterStats, Daemon: d.daemonStats, Healthz: d.health}
	return &http.Server{Handler: monitor.Handler(src, o.Monitor.BasePath), ReadHeaderTimeout: 5 * time.Second}
}
