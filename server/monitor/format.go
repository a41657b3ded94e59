package monitor

import (
	"strconv"
	"time"
)

// FormatDuration formats like nats-server's uptime: "1d2h3m4s", "5s".
func FormatDuration(d time.Duration) string {
	tsecs := int64(d / time.Second)
	tmins := tsecs / 60
	thrs := tmins / 60
	tdays := thrs / 24
	tyrs := tdays / 365
	switch {
	case tyrs > 0:
		return strconv.FormatInt(tyrs, 10) + "y" + strconv.FormatInt(tdays%365, 10) + "d" + strconv.FormatInt(thrs%24, 10) + "h" + strconv.FormatInt(tmins%60, 10) + "m" + strconv.FormatInt(tsecs%60, 10) + "s"
	case tdays > 0:
		return strconv.FormatInt(tdays, 10) + "d" + strconv.FormatInt(thrs%24, 10) + "h" + strconv.FormatInt(tmins%60, 10) + "m" + strconv.FormatInt(tsecs%60, 10) + "s"
	case thrs > 0:
		return strconv.FormatInt(thrs, 10) + "h" + strconv.FormatInt(tmins%60, 10) + "m" + strconv.FormatInt(tsecs%60, 10) + "s"
	case tmins > 0:
		return strconv.FormatInt(tmins, 10) + "m" + strconv.FormatInt(tsecs%60, 10) + "s"
	}
	return strconv.FormatInt(tsecs, 10) + "s"
}

// page returns list[offset:offset+limit] clipped to the list, for any
// non-negative offset and limit: no offset+limit, which overflows for
// limit=MaxInt.
func page[T any](list []T, offset, limit int) []T {
	start := min(offset, len(list))
	return list[start : start+min(limit, len(list)-start)]
}

// unix is t as Unix seconds with a fraction, Prometheus's timestamps.
func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
