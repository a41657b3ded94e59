package monitor

import (
	"slices"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// natsd exports natsd's own metrics: typed, in base units, counters
// ending in _total. Series that identify the server (server_id,
// server_name) are on natsd_info only; Prometheus's instance label
// identifies the target, and a query joins on it.
func (m emitter) natsd(v *Varz, ds DaemonStats, h *handler) {
	counter := func(name, help string, val float64) { m.emit(name, help, prometheus.CounterValue, val, nil) }
	gauge := func(name, help string, val float64) { m.emit(name, help, prometheus.GaugeValue, val, nil) }

	m.emit("natsd_info", "natsd's version and identity.", prometheus.GaugeValue, 1,
		[]string{"version", "protocol", "server_id", "server_name", "cluster"}, v.NatsdVersion, v.Version, v.ID, v.Name, v.Cluster.Name)
	gauge("natsd_start_timestamp_seconds", "When natsd started, Unix time.", unix(v.Start))

	counter("natsd_in_msgs_total", "Messages received from clients and routes.", float64(v.InMsgs))
	counter("natsd_out_msgs_total", "Messages sent to clients and routes.", float64(v.OutMsgs))
	counter("natsd_in_bytes_total", "Payload bytes received from clients and routes.", float64(v.InBytes))
	counter("natsd_out_bytes_total", "Payload bytes sent to clients and routes.", float64(v.OutBytes))
	counter("natsd_slow_consumers_total", "Connections closed for falling behind (max_pending).", float64(v.SlowConsumers))
	counter("natsd_stale_connections_total", "Connections closed for missing ping_max PINGs.", float64(v.StaleConnections))
	gauge("natsd_subscriptions", "Subscriptions in the subject index.", float64(v.Subscriptions))

	kinds := []string{"kind"}
	m.emit("natsd_connections", "Connections open now, by kind.", prometheus.GaugeValue, float64(v.Connections), kinds, "client")
	m.emit("natsd_connections", "Connections open now, by kind.", prometheus.GaugeValue, float64(v.Routes), kinds, "route")
	m.emit("natsd_connections_accepted_total", "Connections accepted, by kind.", prometheus.CounterValue, float64(v.TotalConnections), kinds, "client")

	// Per account: what the open connections and the subject index hold.
	accs := map[string][2]float64{}
	for _, c := range h.src.Server.Conns(true, false) {
		a := accs[c.Account]
		a[0]++
		a[1] += float64(len(c.Subs))
		accs[c.Account] = a
	}
	names := make([]string, 0, len(accs))
	for n := range accs {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		m.emit("natsd_account_connections", "Client connections open now, by account.", prometheus.GaugeValue, accs[n][0], []string{"account"}, n)
		m.emit("natsd_account_client_subscriptions", "Subscriptions of the open client connections, by account.", prometheus.GaugeValue, accs[n][1], []string{"account"}, n)
	}

	// Per route: properly typed counters (gnatsd_routez_* has them as gauges).
	if cs := h.cluster(); cs != nil {
		rl := []string{"rid", "remote_name", "remote_id"}
		for _, r := range cs.Routes {
			lv := []string{strconv.FormatUint(r.Rid, 10), r.RemoteName, r.RemoteID}
			m.emit("natsd_route_in_msgs_total", "Messages received on the route.", prometheus.CounterValue, float64(r.InMsgs), rl, lv...)
			m.emit("natsd_route_out_msgs_total", "Messages sent on the route.", prometheus.CounterValue, float64(r.OutMsgs), rl, lv...)
			m.emit("natsd_route_in_bytes_total", "Payload bytes received on the route.", prometheus.CounterValue, float64(r.InBytes), rl, lv...)
			m.emit("natsd_route_out_bytes_total", "Payload bytes sent on the route.", prometheus.CounterValue, float64(r.OutBytes), rl, lv...)
			m.emit("natsd_route_pending_bytes", "Bytes queued to the route, not yet written.", prometheus.GaugeValue, float64(r.Pending), rl, lv...)
			m.emit("natsd_route_subscriptions", "Subjects the peer is interested in.", prometheus.GaugeValue, float64(len(r.Subs)), rl, lv...)
			if r.RTT > 0 {
				m.emit("natsd_route_rtt_seconds", "The route's last measured round trip.", prometheus.GaugeValue, r.RTT.Seconds(), rl, lv...)
			}
		}
	}

	// Reloads and the config.
	res := []string{"result"}
	m.emit("natsd_reloads_total", "Config reloads that ran, by result (an edit that changes no value is none).", prometheus.CounterValue, float64(ds.ReloadsOK), res, "success")
	m.emit("natsd_reloads_total", "Config reloads that ran, by result (an edit that changes no value is none).", prometheus.CounterValue, float64(ds.ReloadsFailed), res, "failure")
	if !ds.LastReload.IsZero() {
		gauge("natsd_last_reload_timestamp_seconds", "When the last reload ran, Unix time.", unix(ds.LastReload))
		ok := 1.0
		if ds.LastReloadError != "" {
			ok = 0
		}
		gauge("natsd_last_reload_success", "1 if the last reload applied, 0 if it failed or was held back.", ok)
		gauge("natsd_last_reload_changes", "Options the last reload changed.", float64(ds.LastReloadChanges))
	}
	m.emit("natsd_config_info", "The running config: its digest (as /varz config_digest) and file.", prometheus.GaugeValue, 1,
		[]string{"digest", "file"}, ds.ConfigDigest, ds.ConfigFile)
	if !ds.ConfigLoadTime.IsZero() {
		gauge("natsd_config_load_timestamp_seconds", "When the running config was loaded, Unix time.", unix(ds.ConfigLoadTime))
	}
	for _, c := range ds.Certs {
		m.emit("natsd_tls_certificate_expiry_timestamp_seconds", "When a configured certificate expires (NotAfter), Unix time.", prometheus.GaugeValue,
			unix(c.NotAfter), []string{"block", "subject"}, c.Block, c.Subject)
	}

	// Monitoring requests, as /varz http_req_stats.
	h.mu.Lock()
	paths := make([]string, 0, len(h.stats))
	for p := range h.stats {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		m.emit("natsd_http_requests_total", "Monitoring requests served, by path (/varz http_req_stats).", prometheus.CounterValue, float64(h.stats[p]), []string{"path"}, p)
	}
	h.mu.Unlock()
}
