package jetstream

import (
	"bytes"
	"encoding/json"
	"sort"
	"strconv"
	"time"

	"github.com/natsd/natsd/server"
)

// The $JS.API in a cluster. Every JetStream server subscribes the API, so
// a request reaches all of them (across the routes); each answers only
// what it is responsible for, as nats-server's servers do:
//
//   - the meta leader: account info, stream create, update, delete, names
//     and list, the meta step-down, and "stream not found" for a stream
//     the meta group has not assigned;
//   - a stream's leader: everything about that stream's data and its
//     consumers (info, message get and delete, purge, consumers, its
//     step-down).
//
// Nobody answers while a stream or the meta group has no leader: the
// request times out, and the client asks again.

// clusteredAPI answers req in a cluster; it reports false when the
// ordinary handler should serve it here (this server leads the stream).
func (e *Engine) clusteredAPI(ja *jsAccount, req *apiRequest, t []string, h apiHandler) bool {
	c := e.cluster
	if m, ok := c.(interface{ Mixed() bool }); ok && m.Mixed() {
		return true
	}
	stream, scoped := streamOfRequest(t)
	if !scoped {
		if !c.MetaLeader() {
			return true
		}
		switch {
		case len(t) == 3 && t[0] == "STREAM" && (t[1] == "CREATE" || t[1] == "UPDATE"):
			e.clusteredStreamCreate(ja, req, t)
		case len(t) == 3 && t[0] == "STREAM" && t[1] == "DELETE":
			if _, ok := c.Stream(ja.name, t[2]); !ok {
				ja.respond(req.reply, h.response, newError(errStreamNotFound), nil)
				return true
			}
			if apiErr := c.ProposeStream(ja.name, t[2], nil, req.reply, h.response); apiErr != nil {
				ja.respond(req.reply, h.response, apiErr, nil)
			}
		case len(t) == 2 && t[0] == "STREAM" && t[1] == "NAMES":
			e.clusteredStreamNames(ja, req)
		case len(t) == 2 && t[0] == "STREAM" && t[1] == "LIST":
			e.clusteredStreamList(ja, req)
		case len(t) == 3 && t[0] == "STREAM" && t[1] == "RESTORE":
			ja.respond(req.reply, h.response, newError(errClusterUnSupportFeature), nil)
		case len(t) == 1 && t[0] == "INFO":
			e.clusteredAccountInfo(ja, req)
		case len(t) == 2 && t[0] == "SERVER" && t[1] == "REMOVE":
			e.clusteredPeerRemove(ja, req, h.response)
		case t[0] == "META":
			if ms, ok := c.(interface{ StepDownMeta() *APIError }); ok {
				if apiErr := ms.StepDownMeta(); apiErr != nil {
					ja.respond(req.reply, h.response, apiErr, nil)
					return true
				}
				ja.respond(req.reply, h.response, nil, successBody{true})
			}
		default:
			return false
		}
		return true
	}
	mset := ja.lookupStream(stream)
	if mset == nil || !mset.isLeading() {
		// Not ours to answer; unless no such stream exists at all, which
		// the meta leader says.
		if _, ok := c.Stream(ja.name, stream); !ok && c.MetaLeader() {
			ja.respond(req.reply, h.response, newError(errStreamNotFound), nil)
		}
		return true
	}
	// A consumer lives on its stream's leader and moves with it: its
	// step-down is its stream's.
	if (len(t) == 4 && t[0] == "STREAM" && t[1] == "LEADER" && t[2] == "STEPDOWN") ||
		(len(t) == 5 && t[0] == "CONSUMER" && t[1] == "LEADER" && t[2] == "STEPDOWN") {
		if t[0] == "CONSUMER" && mset.lookupConsumer(t[4]) == nil {
			ja.respond(req.reply, h.response, newError(errConsumerNotFound), nil)
			return true
		}
		var r struct {
			Placement *Placement `json:"placement"`
		}
		if err := decode(req.data, &r); err != nil {
			ja.respond(req.reply, h.response, err, nil)
			return true
		}
		preferred := ""
		if r.Placement != nil {
			preferred = r.Placement.Preferred
		}
		if preferred != "" {
			if ps, ok := mset.repl.(interface{ StepDownTo(name string) error }); ok {
				if err := ps.StepDownTo(preferred); err != nil {
					ja.respond(req.reply, h.response, errWith(errStreamGeneralErrorF, err), nil)
					return true
				}
				ja.respond(req.reply, h.response, nil, successBody{true})
				return true
			}
		}
		if err := mset.repl.StepDown(); err != nil {
			ja.respond(req.reply, h.response, errWith(errStreamGeneralErrorF, err), nil)
			return true
		}
		ja.respond(req.reply, h.response, nil, successBody{true})
		return true
	}
	return false
}

// streamOfRequest is the stream a request is about, if it is about one.
func streamOfRequest(t []string) (string, bool) {
	n := len(t)
	switch {
	case n == 3 && t[0] == "STREAM" && (t[1] == "INFO" || t[1] == "PURGE" || t[1] == "SNAPSHOT"):
		return t[2], true
	case n == 4 && t[0] == "STREAM" && (t[1] == "MSG" || t[1] == "LEADER" || t[1] == "PEER"):
		return t[3], true
	case n >= 3 && t[0] == "CONSUMER" && t[1] == "DURABLE":
		if n >= 4 {
			return t[3], true
		}
	case n >= 4 && t[0] == "CONSUMER" && t[1] == "LEADER":
		return t[3], true
	case n >= 3 && t[0] == "CONSUMER":
		return t[2], true
	}
	return "", false
}

// clusteredStreamCreate checks a create or update as on one server, then
// hands it to the meta group; the stream's leader answers once it is done.
func (e *Engine) clusteredStreamCreate(ja *jsAccount, req *apiRequest, t []string) {
	update := t[1] == "UPDATE"
	typ := "io.nats.jetstream.api.v1.stream_create_response"
	if update {
		typ = "io.nats.jetstream.api.v1.stream_update_response"
	}
	cfg, ok := ja.streamConfigOrReply(req, typ, t[2])
	if !ok {
		return
	}
	norm, apiErr := e.normalizeStream(cfg)
	if apiErr != nil {
		ja.respond(req.reply, typ, apiErr, nil)
		return
	}
	if norm.Mirror != nil || len(norm.Sources) > 0 {
		ja.respond(req.reply, typ, newError(errClusterUnSupportFeature), nil)
		return
	}
	cur, exists := e.cluster.Stream(ja.name, norm.Name)
	switch {
	case update && !exists:
		ja.respond(req.reply, typ, newError(errStreamNotFound), nil)
		return
	case update:
		// In a cluster the replicas may change (the meta group moves
		// the stream's group); everything else is checked as on one
		// server.
		same := norm
		same.Replicas = cur.Replicas
		if err := checkStreamUpdate(&cur, &same); err != nil {
			ja.respond(req.reply, typ, err, nil)
			return
		}
	case exists && !sameStreamConfig(&cur, &norm):
		ja.respond(req.reply, typ, newError(errStreamNameExist), nil)
		return
	}
	for _, other := range e.cluster.Streams(ja.name) {
		if other.Name == norm.Name {
			continue
		}
		if anyCollide(norm.Subjects, other.Subjects) {
			ja.respond(req.reply, typ, newError(errStreamSubjectOverlap), nil)
			return
		}
	}
	if apiErr := e.cluster.ProposeStream(ja.name, norm.Name, &norm, req.reply, typ); apiErr != nil {
		ja.respond(req.reply, typ, apiErr, nil)
	}
}

func (e *Engine) clusteredStreamNames(ja *jsAccount, req *apiRequest) {
	const typ = "io.nats.jetstream.api.v1.stream_names_response"
	var r streamNamesRequest
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	all := e.matchingAssigned(ja, r.Subject)
	names := []string{}
	for _, cfg := range page(all, r.Offset, namesLimit) {
		names = append(names, cfg.Name)
	}
	ja.respond(req.reply, typ, nil, streamNamesBody{len(all), r.Offset, namesLimit, names})
}

// matchingAssigned are the account's assigned streams (by name) whose
// subjects share messages with filter ("" for all).
func (e *Engine) matchingAssigned(ja *jsAccount, filter string) []StreamConfig {
	var out []StreamConfig
	for _, cfg := range e.cluster.Streams(ja.name) {
		if filter == "" || anyCollide(cfg.Subjects, []string{filter}) {
			out = append(out, cfg)
		}
	}
	return out
}

// clusteredStreamList lists the assigned streams: with this server's
// replica's state where it has one (the leader's state is the one that
// counts; a stream without a replica here shows its config).
func (e *Engine) clusteredStreamList(ja *jsAccount, req *apiRequest) {
	const typ = "io.nats.jetstream.api.v1.stream_list_response"
	var r streamNamesRequest
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	all := e.matchingAssigned(ja, r.Subject)
	infos := []*StreamInfo{}
	var ask []string
	for _, cfg := range page(all, r.Offset, listLimit) {
		if mset := ja.lookupStream(cfg.Name); mset != nil && mset.isLeading() {
			infos = append(infos, mset.info(infoOpts{cluster: true}))
			continue
		}
		ask = append(ask, cfg.Name)
	}
	got, missing := ja.askStreamLeaders(ask, time.Second)
	infos = append(infos, got...)
	sort.Slice(infos, func(i, j int) bool { return infos[i].Config.Name < infos[j].Config.Name })
	ja.respond(req.reply, typ, nil, streamListBody{Total: len(all), Offset: r.Offset, Limit: listLimit, Streams: infos, Missing: missing})
}

// askStreamLeaders asks the leaders of streams elsewhere in the cluster
// for their info (STREAM.INFO in the account, answered by each stream's
// leader), all at once, and waits at most timeout: what does not answer
// is missing (nats-server's STREAM.LIST says so the same way).
func (ja *jsAccount) askStreamLeaders(names []string, timeout time.Duration) ([]*StreamInfo, []string) {
	if len(names) == 0 {
		return nil, nil
	}
	prefix := "_INBOX.natsd.jsc." + ephemeralName() + "."
	type answer struct {
		i    int
		data []byte
	}
	ch := make(chan answer, len(names))
	sub, err := ja.acc.Subscribe(prefix+"*", "", func(m server.Msg) {
		i, err := strconv.Atoi(string(m.Subject[len(prefix):]))
		if err == nil && i >= 0 && i < len(names) {
			select {
			case ch <- answer{i, bytes.Clone(m.Data)}:
			default:
			}
		}
	})
	if err != nil {
		return nil, names
	}
	defer sub.Unsubscribe()
	for i, n := range names {
		_ = ja.acc.Publish(apiPrefix+"STREAM.INFO."+n, prefix+strconv.Itoa(i), nil, nil)
	}
	infos := make([]*StreamInfo, len(names))
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for left := len(names); left > 0; {
		select {
		case a := <-ch:
			if infos[a.i] != nil {
				continue
			}
			var body struct {
				StreamInfo
				Error *APIError `json:"error"`
			}
			if json.Unmarshal(a.data, &body) == nil && body.Error == nil {
				si := body.StreamInfo
				infos[a.i] = &si
				left--
			}
		case <-timer.C:
			left = 0
		}
	}
	var got []*StreamInfo
	var missing []string
	for i, si := range infos {
		if si == nil {
			missing = append(missing, names[i])
		} else {
			got = append(got, si)
		}
	}
	return got, missing
}

func (e *Engine) clusteredAccountInfo(ja *jsAccount, req *apiRequest) {
	u := ja.usage()
	u.streams = len(e.cluster.Streams(ja.name))
	body := accountInfoBody{
		Memory: u.memory, Store: u.store, ReservedMemory: u.reservedMemory, ReservedStore: u.reservedStore,
		Streams: u.streams, Consumers: u.consumers, Limits: ja.getLimits(), Domain: e.cfg.Domain,
		API: APIStats{Level: APILevel, Total: ja.apiTotal.Load(), Errors: ja.apiErrors.Load()},
	}
	ja.respond(req.reply, "io.nats.jetstream.api.v1.account_info_response", nil, body)
}

// Respond sends an API answer for jscluster: err, or body (nil: success).
func (e *Engine) Respond(account, reply, typ string, err *APIError, body any) {
	ja := e.lookup(account)
	if ja == nil || reply == "" {
		return
	}
	if body == nil && err == nil {
		body = successBody{true}
	}
	ja.respond(reply, typ, err, body)
}

// NewAPIError is an API error of nats-server's table by code, for
// jscluster's answers.
func NewAPIError(code uint16) *APIError { return newError(code) }

// NewAPIErrorf is an API error whose description has an {err} to fill.
func NewAPIErrorf(code uint16, err error) *APIError { return errWith(code, err) }

// clusteredPeerRemove is `nats server raft peer-remove`: the meta leader
// takes a server out of the meta group and moves its replicas elsewhere.
func (e *Engine) clusteredPeerRemove(ja *jsAccount, req *apiRequest, typ string) {
	var r struct {
		Peer   string `json:"peer"`
		PeerID string `json:"peer_id"`
	}
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	pr, ok := e.cluster.(interface {
		RemovePeer(name, id string) *APIError
	})
	if !ok {
		ja.respond(req.reply, typ, newError(errClusterNotActive), nil)
		return
	}
	if apiErr := pr.RemovePeer(r.Peer, r.PeerID); apiErr != nil {
		ja.respond(req.reply, typ, apiErr, nil)
		return
	}
	ja.respond(req.reply, typ, nil, successBody{true})
}
