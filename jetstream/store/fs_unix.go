//go:build !windows

package store

import "os"

// syncDir fsyncs a directory, which POSIX requires for a new or renamed
// file's name to survive a crash.
func syncDir(name string) error {
	d, err := os.Open(name)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
