package monitor

import (
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// /metrics is Prometheus's text format, built at scrape time from the same
// typed statistics as /varz, /connz and /routez: no metric is updated on
// the message path (the server's counters are the atomics it already
// keeps), so a scrape costs what a /varz, a /connz and a /routez cost, and
// nothing between scrapes.
//
// Two families (docs/metrics.md lists every metric):
//   - gnatsd_varz_*, gnatsd_connz_*, gnatsd_routez_*: the names and labels
//     of prometheus-nats-exporter (its server_id label is the server's ID,
//     as with the exporter's -use_internal_server_id), so that dashboards
//     built on it keep working without the sidecar. Like the exporter's,
//     they are gauges (the exporter's connz totals are counters there, and
//     gnatsd_connz_total is untyped here: a gauge may not end in _total).
//   - natsd_*: natsd's own, typed and named by Prometheus's conventions
//     (counters end in _total, times are in seconds).
// Plus the Go runtime's go_* and the process's process_*.

// MetricsPath serves Prometheus metrics.
const MetricsPath = "/metrics"

// CertExpiry is one configured certificate, for natsd_tls_certificate_*.
type CertExpiry struct {
	Block    string // "tls", "cluster.tls"
	Subject  string // the leaf's common name
	NotAfter time.Time
}

// metricsHandler serves /metrics from a registry of its own (no global
// state: two handlers, as in tests, do not collide).
func metricsHandler(h *handler) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{h: h})
	reg.MustRegister(collectors.NewGoCollector())
	reg.MustRegister(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

type collector struct{ h *handler }

// Describe sends nothing: the collector is unchecked, since the per-route
// series come and go.
func (c *collector) Describe(chan<- *prometheus.Desc) {}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	h := c.h
	var ds DaemonStats
	if h.src.Daemon != nil {
		ds = h.src.Daemon()
	}
	cs := h.cluster()
	v := BuildVarz(h.src.Server, cs, ds)
	id := v.ID
	m := emitter{ch: ch, id: id}
	m.varz(v)
	m.connz(h)
	m.routez(BuildRoutez(v.ID, v.Name, cs, false))
	m.natsd(v, ds, h)
}

type emitter struct {
	ch chan<- prometheus.Metric
	id string
}

func (m emitter) emit(name, help string, t prometheus.ValueType, val float64, labels []string, values ...string) {
	d := prometheus.NewDesc(name, help, labels, nil)
	m.ch <- prometheus.MustNewConstMetric(d, t, val, values...)
}

// gauge is a gnatsd_* gauge labelled server_id.
func (m emitter) gauge(name, help string, val float64) {
	m.emit(name, help, prometheus.GaugeValue, val, []string{"server_id"}, m.id)
}

// varzHelp says what the /varz numbers are; a field missing here is
// still exported, with its /varz name as help.
var varzHelp = map[string]string{
	"connections":       "Client connections open now.",
	"total_connections": "Client connections accepted since start.",
	"routes":            "Route connections open now.",
	"remotes":           "Remote servers connected by routes.",
	"leafnodes":         "Leaf node connections (natsd serves none).",
	"in_msgs":           "Messages received from clients and routes since start.",
	"out_msgs":          "Messages sent to clients and routes since start.",
	"in_bytes":          "Payload bytes received since start.",
	"out_bytes":         "Payload bytes sent since start.",
	"slow_consumers":    "Connections closed for falling behind since start.",
	"stale_connections": "Connections closed for missing PINGs since start.",
	"subscriptions":     "Subscriptions in the server's subject index.",
	"mem":               "Memory in use by the process, bytes.",
	"cpu":               "CPU use since start, percent of one core.",
	"cores":             "CPU cores of the machine.",
	"gomaxprocs":        "GOMAXPROCS.",
	"goroutines":        "Goroutines now.",
	"max_payload":       "max_payload, bytes.",
	"max_pending":       "max_pending, bytes.",
	"max_connections":   "max_connections.",
	"ping_interval":     "ping_interval, nanoseconds (as /varz).",
	"write_deadline":    "write_deadline, nanoseconds (as /varz).",
}

// varz exports every number of /varz as gnatsd_varz_<its JSON name>, and
// server_id, server_name and version as value labels, as the exporter.
func (m emitter) varz(v *Varz) {
	rv := reflect.ValueOf(v).Elem()
	rt := rv.Type()
	for i := range rt.NumField() {
		tag, _, _ := strings.Cut(rt.Field(i).Tag.Get("json"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		var f float64
		switch fv := rv.Field(i); fv.Kind() {
		case reflect.Int, reflect.Int32, reflect.Int64:
			f = float64(fv.Int())
		case reflect.Uint, reflect.Uint32, reflect.Uint64:
			f = float64(fv.Uint())
		case reflect.Float64:
			f = fv.Float()
		default:
			continue
		}
		help := varzHelp[tag]
		if help == "" {
			help = "/varz " + tag + "."
		}
		m.gauge("gnatsd_varz_"+tag, help, f)
	}
	for _, s := range []struct{ name, val string }{{"server_id", v.ID}, {"server_name", v.Name}, {"version", v.Version}} {
		m.emit("gnatsd_varz_"+s.name, "/varz "+s.name+", as the label value.", prometheus.GaugeValue, 1, []string{"server_id", "value"}, m.id, s.val)
	}
}

// connz is the exporter's connz family: the totals over the open client
// connections.
func (m emitter) connz(h *handler) {
	conns := h.src.Server.Conns(true, false)
	var pending, subs, inMsgs, outMsgs, inBytes, outBytes float64
	for _, c := range conns {
		pending += float64(c.Pending)
		subs += float64(len(c.Subs))
		inMsgs += float64(c.InMsgs)
		outMsgs += float64(c.OutMsgs)
		inBytes += float64(c.InBytes)
		outBytes += float64(c.OutBytes)
	}
	n := float64(len(conns))
	m.gauge("gnatsd_connz_num_connections", "Client connections open now.", n)
	m.emit("gnatsd_connz_total", "Client connections open now (/connz total).", prometheus.UntypedValue, n, []string{"server_id"}, m.id)
	m.gauge("gnatsd_connz_offset", "/connz offset (always 0 here).", 0)
	m.gauge("gnatsd_connz_limit", "/connz limit (every connection is counted here).", n)
	m.gauge("gnatsd_connz_pending_bytes", "Bytes queued to client connections, not yet written.", pending)
	m.gauge("gnatsd_connz_subscriptions", "Subscriptions of the open client connections.", subs)
	m.gauge("gnatsd_connz_in_msgs", "Messages received from the open client connections.", inMsgs)
	m.gauge("gnatsd_connz_out_msgs", "Messages sent to the open client connections.", outMsgs)
	m.gauge("gnatsd_connz_in_bytes", "Payload bytes received from the open client connections.", inBytes)
	m.gauge("gnatsd_connz_out_bytes", "Payload bytes sent to the open client connections.", outBytes)
}

// routez is the exporter's routez family: one set of series per route.
func (m emitter) routez(rz *Routez) {
	m.emit("gnatsd_routez_server_id", "/routez server_id, as the label value.", prometheus.GaugeValue, 1, []string{"server_id", "value"}, m.id, rz.ID)
	m.emit("gnatsd_routez_server_name", "/routez server_name, as the label value.", prometheus.GaugeValue, 1, []string{"server_id", "value"}, m.id, rz.Name)
	m.gauge("gnatsd_routez_num_routes", "Route connections open now.", float64(rz.NumRoutes))
	base := []string{"server_id", "rid"}
	now := time.Now()
	for _, r := range rz.Routes {
		rid := strconv.FormatUint(r.Rid, 10)
		m.emit("gnatsd_routez_route_info", "A route connection, with what identifies its peer.", prometheus.GaugeValue, 1,
			[]string{"server_id", "rid", "remote_id", "remote_name", "account", "ip", "compression"},
			m.id, rid, r.RemoteID, r.RemoteName, "", r.IP, r.Compression)
		if d, err := time.ParseDuration(r.RTT); err == nil {
			m.emit("gnatsd_routez_route_rtt_seconds", "The route's last measured round trip.", prometheus.GaugeValue, d.Seconds(), base, m.id, rid)
		}
		m.emit("gnatsd_routez_route_subscriptions", "Subjects the peer is interested in.", prometheus.GaugeValue, float64(r.NumSubs), base, m.id, rid)
		m.emit("gnatsd_routez_route_uptime_seconds", "How long the route has been up.", prometheus.GaugeValue, now.Sub(r.Start).Seconds(), base, m.id, rid)
		m.emit("gnatsd_routez_route_in_msgs", "Messages received on the route.", prometheus.GaugeValue, float64(r.InMsgs), base, m.id, rid)
		m.emit("gnatsd_routez_route_out_msgs", "Messages sent on the route.", prometheus.GaugeValue, float64(r.OutMsgs), base, m.id, rid)
		m.emit("gnatsd_routez_route_in_bytes", "Payload bytes received on the route.", prometheus.GaugeValue, float64(r.InBytes), base, m.id, rid)
		m.emit("gnatsd_routez_route_out_bytes", "Payload bytes sent on the route.", prometheus.GaugeValue, float64(r.OutBytes), base, m.id, rid)
	}
}
