package store

import (
	"errors"
	"time"
)

// StorageType is where a stream keeps its messages.
type StorageType int

const (
	FileStorage StorageType = iota
	MemoryStorage
)

// DiscardPolicy says what a full stream does with a new message.
type DiscardPolicy int

const (
	DiscardOld DiscardPolicy = iota // remove the oldest messages to make room
	DiscardNew                      // refuse the new message (ErrMaxMsgs, ErrMaxBytes, …)
)

// Config is what a store enforces. Zero values of the Max fields mean "no
// limit" as do negative ones (the API's -1).
type Config struct {
	Name    string
	Storage StorageType

	MaxMsgs           int64
	MaxBytes          int64
	MaxAge            time.Duration
	MaxMsgsPerSubject int64
	MaxMsgSize        int32
	Discard           DiscardPolicy
	// DiscardNewPerSubject refuses a message whose subject already holds
	// MaxMsgsPerSubject messages (with DiscardNew).
	DiscardNewPerSubject bool
	// AllowMsgTTL lets StoreMsg take a per-message TTL.
	AllowMsgTTL bool

	// SyncAlways: StoreMsg returns once the message is fsynced (the
	// default). Otherwise the file store fsyncs every SyncInterval, as
	// nats-server does by default, and an OS crash may lose what was
	// acknowledged in between.
	SyncAlways   bool
	SyncInterval time.Duration
}

// StoreMsg is one stored message. Load functions fill the one they are
// given (nil: a new one), so that a hot loop reuses it.
type StoreMsg struct {
	Subject string
	Header  []byte
	Data    []byte
	Seq     uint64
	Time    int64 // Unix nanoseconds, set by StoreMsg
	// TTL is the message's own time to live in seconds (0: none).
	TTL int64

	// buf holds Header and Data of a loaded message, reused by the next
	// load into the same StoreMsg so that a hot loop does not allocate.
	buf []byte
	// ra: what the file store read ahead for the next loads into the
	// same StoreMsg (a consumer delivering in order); Header and Data may
	// point into it.
	ra readAhead
}

// SimpleState is how many messages match a filter, and the first and last
// of them.
type SimpleState struct {
	Msgs  uint64
	First uint64
	Last  uint64
}

// StreamState is a stream's totals. Deleted lists the sequences between
// FirstSeq and LastSeq that are gone (interior deletes), when asked for.
type StreamState struct {
	Msgs        uint64
	Bytes       uint64
	FirstSeq    uint64
	FirstTime   time.Time
	LastSeq     uint64
	LastTime    time.Time
	NumSubjects int
	NumDeleted  int
	Deleted     []uint64
	Consumers   int
	// Lost lists what the store found corrupt or cut off (it never serves
	// it as data); nil when nothing was lost.
	Lost *LostData
}

// LostData is what a store could not read back: the messages' sequences
// and their total size.
type LostData struct {
	Msgs  []uint64
	Bytes uint64
	// Reason says what was found ("checksum mismatch in 1.blk at offset
	// 4096", "torn tail of 3.blk: 117 bytes cut").
	Reason string
}

// Store is one stream's message store. Its methods are safe for concurrent
// use.
type Store interface {
	// StoreMsg appends a message and returns its sequence and time
	// (Unix nanoseconds). With SyncAlways it is on disk when this
	// returns. A limit with DiscardNew gives ErrMaxMsgs, ErrMaxBytes,
	// ErrMaxMsgsPerSubject; a message over MaxMsgSize ErrMaxMsgSize; a
	// full disk ErrStoreFull (the message is not stored, nothing else is
	// damaged). ttl is the message's TTL in seconds (0: none; -1: never
	// expires even under MaxAge).
	StoreMsg(subject string, hdr, msg []byte, ttl int64) (seq uint64, ts int64, err error)
	// SkipMsgs advances the sequence past n numbers that hold nothing
	// (a mirror's or source's gaps).
	SkipMsgs(n uint64) error
	// StoreMsgAt appends a message restored from a backup, with the
	// sequence and time it had there: seq must be above the last
	// sequence (the numbers between are skipped, as SkipMsgs does); ts
	// (Unix nanoseconds) is kept unless it is before the last message's.
	// It is StoreMsg otherwise: the same limits, the same durability.
	StoreMsgAt(seq uint64, ts int64, subject string, hdr, msg []byte, ttl int64) error

	// LoadMsg returns message seq: ErrMsgNotFound if it was never stored
	// or was removed, ErrCorrupt if it is damaged.
	LoadMsg(seq uint64, sm *StoreMsg) (*StoreMsg, error)
	// LoadNextMsg returns the first message at or after start whose
	// subject matches one of filters (NATS wildcards; none or ">" is
	// every message); ErrMsgNotFound when there is none (yet).
	LoadNextMsg(filters []string, start uint64, sm *StoreMsg) (*StoreMsg, error)
	// LoadLastMsg returns the last message whose subject matches filter
	// (a subject or a wildcard).
	LoadLastMsg(filter string, sm *StoreMsg) (*StoreMsg, error)
	// LoadPrevMsg returns the last message at or before start.
	LoadPrevMsg(start uint64, sm *StoreMsg) (*StoreMsg, error)

	// RemoveMsg removes message seq; false if it was not there.
	RemoveMsg(seq uint64) (bool, error)
	// EraseMsg is RemoveMsg that also overwrites the bytes on disk.
	EraseMsg(seq uint64) (bool, error)
	// Purge removes messages, as nats-server's purge request does: with
	// an empty subject (or ">") every one, else those matching subject
	// (a wildcard too). With upTo > 1 only those below sequence upTo; with
	// keep > 0 it keeps the newest keep of them (across all the subjects
	// the filter matches; without a subject, the last keep sequences). It
	// returns how many it removed.
	Purge(subject string, upTo, keep uint64) (uint64, error)
	// Compact removes every message below seq (and moves the first
	// sequence to seq when the store is emptied).
	Compact(seq uint64) (uint64, error)
	// Truncate removes every message above seq.
	Truncate(seq uint64) error

	// SeqForTime is the first sequence stored at or after t.
	SeqForTime(t time.Time) uint64
	// FilteredState counts the messages matching filter from seq on.
	FilteredState(seq uint64, filter string) SimpleState
	// SubjectsState is, per subject matching filter, its count and
	// first and last sequences.
	SubjectsState(filter string) map[string]SimpleState
	// NumPending counts the messages matching any of filters from seq on;
	// with lastPerSubject only the last message of each subject counts.
	NumPending(seq uint64, filters []string, lastPerSubject bool) uint64

	// State is the store's totals; with deleted, the interior deletes too.
	State(deleted bool) StreamState
	// UpdateConfig applies new limits, removing what they no longer
	// allow.
	UpdateConfig(cfg Config) error
	// OnRemove registers a function told of every message the store
	// removed by itself (limits, age, TTL), so that the stream can update
	// its consumers. It is called without the store's lock held.
	OnRemove(func(seq uint64, subject string))

	// ConsumerStore opens (or creates) a consumer's state store. A file
	// store's consumer whose saved state fails its checksum gives an error
	// wrapping ErrCorrupt (the stream decides: delete and recreate).
	ConsumerStore(name string, cfg ConsumerConfig) (ConsumerStore, error)

	// Flush makes everything stored so far durable (SyncInterval stores).
	Flush() error
	// Stop flushes and closes the store; Delete removes it entirely.
	Stop() error
	Delete() error
}

// AckPolicy is a consumer's ack policy, in nats-server's order. The
// consumer store needs it: an ack under AckAll acknowledges everything up
// to it, and an AckNone consumer's deliveries are never pending.
type AckPolicy int

const (
	AckNone AckPolicy = iota
	AckAll
	AckExplicit
)

// ConsumerConfig is what a consumer store must know of its consumer.
type ConsumerConfig struct {
	AckPolicy AckPolicy
}

// SequencePair is a consumer's sequence and the stream's for one delivery.
type SequencePair struct {
	Consumer uint64
	Stream   uint64
}

// Pending is one delivered, unacknowledged message.
type Pending struct {
	// Sequence is the consumer sequence of its first delivery: a
	// redelivery keeps it, so that the ack floor advances in delivery
	// order whichever delivery the ack names (as nats-server does).
	Sequence  uint64
	Timestamp int64 // when it was last delivered, Unix nanoseconds
}

// ConsumerState is what a consumer must remember across a restart.
type ConsumerState struct {
	Delivered SequencePair
	AckFloor  SequencePair
	// Pending is keyed by stream sequence (explicit and all ack
	// policies).
	Pending map[uint64]*Pending
	// Redelivered is the delivery count minus one, by stream sequence,
	// for messages delivered more than once.
	Redelivered map[uint64]uint64
}

// ConsumerStore keeps one consumer's state. Updates are made durable in
// batches (group commit) and on Stop; after a crash, a consumer may
// redeliver what it delivered or had acked just before (at-least-once),
// never skip what it did not.
type ConsumerStore interface {
	// UpdateDelivered records a delivery: consumer seq dseq of stream seq
	// sseq, the dc'th delivery of it, at ts.
	UpdateDelivered(dseq, sseq, dc uint64, ts int64) error
	// UpdateAcks records the ack of consumer seq dseq, stream seq sseq
	// (under AckAll, of everything up to them). An ack of what is not
	// pending gives ErrMsgNotFound; AckNone gives ErrNoAckPolicy.
	UpdateAcks(dseq, sseq uint64) error
	// SetState replaces the whole state (a reset, a restore).
	SetState(st *ConsumerState) error
	State() (*ConsumerState, error)
	Stop() error
	Delete() error
}

// Errors the store returns; the stream maps them to API errors.
var (
	ErrMsgNotFound       = errors.New("no message found")
	ErrCorrupt           = errors.New("message is corrupt")
	ErrMaxMsgs           = errors.New("maximum messages exceeded")
	ErrMaxBytes          = errors.New("maximum bytes exceeded")
	ErrMaxMsgsPerSubject = errors.New("maximum messages per subject exceeded")
	ErrMaxMsgSize        = errors.New("message size exceeds maximum allowed")
	ErrStoreFull         = errors.New("storage is full")
	ErrStoreClosed       = errors.New("store is closed")
	ErrBadTTL            = errors.New("invalid per-message TTL")
	ErrNoAckPolicy       = errors.New("ack policy is none")
	ErrBadConsumerName   = errors.New("invalid consumer name")
)

// The constructors, implemented in memstore.go and filestore.go:
//
//	NewMemStore(cfg Config) (Store, error)
//	OpenFileStore(fsys FS, dir string, cfg Config) (Store, error)
//
// A file store's directory holds only its own files; the stream's config
// is the caller's (it writes it beside, through the same FS).
