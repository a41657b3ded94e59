package store

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// FS is all the file store asks of a file system, so that tests can put a
// faulty one underneath (package faultfs): lost unsynced writes, torn
// writes, flipped bits, a full disk. Names are paths as the os package
// takes them.
type FS interface {
	// OpenFile is os.OpenFile.
	OpenFile(name string, flag int, perm fs.FileMode) (File, error)
	Remove(name string) error
	RemoveAll(path string) error
	// Rename replaces newname if it exists (atomically on POSIX and NTFS).
	Rename(oldname, newname string) error
	MkdirAll(path string, perm fs.FileMode) error
	ReadDir(name string) ([]fs.DirEntry, error)
	Stat(name string) (fs.FileInfo, error)
	// SyncDir makes the directory's entries (files created, renamed or
	// removed in it) durable: on Linux a file's data may survive a crash
	// while its name does not, unless its directory is fsynced.
	SyncDir(name string) error
}

// File is an open file. The store writes at explicit offsets (it knows
// each segment's size) and never relies on the file position.
type File interface {
	io.ReaderAt
	io.WriterAt
	// Sync is fsync: what was written is on stable storage when it
	// returns.
	Sync() error
	Truncate(size int64) error
	Stat() (fs.FileInfo, error)
	Close() error
}

// OSFS is the real file system.
func OSFS() FS { return osFS{} }

type osFS struct{}

func (osFS) OpenFile(name string, flag int, perm fs.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return f, nil
}

func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) RemoveAll(path string) error                  { return os.RemoveAll(path) }
func (osFS) Rename(oldname, newname string) error         { return os.Rename(oldname, newname) }
func (osFS) MkdirAll(path string, perm fs.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) ReadDir(name string) ([]fs.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Stat(name string) (fs.FileInfo, error)        { return os.Stat(name) }
func (osFS) SyncDir(name string) error                    { return syncDir(filepath.Clean(name)) }
