package monitor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/natsd/natsd/server"
)

// Sources is what the endpoints read.
type Sources struct {
	Server *server.Server
	// VarzExtra fills the /varz fields the server does not own (monitor
	// address, cluster, reload status). Optional.
	VarzExtra func(v *server.Varz)
	// Routez answers /routez; nil without clustering (an empty list).
	Routez func(subs bool) any
	// Healthz returns an error while natsd is not healthy. Optional.
	Healthz func() error
}

// Paths served, in nats-server's spelling.
const (
	RootPath    = "/"
	VarzPath    = "/varz"
	ConnzPath   = "/connz"
	RoutezPath  = "/routez"
	SubszPath   = "/subsz"
	SubsAlias   = "/subscriptionsz"
	HealthzPath = "/healthz"
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
// the decoding error in plain text.
type query struct {
	r   *http.Request
	err error
}

func (q *query) boolean(name string) bool {
	v := q.r.URL.Query().Get(name)
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
	v := q.r.URL.Query().Get(name)
	if v == "" || q.err != nil {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		q.err = fmt.Errorf("Error decoding %s: %v", name, err)
	}
	return n
}

func (q *query) fail(w http.ResponseWriter) bool {
	if q.err == nil {
		return false
	}
	http.Error(w, q.err.Error(), http.StatusBadRequest)
	return true
}

func (h *handler) varz(w http.ResponseWriter, r *http.Request) {
	v := h.src.Server.Varz()
	if h.src.VarzExtra != nil {
		h.src.VarzExtra(v)
	}
	h.mu.Lock()
	v.HTTPReqStats = make(map[string]uint64, len(h.stats))
	for k, n := range h.stats {
		v.HTTPReqStats[k] = n
	}
	h.mu.Unlock()
	writeJSON(w, http.StatusOK, v)
}

func (h *handler) connz(w http.ResponseWriter, r *http.Request) {
	q := &query{r: r}
	o := server.ConnzOptions{
		Sort:     r.URL.Query().Get("sort"),
		Username: q.boolean("auth"),
		Offset:   q.number("offset"),
		Limit:    q.number("limit"),
		State:    strings.ToLower(r.URL.Query().Get("state")),
		User:     r.URL.Query().Get("user"),
		Account:  r.URL.Query().Get("acc"),
	}
	if subs := r.URL.Query().Get("subs"); subs == "detail" {
		o.SubsDetail = true
	} else {
		o.Subs = q.boolean("subs")
	}
	if cid := q.number("cid"); cid > 0 {
		o.CID = uint64(cid)
	}
	if q.fail(w) {
		return
	}
	if !server.ValidConnzSort(o.Sort) {
		http.Error(w, fmt.Sprintf("Invalid sorting option: %s", o.Sort), http.StatusBadRequest)
		return
	}
	writeJSON(w, http.StatusOK, h.src.Server.Connz(o))
}

type emptyRoutez struct {
	ID        string `json:"server_id"`
	Name      string `json:"server_name"`
	NumRoutes int    `json:"num_routes"`
	Routes    []any  `json:"routes"`
}

func (h *handler) routez(w http.ResponseWriter, r *http.Request) {
	q := &query{r: r}
	subs := r.URL.Query().Get("subs") == "detail" || q.boolean("subs")
	if q.fail(w) {
		return
	}
	if h.src.Routez == nil {
		writeJSON(w, http.StatusOK, emptyRoutez{ID: h.src.Server.ID(), Name: h.src.Server.Name(), Routes: []any{}})
		return
	}
	writeJSON(w, http.StatusOK, h.src.Routez(subs))
}

func (h *handler) subsz(w http.ResponseWriter, r *http.Request) {
	q := &query{r: r}
	o := server.SubszOptions{
		Subs:   r.URL.Query().Get("subs") == "detail" || q.boolean("subs"),
		Offset: q.number("offset"),
		Limit:  q.number("limit"),
		Test:   r.URL.Query().Get("test"),
	}
	if q.fail(w) {
		return
	}
	writeJSON(w, http.StatusOK, h.src.Server.Subsz(o))
}

type health struct {
	Status     string `json:"status"`
	StatusCode int    `json:"status_code,omitempty"`
	Error      string `json:"error,omitempty"`
}

func (h *handler) healthz(w http.ResponseWriter, r *http.Request) {
	if h.src.Healthz != nil {
		if err := h.src.Healthz(); err != nil {
			writeJSON(w, http.StatusServiceUnavailable, health{Status: "unavailable", StatusCode: http.StatusServiceUnavailable, Error: err.Error()})
			return
		}
	}
	writeJSON(w, http.StatusOK, health{Status: "ok"})
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
</body></html>
`, h.src.Server.Version(), VarzPath, ConnzPath, RoutezPath, SubszPath, HealthzPath)
}
