//go:build windows

package store

import (
	"errors"
	"os"
	"syscall"
)

// syncDir only checks that the directory exists: Go cannot fsync a
// directory on Windows (os.Open gives a read-only handle, and
// FlushFileBuffers needs a writable one). NTFS journals its metadata, so a
// created or renamed name survives a crash once the journal is flushed,
// which the next file Sync on the volume forces; the store always Syncs a
// file after creating or renaming it.
func syncDir(name string) error {
	_, err := os.Stat(name)
	return err
}

// isNoSpace says whether a write failed because the disk is full
// (ERROR_DISK_FULL, ERROR_HANDLE_DISK_FULL), or a test's fault FS says so.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.Errno(112)) || errors.Is(err, syscall.Errno(39)) || errors.Is(err, syscall.ENOSPC)
}
