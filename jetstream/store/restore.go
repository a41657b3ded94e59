package store

import "fmt"

// Restoring a backup (package jetstream's snapshot.go) puts every message
// back with the sequence and time it had: consumers' positions, interior
// deletes, max_age and per-message TTLs all stay true.

func (fs *fileStore) StoreMsgAt(seq uint64, ts int64, subj string, hdr, msg []byte, ttl int64) error {
	fs.mu.RLock()
	last := fs.nextSeq
	fs.mu.RUnlock()
	return storeAt(fs, fs.storeMsg, last, seq, ts, subj, hdr, msg, ttl)
}

func (ms *memStore) StoreMsgAt(seq uint64, ts int64, subj string, hdr, msg []byte, ttl int64) error {
	ms.mu.RLock()
	last := ms.ix.last
	ms.mu.RUnlock()
	return storeAt(ms, ms.storeMsg, last, seq, ts, subj, hdr, msg, ttl)
}

type storeFn func(subj string, hdr, msg []byte, ttl, at int64) (uint64, int64, error)

func storeAt(st Store, store storeFn, last, seq uint64, ts int64, subj string, hdr, msg []byte, ttl int64) error {
	if seq <= last {
		return fmt.Errorf("store: message %d is not above the last sequence %d", seq, last)
	}
	if err := st.SkipMsgs(seq - last - 1); err != nil {
		return err
	}
	got, _, err := store(subj, hdr, msg, ttl, ts)
	if err != nil {
		return err
	}
	if got != seq {
		// Someone else stored in between: the caller must be the only
		// writer (a restore stages into a store nobody else sees).
		return fmt.Errorf("store: message %d stored as %d", seq, got)
	}
	return nil
}
