package monitor

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc.
const clockTicks = 100

// processCPU is the process's CPU use since it started, in percent of one
// core — what `ps -o pcpu` reports, and what nats-server's /varz "cpu" shows.
func processCPU(uptime time.Duration) float64 {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil || uptime <= 0 {
		return 0
	}
	// Fields after the command name (which is in parentheses and may hold
	// spaces): state is field 3, utime 14, stime 15.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	secs := (ut + st) / clockTicks
	pct := 100 * secs / uptime.Seconds()
	return float64(int(pct*100)) / 100
}
