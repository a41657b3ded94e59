package store

// segment is one file of the file store's log.
type segment struct {
	id   uint64
	f    File
	size int64
}
