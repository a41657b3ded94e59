package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/tlsconf"
)

// The daemon owns the certificate stores (tlsconf.Store) of the two tls
// blocks: the top-level one (clients and HTTPS monitoring) and cluster.tls
// (routes). The server and the cluster are given them (SetTLS); every new
// handshake reads the store's current files.
//
// Certificates rotate by themselves: a second watcher (watch.go, with the
// config watcher's rules — no file is read while a writer has it open, and
// only once the files have settled) watches every file the stores read and
// reloads them when one changes. A store refuses a set it cannot use (a
// damaged PEM, a key that does not go with its certificate) as a whole and
// keeps serving the previous one; the refusal is logged as "file: what", and
// shown in /varz (tls_cert_error, cluster.tls_cert_error) and systemd's
// STATUS until a reload succeeds. SIGHUP re-reads the files too, and a
// config reload that changes a tls block makes new stores.
//
// A certificate that expires within certExpiryWarning is warned about at
// startup, when it is loaded, and once a day.

// certExpiryWarning is how long before a certificate expires natsd starts
// warning about it.
const certExpiryWarning = 30 * 24 * time.Hour

// certCheckEvery is how often the expiry warning is repeated.
const certCheckEvery = 24 * time.Hour

// tlsStores are the stores natsd runs with; nil where there is no block.
type tlsStores struct {
	client    *tlsconf.Store
	monitor   *tls.Config // client.MonitorConfig(), for HTTPS monitoring
	cluster   *tlsconf.Store
	websocket *tlsconf.Store // websocket.tls (wss)
	// Why the files of each block were last refused ("": they were not).
	clientErr, clusterErr, websocketErr string
}

// tlsBlock names a store for logs: the block that configures it.
type storeRef struct {
	name  string // "tls", "cluster.tls"
	store *tlsconf.Store
}

func (ts tlsStores) refs() []storeRef {
	var out []storeRef
	if ts.client != nil {
		out = append(out, storeRef{"tls", ts.client})
	}
	if ts.cluster != nil {
		out = append(out, storeRef{"cluster.tls", ts.cluster})
	}
	if ts.websocket != nil {
		out = append(out, storeRef{"websocket.tls", ts.websocket})
	}
	return out
}

// files is every file the stores read.
func (ts tlsStores) files() []string {
	var out []string
	for _, r := range ts.refs() {
		for _, f := range r.store.Files() {
			if !slices.Contains(out, f) {
				out = append(out, f)
			}
		}
	}
	return out
}

// newStore loads a tls block's files (nil for no block). The error names
// the block, the file and what is wrong.
func newStore(name string, o *tlsconf.Options) (*tlsconf.Store, error) {
	if o == nil {
		return nil, nil
	}
	st, err := tlsconf.NewStore(o)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", name, fileWhat(err))
	}
	return st, nil
}

// fileWhat writes a store's error as "file: what (key)".
func fileWhat(err error) string {
	var fe *tlsconf.FileError
	if errors.As(err, &fe) && fe.File != "" {
		return fmt.Sprintf("%s: %v (%s)", fe.File, fe.Err, fe.Key)
	}
	return err.Error()
}

// stores is a copy of the stores natsd runs with.
func (d *Daemon) stores() tlsStores {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.tls
}

// setClientStore makes st the store of the top-level tls block.
func (d *Daemon) setClientStore(st *tlsconf.Store) {
	d.mu.Lock()
	d.tls.client, d.tls.monitor, d.tls.clientErr = st, nil, ""
	if st != nil {
		d.tls.monitor = st.MonitorConfig()
	}
	d.mu.Unlock()
}

// setClusterStore makes st the store of cluster.tls.
func (d *Daemon) setClusterStore(st *tlsconf.Store) {
	d.mu.Lock()
	d.tls.cluster, d.tls.clusterErr = st, ""
	d.mu.Unlock()
}

// setWebSocketStore makes st the store of websocket.tls.
func (d *Daemon) setWebSocketStore(st *tlsconf.Store) {
	d.mu.Lock()
	d.tls.websocket, d.tls.websocketErr = st, ""
	d.mu.Unlock()
}

// wsTLS is the websocket block's tls { } when WebSocket clients use it
// (nil: no WebSocket listener, or ws://).
func wsTLS(o *Options) *tlsconf.Options {
	if w := o.Server.WebSocket; w.Enabled() && !w.NoTLS {
		return w.TLS
	}
	return nil
}

// monitorTLSConfig is the HTTPS monitoring listener's config: each
// handshake takes the client store natsd runs with now, so that a reload
// that changes the tls block, or new files, reach HTTPS monitoring too.
func (d *Daemon) monitorTLSConfig() *tls.Config {
	return &tls.Config{GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		mc := d.stores().monitor
		if mc == nil {
			return nil, errors.New("no tls { } block: HTTPS monitoring has no certificate")
		}
		return mc.GetConfigForClient(h)
	}}
}

// reloadCerts re-reads every certificate file (the cert watcher, SIGHUP).
// Call with d.life held.
func (d *Daemon) reloadCerts(trigger string) {
	ts := d.stores()
	for _, r := range ts.refs() {
		changed, err := r.store.Reload()
		msg := ""
		if err != nil {
			msg = fileWhat(err)
			d.log.Error(fmt.Sprintf("TLS certificate reload (%s) refused for %s, the previous certificate keeps serving: %s", trigger, r.name, msg))
		}
		d.mu.Lock()
		switch {
		case r.name == "tls" && d.tls.client == r.store:
			d.tls.clientErr = msg
		case r.name == "cluster.tls" && d.tls.cluster == r.store:
			d.tls.clusterErr = msg
		case r.name == "websocket.tls" && d.tls.websocket == r.store:
			d.tls.websocketErr = msg
		}
		d.mu.Unlock()
		if err == nil && changed {
			d.log.Info(fmt.Sprintf("TLS certificates reloaded (%s) for %s: new handshakes use them, established connections keep theirs", trigger, r.name) + leafSummary(r.store))
			d.warnExpiry(r, false)
		}
	}
	_ = d.notify.Status(d.statusText())
}

// leafSummary describes a store's first certificate for the log.
func leafSummary(st *tlsconf.Store) string {
	l := st.Leaf()
	if l == nil {
		return ""
	}
	return fmt.Sprintf(" (subject %s, expires %s)", l.Subject, l.NotAfter.UTC().Format(time.RFC3339))
}

// warnExpiry warns about each certificate of r that expires within
// certExpiryWarning (and, with expired, about those that have: the config
// builder already warns about those when it loads the config).
func (d *Daemon) warnExpiry(r storeRef, expired bool) {
	pairs := r.store.Options().Pairs()
	now := time.Now()
	for i, leaf := range r.store.Leaves() {
		if i >= len(pairs) || leaf == nil {
			continue
		}
		left := leaf.NotAfter.Sub(now)
		switch {
		case left <= 0:
			if expired {
				d.log.Warn(fmt.Sprintf("TLS certificate %s (%s) expired on %s: peers refuse it; renew it (natsd loads the new files by itself)",
					pairs[i].CertFile, r.name, leaf.NotAfter.UTC().Format(time.RFC3339)))
			}
		case left < certExpiryWarning:
			days := int(math.Ceil(left.Hours() / 24))
			unit := "days"
			if days == 1 {
				unit = "day"
			}
			d.log.Warn(fmt.Sprintf("TLS certificate %s (%s) expires in %d %s, on %s: renew it (natsd loads the new files by itself)",
				pairs[i].CertFile, r.name, days, unit, leaf.NotAfter.UTC().Format(time.RFC3339)))
		}
	}
}

// startCertWatch watches the certificate files and starts the daily expiry
// check. Call once, from start, with d.life held.
func (d *Daemon) startCertWatch() {
	d.watchCerts()
	d.tasks.Go("certificate expiry check", func() {
		t := time.NewTicker(certCheckEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				for _, r := range d.stores().refs() {
					d.warnExpiry(r, true)
				}
			case <-d.stopping:
				return
			}
		}
	})
}

// watchCerts points the certificate watcher at the stores' files (at
// start, and after a reload changed a tls block), starting it the first
// time there are files, unless --no_config_watch: then SIGHUP reloads them.
// Call with d.life held.
func (d *Daemon) watchCerts() {
	files := d.stores().files()
	if d.certWatch == nil {
		if len(files) == 0 || d.flags == nil || d.flags.NoConfigWatch || d.stopped {
			return
		}
		w, err := newWatcherFor("TLS certificate file", d.log.Logger, func() {
			d.life.Lock()
			defer d.life.Unlock()
			if !d.stopped {
				d.reloadCerts(triggerFileChange)
			}
		}, d.tasks.Go)
		if err != nil {
			d.log.Warn("Cannot watch the TLS certificate files; reload them with SIGHUP", zap.Error(err))
			return
		}
		d.certWatch = w
	}
	d.certWatch.watch(files)
}

// logClientTLS says how clients connect, as nats-server does at startup.
func (d *Daemon) logClientTLS(o *Options) {
	switch {
	case o.Server.TLS == nil:
	case o.Server.AllowNonTLS:
		d.log.Info("TLS available for client connections")
	default:
		d.log.Info("TLS required for client connections")
	}
}

// tlsStatus is what STATUS= says of refused certificate files.
func (ts tlsStores) status() string {
	var parts []string
	if ts.clientErr != "" {
		parts = append(parts, "tls: "+ts.clientErr)
	}
	if ts.clusterErr != "" {
		parts = append(parts, "cluster.tls: "+ts.clusterErr)
	}
	if ts.websocketErr != "" {
		parts = append(parts, "websocket.tls: "+ts.websocketErr)
	}
	if len(parts) == 0 {
		return ""
	}
	return "; TLS certificate refused (the previous one serves): " + strings.Join(parts, "; ")
}
