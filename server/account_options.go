package server

import "time"

// AccountConfig is one account of the accounts block: its name, what it
// exports to other accounts and imports from them, its subject mappings and
// its limits. Its users are in AuthOptions.Users, each naming its account.
type AccountConfig struct {
	Name     string
	Exports  []*Export
	Imports  []*Import
	Mappings []*Mapping
	Limits   AccountLimits
	// MsgTrace traces messages with a sampled W3C traceparent header
	// (msg_trace, or trace_dest); nil: not configured.
	MsgTrace *MsgTraceConfig
}

// AccountLimits bound an account's use of this server (0: no limit).
type AccountLimits struct {
	MaxConnections   int // clients of the account at once
	MaxSubscriptions int // subscriptions of one client of the account
	MaxPayload       int // largest message a client of the account may publish
}

// Export makes subjects of an account available to others: a stream (its
// messages flow to importers) or a service (importers send requests and get
// the replies).
type Export struct {
	Service bool
	Subject string
	// Accounts may import it; nil: any account.
	Accounts []string
	// Services: how many replies a request may get — ResponseSingle (one),
	// ResponseStream or ResponseChunked (any number, until
	// ResponseThreshold passes without one).
	ResponseType      string
	ResponseThreshold time.Duration
	// AllowTrace (services): traced requests are traced on in this
	// account, not stopped at its boundary.
	AllowTrace bool
}

// Response types of a service export.
const (
	ResponseSingle  = "single"
	ResponseStream  = "stream"
	ResponseChunked = "chunked"

	// DefaultResponseThreshold is how long a service import waits for a
	// reply (nats-server's default).
	DefaultResponseThreshold = 2 * time.Minute
)

// Import brings another account's export into this one.
type Import struct {
	Service bool
	Account string // the exporting account
	Subject string // the exported subject (may be narrower than the export)
	// To is where the import lives in this account: for a stream, the
	// subject its messages arrive on (wildcards kept in place); for a
	// service, the subject requests are sent to. "": the exported subject.
	To string
	// Prefix (streams) puts the messages under "Prefix.<subject>".
	Prefix string
	// AllowTrace (streams): traced messages are traced on in this
	// account, not stopped at its boundary.
	AllowTrace bool
}

// Mapping rewrites the subject of messages published in an account
// (mappings {}): to one destination, or to one of several, chosen by
// weight. Destinations may use {{wildcard(n)}}, $n and {{partition(n,…)}}.
type Mapping struct {
	Source string
	Dests  []MapDest
}

// MapDest is one destination of a mapping; Weight is its share in percent
// (100 when the mapping has one destination).
type MapDest struct {
	Subject string
	Weight  int
}
