package jetstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
)

// The $JS.API: requests arrive on the account's internal subscriptions,
// on the publisher's goroutine, which must not block; they are copied
// into a queue that a few workers serve (a stream create may write and
// fsync files).

const (
	apiPrefix    = "$JS.API."
	apiQueueSize = 8192
)

// apiRequest is one request, copied out of the publisher's buffers.
type apiRequest struct {
	ja      *jsAccount
	subject string
	reply   string
	hdr     []byte
	data    []byte
}

type apiWorkers struct {
	e     *Engine
	queue chan apiRequest
	wg    sync.WaitGroup
	once  sync.Once
	done  chan struct{}
}

func newAPIWorkers(e *Engine, n int) *apiWorkers {
	w := &apiWorkers{e: e, queue: make(chan apiRequest, apiQueueSize), done: make(chan struct{})}
	for range n {
		w.wg.Add(1)
		go w.run()
	}
	return w
}

// enqueue is the MsgHandler of the API subscriptions of ja.
func (w *apiWorkers) enqueue(ja *jsAccount) server.MsgHandler {
	return func(m server.Msg) {
		req := apiRequest{ja: ja, subject: string(m.Subject), reply: string(m.Reply),
			hdr: bytes.Clone(m.Header), data: bytes.Clone(m.Data)}
		select {
		case w.queue <- req:
		case <-w.done:
		default:
			// The queue is full: the API is overloaded. Say so rather
			// than block a client's reader.
			w.e.log.Warn("JetStream API queue full; request dropped", zap.String("subject", req.subject))
			if req.reply != "" {
				ja.respond(req.reply, apiResponseType(req.subject), newError(errClusterNotAvail), nil)
			}
		}
	}
}

func (w *apiWorkers) run() {
	defer w.wg.Done()
	for {
		select {
		case req := <-w.queue:
			w.e.serveAPI(req)
		case <-w.done:
			return
		}
	}
}

func (w *apiWorkers) stop() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}

// serveAPI answers one request.
func (e *Engine) serveAPI(req apiRequest) {
	if req.reply == "" {
		return // nowhere to answer; nats-server ignores these too
	}
	ja := req.ja
	tokens := strings.Split(strings.TrimPrefix(req.subject, apiPrefix), ".")
	h, ok := route(tokens)
	if !ok {
		return // no handler matches (an extra token, say): no answer, as nats-server
	}
	// The meta group's requests (step-down, peer-remove) are the system
	// account's, which need not have JetStream itself.
	sysReq := (tokens[0] == "META" || tokens[0] == "SERVER") && ja.acc == e.srv.SystemAccount()
	if e.cluster != nil && (tokens[0] == "META" || tokens[0] == "SERVER") && !sysReq {
		return // served in the system account only, as nats-server
	}
	if !ja.isEnabled() && !sysReq {
		if e.cluster == nil || e.cluster.MetaLeader() {
			ja.respond(req.reply, h.response, newError(errNotEnabledForAccount), nil)
		}
		return
	}
	if e.cluster != nil && e.clusteredAPI(ja, &req, tokens, h) {
		return
	}
	h.fn(ja, &req, tokens)
}

// apiHandler serves one kind of request; response is its reply's "type".
type apiHandler struct {
	response string
	fn       func(ja *jsAccount, req *apiRequest, tokens []string)
}

// route finds the handler of a subject's tokens (after "$JS.API.").
func route(t []string) (apiHandler, bool) {
	n := len(t)
	switch {
	case n == 1 && t[0] == "INFO":
		return apiHandler{"io.nats.jetstream.api.v1.account_info_response", apiAccountInfo}, true
	case n >= 2 && t[0] == "STREAM":
		switch {
		case n == 3 && t[1] == "CREATE":
			return apiHandler{"io.nats.jetstream.api.v1.stream_create_response", apiStreamCreate}, true
		case n == 3 && t[1] == "UPDATE":
			return apiHandler{"io.nats.jetstream.api.v1.stream_update_response", apiStreamUpdate}, true
		case n == 2 && t[1] == "NAMES":
			return apiHandler{"io.nats.jetstream.api.v1.stream_names_response", apiStreamNames}, true
		case n == 2 && t[1] == "LIST":
			return apiHandler{"io.nats.jetstream.api.v1.stream_list_response", apiStreamList}, true
		case n == 3 && t[1] == "INFO":
			return apiHandler{"io.nats.jetstream.api.v1.stream_info_response", apiStreamInfo}, true
		case n == 3 && t[1] == "DELETE":
			return apiHandler{"io.nats.jetstream.api.v1.stream_delete_response", apiStreamDelete}, true
		case n == 3 && t[1] == "PURGE":
			return apiHandler{"io.nats.jetstream.api.v1.stream_purge_response", apiStreamPurge}, true
		case n == 3 && t[1] == "SNAPSHOT":
			return apiHandler{"io.nats.jetstream.api.v1.stream_snapshot_response", apiStreamSnapshot}, true
		case n == 3 && t[1] == "RESTORE":
			return apiHandler{"io.nats.jetstream.api.v1.stream_restore_response", apiStreamRestore}, true
		case n == 4 && t[1] == "MSG" && t[2] == "DELETE":
			return apiHandler{"io.nats.jetstream.api.v1.stream_msg_delete_response", apiMsgDelete}, true
		case n == 4 && t[1] == "MSG" && t[2] == "GET":
			return apiHandler{"io.nats.jetstream.api.v1.stream_msg_get_response", apiMsgGet}, true
		case n == 4 && t[1] == "LEADER" && t[2] == "STEPDOWN":
			return apiHandler{"io.nats.jetstream.api.v1.stream_leader_stepdown_response", apiNotClustered}, true
		case n == 4 && t[1] == "PEER" && t[2] == "REMOVE":
			return apiHandler{"io.nats.jetstream.api.v1.stream_remove_peer_response", apiNotClustered}, true
		}
	case n >= 3 && t[0] == "CONSUMER":
		switch {
		case t[1] == "CREATE" && n >= 3:
			return apiHandler{"io.nats.jetstream.api.v1.consumer_create_response", apiConsumerCreate}, true
		case t[1] == "DURABLE" && n == 5 && t[2] == "CREATE":
			return apiHandler{"io.nats.jetstream.api.v1.consumer_create_response", apiConsumerCreate}, true
		case t[1] == "NAMES" && n == 3:
			return apiHandler{"io.nats.jetstream.api.v1.consumer_names_response", apiConsumerNames}, true
		case t[1] == "LIST" && n == 3:
			return apiHandler{"io.nats.jetstream.api.v1.consumer_list_response", apiConsumerList}, true
		case t[1] == "INFO" && n == 4:
			return apiHandler{"io.nats.jetstream.api.v1.consumer_info_response", apiConsumerInfo}, true
		case t[1] == "DELETE" && n == 4:
			return apiHandler{"io.nats.jetstream.api.v1.consumer_delete_response", apiConsumerDelete}, true
		case t[1] == "PAUSE" && n == 4:
			return apiHandler{"io.nats.jetstream.api.v1.consumer_pause_response", apiConsumerPause}, true
		case t[1] == "LEADER" && n == 5 && t[2] == "STEPDOWN":
			return apiHandler{"io.nats.jetstream.api.v1.consumer_leader_stepdown_response", apiNotClustered}, true
		}
	case n == 2 && t[0] == "SERVER" && t[1] == "REMOVE":
		return apiHandler{"io.nats.jetstream.api.v1.meta_server_remove_response", apiNotClustered}, true
	case n >= 2 && t[0] == "META":
		return apiHandler{"io.nats.jetstream.api.v1.meta_leader_stepdown_response", apiNotClustered}, true
	}
	return apiHandler{}, false
}

// apiResponseType is the reply "type" of a request subject ("" when none
// matches).
func apiResponseType(subject string) string {
	h, _ := route(strings.Split(strings.TrimPrefix(subject, apiPrefix), "."))
	return h.response
}

// respond sends an API reply: {"type":…,"error":{…}} when err is set,
// else {"type":…, body's fields…}. body is a struct whose JSON is merged
// after the type (it must marshal to an object).
func (ja *jsAccount) respond(reply, typ string, err *APIError, body any) {
	ja.countAPI(err != nil)
	var b []byte
	if err != nil && body == nil {
		b, _ = json.Marshal(struct {
			Type  string    `json:"type"`
			Error *APIError `json:"error"`
		}{typ, err})
	} else {
		inner, mErr := json.Marshal(body)
		if mErr != nil || len(inner) < 2 || inner[0] != '{' {
			ja.e.log.Error("JetStream API reply does not encode", zap.Error(mErr))
			return
		}
		var buf bytes.Buffer
		buf.WriteString(`{"type":`)
		t, _ := json.Marshal(typ)
		buf.Write(t)
		if err != nil {
			e, _ := json.Marshal(err)
			buf.WriteString(`,"error":`)
			buf.Write(e)
		}
		if len(inner) > 2 {
			buf.WriteByte(',')
			buf.Write(inner[1:])
		} else {
			buf.WriteByte('}')
		}
		b = buf.Bytes()
	}
	if pErr := ja.acc.Publish(reply, "", nil, b); pErr != nil {
		ja.e.log.Debug("JetStream API reply not sent", zap.String("reply", reply), zap.Error(pErr))
	}
}

// decode reads a request body into v as nats-server does: an empty body
// leaves v as it is; JSON that does not decode is errInvalidJSON with the
// decoder's text.
func decode(data []byte, v any) *APIError {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil
	}
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(v); err != nil {
		// nats-server says where a syntax error is (recorded: "invalid
		// character 'b' looking for beginning of object key string at
		// offset 2").
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return newError(errInvalidJSON, "{err}", fmt.Sprintf("%v at offset %d", err, se.Offset))
		}
		return newError(errInvalidJSON, "{err}", err)
	}
	return nil
}

// apiNotClustered answers what only clustered JetStream does.
func apiNotClustered(ja *jsAccount, req *apiRequest, _ []string) {
	ja.respond(req.reply, apiResponseType(req.subject), newError(errClusterNotActive), nil)
}

// --- $JS.API.INFO ---

type accountInfoBody struct {
	Memory         uint64        `json:"memory"`
	Store          uint64        `json:"storage"`
	ReservedMemory uint64        `json:"reserved_memory"`
	ReservedStore  uint64        `json:"reserved_storage"`
	Streams        int           `json:"streams"`
	Consumers      int           `json:"consumers"`
	Limits         AccountLimits `json:"limits"`
	Domain         string        `json:"domain,omitempty"`
	API            APIStats      `json:"api"`
}

func apiAccountInfo(ja *jsAccount, req *apiRequest, _ []string) {
	u := ja.usage()
	body := accountInfoBody{
		Memory: u.memory, Store: u.store, ReservedMemory: u.reservedMemory, ReservedStore: u.reservedStore,
		Streams: u.streams, Consumers: u.consumers, Limits: ja.getLimits(), Domain: ja.e.cfg.Domain,
		API: APIStats{Level: APILevel, Total: ja.apiTotal.Load(), Errors: ja.apiErrors.Load()},
	}
	ja.respond(req.reply, "io.nats.jetstream.api.v1.account_info_response", nil, body)
}

// now is the API's timestamp ("ts"): UTC, as nats-server's.
func now() time.Time { return time.Now().UTC() }
