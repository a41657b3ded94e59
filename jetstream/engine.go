package jetstream

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/server"
)

// APILevel is the JetStream API level natsd serves (nats-server v2.15.2's).
const APILevel = 5

// Config is the server-wide JetStream configuration (the jetstream {}
// block, -js, -sd).
type Config struct {
	// StoreDir is where file streams live; natsd adds "jetstream/".
	StoreDir string
	// MaxMemory and MaxStore are the server's totals (-1: computed as
	// nats-server does, 75% of memory and 1 TB or the disk's free space).
	MaxMemory int64
	MaxStore  int64
	Domain    string
	// SyncInterval 0 (the default) means "always": a publish is
	// acknowledged only once it is on disk. A positive value is
	// nats-server's trade: fsync every interval, acknowledge at once.
	SyncInterval time.Duration
	UniqueTag    string
	// FS is the file system the stores use (tests inject faults); nil:
	// the operating system's.
	FS store.FS
}

// SyncAlways reports whether publishes are acknowledged only once durable.
func (c Config) SyncAlways() bool { return c.SyncInterval <= 0 }

// AccountConfig is an account's JetStream: enabled, with limits (-1:
// unlimited).
type AccountConfig struct {
	Name   string
	Limits AccountLimits
}

// UnlimitedAccount is `jetstream: enabled`.
func UnlimitedAccount(name string) AccountConfig {
	return AccountConfig{Name: name, Limits: AccountLimits{
		MaxMemory: -1, MaxStore: -1, MaxStreams: -1, MaxConsumers: -1, MaxAckPending: -1,
		MemoryMaxStreamBytes: -1, StoreMaxStreamBytes: -1,
	}}
}

// Engine is JetStream on one server: the accounts that have it, their
// streams and consumers, and the $JS.API they are managed with.
type Engine struct {
	srv *server.Server
	cfg Config
	log *zap.Logger
	fs  store.FS
	dir string // StoreDir/jetstream

	api *apiWorkers
	// cluster is clustered JetStream's meta layer; nil on one server
	// (cluster.go).
	cluster Cluster

	mu       sync.RWMutex
	accounts map[string]*jsAccount // every account the API is served in
	stopped  bool

	apiTotal  atomic.Uint64
	apiErrors atomic.Uint64
	started   time.Time

	// used is the server's storage, for the totals' check on a publish
	// (serverlimit.go).
	used serverUsage

	// transfers are the snapshots and restores under way (snapshot.go,
	// restore.go); quit tells them the server is stopping.
	transfers sync.WaitGroup
	quit      chan struct{}
}

// New starts JetStream: it checks the store directory and serves nothing
// until ConfigureAccounts names the accounts.
func New(srv *server.Server, cfg Config, log *zap.Logger) (*Engine, error) {
	if log == nil {
		log = zap.NewNop()
	}
	if cfg.StoreDir == "" {
		cfg.StoreDir = filepath.Join(os.TempDir(), "nats", "jetstream")
	}
	fsys := cfg.FS
	if fsys == nil {
		fsys = store.OSFS()
	}
	e := &Engine{
		srv: srv, cfg: cfg, log: log, fs: fsys, dir: filepath.Join(cfg.StoreDir, "jetstream"),
		accounts: map[string]*jsAccount{}, started: time.Now().UTC(), quit: make(chan struct{}),
	}
	if e.cfg.MaxMemory <= 0 {
		e.cfg.MaxMemory = defaultMaxMemory()
	}
	if e.cfg.MaxStore <= 0 {
		e.cfg.MaxStore = defaultMaxStore(cfg.StoreDir)
	}
	if err := fsys.MkdirAll(e.dir, 0o750); err != nil {
		return nil, fmt.Errorf("jetstream: store directory: %w", err)
	}
	e.api = newAPIWorkers(e, 4)
	return e, nil
}

// ConfigureAccounts serves the API in every account of the server and
// turns JetStream on in those of enabled (loading their streams from
// disk), off in the others. It is called at start and after each reload.
func (e *Engine) ConfigureAccounts(enabled []AccountConfig) error {
	want := map[string]AccountConfig{}
	for _, a := range enabled {
		want[a.Name] = a
	}
	var errs []error
	for _, acc := range e.srv.Accounts() {
		ja := e.account(acc)
		if cfg, ok := want[acc.Name]; ok {
			if err := ja.enable(cfg.Limits); err != nil {
				errs = append(errs, fmt.Errorf("account %s: %w", acc.Name, err))
			}
		} else {
			ja.disable()
		}
	}
	return errors.Join(errs...)
}

// account is the jsAccount of acc, made (and its API subscribed) on first
// use.
func (e *Engine) account(acc *server.Account) *jsAccount {
	e.mu.Lock()
	defer e.mu.Unlock()
	if ja := e.accounts[acc.Name]; ja != nil && ja.acc == acc {
		return ja
	}
	ja := newAccount(e, acc)
	e.accounts[acc.Name] = ja
	ja.subscribeAPI()
	return ja
}

// lookup is the jsAccount of an account by name, or nil.
func (e *Engine) lookup(name string) *jsAccount {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.accounts[name]
}

// enabledAccounts are the accounts with JetStream on, by name.
func (e *Engine) enabledAccounts() []*jsAccount {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []*jsAccount
	for _, ja := range e.accounts {
		if ja.isEnabled() {
			out = append(out, ja)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// Stop stops every stream and consumer (their state is flushed) and the
// API. It is idempotent.
func (e *Engine) Stop() {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return
	}
	e.stopped = true
	accs := make([]*jsAccount, 0, len(e.accounts))
	for _, ja := range e.accounts {
		accs = append(accs, ja)
	}
	e.mu.Unlock()
	e.api.stop()
	close(e.quit)
	e.transfers.Wait()
	for _, ja := range accs {
		ja.unsubscribeAPI()
		ja.stopStreams()
	}
}

// startTransfer counts a snapshot or restore in (false: the server is
// stopping); it calls e.transfers.Done when it ends.
func (e *Engine) startTransfer() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.stopped {
		return false
	}
	e.transfers.Add(1)
	return true
}

// stopping reports whether Stop has begun.
func (e *Engine) stopping() bool {
	select {
	case <-e.quit:
		return true
	default:
		return false
	}
}

// Usage is the server's JetStream totals.
type Usage struct {
	Memory, Store    uint64
	ReservedMemory   uint64
	ReservedStore    uint64
	Accounts         int
	Streams          int
	Consumers        int
	Messages, Bytes  uint64
	APITotal, Errors uint64
}

// Usage sums every enabled account.
func (e *Engine) Usage() Usage {
	var u Usage
	for _, ja := range e.enabledAccounts() {
		au := ja.usage()
		u.Accounts++
		u.Memory += au.memory
		u.Store += au.store
		u.ReservedMemory += au.reservedMemory
		u.ReservedStore += au.reservedStore
		u.Streams += au.streams
		u.Consumers += au.consumers
		u.Messages += au.msgs
		u.Bytes += au.bytes
	}
	u.APITotal, u.Errors = e.apiTotal.Load(), e.apiErrors.Load()
	return u
}

// Config is the configuration JetStream runs with (limits filled in).
func (e *Engine) Config() Config { return e.cfg }

// serverID names this server as a stream's leader.
func (e *Engine) serverID() string {
	if n := e.srv.Name(); n != "" {
		return n
	}
	return e.srv.ID()
}
