package daemon

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"reflect"
	"strconv"

	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream"
	"github.com/natsd/natsd/jetstream/journal"
	"github.com/natsd/natsd/jscluster"
)

// startJetStream starts JetStream when the options turn it on, before any
// client is served: streams are back from disk by then.
func (d *Daemon) startJetStream(o *Options) error {
	if !o.JetStream.Enabled {
		return nil
	}
	e, err := jetstream.New(d.srv, o.jetstreamConfig(), d.log.Logger)
	if err != nil {
		return err
	}
	d.js = e
	// The monitor handler was made before JetStream: make it again so
	// /jsz and /healthz see it.
	d.monitor.set(d.newMonitorHandler(o))
	cfg := e.Config()
	d.log.Info("Starting JetStream",
		zap.String("store_dir", cfg.StoreDir), zap.Int64("max_memory", cfg.MaxMemory), zap.Int64("max_storage", cfg.MaxStore),
		zap.String("sync", syncText(cfg)))
	if o.Cluster.Enabled() {
		if err := d.startJetStreamCluster(o, e); err != nil {
			return err
		}
	}
	if err := e.ConfigureAccounts(o.jetstreamAccounts()); err != nil {
		return err
	}
	if d.jsc != nil {
		return d.jsc.Start()
	}
	return nil
}

// startJetStreamCluster makes JetStream clustered: the server's Raft
// journal and its part of the meta group (started once the accounts are).
func (d *Daemon) startJetStreamCluster(o *Options, e *jetstream.Engine) error {
	dir := filepath.Join(e.Config().StoreDir, "jetstream", "_raft", "journal")
	j, err := journal.Open(dir, journal.Options{Logger: d.log.Logger})
	if err != nil {
		return fmt.Errorf("jetstream: raft journal: %w", err)
	}
	c, err := jscluster.New(jscluster.Config{
		Server: d.srv, Engine: e, Journal: j, Name: o.Server.ServerName, ClusterName: o.Cluster.Name,
		ExpectedPeers: expectedPeers(o), Logger: d.log.Logger,
		Tags: o.JetStream.Tags, UniqueTag: o.JetStream.UniqueTag,
		MixedWith: func() []string {
			if cl := d.cluster(); cl != nil {
				return cl.JetStreamPeers()
			}
			return nil
		},
	})
	if err != nil {
		_ = j.Close()
		return err
	}
	e.SetCluster(c)
	d.jsc, d.journal = c, j
	d.log.Info("Starting JetStream cluster", zap.Int("expected_peers", expectedPeers(o)))
	return nil
}

// expectedPeers is how many servers form the meta group when none has
// one: this one and each route that is not this server's own listen
// address (configs commonly list every node, this one included).
func expectedPeers(o *Options) int {
	n := 1
	for _, u := range o.Cluster.Routes {
		if !isOwnRoute(u.Hostname(), u.Port(), o.Cluster.Host, o.Cluster.Port) {
			n++
		}
	}
	return n
}

func isOwnRoute(host, port, listenHost string, listenPort int) bool {
	if port != strconv.Itoa(listenPort) {
		return false
	}
	if host == listenHost || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	if ip == nil {
		addrs, err := net.LookupIP(host)
		if err != nil || len(addrs) == 0 {
			return false
		}
		ip = addrs[0]
	}
	if ip.IsLoopback() || ip.IsUnspecified() {
		return true
	}
	ifAddrs, _ := net.InterfaceAddrs()
	for _, a := range ifAddrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}

func syncText(c jetstream.Config) string {
	if c.SyncAlways() {
		return "always (a publish is acknowledged once on disk)"
	}
	return fmt.Sprintf("every %v (acknowledged before it is on disk, as nats-server)", c.SyncInterval)
}

var errJetStreamReload = errors.New("jetstream: the jetstream block (enabled, store_dir, limits, domain, sync_interval) cannot change on a reload; restart natsd")

// checkJetStreamReload refuses a reload that changes JetStream's
// server-wide settings (nats-server refuses them too); the accounts that
// have JetStream may change.
func checkJetStreamReload(cur, next *Options) error {
	a, b := cur.JetStream, next.JetStream
	a.Accounts, b.Accounts = nil, nil
	if !reflect.DeepEqual(a, b) {
		return errJetStreamReload
	}
	return nil
}

// applyJetStreamAccounts turns JetStream on and off in accounts after a
// reload changed them (or the accounts themselves).
func (d *Daemon) applyJetStreamAccounts(o *Options) {
	if d.js == nil {
		return
	}
	if err := d.js.ConfigureAccounts(o.jetstreamAccounts()); err != nil {
		d.log.Error("JetStream accounts", zap.Error(err))
	}
}
