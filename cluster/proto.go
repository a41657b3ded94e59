package cluster

// The route protocol as data. Field names are nats-server's wire protocol:
// append only, never rename.

// routeProto is the route protocol level natsd speaks: 2 = accounts in
// RS+/RS-/RMSG, 3 = message tracing (Nats-Trace-Hop on routed messages,
// a trace event from each server). A nats-server 2.11+ peer sends a
// trace-only message only to a peer at 3 or more, and reports one below
// as not tracing.
const (
	routeProto = 3
	traceProto = 3
)

// info is a route INFO. natsd leaves out what it does not implement —
// route_pool_size, compression, lnoc — so that nats-server peers take their
// well-tested "old server" path: one connection for all accounts.
type info struct {
	ID             string   `json:"server_id"`
	Name           string   `json:"server_name"`
	Version        string   `json:"version"`
	Proto          int      `json:"proto"`
	GoVersion      string   `json:"go"`
	Host           string   `json:"host"`
	Port           int      `json:"port"`
	Headers        bool     `json:"headers"`
	AuthRequired   bool     `json:"auth_required,omitempty"`
	TLSRequired    bool     `json:"tls_required,omitempty"`
	TLSVerify      bool     `json:"tls_verify,omitempty"`
	MaxPayload     int      `json:"max_payload"`
	IP             string   `json:"ip,omitempty"`
	Nonce          string   `json:"nonce,omitempty"`
	Cluster        string   `json:"cluster,omitempty"`
	ClusterDynamic bool     `json:"cluster_dynamic,omitempty"`
	ConnectURLs    []string `json:"connect_urls,omitempty"`
	WSConnectURLs  []string `json:"ws_connect_urls,omitempty"`
	LameDuckMode   bool     `json:"ldm,omitempty"`
}

// peerInfo is what natsd reads from a peer's INFO (unknown fields ignored).
type peerInfo struct {
	ID             string   `json:"server_id"`
	Name           string   `json:"server_name"`
	Version        string   `json:"version"`
	Host           string   `json:"host"`
	Port           int      `json:"port"`
	IP             string   `json:"ip"`
	AuthRequired   bool     `json:"auth_required"`
	Cluster        string   `json:"cluster"`
	ClusterDynamic bool     `json:"cluster_dynamic"`
	ConnectURLs    []string `json:"connect_urls"`
	WSConnectURLs  []string `json:"ws_connect_urls"`
	LameDuckMode   bool     `json:"ldm"`
	Headers        bool     `json:"headers"`
	MaxPayload     int      `json:"max_payload"`
	GoVersion      string   `json:"go"`
	Proto          int      `json:"proto"`
	JetStream      bool     `json:"jetstream"` // nats-server with JetStream on
}

// connectMsg is a route CONNECT. "name" is the sender's server id; there is
// no "lang" (a non-empty lang marks a client on the route port).
type connectMsg struct {
	Echo           bool   `json:"echo"`
	Verbose        bool   `json:"verbose"`
	Pedantic       bool   `json:"pedantic"`
	TLSRequired    bool   `json:"tls_required"`
	Headers        bool   `json:"headers"`
	Name           string `json:"name"`
	Cluster        string `json:"cluster"`
	ClusterDynamic bool   `json:"cluster_dynamic,omitempty"`
	User           string `json:"user,omitempty"`
	Pass           string `json:"pass,omitempty"`
	// Read from peers only.
	Lang    string `json:"lang,omitempty"`
	Gateway string `json:"gateway,omitempty"`
}

// -ERR texts on routes (exact, as nats-server sends them).
const (
	errAuth       = "Authorization Violation"
	errClientPort = "attempted to connect to route port"
	errInvalidSub = "Invalid Subscription"
)

func errClusterName(theirs, ours string) string {
	return `Rejecting connection, cluster name "` + theirs + `" does not match "` + ours + `"`
}
