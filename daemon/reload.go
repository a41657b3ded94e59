package daemon

import (
	"fmt"
	"os"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/tlsconf"
)

// A reload is: parse the file and its includes, build complete new options
// with the flags overlaid, validate, diff against the running options, and
// only then apply each change through the component that owns it, logging
// one line per change. Any error before applying leaves the running config
// untouched. Reloads never overlap: every trigger (file change, SIGHUP,
// natsd --signal reload, systemctl reload) goes through one goroutine, and
// a reload applies holding the lifecycle (lifecycle.go), so Shutdown waits
// for it.

// triggerSystemRequest names reloads asked for on
// $SYS.REQ.SERVER.<id>.RELOAD.
const triggerSystemRequest = "system account request"

// reloadReq asks the reload goroutine for a reload and waits for its result.
type reloadReq struct {
	trigger string
	done    chan error
	// changes, when set, receives the applied changes (one line each, as
	// logged) before done: the control socket reports them.
	changes *[]string
}

// ReloadStatus is the outcome of the last reload, for /varz and systemd,
// and how many ran, for /metrics.
type ReloadStatus struct {
	Time    time.Time
	Err     error
	Changes int

	OK, Failed uint64 // reloads so far that applied / failed or were held back
}

// Reload reloads the config now (from any goroutine) and returns the result.
func (d *Daemon) Reload(trigger string) error {
	_, err := d.ReloadReport(trigger)
	return err
}

// ReloadReport is Reload that also returns what the reload changed, one
// line per change as the log says it ("max_payload: 1048576 -> 2048").
func (d *Daemon) ReloadReport(trigger string) ([]string, error) {
	var changes []string
	req := reloadReq{trigger: trigger, done: make(chan error, 1), changes: &changes}
	select {
	case d.reloads <- req:
	case <-d.stopping:
		return nil, errStopping
	}
	err := <-req.done
	return changes, err
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
			changes, err := d.reload(req.trigger)
			if req.changes != nil {
				*req.changes = changes
			}
			req.done <- err
		case <-d.stopping:
			return
		}
	}
}

// reload runs one reload. Asked for by hand (SIGHUP, the control socket),
// it always answers systemd RELOADING=1, then READY=1 with a STATUS= that
// says how it went — also when there is no file to reload or nothing
// changed — so that a Type=notify-reload unit's `systemctl reload` never
// waits for an answer that does not come. A file change that changes
// nothing tells systemd nothing.
func (d *Daemon) reload(trigger string) (applied []string, err error) {
	d.life.Lock()
	defer d.life.Unlock()
	if d.stopped {
		return nil, errStopping
	}
	byHand := trigger != triggerFileChange
	cur := d.currentOpts()
	if trigger != triggerFileChange {
		// An operator's reload re-reads the certificate files too, as
		// nats-server's SIGHUP does (the cert watcher does it by itself).
		d.reloadCerts(trigger)
	}
	if d.flags == nil || d.flags.ConfigFile == "" {
		d.log.Warn("Config reload (" + trigger + ") ignored: " + errNoConfigFile.Error())
		if byHand {
			_ = d.notify.Reloading()
			_ = d.notify.Ready(d.statusText() + "; no config file to reload (started without -c)")
		}
		return nil, errNoConfigFile
	}
	next, diag, err := Load(d.flags)
	if err == nil {
		err = carryOperator(cur, next)
	}
	if err == nil {
		err = carryCallout(cur, next)
	}
	if err == nil {
		err = checkJetStreamReload(cur, next)
	}
	if diag != nil {
		for _, w := range diag.Warnings {
			d.log.Warn(w.Error())
		}
	}
	if err == nil && next.Digest == cur.Digest && filesEqual(next.Files, cur.Files) {
		// An edit that changes no value (a comment, a reformat) does
		// nothing: no RELOADING=1, no new last_reload, nothing logged
		// above debug.
		d.log.Debug("Config reload (" + trigger + "): nothing changed")
		if d.held != nil {
			// The file is back to the running config: nothing is held now.
			d.held = nil
			d.recordReload(0, nil)
			d.log.Info("The held-back configuration was replaced by the running one")
		}
		if byHand {
			d.log.Info("Config reload (" + trigger + "): the configuration is unchanged")
			_ = d.notify.Reloading()
			_ = d.notify.Ready(d.statusText())
		}
		return nil, nil
	}
	_ = d.notify.Reloading()
	defer func() {
		d.recordReload(len(applied), err)
		// A reload ends with READY=1 either way, or systemd would show the
		// unit as reloading forever; STATUS= says how it went.
		_ = d.notify.Ready(d.statusText())
	}()
	if err != nil {
		d.log.Error("Failed to reload server configuration: " + oneLine(err))
		return nil, err
	}
	changes := Diff(cur, next)
	if trigger == triggerFileChange && len(changes) > 0 {
		if err = d.holdBack(cur, next, changes); err != nil {
			// Watch the held config's files too: saving it again applies it.
			d.watchFiles(append(slices.Clone(cur.Files), next.Files...))
			return nil, err
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
		return nil, nil
	}
	if err = d.apply(cur, next, changes); err != nil {
		d.log.Error("Failed to reload server configuration: " + oneLine(err))
		return nil, err
	}
	for _, c := range changes {
		applied = append(applied, c.String())
		d.log.Info("Reloaded: " + c.String())
	}
	d.log.Info(fmt.Sprintf("Reloaded server configuration (%s): %d changes, digest %s", trigger, len(changes), next.Digest[:12]))
	d.watchFiles(next.Files)
	return applied, nil
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
	ok, failed := d.lastReload.OK, d.lastReload.Failed
	if err != nil {
		failed++
	} else {
		ok++
	}
	d.lastReload = ReloadStatus{Time: time.Now(), Err: err, Changes: changes, OK: ok, Failed: failed}
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

// apply makes next the running options, in two steps.
//
// Prepare, where anything may fail: load the certificates of a tls block
// that changed, bind every endpoint whose address the changes move or that
// they turn on, and open a new log file. If one fails, what was opened is
// closed and nothing is applied.
//
// Commit, where nothing fails: logging; the server (limits, auth, names,
// TLS: new certificates before TLS turns on, none after it turned off); a
// cluster that starts is created (before its endpoint serves); the
// endpoints swap in table order — the new listener serves, then the old
// one stops, and connections already accepted stay (TLS sessions too); a
// cluster that stops is shut down (after its endpoint); a cluster that
// stays is told its changes; a cluster that started dials its routes; the
// certificate watcher; the files natsd writes.
func (d *Daemon) apply(cur, next *Options, changes []Change) error {
	if d.hooks.beforeApply != nil {
		d.hooks.beforeApply()
	}
	clientTLS, clusterTLS := has(changes, secClientTLS), has(changes, secClusterTLS)
	// A listener that appears (or goes) needs its certificates (or none)
	// as much as a changed tls block does.
	wsTLSChanged := has(changes, secWebSocketTLS) || has(changes, secWebSocketListener)
	var cst, kst, wst *tlsconf.Store
	var err error
	if clientTLS {
		if cst, err = newStore("tls", next.Server.TLS); err != nil {
			return err
		}
	}
	if clusterTLS {
		if kst, err = newStore("cluster.tls", next.Cluster.TLS); err != nil {
			return err
		}
	}
	if wsTLSChanged {
		if wst, err = newStore("websocket.tls", wsTLS(next)); err != nil {
			return err
		}
	}
	moves, err := d.prepareEndpoints(next, changes)
	if err != nil {
		return err
	}
	if has(changes, secLogFile) {
		if err := d.log.setOutput(next.Log); err != nil {
			moves.abort()
			return err
		}
	}

	d.log.apply(next.Log)
	d.srv.SetTrace(next.Log.Trace)
	if clientTLS {
		d.setClientStore(cst)
		if cst != nil {
			d.srv.SetTLS(cst) // before the options turn TLS on
		}
	}
	if wsTLSChanged {
		d.setWebSocketStore(wst)
		if wst != nil {
			d.srv.SetWebSocketTLS(wst)
		}
	}
	d.srv.Apply(next.Server, serverChanges(changes))
	if clientTLS && cst == nil {
		d.srv.SetTLS(nil) // after they turned it off
	}
	if wsTLSChanged && wst == nil {
		d.srv.SetWebSocketTLS(nil)
	}
	if hasOption(changes, "system_account") {
		// nats-server refuses this reload; natsd moves its requests and
		// events to the new account.
		if err := d.startSystemAccount(); err != nil {
			d.log.Error("The system account did not restart", zap.Error(err))
		}
	}
	if hasOption(changes, "accounts", "accounts.jetstream") {
		d.applyJetStreamAccounts(next)
	}
	d.mu.Lock()
	d.opts = next
	d.mu.Unlock()
	if has(changes, secMonitorPath) {
		d.monitor.set(d.newMonitorHandler(next))
	}

	starting := !cur.Cluster.Enabled() && next.Cluster.Enabled()
	stopping := cur.Cluster.Enabled() && !next.Cluster.Enabled()
	if clusterTLS {
		d.setClusterStore(kst)
		if cl := d.cluster(); cl != nil && kst != nil {
			cl.SetTLS(kst)
		}
	}
	if starting {
		d.setCluster(d.newCluster(next))
	}
	d.commitEndpoints(moves)
	switch cl := d.cluster(); {
	case starting:
		d.log.Info("Clustering started: cluster name is " + cl.Name())
		cl.Start()
	case stopping:
		d.setCluster(nil)
		cl.Shutdown()
		d.srv.SetClusterName("")
		d.log.Info("Clustering stopped")
	case cl != nil && (has(changes, secCluster) || has(changes, secServer) || clusterTLS):
		// Server limits are the routes' too (routeLimits).
		cl.Apply(next.Cluster, clusterChanges(cur, next, changes))
		if clusterTLS && kst == nil {
			cl.SetTLS(nil)
		}
	}
	if clientTLS || clusterTLS || wsTLSChanged {
		d.watchCerts()
		for _, r := range d.stores().refs() {
			if r.store == cst || r.store == kst || r.store == wst {
				d.warnExpiry(r, false)
			}
		}
	}

	if has(changes, secFiles) || len(moves) > 0 || clientTLS || wsTLSChanged {
		d.rewriteFiles(cur, next)
	}
	return nil
}

// rewriteFiles writes the pid file and ports file anew (their options or a
// listener changed).
func (d *Daemon) rewriteFiles(cur, next *Options) {
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
