package sysacct

import (
	"time"

	"github.com/natsd/natsd/server/monitor"
)

// The JSON of events and replies, with nats-server's field names (recorded
// in ../shared/testdata/jsapi: sys_*.json).

// ServerInfo identifies the server in every event and reply.
type ServerInfo struct {
	Name      string    `json:"name"`
	Host      string    `json:"host"`
	ID        string    `json:"id"`
	Cluster   string    `json:"cluster,omitempty"`
	Version   string    `json:"ver"`
	JetStream bool      `json:"jetstream"`
	Flags     uint64    `json:"flags"`
	Seq       uint64    `json:"seq"`
	Time      time.Time `json:"time"`
}

// reply is a request's answer: data, or an error.
type reply struct {
	Server *ServerInfo `json:"server"`
	Data   any         `json:"data,omitempty"`
	Error  *apiError   `json:"error,omitempty"`
}

// accountReply is an account request's answer; nats-server writes
// "data": null with the error.
type accountReply struct {
	Server *ServerInfo `json:"server"`
	Data   any         `json:"data"`
	Error  *apiError   `json:"error,omitempty"`
}

type apiError struct {
	Code        int    `json:"code"`
	Description string `json:"description"`
}

// statszMsg is $SYS.SERVER.<id>.STATSZ and the answer to
// $SYS.REQ.SERVER.PING[.STATSZ].
type statszMsg struct {
	Server *ServerInfo `json:"server"`
	Statsz *Statsz     `json:"statsz"`
}

// Statsz is a server's statistics, as `nats server list` shows them.
type Statsz struct {
	Start               time.Time      `json:"start"`
	Mem                 int64          `json:"mem"`
	Cores               int            `json:"cores"`
	CPU                 float64        `json:"cpu"`
	Connections         int            `json:"connections"`
	TotalConnections    uint64         `json:"total_connections"`
	ActiveAccounts      int            `json:"active_accounts"`
	NumSubs             uint32         `json:"subscriptions"`
	Sent                dataStats      `json:"sent"`
	SentToClients       dataStats      `json:"sent_to_clients"`
	Received            dataStats      `json:"received"`
	ReceivedFromClients dataStats      `json:"received_from_clients"`
	SlowConsumers       int64          `json:"slow_consumers"`
	Routes              []*routeStatsz `json:"routes,omitempty"`
	ActiveServers       int            `json:"active_servers"`
	JetStream           any            `json:"jetstream,omitempty"`
	GoMaxProcs          int            `json:"gomaxprocs"`
}

type dataStats struct {
	Msgs  int64 `json:"msgs"`
	Bytes int64 `json:"bytes"`
}

type routeStatsz struct {
	ID       uint64    `json:"rid"`
	Name     string    `json:"name"`
	Sent     dataStats `json:"sent"`
	Received dataStats `json:"received"`
	Pending  int       `json:"pending"`
}

// idz is the answer to $SYS.REQ.SERVER.PING.IDZ (no envelope).
type idz struct {
	Name string `json:"name"`
	Host string `json:"host"`
	ID   string `json:"id"`
}

// clientInfo is the client of a CONNECT or DISCONNECT event.
type clientInfo struct {
	Start      time.Time  `json:"start"`
	Host       string     `json:"host"`
	ID         uint64     `json:"id"`
	Account    string     `json:"acc"`
	User       string     `json:"user,omitempty"`
	Name       string     `json:"name,omitempty"`
	Lang       string     `json:"lang,omitempty"`
	Version    string     `json:"ver,omitempty"`
	RTT        string     `json:"rtt,omitempty"` // set (also "0s") in DISCONNECT events
	Stop       *time.Time `json:"stop,omitempty"`
	NameTag    string     `json:"name_tag,omitempty"`
	Kind       string     `json:"kind"`
	ClientType string     `json:"client_type"`
}

// connectEvent is $SYS.ACCOUNT.<acc>.CONNECT.
type connectEvent struct {
	Type      string      `json:"type"`
	ID        string      `json:"id"`
	Timestamp time.Time   `json:"timestamp"`
	Server    *ServerInfo `json:"server"`
	Client    *clientInfo `json:"client"`
}

// disconnectEvent is $SYS.ACCOUNT.<acc>.DISCONNECT.
type disconnectEvent struct {
	Type      string      `json:"type"`
	ID        string      `json:"id"`
	Timestamp time.Time   `json:"timestamp"`
	Server    *ServerInfo `json:"server"`
	Client    *clientInfo `json:"client"`
	Sent      dataStats   `json:"sent"`
	Received  dataStats   `json:"received"`
	Reason    string      `json:"reason"`
}

// accountConnsEvent is $SYS.ACCOUNT.<acc>.SERVER.CONNS (and its older
// twin, $SYS.SERVER.ACCOUNT.<acc>.CONNS).
type accountConnsEvent struct {
	Type      string      `json:"type"`
	ID        string      `json:"id"`
	Timestamp time.Time   `json:"timestamp"`
	Server    *ServerInfo `json:"server"`
	monitor.AccStatz
}

// shutdownEvent is $SYS.SERVER.<id>.SHUTDOWN (the server info alone).
type shutdownEvent struct {
	Server *ServerInfo `json:"server"`
	Reason string      `json:"reason,omitempty"`
}

// reloadResult is the data of a $SYS.REQ.SERVER.<id>.RELOAD answer:
// natsd says what changed (nats-server says nothing).
type reloadResult struct {
	Changes []string `json:"changes"`
}

// Event types (nats-server's).
const (
	connectEventType      = "io.nats.server.advisory.v1.client_connect"
	disconnectEventType   = "io.nats.server.advisory.v1.client_disconnect"
	accountConnsEventType = "io.nats.server.advisory.v1.account_connections"
)
