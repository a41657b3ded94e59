package daemon

import (
	"errors"
	"fmt"
	"reflect"

	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream"
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
	return e.ConfigureAccounts(o.jetstreamAccounts())
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
