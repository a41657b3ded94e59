package monitor

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/natsd/natsd/cluster"
	"github.com/natsd/natsd/jetstream"

	"github.com/natsd/natsd/server"
)

// Sources is what the endpoints read: each component's typed statistics.
// The daemon wires them.
type Sources struct {
	Server *server.Server
	// Cluster returns the cluster's statistics; nil, or a nil result, when
	// not clustered.
	Cluster func() *cluster.Stats
	// Daemon returns the monitoring address, the config and the last
	// reload, for /varz. Optional.
	Daemon func() DaemonStats
	// Healthz returns an error while natsd is not healthy: the check the
	// systemd watchdog makes. Optional.
	Healthz func() error
	// JetStream is the server's JetStream (/jsz); nil when off.
	JetStream *jetstream.Engine
}

func (h *handler) cluster() *cluster.Stats {
	if h.src.Cluster == nil {
		return nil
	}
	return h.src.Cluster()
}

// Paths served, in nats-server's spelling.
const (
	RootPath     = "/"
	VarzPath     = "/varz"
	ConnzPath    = "/connz"
	RoutezPath   = "/routez"
	SubszPath    = "/subsz"
	SubsAlias    = "/subscriptionsz"
	HealthzPath  = "/healthz"
	AccountzPath = "/accountz"
	AccstatzPath = "/accstatz"
	JszPath      = "/jsz"
	RaftzPath    = "/raftz"
)

type handler struct {
	src   Sources
	mu    sync.Mutex
	stats map[string]uint64
}

// Handler returns the monitoring mux; basePath ("" or "/nats", say) prefixes
// every path, as http_base_path does.
func Handler(src Sources, basePath string) http.Handler {
	h := &handler{src: src, stats: map[string]uint64{}}
	base := strings.TrimSuffix(basePath, "/")
	mux := http.NewServeMux()
	mux.HandleFunc(base+VarzPath, h.count(VarzPath, h.varz))
	mux.HandleFunc(base+ConnzPath, h.count(ConnzPath, h.connz))
	mux.HandleFunc(base+RoutezPath, h.count(RoutezPath, h.routez))
	mux.HandleFunc(base+SubszPath, h.count(SubszPath, h.subsz))
	mux.HandleFunc(base+SubsAlias, h.count(SubszPath, h.subsz))
	mux.HandleFunc(base+HealthzPath, h.count(HealthzPath, h.healthz))
	mux.HandleFunc(base+AccountzPath, h.count(AccountzPath, h.accountz))
	mux.HandleFunc(base+JszPath, h.count(JszPath, h.jsz))
	mux.HandleFunc(base+RaftzPath, h.count(RaftzPath, h.raftz))
	mux.HandleFunc(base+AccstatzPath, h.count(AccstatzPath, h.accstatz))
	mux.HandleFunc(base+MetricsPath, h.count(MetricsPath, metricsHandler(h).ServeHTTP))
	root := h.count(RootPath, h.root)
	mux.HandleFunc(base+RootPath, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != base+RootPath {
			// Unknown paths are 404 and not counted, as in nats-server.
			http.NotFound(w, r)
			return
		}
		root(w, r)
	})
	return mux
}

func (h *handler) count(path string, f http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.stats[path]++
		h.mu.Unlock()
		f(w, r)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	writeJSONBytes(w, status, b, err)
}

// writeCompactJSON is writeJSON on one line, as nats-server's /healthz.
func writeCompactJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	writeJSONBytes(w, status, b, err)
}

func writeJSONBytes(w http.ResponseWriter, status int, b []byte, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// query decodes query parameters, failing like nats-server: HTTP 400 with
// the decoding error in plain text. The first error wins; later decodes
// are no-ops, so a handler decodes in nats-server's order and reports what
// it would.
type query struct {
	v   url.Values
	err error
}

func newQuery(r *http.Request) *query { return &query{v: r.URL.Query()} }

func (q *query) str(name string) string { return q.v.Get(name) }

func (q *query) boolean(name string) bool {
	v := q.v.Get(name)
	if v == "" || q.err != nil {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		q.err = fmt.Errorf("Error decoding boolean for '%s': %v", name, err)
	}
	return b
}

func (q *query) number(name string) int {
	v := q.v.Get(name)
	if v == "" || q.err != nil {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		q.err = fmt.Errorf("Error decoding int for '%s': %v", name, err)
	}
	return n
}

func (q *query) unsigned(name string) uint64 {
	v := q.v.Get(name)
	if v == "" || q.err != nil {
		return 0
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		q.err = fmt.Errorf("Error decoding uint64 for '%s': %v", name, err)
	}
	return n
}

// subs decodes subs: "detail" in any case, else a boolean.
func (q *query) subs() (subs, detail bool) {
	if strings.EqualFold(q.v.Get("subs"), "detail") {
		return false, true
	}
	return q.boolean("subs"), false
}

func (q *query) fail(w http.ResponseWriter) bool {
	if q.err == nil {
		return false
	}
	badRequest(w, q.err.Error())
	return true
}

// badRequest is nats-server's 400: the message as plain text, without the
// newline http.Error would add.
func badRequest(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = io.WriteString(w, msg)
}

func (h *handler) varz(w http.ResponseWriter, r *http.Request) {
	var ds DaemonStats
	if h.src.Daemon != nil {
		ds = h.src.Daemon()
	}
	v := BuildVarz(h.src.Server, h.cluster(), ds)
	h.mu.Lock()
	v.HTTPReqStats = make(map[string]uint64, len(h.stats))
	for k, n := range h.stats {
		v.HTTPReqStats[k] = n
	}
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

// decodeConnz decodes /connz's parameters in nats-server's order, so that
// of several bad ones the same one is reported.
func decodeConnz(r *http.Request) (ConnzOptions, error) {
	q := newQuery(r)
	o := ConnzOptions{Sort: q.str("sort")}
	o.Username = q.boolean("auth")
	o.Subs, o.SubsDetail = q.subs()
	o.Offset = q.number("offset")
	o.Limit = q.number("limit")
	o.CID = q.unsigned("cid")
	if q.err != nil {
		return o, q.err
	}
	switch state := strings.ToLower(q.str("state")); state {
	case "", "open":
		o.State = "open"
	case "closed", "any", "all":
		o.State = state
	default:
		return o, fmt.Errorf("Error decoding state for %s", q.str("state"))
	}
	o.User = q.str("user")
	o.Account = q.str("acc")
	o.MQTTClient = q.str("mqtt_client")
	return o, o.Validate()
}

func (h *handler) connz(w http.ResponseWriter, r *http.Request) {
	o, err := decodeConnz(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, BuildConnz(h.src.Server, o))
}

func (h *handler) routez(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	subs, detail := q.subs()
	if q.fail(w) {
		return
	}
	writeJSON(w, http.StatusOK, BuildRoutez(h.src.Server.ID(), h.src.Server.Name(), h.cluster(), subs || detail))
}

// decodeSubsz decodes /subsz's parameters in nats-server's order. Unlike
// /connz and /routez, subs=detail is refused (nats-server's subsz takes
// only a boolean).
func decodeSubsz(r *http.Request) (SubszOptions, error) {
	q := newQuery(r)
	o := SubszOptions{}
	o.Subs = q.boolean("subs")
	o.Offset = q.number("offset")
	o.Limit = q.number("limit")
	if q.err != nil {
		return o, q.err
	}
	o.Test = q.str("test")
	if o.Test != "" && !ValidSubszTest(o.Test) {
		return o, fmt.Errorf("invalid test subject, must be valid publish subject: %s", o.Test)
	}
	o.Account = q.str("acc")
	return o, nil
}

func (h *handler) subsz(w http.ResponseWriter, r *http.Request) {
	o, err := decodeSubsz(r)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, BuildSubsz(h.src.Server, o))
}

type health struct {
	Status     string        `json:"status"`
	StatusCode int           `json:"status_code,omitempty"`
	Error      string        `json:"error,omitempty"`
	Errors     []healthError `json:"errors,omitempty"`
}

type healthError struct {
	Type  string `json:"type"`
	Error string `json:"error"`
}

// healthz answers like nats-server's /healthz: compact JSON, and 400 for
// parameters it would refuse. With JetStream on, account, stream and
// consumer must be there (404 otherwise, with nats-server's texts), unless
// js-enabled-only or js-server-only asks only whether JetStream runs; with
// it off, the JetStream checks pass, as nats-server's do.
func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	q.boolean("js-enabled")
	jsEnabledOnly := q.boolean("js-enabled-only")
	jsServerOnly := q.boolean("js-server-only")
	q.boolean("js-meta-only")
	jsOnly := jsEnabledOnly || jsServerOnly
	details := q.boolean("details")
	if q.fail(w) {
		return
	}
	var bad string
	switch {
	case q.str("stream") != "" && q.str("account") == "":
		bad = `"account" must not be empty when checking stream health`
	case q.str("consumer") != "" && q.str("stream") == "":
		bad = `"stream" must not be empty when checking consumer health`
	}
	if bad != "" {
		res := health{Status: "error", Error: bad}
		if details {
			res = health{Status: "error", Errors: []healthError{{Type: "BAD_REQUEST", Error: bad}}}
		}
		writeCompactJSON(w, http.StatusBadRequest, res)
		return
	}
	if h.src.Healthz != nil {
		if err := h.src.Healthz(); err != nil {
			writeCompactJSON(w, http.StatusServiceUnavailable, health{Status: "unavailable", StatusCode: http.StatusServiceUnavailable, Error: err.Error()})
			return
		}
	}
	if h.src.JetStream != nil && !jsEnabledOnly {
		// Clustered JetStream: a meta leader known, and (unless only the
		// meta group is asked about) every replica here current.
		if msg := h.src.JetStream.ClusterHealth(q.boolean("js-meta-only")); msg != "" {
			if details {
				writeCompactJSON(w, http.StatusServiceUnavailable, health{Status: "unavailable", StatusCode: http.StatusServiceUnavailable,
					Errors: []healthError{{Type: "JETSTREAM", Error: msg}}})
				return
			}
			writeCompactJSON(w, http.StatusServiceUnavailable, health{Status: "unavailable", StatusCode: http.StatusServiceUnavailable, Error: msg})
			return
		}
	}
	if acc := q.str("account"); acc != "" && !jsOnly && h.src.JetStream != nil {
		if he := h.src.JetStream.Health(acc, q.str("stream"), q.str("consumer")); he != nil {
			if details {
				writeCompactJSON(w, http.StatusNotFound, struct {
					Status string                   `json:"status"`
					Errors []*jetstream.HealthError `json:"errors"`
				}{"error", []*jetstream.HealthError{he}})
				return
			}
			writeCompactJSON(w, http.StatusNotFound, health{Status: "unavailable", Error: he.Error})
			return
		}
	}
	writeCompactJSON(w, http.StatusOK, health{Status: "ok"})
}

func (h *handler) root(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<html><head><title>natsd</title></head><body>
<h1>natsd %s</h1>
<a href=".%s">varz</a><br/>
<a href=".%s">connz</a><br/>
<a href=".%s">routez</a><br/>
<a href=".%s">subsz</a><br/>
<a href=".%s">healthz</a><br/>
<a href=".%s">accountz</a><br/>
<a href=".%s">accstatz</a><br/>
<a href=".%s">metrics</a><br/>
</body></html>
`, h.src.Server.Version(), VarzPath, ConnzPath, RoutezPath, SubszPath, HealthzPath, AccountzPath, AccstatzPath, MetricsPath)
}
