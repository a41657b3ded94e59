package jetstream

import (
	"sync"
	"sync/atomic"
	"time"
)

// The server's totals (jetstream { max_memory_store, max_file_store }) are
// checked on every publish, as nats-server checks them: once the server's
// streams hold more than the total, publishes are refused (10023) until
// something is removed. Summing every account's streams on every publish
// would put a walk of all of them on the publish path, so the sum is taken
// at most every usageRefresh and what was accepted since is added to it. A
// publish so sees every byte stored since the last sum; a removal counts
// only from the next sum (the check is stricter, never looser, meanwhile).
const usageRefresh = 100 * time.Millisecond

type serverUsage struct {
	summing    sync.Mutex   // one sum at a time; publishes never wait for it
	at         atomic.Int64 // when the last sum was taken (unix nanoseconds)
	mem, store atomic.Uint64
}

// overServerLimit reports whether the server's storage of kind is already
// over its total; if not, it counts size (the publish's stored size) in.
func (e *Engine) overServerLimit(kind StorageType, size uint64) bool {
	limit, used := e.cfg.MaxStore, &e.used.store
	if kind == MemoryStorage {
		limit, used = e.cfg.MaxMemory, &e.used.mem
	}
	if limit <= 0 {
		return false
	}
	now := time.Now().UnixNano()
	if now-e.used.at.Load() > int64(usageRefresh) && e.used.summing.TryLock() {
		var mem, file uint64
		for _, ja := range e.enabledAccounts() {
			mem += ja.storedBytes(MemoryStorage)
			file += ja.storedBytes(FileStorage)
		}
		e.used.mem.Store(mem)
		e.used.store.Store(file)
		e.used.at.Store(now)
		e.used.summing.Unlock()
	}
	if used.Load() > uint64(limit) {
		return true
	}
	used.Add(size)
	return false
}
