package monitor

import (
	"net/http"
	"time"

	"github.com/natsd/natsd/jetstream"
)

// jsz is /jsz: JetStream's totals, and with accounts, streams, consumers,
// config the details, as nats-server's (recorded: with JetStream off it
// answers "disabled": true, not an error).
func (h *handler) jsz(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	opts := jetstream.JSZOptions{
		Account:  q.str("acc"),
		Accounts: q.boolean("accounts"),
		Streams:  q.boolean("streams"),
		Consumer: q.boolean("consumers"),
		Config:   q.boolean("config"),
		Offset:   q.number("offset"),
		Limit:    q.number("limit"),
	}
	q.boolean("leader-only")
	if q.fail(w) {
		return
	}
	opts.Streams = opts.Streams || opts.Consumer
	if h.src.JetStream == nil {
		writeJSON(w, http.StatusOK, &jetstream.JSZ{ID: h.src.Server.ID(), Now: time.Now().UTC(), Disabled: true})
		return
	}
	writeJSON(w, http.StatusOK, h.src.JetStream.JSZ(opts))
}

// raftz is /raftz: this server's Raft groups (clustered JetStream), with
// nats-server's parameters acc and group. A server with no Raft group
// answers as nats-server does: 404, "No Raft nodes registered".
func (h *handler) raftz(w http.ResponseWriter, r *http.Request) {
	q := newQuery(r)
	acc, group := q.str("acc"), q.str("group")
	if q.fail(w) {
		return
	}
	rz, ok := h.src.JetStream.Raftz(acc, group)
	if !ok {
		http.Error(w, jetstream.ErrNoRaftNodes, http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, rz)
}
