package server

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"runtime"
	"strconv"

	"github.com/natsd/natsd/server/wire"
)

// Info is the INFO a client receives, with nats-server's field names.
type Info struct {
	ID            string   `json:"server_id"`
	Name          string   `json:"server_name"`
	Version       string   `json:"version"`
	Proto         int      `json:"proto"`
	GoVersion     string   `json:"go"`
	Host          string   `json:"host"`
	Port          int      `json:"port"`
	Headers       bool     `json:"headers"`
	AuthRequired  bool     `json:"auth_required,omitempty"`
	TLSRequired   bool     `json:"tls_required,omitempty"`
	TLSVerify     bool     `json:"tls_verify,omitempty"`
	TLSAvailable  bool     `json:"tls_available,omitempty"`
	MaxPayload    int      `json:"max_payload"`
	ClientID      uint64   `json:"client_id,omitempty"`
	ClientIP      string   `json:"client_ip,omitempty"`
	Cluster       string   `json:"cluster,omitempty"`
	ConnectURLs   []string `json:"connect_urls,omitempty"`
	LameDuckMode  bool     `json:"ldm,omitempty"`
	ConnectInfo   bool     `json:"connect_info,omitempty"`
	RemoteAccount string   `json:"remote_account,omitempty"`
	// Nonce is for the client to sign when nkey or JWT auth is possible
	// (greeting INFO only).
	Nonce string `json:"nonce,omitempty"`
	// XKey is the server's curve public key (Server.XKey), as nats-server
	// v2.15.2 sends it in every INFO (recorded).
	XKey string `json:"xkey,omitempty"`
	// Natsd is natsd's own version; "version" says which nats-server
	// release natsd speaks the protocol of.
	Natsd string `json:"natsd_version,omitempty"`
}

// baseInfo is the INFO without per-client fields, for a client of the
// client port or, with ws, a WebSocket client. Call without s.mu held.
func (s *Server) baseInfo(ws bool) Info {
	o := s.getOpts()
	s.mu.Lock()
	defer s.mu.Unlock()
	host, port := s.clientHostPort()
	info := Info{
		ID:           s.id,
		Name:         o.ServerName,
		Version:      ProtocolVersion,
		Proto:        1,
		GoVersion:    runtime.Version(),
		Host:         host,
		Port:         port,
		Headers:      !o.NoHeaderSupport,
		AuthRequired: o.Auth.Required(),
		TLSRequired:  tlsRequired(o),
		TLSVerify:    o.TLS != nil && o.TLS.Verify,
		TLSAvailable: o.TLS != nil && o.AllowNonTLS,
		MaxPayload:   o.MaxPayload,
		Cluster:      s.clusterNm,
		ConnectURLs:  s.connectURLs(),
		LameDuckMode: s.ldm,
		XKey:         s.xkey,
		Natsd:        s.version,
	}
	if ws {
		s.wsInfo(&info, o)
	}
	return info
}

// clientInfo is the INFO line for c; with connectInfo, the one 2.12+ send
// after the first PONG. Call with the client's lock held or not: it reads only immutable
// client fields.
func (s *Server) clientInfo(c *client, connectInfo bool) []byte {
	info := s.baseInfo(c.ws != nil)
	info.ClientID = c.cid
	info.ClientIP = c.Host()
	if !connectInfo && c.nonce != nil {
		info.Nonce = string(c.nonce)
	}
	if connectInfo {
		info.ConnectInfo = true
		info.RemoteAccount = c.acc.Load().Name
		info.MaxPayload = c.maxPayload(c.srv.getOpts())
	}
	b, _ := json.Marshal(&info)
	return wire.AppendInfo(nil, b)
}

// clientHostPort is the host and port announced to clients: the advertise
// address if set, else the listener's. Call with s.mu held.
func (s *Server) clientHostPort() (string, int) {
	o := s.getOpts()
	if o.ClientAdvertise != "" {
		if h, p, err := net.SplitHostPort(o.ClientAdvertise); err == nil {
			n, _ := strconv.Atoi(p)
			return h, n
		}
		return o.ClientAdvertise, o.Port
	}
	// The newest listener (s.current, see Listen): during a port move both
	// are open, and a client must be told the new address.
	if s.current != nil {
		if a, ok := s.current.Addr().(*net.TCPAddr); ok {
			return o.Host, a.Port
		}
	}
	return o.Host, o.Port
}

// ownClientURLs are this server's client URLs ("host:port") for
// connect_urls: the advertise address, or the listener's address, or, when
// listening on all interfaces, one per non-loopback interface address.
// Call with s.mu held.
func (s *Server) ownClientURLs() []string {
	o := s.getOpts()
	host, port := s.clientHostPort()
	if o.ClientAdvertise != "" {
		return []string{net.JoinHostPort(host, strconv.Itoa(port))}
	}
	return HostURLs(host, port)
}

// HostURLs expands host:port into the addresses clients can use: host
// itself, or, for 0.0.0.0 and ::, every non-loopback address of this machine
// (loopback if there is nothing else).
func HostURLs(host string, port int) []string {
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsUnspecified() {
		return []string{net.JoinHostPort(host, strconv.Itoa(port))}
	}
	var urls, loop []string
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		if ip.To4() != nil && ipn.IP.To4() == nil {
			continue // listening on 0.0.0.0: IPv4 only
		}
		u := net.JoinHostPort(ipn.IP.String(), strconv.Itoa(port))
		if ipn.IP.IsLoopback() {
			loop = append(loop, u)
		} else if !ipn.IP.IsLinkLocalUnicast() {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return loop
	}
	return urls
}

// ClientPort is the port the client listener is bound to (useful with a
// random port).
func (s *Server) ClientPort() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current != nil {
		if a, ok := s.current.Addr().(*net.TCPAddr); ok {
			return a.Port
		}
	}
	return 0
}

// newNonce makes a client's nonce as nats-server's look (recorded: 15
// characters of URL-safe base64, 11 random bytes).
func newNonce() []byte {
	var b [11]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, base64.RawURLEncoding.EncodedLen(len(b)))
	base64.RawURLEncoding.Encode(out, b[:])
	return out
}
