package jetstream

import "path/filepath"

const (
	fallbackMaxMemory = 1 << 30
	maxStoreCap       = 1 << 40 // 1 TB
)

func parentDir(d string) string { return filepath.Dir(d) }
