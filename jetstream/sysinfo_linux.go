package jetstream

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// defaultMaxMemory is 75% of the machine's memory, as nats-server sizes
// JetStream's memory storage when max_memory_store is not set.
func defaultMaxMemory() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return fallbackMaxMemory
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			if kb, err := strconv.ParseInt(fields[1], 10, 64); err == nil {
				return kb * 1024 / 4 * 3
			}
		}
	}
	return fallbackMaxMemory
}

// defaultMaxStore is 75% of the free space where the store lives (or of
// its nearest existing parent), capped at 1 TB, as nats-server does.
func defaultMaxStore(dir string) int64 {
	for d := dir; ; {
		var st syscall.Statfs_t
		if err := syscall.Statfs(d, &st); err == nil {
			free := int64(st.Bavail) * st.Bsize
			return min(free/4*3, maxStoreCap)
		}
		parent := parentDir(d)
		if parent == d {
			return maxStoreCap
		}
		d = parent
	}
}
