package jetstream

import (
	"encoding/json"
	"fmt"
	"time"
)

// The JSON of the $JS.API: field names and order are nats-server v2.15.2's
// (recorded in ../shared/testdata/jsapi and by creating streams and
// consumers with every field set), because clients and tools compare and
// print them.

// RetentionPolicy says when a stream's messages go.
type RetentionPolicy int

const (
	LimitsPolicy RetentionPolicy = iota
	InterestPolicy
	WorkQueuePolicy
)

// DiscardPolicy is store.DiscardPolicy as the API spells it.
type DiscardPolicy int

const (
	DiscardOld DiscardPolicy = iota
	DiscardNew
)

// StorageType: file or memory.
type StorageType int

const (
	FileStorage StorageType = iota
	MemoryStorage
)

// DeliverPolicy is where a consumer starts.
type DeliverPolicy int

const (
	DeliverAll DeliverPolicy = iota
	DeliverLast
	DeliverNew
	DeliverByStartSequence
	DeliverByStartTime
	DeliverLastPerSubject
)

// AckPolicy is what a consumer's messages need.
type AckPolicy int

const (
	AckNone AckPolicy = iota
	AckAll
	AckExplicit
)

// ReplayPolicy: as fast as possible, or at the pace they were stored.
type ReplayPolicy int

const (
	ReplayInstant ReplayPolicy = iota
	ReplayOriginal
)

// enumJSON maps an enum to and from its JSON string.
type enumJSON[T ~int] struct{ names []string }

func (e enumJSON[T]) marshal(v T) ([]byte, error) {
	if int(v) < 0 || int(v) >= len(e.names) {
		return nil, fmt.Errorf("can not marshal %v", int(v))
	}
	return json.Marshal(e.names[v])
}

// unmarshal accepts the names; anything else is nats-server's error text,
// which the API wraps as "invalid JSON: …".
func (e enumJSON[T]) unmarshal(b []byte, v *T) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		for i, n := range e.names {
			if s == n {
				*v = T(i)
				return nil
			}
		}
	}
	return fmt.Errorf("can not unmarshal %q", string(b))
}

var (
	retentionJSON = enumJSON[RetentionPolicy]{[]string{"limits", "interest", "workqueue"}}
	discardJSON   = enumJSON[DiscardPolicy]{[]string{"old", "new"}}
	storageJSON   = enumJSON[StorageType]{[]string{"file", "memory"}}
	deliverJSON   = enumJSON[DeliverPolicy]{[]string{"all", "last", "new", "by_start_sequence", "by_start_time", "last_per_subject"}}
	ackJSON       = enumJSON[AckPolicy]{[]string{"none", "all", "explicit"}}
	replayJSON    = enumJSON[ReplayPolicy]{[]string{"instant", "original"}}
)

func (p RetentionPolicy) MarshalJSON() ([]byte, error)  { return retentionJSON.marshal(p) }
func (p *RetentionPolicy) UnmarshalJSON(b []byte) error { return retentionJSON.unmarshal(b, p) }
func (p DiscardPolicy) MarshalJSON() ([]byte, error)    { return discardJSON.marshal(p) }
func (p *DiscardPolicy) UnmarshalJSON(b []byte) error   { return discardJSON.unmarshal(b, p) }
func (p StorageType) MarshalJSON() ([]byte, error)      { return storageJSON.marshal(p) }
func (p *StorageType) UnmarshalJSON(b []byte) error     { return storageJSON.unmarshal(b, p) }
func (p DeliverPolicy) MarshalJSON() ([]byte, error)    { return deliverJSON.marshal(p) }
func (p *DeliverPolicy) UnmarshalJSON(b []byte) error   { return deliverJSON.unmarshal(b, p) }
func (p AckPolicy) MarshalJSON() ([]byte, error)        { return ackJSON.marshal(p) }
func (p *AckPolicy) UnmarshalJSON(b []byte) error       { return ackJSON.unmarshal(b, p) }
func (p ReplayPolicy) MarshalJSON() ([]byte, error)     { return replayJSON.marshal(p) }
func (p *ReplayPolicy) UnmarshalJSON(b []byte) error    { return replayJSON.unmarshal(b, p) }
func (p RetentionPolicy) String() string                { return retentionJSON.names[p] }
func (p StorageType) String() string                    { return storageJSON.names[p] }
func (p AckPolicy) String() string                      { return ackJSON.names[p] }
func (p DeliverPolicy) String() string                  { return deliverJSON.names[p] }

// StreamConfig is a stream's configuration.
type StreamConfig struct {
	Name                   string            `json:"name"`
	Description            string            `json:"description,omitempty"`
	Subjects               []string          `json:"subjects,omitempty"`
	Retention              RetentionPolicy   `json:"retention"`
	MaxConsumers           int               `json:"max_consumers"`
	MaxMsgs                int64             `json:"max_msgs"`
	MaxBytes               int64             `json:"max_bytes"`
	MaxAge                 time.Duration     `json:"max_age"`
	MaxMsgsPerSubject      int64             `json:"max_msgs_per_subject"`
	MaxMsgSize             int32             `json:"max_msg_size"`
	Discard                DiscardPolicy     `json:"discard"`
	Storage                StorageType       `json:"storage"`
	Replicas               int               `json:"num_replicas"`
	NoAck                  bool              `json:"no_ack,omitempty"`
	Duplicates             time.Duration     `json:"duplicate_window,omitempty"`
	Placement              *Placement        `json:"placement,omitempty"`
	Mirror                 *StreamSource     `json:"mirror,omitempty"`
	Sources                []*StreamSource   `json:"sources,omitempty"`
	Compression            string            `json:"compression"`
	FirstSeq               uint64            `json:"first_seq,omitempty"`
	SubjectTransform       *SubjectTransform `json:"subject_transform,omitempty"`
	RePublish              *RePublish        `json:"republish,omitempty"`
	AllowDirect            bool              `json:"allow_direct"`
	MirrorDirect           bool              `json:"mirror_direct"`
	DiscardNewPerSubject   bool              `json:"discard_new_per_subject,omitempty"`
	Sealed                 bool              `json:"sealed"`
	DenyDelete             bool              `json:"deny_delete"`
	DenyPurge              bool              `json:"deny_purge"`
	AllowRollup            bool              `json:"allow_rollup_hdrs"`
	ConsumerLimits         ConsumerLimits    `json:"consumer_limits"`
	AllowMsgTTL            bool              `json:"allow_msg_ttl"`
	SubjectDeleteMarkerTTL time.Duration     `json:"subject_delete_marker_ttl,omitempty"`
	Metadata               map[string]string `json:"metadata,omitempty"`
}

// Placement is where a stream's replicas go (clustered JetStream).
type Placement struct {
	Cluster string   `json:"cluster,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	// Preferred names the server a step-down hands leadership to.
	Preferred string `json:"preferred,omitempty"`
}

// StreamSource is a mirror's or source's origin.
type StreamSource struct {
	Name              string             `json:"name"`
	OptStartSeq       uint64             `json:"opt_start_seq,omitempty"`
	OptStartTime      *time.Time         `json:"opt_start_time,omitempty"`
	FilterSubject     string             `json:"filter_subject,omitempty"`
	SubjectTransforms []SubjectTransform `json:"subject_transforms,omitempty"`
	External          *ExternalStream    `json:"external,omitempty"`
}

// ExternalStream is a source in another account or domain.
type ExternalStream struct {
	APIPrefix     string `json:"api"`
	DeliverPrefix string `json:"deliver"`
}

// SubjectTransform maps subjects as they enter.
type SubjectTransform struct {
	Source      string `json:"src"`
	Destination string `json:"dest"`
}

// RePublish publishes what a stream stores on another subject.
type RePublish struct {
	Source      string `json:"src,omitempty"`
	Destination string `json:"dest"`
	HeadersOnly bool   `json:"headers_only,omitempty"`
}

// ConsumerLimits are defaults and ceilings for the stream's consumers.
type ConsumerLimits struct {
	InactiveThreshold time.Duration `json:"inactive_threshold,omitempty"`
	MaxAckPending     int           `json:"max_ack_pending,omitempty"`
}

// StreamState is a stream's totals as the API shows them.
type StreamState struct {
	Msgs        uint64            `json:"messages"`
	Bytes       uint64            `json:"bytes"`
	FirstSeq    uint64            `json:"first_seq"`
	FirstTime   time.Time         `json:"first_ts"`
	LastSeq     uint64            `json:"last_seq"`
	LastTime    time.Time         `json:"last_ts"`
	NumSubjects int               `json:"num_subjects,omitempty"`
	Subjects    map[string]uint64 `json:"subjects,omitempty"`
	NumDeleted  int               `json:"num_deleted,omitempty"`
	Deleted     []uint64          `json:"deleted,omitempty"`
	Lost        *LostStreamData   `json:"lost,omitempty"`
	Consumers   int               `json:"consumer_count"`
}

// LostStreamData is what a stream could not read back (corruption).
type LostStreamData struct {
	Msgs  []uint64 `json:"msgs"`
	Bytes uint64   `json:"bytes"`
}

// ClusterInfo is a stream's (or consumer's) group: its leader and the
// other replicas, as nats-server shows them.
type ClusterInfo struct {
	Name        string      `json:"name,omitempty"`
	RaftGroup   string      `json:"raft_group,omitempty"`
	Leader      string      `json:"leader,omitempty"`
	LeaderSince *time.Time  `json:"leader_since,omitempty"`
	Replicas    []*PeerInfo `json:"replicas,omitempty"`
}

// PeerInfo is one replica that does not lead, as its leader sees it.
type PeerInfo struct {
	Name    string        `json:"name"`
	Current bool          `json:"current"`
	Offline bool          `json:"offline,omitempty"`
	Active  time.Duration `json:"active"`
	Lag     uint64        `json:"lag,omitempty"`
	Peer    string        `json:"peer"`
}

// StreamSourceInfo is a mirror's or source's progress.
type StreamSourceInfo struct {
	Name              string             `json:"name"`
	Lag               uint64             `json:"lag"`
	Active            time.Duration      `json:"active"`
	SubjectTransforms []SubjectTransform `json:"subject_transforms,omitempty"`
}

// StreamInfo is what STREAM.INFO, CREATE, UPDATE and LIST say of a stream.
type StreamInfo struct {
	Config    StreamConfig        `json:"config"`
	Created   time.Time           `json:"created"`
	State     StreamState         `json:"state"`
	Cluster   *ClusterInfo        `json:"cluster,omitempty"`
	Mirror    *StreamSourceInfo   `json:"mirror,omitempty"`
	Sources   []*StreamSourceInfo `json:"sources,omitempty"`
	TimeStamp time.Time           `json:"ts"`
}

// ConsumerConfig is a consumer's configuration.
type ConsumerConfig struct {
	Durable            string            `json:"durable_name,omitempty"`
	Name               string            `json:"name,omitempty"`
	Description        string            `json:"description,omitempty"`
	DeliverPolicy      DeliverPolicy     `json:"deliver_policy"`
	OptStartSeq        uint64            `json:"opt_start_seq,omitempty"`
	OptStartTime       *time.Time        `json:"opt_start_time,omitempty"`
	AckPolicy          AckPolicy         `json:"ack_policy"`
	AckWait            time.Duration     `json:"ack_wait,omitempty"`
	MaxDeliver         int               `json:"max_deliver,omitempty"`
	BackOff            []time.Duration   `json:"backoff,omitempty"`
	FilterSubject      string            `json:"filter_subject,omitempty"`
	FilterSubjects     []string          `json:"filter_subjects,omitempty"`
	ReplayPolicy       ReplayPolicy      `json:"replay_policy"`
	RateLimit          uint64            `json:"rate_limit_bps,omitempty"`
	SampleFrequency    string            `json:"sample_freq,omitempty"`
	MaxWaiting         int               `json:"max_waiting,omitempty"`
	MaxAckPending      int               `json:"max_ack_pending,omitempty"`
	FlowControl        bool              `json:"flow_control,omitempty"`
	HeadersOnly        bool              `json:"headers_only,omitempty"`
	MaxRequestBatch    int               `json:"max_batch,omitempty"`
	MaxRequestExpires  time.Duration     `json:"max_expires,omitempty"`
	MaxRequestMaxBytes int               `json:"max_bytes,omitempty"`
	DeliverSubject     string            `json:"deliver_subject,omitempty"`
	DeliverGroup       string            `json:"deliver_group,omitempty"`
	Heartbeat          time.Duration     `json:"idle_heartbeat,omitempty"`
	InactiveThreshold  time.Duration     `json:"inactive_threshold,omitempty"`
	Replicas           int               `json:"num_replicas"`
	MemoryStorage      bool              `json:"mem_storage,omitempty"`
	Metadata           map[string]string `json:"metadata,omitempty"`
	PauseUntil         *time.Time        `json:"pause_until,omitempty"`
	PriorityGroups     []string          `json:"priority_groups,omitempty"`
	PriorityPolicy     string            `json:"priority_policy,omitempty"`
	PinnedTTL          time.Duration     `json:"priority_timeout,omitempty"`
}

// SequenceInfo is a consumer's position: its sequence, the stream's, and
// when it last moved.
type SequenceInfo struct {
	Consumer uint64     `json:"consumer_seq"`
	Stream   uint64     `json:"stream_seq"`
	Last     *time.Time `json:"last_active,omitempty"`
}

// ConsumerInfo is what CONSUMER.INFO, CREATE and LIST say of a consumer.
type ConsumerInfo struct {
	Stream         string          `json:"stream_name"`
	Name           string          `json:"name"`
	Created        time.Time       `json:"created"`
	Config         *ConsumerConfig `json:"config,omitempty"`
	Delivered      SequenceInfo    `json:"delivered"`
	AckFloor       SequenceInfo    `json:"ack_floor"`
	NumAckPending  int             `json:"num_ack_pending"`
	NumRedelivered int             `json:"num_redelivered"`
	NumWaiting     int             `json:"num_waiting"`
	NumPending     uint64          `json:"num_pending"`
	Cluster        *ClusterInfo    `json:"cluster,omitempty"`
	PushBound      bool            `json:"push_bound,omitempty"`
	Paused         bool            `json:"paused,omitempty"`
	PauseRemaining time.Duration   `json:"pause_remaining,omitempty"`
	TimeStamp      time.Time       `json:"ts"`
}

// AccountLimits are an account's JetStream limits (-1: none).
type AccountLimits struct {
	MaxMemory            int64 `json:"max_memory"`
	MaxStore             int64 `json:"max_storage"`
	MaxStreams           int   `json:"max_streams"`
	MaxConsumers         int   `json:"max_consumers"`
	MaxAckPending        int   `json:"max_ack_pending"`
	MemoryMaxStreamBytes int64 `json:"memory_max_stream_bytes"`
	StoreMaxStreamBytes  int64 `json:"storage_max_stream_bytes"`
	MaxBytesRequired     bool  `json:"max_bytes_required"`
}

// APIStats count an account's API requests.
type APIStats struct {
	Level  int    `json:"level"`
	Total  uint64 `json:"total"`
	Errors uint64 `json:"errors"`
}

// PubAck is the answer to a publish into a stream.
type PubAck struct {
	Error     *APIError `json:"error,omitempty"`
	Stream    string    `json:"stream"`
	Sequence  uint64    `json:"seq"`
	Domain    string    `json:"domain,omitempty"`
	Duplicate bool      `json:"duplicate,omitempty"`
}
