package jetstream

import (
	"reflect"
	"sort"
	"time"
)

// The consumer half of the $JS.API.

type consumerCreateRequest struct {
	Stream string          `json:"stream_name"`
	Config *ConsumerConfig `json:"config"`
	Action string          `json:"action"`
}

// apiConsumerCreate serves CONSUMER.CREATE.<stream>[.<consumer>[.<filter>]]
// and the legacy CONSUMER.DURABLE.CREATE.<stream>.<durable>.
func apiConsumerCreate(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.consumer_create_response"
	var streamName, subjName, subjFilter string
	durableAPI := t[1] == "DURABLE"
	if durableAPI {
		streamName, subjName = t[3], t[4]
	} else {
		streamName = t[2]
		if len(t) > 3 {
			subjName = t[3]
		}
		if len(t) > 4 {
			subjFilter = joinTokens(t[4:])
		}
	}
	var r consumerCreateRequest
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	if r.Stream != streamName {
		ja.respond(req.reply, typ, newError(errStreamMismatch), nil)
		return
	}
	if r.Config == nil {
		ja.respond(req.reply, typ, newError(errConsumerConfigRequired), nil)
		return
	}
	cfg := *r.Config
	switch {
	case durableAPI && cfg.Durable == "":
		ja.respond(req.reply, typ, newError(errConsumerDurableNameNotSet), nil)
		return
	case subjName != "" && cfg.Durable != "" && cfg.Durable != subjName:
		ja.respond(req.reply, typ, newError(errConsumerDurableNameNotMatchSubject), nil)
		return
	case subjName != "" && cfg.Name != "" && cfg.Name != subjName:
		ja.respond(req.reply, typ, newError(errConsumerDurableNameNotMatchSubject), nil)
		return
	case subjName == "" && !durableAPI && cfg.Durable != "":
		// CONSUMER.CREATE.<stream> makes ephemerals only (recorded:
		// nats-server says so before it looks at the name).
		ja.respond(req.reply, typ, newError(errConsumerEphemeralWithDurableName), nil)
		return
	}
	if subjName != "" && cfg.Name == "" && cfg.Durable == "" {
		cfg.Name = subjName
	}
	if subjFilter != "" {
		if len(cfg.FilterSubjects) > 0 {
			ja.respond(req.reply, typ, newError(errConsumerMultipleFiltersNotAllowed), nil)
			return
		}
		if cfg.FilterSubject != "" && cfg.FilterSubject != subjFilter {
			ja.respond(req.reply, typ, newError(errConsumerCreateFilterSubjectMismatch), nil)
			return
		}
	}
	mset := ja.streamOrReply(req, typ, streamName)
	if mset == nil {
		return
	}
	mset.sync() // a new consumer starts from what was published before
	scfg := mset.config()
	norm, apiErr := normalizeConsumer(cfg, &scfg, ja.getLimits())
	if apiErr != nil {
		ja.respond(req.reply, typ, apiErr, nil)
		return
	}
	info, apiErr := mset.addConsumer(norm, r.Action)
	if apiErr != nil {
		ja.respond(req.reply, typ, apiErr, nil)
		return
	}
	if mset.repl != nil {
		// Answered once the config is committed (a confirmed create
		// survives the leader, as nats-server's).
		answer := func() { ja.respond(req.reply, typ, nil, info) }
		if o := mset.lookupConsumer(info.Name); o != nil && mset.replicateConsumerAnswer(o, req.reply, answer) {
			return
		}
	}
	ja.respond(req.reply, typ, nil, info)
}

func joinTokens(t []string) string {
	s := t[0]
	for _, x := range t[1:] {
		s += "." + x
	}
	return s
}

// addConsumer creates the consumer, or returns (or updates) the existing
// one of that name, as action ("", "create", "update") says.
//
// It returns the consumer's info as it was made, before its delivery loop
// starts, as nats-server's reply shows it (nothing delivered yet, all
// pending), whatever the loop does before the reply is sent.
func (mset *stream) addConsumer(cfg ConsumerConfig, action string) (*ConsumerInfo, *APIError) {
	ja := mset.ja
	ja.createMu.Lock()
	defer ja.createMu.Unlock()
	if cfg.Name != "" {
		mset.mu.RLock()
		cur := mset.consumers[cfg.Name]
		mset.mu.RUnlock()
		if cur != nil {
			cur.mu.Lock()
			curCfg := cur.cfg
			cur.mu.Unlock()
			if reflect.DeepEqual(curCfg, cfg) {
				if action == "update" || action == "create" || action == "" {
					return cur.info(true), nil
				}
			}
			if action == "create" {
				return nil, newError(errConsumerAlreadyExists)
			}
			if err := checkConsumerUpdate(&curCfg, &cfg); err != nil {
				return nil, err
			}
			cur.update(cfg)
			return cur.info(true), nil
		}
		if action == "update" {
			return nil, newError(errConsumerDoesNotExist)
		}
	}
	scfg := mset.config()
	if scfg.MaxConsumers > 0 && mset.numConsumers() >= scfg.MaxConsumers {
		return nil, newError(errMaximumConsumersLimit)
	}
	limits := ja.getLimits()
	if limits.MaxConsumers > 0 {
		n := 0
		for _, s := range ja.sortedStreams() {
			n += s.numConsumers()
		}
		if n >= limits.MaxConsumers {
			return nil, newError(errMaximumConsumersLimit)
		}
	}
	if scfg.Retention == WorkQueuePolicy {
		for _, other := range mset.consumerList() {
			of := other.filters
			if len(of) == 0 && len(cfg.filters()) == 0 {
				return nil, newError(errConsumerWQMultipleUnfiltered)
			}
			if overlapAny(of, cfg.filters()) {
				return nil, newError(errConsumerWQConsumerNotUnique)
			}
		}
	}
	name := cfg.Name
	if name == "" {
		// An ephemeral: named by the server; its config keeps no name
		// (nats-server's replies show it only at the top).
		for {
			name = ephemeralName()
			mset.mu.RLock()
			_, taken := mset.consumers[name]
			mset.mu.RUnlock()
			if !taken {
				break
			}
		}
	}
	o, err := mset.newConsumer(cfg, name, now())
	if err != nil {
		return nil, newError(errConsumerStoreFailed, "{err}", err)
	}
	if err := o.writeMeta(); err != nil {
		_ = o.store.Delete()
		return nil, newError(errConsumerStoreFailed, "{err}", err)
	}
	mset.mu.Lock()
	mset.consumers[o.name] = o
	mset.mu.Unlock()
	info := o.info(true)
	if err := o.start(); err != nil {
		o.stop(true, false)
		return nil, errWith(errConsumerCreate, err)
	}
	mset.adviseConsumerLeader(o.name)
	ja.adviseConsumer(mset.name, o.name, "create")
	return info, nil
}

// overlapAny reports whether two filter sets share a subject (no filters:
// everything).
func overlapAny(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	for _, x := range a {
		for _, y := range b {
			if subjectsCollide(x, y) {
				return true
			}
		}
	}
	return false
}

// update applies a checked new configuration.
func (o *consumer) update(cfg ConsumerConfig) {
	o.mu.Lock()
	o.cfg = cfg
	o.filters = cfg.filters()
	o.mu.Unlock()
	_ = o.writeMeta()
	o.signal()
}

func apiConsumerNames(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.consumer_names_response"
	type body struct {
		Total     int      `json:"total"`
		Offset    int      `json:"offset"`
		Limit     int      `json:"limit"`
		Consumers []string `json:"consumers"`
	}
	var r struct {
		Offset int `json:"offset"`
	}
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	mset := ja.lookupStream(t[2])
	if mset == nil {
		ja.respond(req.reply, typ, newError(errStreamNotFound), body{Consumers: []string{}})
		return
	}
	all := mset.sortedConsumers()
	names := []string{}
	for _, o := range page(all, r.Offset, namesLimit) {
		names = append(names, o.name)
	}
	ja.respond(req.reply, typ, nil, body{len(all), r.Offset, namesLimit, names})
}

func apiConsumerList(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.consumer_list_response"
	type body struct {
		Total     int             `json:"total"`
		Offset    int             `json:"offset"`
		Limit     int             `json:"limit"`
		Consumers []*ConsumerInfo `json:"consumers"`
	}
	var r struct {
		Offset int `json:"offset"`
	}
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	mset := ja.lookupStream(t[2])
	if mset == nil {
		ja.respond(req.reply, typ, newError(errStreamNotFound), body{Consumers: []*ConsumerInfo{}})
		return
	}
	all := mset.sortedConsumers()
	infos := []*ConsumerInfo{}
	for _, o := range page(all, r.Offset, listLimit) {
		infos = append(infos, o.info(false))
	}
	ja.respond(req.reply, typ, nil, body{len(all), r.Offset, listLimit, infos})
}

func (mset *stream) sortedConsumers() []*consumer {
	all := mset.consumerList()
	sort.Slice(all, func(i, j int) bool { return all[i].name < all[j].name })
	return all
}

func (mset *stream) lookupConsumer(name string) *consumer {
	mset.mu.RLock()
	defer mset.mu.RUnlock()
	return mset.consumers[name]
}

func apiConsumerInfo(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.consumer_info_response"
	mset, o := ja.consumerOrReply(req, typ, t[2], t[3])
	if o == nil {
		return
	}
	mset.sync()
	ja.respond(req.reply, typ, nil, o.info(true))
}

func apiConsumerDelete(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.consumer_delete_response"
	_, o := ja.consumerOrReply(req, typ, t[2], t[3])
	if o == nil {
		return
	}
	o.stop(true, false)
	ja.adviseConsumer(o.mset.name, o.name, "delete")
	answer := func() { ja.respond(req.reply, typ, nil, successBody{true}) }
	if mset := o.mset; mset.repl != nil && mset.replicateConsumerDelete(o.name, req.reply, answer) {
		return // answered once committed
	}
	answer()
}

func apiConsumerPause(ja *jsAccount, req *apiRequest, t []string) {
	const typ = "io.nats.jetstream.api.v1.consumer_pause_response"
	_, o := ja.consumerOrReply(req, typ, t[2], t[3])
	if o == nil {
		return
	}
	var r struct {
		PauseUntil time.Time `json:"pause_until"`
	}
	if err := decode(req.data, &r); err != nil {
		ja.respond(req.reply, typ, err, nil)
		return
	}
	o.mu.Lock()
	if r.PauseUntil.IsZero() || !r.PauseUntil.After(time.Now()) {
		o.cfg.PauseUntil = nil
	} else {
		u := r.PauseUntil.UTC()
		o.cfg.PauseUntil = &u
	}
	paused := o.cfg.PauseUntil != nil
	o.mu.Unlock()
	_ = o.writeMeta()
	if mset := o.mset; mset.repl != nil {
		// The pause is config: the other replicas keep it for when they lead.
		mset.replicateConsumer(o)
	}
	o.signal()
	type body struct {
		Paused         bool          `json:"paused"`
		PauseUntil     time.Time     `json:"pause_until"`
		PauseRemaining time.Duration `json:"pause_remaining,omitempty"`
	}
	b := body{Paused: paused}
	if paused {
		b.PauseUntil, b.PauseRemaining = r.PauseUntil.UTC(), time.Until(r.PauseUntil)
	}
	ja.respond(req.reply, typ, nil, b)
}
