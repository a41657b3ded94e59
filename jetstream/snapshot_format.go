package jetstream

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/s2"

	"github.com/natsd/natsd/jetstream/store"
	"github.com/natsd/natsd/server/subject"
)

// A backup (what STREAM.SNAPSHOT sends and STREAM.RESTORE takes) is an
// S2 stream holding an archive in nats-server 2.15's format ("NATSARC1"),
// so that a backup taken from natsd restores into nats-server and one
// taken from nats-server restores into natsd. The format was read off
// backups nats-server v2.15.2 made, and checked by restoring archives
// natsd wrote into it (jetstream/testdata/snapshot-reference-v2.15.2.md):
//
//	"NATSARC1"
//	entry*: name length  uvarint
//	        time         zigzag varint (Unix ns)
//	        sequence     uvarint (0: a file, not a message)
//	        header len   uvarint
//	        data len     uvarint
//	        name | header | data
//	end:    an entry of zeros (five zero bytes); nothing after it
//
// The files come first: "state.json" (the stream's state: its first and
// last sequences, so that a restore keeps a purged stream's sequence and
// the deletes at its end), then "consumers/<name>" ({config, state}) as
// many as state.json's consumer_count says; then the messages, by
// ascending sequence, name being the subject. The archive carries no
// checksum of its own: S2's per-block CRC-32C finds damage, and the end
// entry and the order checks find a backup cut short.
//
// nats-server before 2.15 sent a tar of its file-store directory
// ("stream.tar.s2" in the nats CLI's backup folder); natsd cannot read that
// layout and says so.

const (
	arcMagic        = "NATSARC1"
	arcStateFile    = "state.json"
	arcConsumerDir  = "consumers/"
	arcMaxName      = 1 << 16   // far above any subject a client can publish
	arcMaxFile      = 16 << 20  // state.json, a consumer
	arcMaxMsg       = 128 << 20 // far above any message natsd takes (max_payload ≤ 64 MiB)
	arcMaxConsumers = 1 << 20
)

// arcState is state.json: nats-server's stream state. Only the sequences
// and the consumer count matter to a restore; the rest is kept for
// nats-server, which reads the same file.
type arcState = StreamState

// arcConsumer is a consumers/<name> file.
type arcConsumer struct {
	Config ConsumerConfig   `json:"config"`
	State  arcConsumerState `json:"state"`
}

// arcConsumerState is nats-server's consumer state encoding: pending and
// redelivered are keyed by stream sequence (as JSON object keys), a
// pending entry's fields are capitalised.
type arcConsumerState struct {
	Delivered   arcSeqPair             `json:"delivered"`
	AckFloor    arcSeqPair             `json:"ack_floor"`
	Pending     map[string]*arcPending `json:"pending,omitempty"`
	Redelivered map[string]uint64      `json:"redelivered,omitempty"`
}

type arcSeqPair struct {
	Consumer uint64 `json:"consumer_seq"`
	Stream   uint64 `json:"stream_seq"`
}

type arcPending struct {
	Sequence  uint64 `json:"Sequence"`
	Timestamp int64  `json:"Timestamp"`
}

func toArcState(st *store.ConsumerState) arcConsumerState {
	out := arcConsumerState{
		Delivered: arcSeqPair{st.Delivered.Consumer, st.Delivered.Stream},
		AckFloor:  arcSeqPair{st.AckFloor.Consumer, st.AckFloor.Stream},
	}
	if len(st.Pending) > 0 {
		out.Pending = make(map[string]*arcPending, len(st.Pending))
		for s, p := range st.Pending {
			out.Pending[strconv.FormatUint(s, 10)] = &arcPending{Sequence: p.Sequence, Timestamp: p.Timestamp}
		}
	}
	if len(st.Redelivered) > 0 {
		out.Redelivered = make(map[string]uint64, len(st.Redelivered))
		for s, n := range st.Redelivered {
			out.Redelivered[strconv.FormatUint(s, 10)] = n
		}
	}
	return out
}

// toStore converts a consumer's state back, refusing what is not a
// sequence.
func (s *arcConsumerState) toStore() (*store.ConsumerState, error) {
	st := &store.ConsumerState{
		Delivered: store.SequencePair{Consumer: s.Delivered.Consumer, Stream: s.Delivered.Stream},
		AckFloor:  store.SequencePair{Consumer: s.AckFloor.Consumer, Stream: s.AckFloor.Stream},
	}
	if len(s.Pending) > 0 {
		st.Pending = make(map[uint64]*store.Pending, len(s.Pending))
		for k, p := range s.Pending {
			seq, err := strconv.ParseUint(k, 10, 64)
			if err != nil || seq == 0 || p == nil {
				return nil, fmt.Errorf("pending entry %q is not a sequence", k)
			}
			st.Pending[seq] = &store.Pending{Sequence: p.Sequence, Timestamp: p.Timestamp}
		}
	}
	if len(s.Redelivered) > 0 {
		st.Redelivered = make(map[uint64]uint64, len(s.Redelivered))
		for k, n := range s.Redelivered {
			seq, err := strconv.ParseUint(k, 10, 64)
			if err != nil || seq == 0 {
				return nil, fmt.Errorf("redelivered entry %q is not a sequence", k)
			}
			st.Redelivered[seq] = n
		}
	}
	return st, nil
}

// archiveWriter writes an archive (uncompressed) to w.
type archiveWriter struct {
	w       io.Writer
	buf     []byte
	lastSeq uint64
}

func newArchiveWriter(w io.Writer) (*archiveWriter, error) {
	if _, err := io.WriteString(w, arcMagic); err != nil {
		return nil, err
	}
	return &archiveWriter{w: w}, nil
}

func (a *archiveWriter) entry(name string, ts int64, seq uint64, hdr, data []byte) error {
	b := binary.AppendUvarint(a.buf[:0], uint64(len(name)))
	b = binary.AppendVarint(b, ts)
	b = binary.AppendUvarint(b, seq)
	b = binary.AppendUvarint(b, uint64(len(hdr)))
	b = binary.AppendUvarint(b, uint64(len(data)))
	b = append(b, name...)
	b = append(b, hdr...)
	b = append(b, data...)
	a.buf = b
	_, err := a.w.Write(b)
	return err
}

// file writes state.json or a consumer (as JSON), stamped with ts.
func (a *archiveWriter) file(name string, ts time.Time, v any) error {
	j, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return a.entry(name, ts.UnixNano(), 0, nil, j)
}

func (a *archiveWriter) message(sm *storeMsg) error {
	if sm.Seq <= a.lastSeq {
		return fmt.Errorf("backup: message %d after %d", sm.Seq, a.lastSeq)
	}
	a.lastSeq = sm.Seq
	return a.entry(sm.Subject, sm.Time, sm.Seq, sm.Header, sm.Data)
}

func (a *archiveWriter) end() error {
	return a.entry("", 0, 0, nil, nil)
}

// errNotABackup is what a restore of something else says, with what it
// is when natsd can tell.
var errNotABackup = errors.New("not a stream backup")

// archiveReader reads an archive (uncompressed), checking as it goes all
// that can be checked: the magic, the entries' order and sizes, the
// messages' sequences, and the end.
type archiveReader struct {
	r   *bufio.Reader
	buf []byte
	n   int // entries read, for the errors

	state     *arcState
	consumers int
	messages  uint64
	lastSeq   uint64
	ended     bool
}

// openArchive reads the magic and state.json.
func openArchive(r io.Reader) (*archiveReader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(262)
	if len(head) >= len(arcMagic) && string(head[:len(arcMagic)]) == arcMagic {
		_, _ = br.Discard(len(arcMagic))
		a := &archiveReader{r: br}
		if err := a.readState(); err != nil {
			return nil, err
		}
		return a, nil
	}
	if len(head) == 262 && string(head[257:262]) == "ustar" {
		return nil, fmt.Errorf("%w natsd can read: it is a tar of nats-server's file store (a backup of nats-server before 2.15, stream.tar.s2); restore it into nats-server, or back it up again from nats-server 2.15 or later", errNotABackup)
	}
	if err != nil && len(head) < len(arcMagic) && strings.HasPrefix(arcMagic, string(head)) {
		return nil, fmt.Errorf("%w: %v", errNotABackup, readErr(err))
	}
	return nil, fmt.Errorf("%w: it starts with %q, not %q", errNotABackup, head[:min(len(head), len(arcMagic))], arcMagic)
}

// readErr says what a read that came short means: the end of the data,
// or S2's "corrupt input" (its block checksums, or no S2 at all).
func readErr(err error) error {
	switch {
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the backup is truncated")
	case errors.Is(err, s2.ErrCorrupt) || errors.Is(err, s2.ErrUnsupported) || errors.Is(err, s2.ErrCRC) || errors.Is(err, s2.ErrTooLarge):
		return fmt.Errorf("the backup is damaged or truncated (%v)", err)
	}
	return err
}

// arcEntry is one entry read; its slices are valid until the next read.
type arcEntry struct {
	name      string
	ts        int64
	seq       uint64
	hdr, data []byte
	end       bool
}

func (a *archiveReader) where() string {
	if a.lastSeq > 0 {
		return fmt.Sprintf("entry %d (after message %d)", a.n, a.lastSeq)
	}
	return fmt.Sprintf("entry %d", a.n)
}

// read reads one entry.
func (a *archiveReader) read() (*arcEntry, error) {
	a.n++
	var f [5]uint64
	for i := range f {
		var v uint64
		var err error
		if i == 1 {
			var s int64
			s, err = binary.ReadVarint(a.r)
			v = uint64(s)
		} else {
			v, err = binary.ReadUvarint(a.r)
		}
		if err != nil {
			if i == 0 && errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("the backup is truncated: it stops after %d messages (last sequence %d) without its end", a.messages, a.lastSeq)
			}
			if rerr := readErr(err); rerr != err {
				return nil, rerr
			}
			return nil, fmt.Errorf("backup damaged: %s: %v", a.where(), err) // a varint overflows
		}
		f[i] = v
	}
	e := &arcEntry{ts: int64(f[1]), seq: f[2]}
	nl, hl, dl := f[0], f[3], f[4]
	if nl == 0 && e.ts == 0 && e.seq == 0 && hl == 0 && dl == 0 {
		e.end = true
		return e, nil
	}
	limit := uint64(arcMaxMsg)
	if e.seq == 0 {
		limit = arcMaxFile
	}
	if nl == 0 || nl > arcMaxName || hl > limit || dl > limit || hl+dl > limit {
		return nil, fmt.Errorf("backup damaged: %s has sizes %d, %d, %d", a.where(), nl, hl, dl)
	}
	// Read in steps: a damaged size costs memory only as the data to
	// fill it actually arrives.
	need := int(nl + hl + dl)
	b := a.buf[:0]
	for len(b) < need {
		step := min(need-len(b), 1<<20)
		b = slices.Grow(b, step)
		m, err := io.ReadFull(a.r, b[len(b):len(b)+step])
		b = b[:len(b)+m]
		if err != nil {
			return nil, readErr(err)
		}
	}
	a.buf = b
	e.name = string(b[:nl])
	e.hdr = b[nl : nl+hl]
	e.data = b[nl+hl:]
	return e, nil
}

// readState reads the first entry, which must be state.json.
func (a *archiveReader) readState() error {
	e, err := a.read()
	if err != nil {
		return err
	}
	if e.end || e.seq != 0 || e.name != arcStateFile {
		return fmt.Errorf("backup damaged: it does not start with %s", arcStateFile)
	}
	st := new(arcState)
	if err := json.Unmarshal(e.data, st); err != nil {
		return fmt.Errorf("backup damaged: %s: %v", arcStateFile, err)
	}
	if st.Consumers < 0 || st.Consumers > arcMaxConsumers || st.LastSeq > 1<<63 || st.FirstSeq > st.LastSeq+1 {
		return fmt.Errorf("backup damaged: %s has first sequence %d, last %d, %d consumers", arcStateFile, st.FirstSeq, st.LastSeq, st.Consumers)
	}
	a.state = st
	return nil
}

// arcRecord is a consumer or a message read from an archive.
type arcRecord struct {
	consumerName string
	consumer     *arcConsumer
	msg          storeMsg // Header and Data valid until the next call
}

// next reads the next consumer or message; io.EOF after the end entry.
func (a *archiveReader) next() (*arcRecord, error) {
	if a.ended {
		return nil, io.EOF
	}
	e, err := a.read()
	if err != nil {
		return nil, err
	}
	switch {
	case e.end:
		if a.consumers != a.state.Consumers {
			return nil, fmt.Errorf("backup damaged: it ends with %d of its %d consumers", a.consumers, a.state.Consumers)
		}
		if _, err := a.r.ReadByte(); err == nil {
			return nil, errors.New("backup damaged: data after its end")
		} else if !errors.Is(err, io.EOF) {
			return nil, readErr(err)
		}
		a.ended = true
		return nil, io.EOF
	case e.seq == 0:
		name, ok := strings.CutPrefix(e.name, arcConsumerDir)
		if !ok {
			return nil, fmt.Errorf("backup damaged: %s is a file %q natsd does not know", a.where(), e.name)
		}
		if a.consumers >= a.state.Consumers || a.messages > 0 {
			return nil, fmt.Errorf("backup damaged: %s is consumer %q beyond the %d consumers of %s", a.where(), name, a.state.Consumers, arcStateFile)
		}
		c := new(arcConsumer)
		if err := json.Unmarshal(e.data, c); err != nil {
			return nil, fmt.Errorf("backup damaged: consumer %q: %v", name, err)
		}
		if !validName(name) {
			return nil, fmt.Errorf("backup damaged: consumer name %q", name)
		}
		a.consumers++
		return &arcRecord{consumerName: name, consumer: c}, nil
	default:
		if a.consumers != a.state.Consumers {
			return nil, fmt.Errorf("backup damaged: %s is a message, but only %d of %d consumers came before it", a.where(), a.consumers, a.state.Consumers)
		}
		if e.seq <= a.lastSeq || e.seq > a.state.LastSeq || e.seq < a.state.FirstSeq {
			return nil, fmt.Errorf("backup damaged: %s is message %d, out of order (sequences %d to %d)", a.where(), e.seq, max(a.lastSeq+1, a.state.FirstSeq), a.state.LastSeq)
		}
		if !subject.ValidLiteral(e.name) {
			return nil, fmt.Errorf("backup damaged: message %d has subject %q", e.seq, e.name)
		}
		if len(e.hdr) > 0 && (!strings.HasPrefix(string(e.hdr), "NATS/1.0") || !strings.HasSuffix(string(e.hdr), "\r\n\r\n")) {
			return nil, fmt.Errorf("backup damaged: message %d has a header that is not a NATS header", e.seq)
		}
		a.messages++
		a.lastSeq = e.seq
		return &arcRecord{msg: storeMsg{Subject: e.name, Seq: e.seq, Time: e.ts, Header: e.hdr, Data: e.data}}, nil
	}
}

// openBackup reads a backup as sent: S2-compressed.
func openBackup(r io.Reader) (*archiveReader, error) {
	return openArchive(s2.NewReader(r))
}
