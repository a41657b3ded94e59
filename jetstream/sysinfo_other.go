//go:build !linux

package jetstream

// Outside Linux natsd does not measure the machine: the defaults are
// fixed (set max_memory_store and max_file_store to choose).
func defaultMaxMemory() int64 { return fallbackMaxMemory }

func defaultMaxStore(string) int64 { return maxStoreCap }
