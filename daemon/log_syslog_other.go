//go:build !unix

package daemon

import (
	"errors"
	"io"
	"runtime"
)

// Off Unix there is no syslog and no journal.

func dialSyslog(string, string) (syslogOut, error) {
	return nil, errors.New("syslog is not supported on " + runtime.GOOS)
}

func stderrIsJournal(io.Writer) bool { return false }
