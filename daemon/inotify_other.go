//go:build !linux

package daemon

import "errors"

// dirWatch needs inotify (Linux); elsewhere natsd reloads on SIGHUP only.
type dirWatch struct{}

func newDirWatch() (*dirWatch, error) {
	return nil, errors.New("watching config files needs Linux inotify")
}

func (*dirWatch) add(string) error        { return nil }
func (*dirWatch) remove(string)           {}
func (*dirWatch) run(func(fsEvent)) error { return nil }
func (*dirWatch) close()                  {}
