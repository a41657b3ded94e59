package jetstream

import (
	"encoding/json"
	"errors"
	"sort"
	"time"

	"github.com/natsd/natsd/server/subject"
)

// The stream half of the $JS.API, with nats-server's requests, replies
// and errors (recorded in ../shared/testdata/jsapi).

const (
	namesLimit       = 1024   // STREAM.NAMES, CONSUMER.NAMES page
	listLimit        = 256    // STREAM.LIST, CONSUMER.LIST page
	subjectDetailMax = 100000 // STREAM.INFO subjects_filter page
)

type streamCreateBody struct {
	*StreamInfo
	DidCreate bool `json:"did_create,omitempty"`
}

// streamConfigOrReply decodes a create or update's configuration, or
// replies why it cannot be used for stream name (bad JSON, another name).
func (ja *jsAccount) streamConfigOrReply(req *apiRequest, typ, name string) (StreamConfig, bool) {
	var cfg StreamConfig
	if err := decode(req.data, &cfg); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return cfg, false
	}
	if cfg.Name != name {
		ja.respond(req.reply, typ, newError(errStreamMismatch), nil)
		return cfg, false
	}
	return cfg, true
}

func apiStreamCreate(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.stream_create_response"
	cfg, ok := ja.streamConfigOrReply(req, typ, t[2])
	if !ok {
		return
	}
	norm, apiErr := ja.e.normalizeStream(cfg)
	if apiErr != nil {
		ja.respond(req.reply, typ, apiErr, nil)
		return
	}
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	if cur := ja.lookupStream(norm.Name); cur != nil {
		curCfg := cur.config()
		if !sameStreamConfig(&curCfg, &norm) {
			ja.respond(req.reply, typ, newError(errStreamNameExist), nil)
			return
		}
		ja.respond(req.reply, typ, nil, streamCreateBody{cur.info(infoOpts{serverMeta: true}), true})
		return
	}
	if err := ja.checkNewStream(&norm, nil); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	mset, err := ja.createStream(norm)
	if err != nil {
		ja.respond(req.reply, typ, errWith(errStreamCreate, err), nil)
		return
	}
	ja.mu.Lock()
	ja.streams[mset.name] = mset
	ja.mu.Unlock()
	ja.adviseStream(mset.name, "create")
	ja.respond(req.reply, typ, nil, streamCreateBody{mset.info(infoOpts{serverMeta: true}), true})
}

// checkNewStream checks a stream config (new, or replacing cur) against
// the account: its limits and the other streams' subjects.
func (ja *jsAccount) checkNewStream(cfg *StreamConfig, cur *stream) *APIError {
	limits := ja.getLimits()
	streams := ja.sortedStreams()
	if cur == nil && limits.MaxStreams > 0 && len(streams) >= limits.MaxStreams {
		return newError(errMaximumStreamsLimit)
	}
	if err := ja.checkReservation(cfg, cur); err != nil {
		return err
	}
	for _, other := range streams {
		if other == cur {
			continue
		}
		if anyCollide(cfg.Subjects, other.config().Subjects) {
			return newError(errStreamSubjectOverlap)
		}
	}
	return nil
}

// checkReservation checks a stream's max_bytes against the account's and
// the server's storage of its kind.
func (ja *jsAccount) checkReservation(cfg *StreamConfig, cur *stream) *APIError {
	limits := ja.getLimits()
	max, perStream, tooMuch := limits.MaxStore, limits.StoreMaxStreamBytes, errStorageResourcesExceeded
	serverMax := ja.e.cfg.MaxStore
	if cfg.Storage == MemoryStorage {
		max, perStream, tooMuch = limits.MaxMemory, limits.MemoryMaxStreamBytes, errMemoryResourcesExceeded
		serverMax = ja.e.cfg.MaxMemory
	}
	if limits.MaxBytesRequired && cfg.MaxBytes <= 0 {
		return newError(errStreamMaxBytesRequired)
	}
	if perStream > 0 && cfg.MaxBytes > perStream {
		return newError(errStreamMaxStreamBytesExceeded)
	}
	if cfg.MaxBytes <= 0 {
		return nil
	}
	// What the account's other streams of this kind reserve.
	var reserved int64
	for _, other := range ja.sortedStreams() {
		if other == cur {
			continue
		}
		oc := other.config()
		if oc.Storage == cfg.Storage && oc.MaxBytes > 0 {
			reserved += oc.MaxBytes
		}
	}
	if max > 0 && reserved+cfg.MaxBytes > max {
		return newError(tooMuch)
	}
	if serverMax > 0 && cfg.MaxBytes > serverMax {
		return newError(tooMuch)
	}
	return nil
}

// checkStoreLimit checks that size more bytes fit the account's storage of
// kind (a publish, under its stream's mu).
func (ja *jsAccount) checkStoreLimit(kind StorageType, size uint64) *APIError {
	limits := ja.getLimits()
	max := limits.MaxStore
	if kind == MemoryStorage {
		max = limits.MaxMemory
	}
	if max <= 0 {
		return nil
	}
	if ja.storedBytes(kind)+size > uint64(max) {
		if kind == MemoryStorage {
			return newError(errMemoryResourcesExceeded)
		}
		return newError(errStorageResourcesExceeded)
	}
	return nil
}

func apiStreamUpdate(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.stream_update_response"
	cfg, ok := ja.streamConfigOrReply(req, typ, t[2])
	if !ok {
		return
	}
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	mset := ja.streamOrReply(req, typ, cfg.Name)
	if mset == nil {
		return
	}
	norm, apiErr := ja.e.normalizeStream(cfg)
	if apiErr != nil {
		ja.respond(req.reply, typ, apiErr, nil)
		return
	}
	cur := mset.config()
	if err := checkStreamUpdate(&cur, &norm); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	if err := ja.checkNewStream(&norm, mset); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	if err := mset.update(norm); err != nil {
		ja.respond(req.reply, typ, errWith(errStreamUpdate, err), nil)
		return
	}
	ja.adviseStream(mset.name, "modify")
	ja.respond(req.reply, typ, nil, mset.info(infoOpts{serverMeta: true}))
}

type streamNamesRequest struct {
	Offset  int    `json:"offset"`
	Subject string `json:"subject"`
}

// matchingStreams are the account's streams, filtered by a subject their
// subjects must share messages with.
func (ja *jsAccount) matchingStreams(filter string) []*stream {
	all := ja.sortedStreams()
	if filter == "" {
		return all
	}
	var out []*stream
	for _, mset := range all {
		if anyCollide(mset.config().Subjects, []string{filter}) {
			out = append(out, mset)
		}
	}
	return out
}

func page[T any](all []T, offset, limit int) []T {
	if offset < 0 {
		offset = 0
	}
	if offset > len(all) {
		offset = len(all)
	}
	end := min(offset+limit, len(all))
	return all[offset:end]
}

func apiStreamNames(ja *jsAccount, req *apiRequest, _ []string) {
	const typ = "io.nats.jetstream.api.v1.stream_names_response"
	var r streamNamesRequest
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	all := ja.matchingStreams(r.Subject)
	names := []string{}
	for _, mset := range page(all, r.Offset, namesLimit) {
		names = append(names, mset.name)
	}
	ja.respond(req.reply, typ, nil, streamNamesBody{len(all), r.Offset, namesLimit, names})
}

// anyCollide reports whether a subject of as shares messages with one of
// bs.
func anyCollide(as, bs []string) bool {
	for _, a := range as {
		for _, b := range bs {
			if subjectsCollide(a, b) {
				return true
			}
		}
	}
	return false
}

// streamNamesBody is STREAM.NAMES' reply; streamListBody STREAM.LIST's.
type streamNamesBody struct {
	Total   int      `json:"total"`
	Offset  int      `json:"offset"`
	Limit   int      `json:"limit"`
	Streams []string `json:"streams"`
}

type streamListBody struct {
	Total   int           `json:"total"`
	Offset  int           `json:"offset"`
	Limit   int           `json:"limit"`
	Streams []*StreamInfo `json:"streams"`
	Missing []string      `json:"missing,omitempty"`
}

// successBody is the reply of a request that only succeeds or fails.
type successBody struct {
	Success bool `json:"success"`
}

func apiStreamList(ja *jsAccount, req *apiRequest, _ []string) {
	const typ = "io.nats.jetstream.api.v1.stream_list_response"
	var r streamNamesRequest
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	all := ja.matchingStreams(r.Subject)
	infos := []*StreamInfo{}
	for _, mset := range page(all, r.Offset, listLimit) {
		infos = append(infos, mset.info(infoOpts{}))
	}
	ja.respond(req.reply, typ, nil, streamListBody{Total: len(all), Offset: r.Offset, Limit: listLimit, Streams: infos})
}

type streamInfoRequest struct {
	DeletedDetails bool   `json:"deleted_details"`
	SubjectsFilter string `json:"subjects_filter"`
	Offset         int    `json:"offset"`
}

type streamInfoBody struct {
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
	*StreamInfo
}

func apiStreamInfo(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.stream_info_response"
	var r streamInfoRequest
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	mset := ja.lookupStream(t[2])
	if mset == nil {
		ja.respond(req.reply, typ, newError(errStreamNotFound), streamInfoBody{})
		return
	}
	mset.sync()
	si := mset.info(infoOpts{deleted: r.DeletedDetails, serverMeta: true, cluster: true})
	body := streamInfoBody{StreamInfo: si}
	// A filter that is not a valid subject is no filter, as nats-server
	// answers it (recorded: no subjects, total 0).
	if r.SubjectsFilter != "" && subject.ValidSubject(r.SubjectsFilter) {
		counts := mset.store.SubjectsState(r.SubjectsFilter)
		names := make([]string, 0, len(counts))
		for s := range counts {
			names = append(names, s)
		}
		sort.Strings(names)
		body.Total, body.Offset, body.Limit = len(names), r.Offset, subjectDetailMax
		si.State.Subjects = map[string]uint64{}
		for _, s := range page(names, r.Offset, subjectDetailMax) {
			si.State.Subjects[s] = counts[s].Msgs
		}
	}
	ja.respond(req.reply, typ, nil, body)
}

func apiStreamDelete(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.stream_delete_response"
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	mset := ja.streamOrReply(req, typ, t[2])
	if mset == nil {
		return
	}
	ja.mu.Lock()
	delete(ja.streams, mset.name)
	ja.mu.Unlock()
	mset.adviseDeleted()
	mset.stop(true)
	ja.respond(req.reply, typ, nil, successBody{true})
}

type purgeRequest struct {
	Subject  string `json:"filter"`
	Sequence uint64 `json:"seq"`
	Keep     uint64 `json:"keep"`
}

type purgeBody struct {
	Success bool   `json:"success,omitempty"`
	Purged  uint64 `json:"purged"`
}

func apiStreamPurge(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.stream_purge_response"
	mset := ja.lookupStream(t[2])
	if mset == nil {
		ja.respond(req.reply, typ, newError(errStreamNotFound), purgeBody{})
		return
	}
	var r purgeRequest
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, purgeBody{})
		return
	}
	if r.Sequence > 0 && r.Keep > 0 {
		ja.respond(req.reply, typ, newError(errBadRequest), purgeBody{})
		return
	}
	if r.Subject != "" && !subject.ValidSubject(r.Subject) {
		ja.respond(req.reply, typ, newError(errBadRequest), purgeBody{})
		return
	}
	if mset.config().DenyPurge {
		ja.respond(req.reply, typ, errWith(errStreamPurgeFailedF, errors.New("stream purge not permitted")), purgeBody{})
		return
	}
	mset.sync()
	if mset.repl != nil {
		mset.proposeOp(entryPurge, req.reply, r.Subject, r.Sequence, r.Keep, false)
		return
	}
	body, apiErr := mset.doPurge(r.Subject, r.Sequence, r.Keep)
	ja.respond(req.reply, typ, apiErr, body)
}

// doPurge purges and says what to answer.
func (mset *stream) doPurge(subj string, upTo, keep uint64) (purgeBody, *APIError) {
	n, err := mset.purge(subj, upTo, keep)
	if err != nil {
		return purgeBody{}, errWith(errStreamPurgeFailedF, err)
	}
	return purgeBody{Success: true, Purged: n}, nil
}

// purge removes messages and moves the consumers past them.
func (mset *stream) purge(subj string, upTo, keep uint64) (uint64, error) {
	n, err := mset.store.Purge(subj, upTo, keep)
	if err != nil {
		return n, err
	}
	for _, o := range mset.consumerList() {
		o.streamPurged()
	}
	return n, nil
}

type msgDeleteRequest struct {
	Seq     uint64 `json:"seq"`
	NoErase bool   `json:"no_erase"`
}

func apiMsgDelete(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.stream_msg_delete_response"
	mset := ja.streamOrReply(req, typ, t[3])
	if mset == nil {
		return
	}
	var r msgDeleteRequest
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	if r.Seq == 0 {
		ja.respond(req.reply, typ, newError(errBadRequest), nil)
		return
	}
	cfg := mset.config()
	if cfg.Sealed || cfg.DenyDelete {
		ja.respond(req.reply, typ, errWith(errStreamMsgDeleteFailedF, errors.New("message delete not permitted")), nil)
		return
	}
	mset.sync()
	if mset.repl != nil {
		mset.proposeOp(entryMsgDelete, req.reply, "", r.Seq, 0, r.NoErase)
		return
	}
	if apiErr := mset.doMsgDelete(r.Seq, r.NoErase); apiErr != nil {
		ja.respond(req.reply, typ, apiErr, nil)
		return
	}
	ja.respond(req.reply, typ, nil, successBody{true})
}

// doMsgDelete removes (and with erase, overwrites) message seq.
func (mset *stream) doMsgDelete(seq uint64, noErase bool) *APIError {
	if seq > mset.store.State(false).LastSeq {
		return errWith(errStreamMsgDeleteFailedF, errors.New("stream store EOF"))
	}
	var removed bool
	var err error
	if noErase {
		removed, err = mset.store.RemoveMsg(seq)
	} else {
		removed, err = mset.store.EraseMsg(seq)
	}
	if err != nil {
		return errWith(errStreamMsgDeleteFailedF, err)
	}
	if !removed {
		return newError(errSequenceNotFound, "{seq}", seq)
	}
	mset.removed(seq, "")
	return nil
}

type msgGetRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
}

// storedMsg is a message as STREAM.MSG.GET returns it.
type storedMsg struct {
	Subject  string    `json:"subject"`
	Sequence uint64    `json:"seq"`
	Header   []byte    `json:"hdrs,omitempty"`
	Data     []byte    `json:"data,omitempty"`
	Time     time.Time `json:"time"`
}

func apiMsgGet(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.stream_msg_get_response"
	mset := ja.streamOrReply(req, typ, t[3])
	if mset == nil {
		return
	}
	var r msgGetRequest
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	mset.sync()
	sm, apiErr := mset.getMsg(r)
	if apiErr != nil {
		ja.respond(req.reply, typ, apiErr, nil)
		return
	}
	ja.respond(req.reply, typ, nil, struct {
		Message storedMsg `json:"message"`
	}{storedMsg{sm.Subject, sm.Seq, sm.Header, sm.Data, time.Unix(0, sm.Time).UTC()}})
}

// getMsg finds the message a MSG.GET (or single DIRECT.GET) asks for.
func (mset *stream) getMsg(r msgGetRequest) (*storeMsg, *APIError) {
	var sm *storeMsg
	var err error
	switch {
	case r.Seq > 0 && r.LastFor != "", r.Seq == 0 && r.LastFor == "" && r.NextFor == "", r.LastFor != "" && r.NextFor != "":
		return nil, newError(errBadRequest)
	case r.LastFor != "":
		sm, err = mset.store.LoadLastMsg(r.LastFor, nil)
	case r.NextFor != "":
		sm, err = mset.store.LoadNextMsg([]string{r.NextFor}, r.Seq, nil)
	default:
		sm, err = mset.store.LoadMsg(r.Seq, nil)
	}
	if err != nil {
		return nil, newError(errNoMessageFound)
	}
	return sm, nil
}

// jsonUnmarshal is for request bodies decoded without nats-server's
// decoder wording (pull requests say "Bad Request - …" with these).
var jsonUnmarshal = json.Unmarshal
