package store

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// segment is one file of the file store's log. Segments are numbered in
// the order they were made; records in them are in log order. Only the
// last one (the tail) is written to, except by EraseMsg.
type segment struct {
	id   uint64
	path string
	f    File
	// size is the end of the last whole record: the next write goes
	// there, whatever a failed write may have left beyond it.
	size int64
	// maxSeq is the highest sequence the segment may hold a message of
	// (or a lost one): once the stream's first sequence is above it, and
	// above every earlier segment's, the segment can go.
	maxSeq uint64
	// garbage: a failed write may have left bytes past size that a
	// truncate did not remove; the next successful write retries.
	garbage bool
	closed  bool
}

const segSuffix = ".seg"

func segPath(dir string, id uint64) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", id, segSuffix))
}

func parseSegName(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, segSuffix)
	if !ok || len(base) != 20 {
		return 0, false
	}
	id, err := strconv.ParseUint(base, 10, 64)
	return id, err == nil && id > 0
}

func (s *segment) name() string { return filepath.Base(s.path) }

// readAll reads a segment's whole file into buf (grown as needed).
func readAll(f File, buf []byte) ([]byte, error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	n := fi.Size()
	if int64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := f.ReadAt(buf, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return buf, nil
}

// createSegment makes a new segment file whose first record is first
// (the stream's state at that point of the log). The caller syncs it and
// the directory.
func createSegment(fsys FS, dir string, id uint64, first []byte) (*segment, error) {
	path := segPath(dir, id)
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o640)
	if err != nil {
		return nil, err
	}
	if _, err := f.WriteAt(first, 0); err != nil {
		f.Close()
		fsys.Remove(path)
		return nil, err
	}
	return &segment{id: id, path: path, f: f, size: int64(len(first))}, nil
}
