package store

import "fmt"

// OpenFileStoreSegMax opens a file store whose segments roll at segMax
// bytes, so that tests make many segments out of few messages.
func OpenFileStoreSegMax(fsys FS, dir string, cfg Config, segMax int64) (Store, error) {
	return openFileStore(fsys, dir, cfg, fileOpts{segMax: segMax})
}

// DecodeRecord is the record decoder, for the fuzz targets.
func DecodeRecord(b []byte) (kind byte, seq uint64, length int, err error) {
	h, err := decodeRecord(b)
	return h.kind, h.seq, int(h.length), err
}

// AppendMsgRecord encodes a message record.
func AppendMsgRecord(dst []byte, seq uint64, ts, ttl int64, subj string, hdr, data []byte) []byte {
	return appendRecord(dst, kindMsg, seq, ts, ttl, subj, hdr, data)
}

const RecHdrLen = recHdrLen

// DumpLog lists the records of every segment in dir, for debugging.
func DumpLog(fsys FS, dir string) string {
	var out []byte
	entries, _ := fsys.ReadDir(dir)
	for _, e := range entries {
		if _, ok := parseSegName(e.Name()); !ok {
			continue
		}
		f, err := fsys.OpenFile(dir+"/"+e.Name(), 0, 0)
		if err != nil {
			continue
		}
		b, _ := readAll(f, nil)
		f.Close()
		out = append(out, e.Name()+":"...)
		for off := 0; off < len(b); {
			h, err := decodeRecord(b[off:])
			if err != nil {
				out = append(out, fmt.Sprintf(" BAD@%d(%d left)", off, len(b)-off)...)
				break
			}
			out = append(out, fmt.Sprintf(" %d:%d", h.kind, h.seq)...)
			if h.kind == kindState {
				out = append(out, fmt.Sprintf("(first %d)", h.a)...)
			}
			off += int(h.length)
		}
		out = append(out, '\n')
	}
	return string(out)
}
