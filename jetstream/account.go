package jetstream

import (
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
)

// jsAccount is one account as JetStream sees it: whether JetStream is on,
// its limits, its streams, and the API subscriptions in it.
type jsAccount struct {
	e    *Engine
	acc  *server.Account
	name string
	dir  string // e.dir/<account>

	apiSubs []*server.Subscription

	// createMu serializes creates, updates and deletes of streams and
	// consumers (the API has several workers).
	createMu sync.Mutex

	mu      sync.RWMutex
	enabled bool
	limits  AccountLimits
	streams map[string]*stream

	apiTotal  atomic.Uint64
	apiErrors atomic.Uint64
}

func newAccount(e *Engine, acc *server.Account) *jsAccount {
	return &jsAccount{e: e, acc: acc, name: acc.Name, dir: filepath.Join(e.dir, acc.Name), streams: map[string]*stream{}}
}

// apiSubjects are what the API subscribes in every account. Not here:
// CONSUMER.MSG.NEXT and DIRECT.GET, which each consumer and stream (with
// allow_direct) subscribe itself, so that asking a missing one gets "no
// responders" at once, as from nats-server (recorded).
var apiSubjects = []string{
	"$JS.API.INFO",
	"$JS.API.STREAM.>",
	"$JS.API.CONSUMER.CREATE.>",
	"$JS.API.CONSUMER.DURABLE.CREATE.>",
	"$JS.API.CONSUMER.NAMES.>",
	"$JS.API.CONSUMER.LIST.>",
	"$JS.API.CONSUMER.INFO.>",
	"$JS.API.CONSUMER.DELETE.>",
	"$JS.API.CONSUMER.PAUSE.>",
	"$JS.API.CONSUMER.UNPIN.>",
	"$JS.API.ACCOUNT.>",
	"$JS.API.META.>",
	"$JS.API.SERVER.>",
}

func (ja *jsAccount) subscribeAPI() {
	for _, subj := range apiSubjects {
		sub, err := ja.acc.Subscribe(subj, "", ja.e.api.enqueue(ja))
		if err != nil {
			ja.e.log.Error("JetStream API subscription failed", zap.String("account", ja.name), zap.String("subject", subj), zap.Error(err))
			continue
		}
		ja.apiSubs = append(ja.apiSubs, sub)
	}
	if d := ja.e.cfg.Domain; d != "" {
		// With a domain the API answers on $JS.<domain>.API too (what
		// clients given the domain ask on, nats.go's NewWithDomain): as
		// nats-server's mapping does, the request goes on as $JS.API, and
		// a KV put or delete ($JS.<domain>.API.$KV.<bucket>.<key>, nats.go
		// with a domain) as $KV.<bucket>.<key> (recorded: nats-server
		// stores it there).
		prefix := "$JS." + d + ".API."
		sub, err := ja.acc.Subscribe(prefix+">", "", func(m server.Msg) {
			rest := string(m.Subject[len(prefix):])
			to := apiPrefix + rest
			if strings.HasPrefix(rest, "$KV.") {
				to = rest
			}
			_ = ja.acc.Publish(to, string(m.Reply), m.Header, m.Data)
		})
		if err != nil {
			ja.e.log.Error("JetStream domain API subscription failed", zap.String("account", ja.name), zap.String("domain", d), zap.Error(err))
			return
		}
		ja.apiSubs = append(ja.apiSubs, sub)
	}
}

func (ja *jsAccount) unsubscribeAPI() {
	for _, s := range ja.apiSubs {
		s.Unsubscribe()
	}
	ja.apiSubs = nil
}

func (ja *jsAccount) isEnabled() bool {
	ja.mu.RLock()
	defer ja.mu.RUnlock()
	return ja.enabled
}

func (ja *jsAccount) getLimits() AccountLimits {
	ja.mu.RLock()
	defer ja.mu.RUnlock()
	return ja.limits
}

// enable turns JetStream on with limits; the first time it loads the
// account's streams from disk.
func (ja *jsAccount) enable(limits AccountLimits) error {
	ja.mu.Lock()
	was := ja.enabled
	ja.enabled, ja.limits = true, limits
	ja.mu.Unlock()
	if was || ja.e.cluster != nil {
		// In a cluster the meta group says which streams this server
		// holds (OpenReplica), not the directory.
		return nil
	}
	return ja.loadStreams()
}

// disable turns JetStream off: its streams stop (their files stay).
func (ja *jsAccount) disable() {
	ja.mu.Lock()
	was := ja.enabled
	ja.enabled = false
	ja.mu.Unlock()
	if was {
		ja.stopStreams()
	}
}

func (ja *jsAccount) stopStreams() {
	ja.mu.Lock()
	streams := ja.streams
	ja.streams = map[string]*stream{}
	ja.mu.Unlock()
	for _, mset := range streams {
		mset.stop(false)
	}
}

func (ja *jsAccount) lookupStream(name string) *stream {
	ja.mu.RLock()
	defer ja.mu.RUnlock()
	return ja.streams[name]
}

// streamOrReply is the request's stream, or nil once the requester has
// been told that there is no such stream (10059).
func (ja *jsAccount) streamOrReply(req *apiRequest, typ, name string) *stream {
	mset := ja.lookupStream(name)
	if mset == nil {
		ja.respond(req.reply, typ, newError(errStreamNotFound), nil)
	}
	return mset
}

// consumerOrReply is the request's stream and consumer, or a nil consumer
// once the requester has been told which of the two does not exist.
func (ja *jsAccount) consumerOrReply(req *apiRequest, typ, stream, name string) (*stream, *consumer) {
	mset := ja.streamOrReply(req, typ, stream)
	if mset == nil {
		return nil, nil
	}
	o := mset.lookupConsumer(name)
	if o == nil {
		ja.respond(req.reply, typ, newError(errConsumerNotFound), nil)
	}
	return mset, o
}

// sortedStreams are the account's streams by name.
func (ja *jsAccount) sortedStreams() []*stream {
	ja.mu.RLock()
	out := make([]*stream, 0, len(ja.streams))
	for _, mset := range ja.streams {
		out = append(out, mset)
	}
	ja.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

type accountUsage struct {
	memory, store                 uint64
	reservedMemory, reservedStore uint64
	streams, consumers            int
	msgs, bytes                   uint64
}

// storedBytes is what the account's streams of kind hold. It takes no
// stream's mu (usage does, for their configs): a publish checks it while
// holding its own stream's.
func (ja *jsAccount) storedBytes(kind StorageType) uint64 {
	ja.mu.RLock()
	defer ja.mu.RUnlock()
	var n uint64
	for _, mset := range ja.streams {
		if mset.storage == kind {
			n += mset.store.State(false).Bytes
		}
	}
	return n
}

func (ja *jsAccount) usage() accountUsage {
	var u accountUsage
	for _, mset := range ja.sortedStreams() {
		cfg := mset.config()
		st := mset.store.State(false)
		u.streams++
		u.consumers += mset.numConsumers()
		u.msgs += st.Msgs
		u.bytes += st.Bytes
		if cfg.Storage == MemoryStorage {
			u.memory += st.Bytes
			if cfg.MaxBytes > 0 {
				u.reservedMemory += uint64(cfg.MaxBytes)
			}
		} else {
			u.store += st.Bytes
			if cfg.MaxBytes > 0 {
				u.reservedStore += uint64(cfg.MaxBytes)
			}
		}
	}
	return u
}

// countAPI counts one request (and one error when failed), in the account
// and server-wide.
func (ja *jsAccount) countAPI(failed bool) {
	ja.apiTotal.Add(1)
	ja.e.apiTotal.Add(1)
	if failed {
		ja.apiErrors.Add(1)
		ja.e.apiErrors.Add(1)
	}
}
