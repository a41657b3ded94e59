package daemon

import (
	"errors"
	"fmt"
	"strings"

	"github.com/natsd/natsd/confparse"
)

// The watcher never reads a file while it is being written (watch.go), but
// a writer can still leave a file cut short and closed: a full disk, a
// script that died, an include emptied by `> file`. Such a file often
// parses, and served as it is it removes authorization or moves the client
// listener to 0.0.0.0:4222. So a reload the watcher asks for is held back
// when the new config, compared with the running one:
//   - sets fewer than half as many values in one of its files (an emptied
//     file sets none);
//   - removes client authorization, or route authorization from a cluster
//     that stays, or turns TLS off for clients or for a cluster that stays;
//   - writes no listener setting any more where the running one did, so
//     that listeners would go back to their defaults.
//
// A held-back config is logged at warn level with what it would change, and
// /varz last_reload_error and systemd's STATUS say it is held. It is applied
// by an operator's act — SIGHUP, `natsd --signal reload`, `systemctl
// reload` (these are never held back) — or by writing the same content
// again (a later mtime), which a cut-short write does not do by itself.

// heldError is the outcome of a reload held back.
type heldError struct{ reasons []string }

func (e *heldError) Error() string {
	return "held back: " + strings.Join(e.reasons, "; ") +
		"; apply it with SIGHUP (natsd --signal reload, systemctl reload natsd) or by saving the same content again"
}

// heldConfig is the config last held back; only the reload goroutine
// touches it.
type heldConfig struct {
	digest string
	looks  map[string]fileLook
}

// holdBack returns a *heldError when the watcher's reload from cur to next
// must wait for an operator, and logs why.
func (d *Daemon) holdBack(cur, next *Options, changes []Change) error {
	reasons := holdReasons(cur, next, changes)
	if len(reasons) == 0 {
		return nil
	}
	looks := lookAt(next.Files)
	if h := d.held; h != nil && h.digest == next.Digest {
		if rewritten(h.looks, looks) {
			d.log.Warn("Applying the held-back configuration: the same content was saved again")
			return nil
		}
		return &heldError{reasons} // the same hold, already logged
	}
	d.held = &heldConfig{digest: next.Digest, looks: looks}
	err := &heldError{reasons}
	var what []string
	for _, c := range changes {
		what = append(what, c.String())
	}
	d.log.Warn("Config reload (" + triggerFileChange + ") " + err.Error() + ". It would change: " + strings.Join(what, ", "))
	return err
}

// holdReasons says why next looks like a config cut short.
func holdReasons(cur, next *Options, changes []Change) []string {
	var out []string
	for _, f := range next.Files {
		was, now := cur.values[f], next.values[f]
		switch {
		case was > 0 && now == 0:
			out = append(out, fmt.Sprintf("%s sets nothing (it set %d values)", f, was))
		case now*2 < was:
			out = append(out, fmt.Sprintf("%s sets %d values, under half of the %d it set", f, now, was))
		}
	}
	if clientAuth(cur) && !clientAuth(next) {
		out = append(out, "client authorization would be removed")
	}
	if cur.Cluster.Username != "" && next.Cluster.Enabled() && next.Cluster.Username == "" {
		out = append(out, "route authorization would be removed")
	}
	if cur.Server.TLS != nil && next.Server.TLS == nil {
		out = append(out, "client TLS would be turned off")
	}
	if cur.Cluster.TLS != nil && next.Cluster.Enabled() && next.Cluster.TLS == nil {
		out = append(out, "route TLS would be turned off")
	}
	if wroteListener(cur) && !wroteListener(next) &&
		(has(changes, secClientListener) || has(changes, secMonitorHost) || has(changes, secMonitorListener) || has(changes, secMonitorTLS) || has(changes, secClusterListener) || has(changes, secClusterEnable)) {
		out = append(out, "no listener is configured any more: listeners would go back to their defaults")
	}
	return out
}

// clientAuth reports whether clients must authenticate (no_auth_user
// only names which user a client without credentials becomes).
func clientAuth(o *Options) bool {
	a := &o.Server.Auth
	return a.Username != "" || a.Token != "" || len(a.Users) > 0
}

var listenerKeys = []string{"listen", "host", "net", "port", "http", "http_port", "monitor", "monitor_port", "https", "https_port", "cluster"}

func wroteListener(o *Options) bool {
	for _, k := range listenerKeys {
		if _, ok := o.pos[k]; ok {
			return true
		}
	}
	return false
}

// rewritten reports whether the files hold what they held, written again.
func rewritten(before, now map[string]fileLook) bool {
	if len(before) != len(now) {
		return false
	}
	again := false
	for f, b := range before {
		n, ok := now[f]
		if !ok || n.sum != b.sum || n.size != b.size {
			return false
		}
		again = again || !n.mtime.Equal(b.mtime)
	}
	return again
}

// countValues counts the values each file of a config sets (map entries and
// array items, at any depth), by file name.
func countValues(n *confparse.Node, out map[string]int) {
	switch n.Kind {
	case confparse.Map:
		for _, e := range n.Entries {
			out[e.KeyPos.File]++
			countValues(e.Value, out)
		}
	case confparse.Array:
		for _, it := range n.Items {
			out[it.Pos.File]++
			countValues(it, out)
		}
	}
}

// isHeld reports whether err is a reload held back.
func isHeld(err error) (*heldError, bool) {
	var h *heldError
	return h, errors.As(err, &h)
}
