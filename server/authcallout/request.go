package authcallout

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/jwt/v2"

	"github.com/natsd/natsd/server"
)

// Request vocabulary, as nats-server's (recorded).
const (
	// requestAudience is the request JWT's audience.
	requestAudience = "nats-authorization-request"
	// xkeyHeader carries the server's curve public key on a sealed request.
	xkeyHeader = "Nats-Server-Xkey"
)

// request is the request for cr: an authorization request JWT signed by
// the server's key for the issuer, expiring with the auth timeout, naming
// userPub (the response must be for it), and, with an xkey, sealed for the
// service with the server's curve key named in the header.
func (c *Callout) request(cr *server.Credentials, userPub string, timeout time.Duration) (hdr, req []byte, err error) {
	rc := jwt.NewAuthorizationRequestClaims(c.opts.Issuer)
	rc.Audience = requestAudience
	rc.UserNkey = userPub
	rc.Expires = time.Now().Add(timeout).Unix()
	rc.Server = jwt.ServerID{Name: c.srv.Name(), Host: c.srv.Options().Host, ID: c.srv.ID(),
		Version: server.ProtocolVersion, Cluster: c.srv.ClusterName()}
	var xpub string
	if c.opts.XKey != "" {
		if xpub, err = c.srv.XKey().PublicKey(); err != nil {
			return nil, nil, err
		}
		rc.Server.XKey = xpub
	}
	rc.ClientInformation = jwt.ClientInformation{Host: cr.Host, ID: cr.ClientID, User: rawUser(cr), Name: cr.Name,
		Kind: "Client", Type: clientType(cr)}
	if cr.Sig != "" {
		rc.ClientInformation.Nonce = string(cr.Nonce)
	}
	rc.ConnectOptions = jwt.ConnectOptions{JWT: cr.JWT, Nkey: cr.Nkey, SignedNonce: cr.Sig, Token: cr.Token,
		Username: cr.User, Password: cr.Pass, Name: cr.Name, Lang: cr.Lang, Version: cr.Version, Protocol: cr.Protocol}
	if cr.TLS != nil {
		rc.TLS = clientTLS(cr.TLS)
	}
	tok, err := rc.Encode(c.srv.NKey())
	if err != nil {
		return nil, nil, fmt.Errorf("error encoding auth request claim: %v", err)
	}
	req = []byte(tok)
	if xpub == "" {
		return nil, req, nil
	}
	if req, err = c.srv.XKey().Seal(req, c.opts.XKey); err != nil {
		return nil, nil, fmt.Errorf("error encrypting auth request claim: %v", err)
	}
	return []byte("NATS/1.0\r\n" + xkeyHeader + ": " + xpub + "\r\n\r\n"), req, nil
}

// rawUser is who the client says it is, as client_info.user names it:
// its nkey, else its user name, else "[REDACTED]" for a token.
func rawUser(cr *server.Credentials) string {
	switch {
	case cr.Nkey != "":
		return cr.Nkey
	case cr.User != "":
		return cr.User
	case cr.Token != "":
		return "[REDACTED]"
	}
	return ""
}

// clientTLS is client_tls: the TLS version and cipher, and the client's
// certificates in PEM, as verified chains when they were verified, else
// as presented.
func clientTLS(st *tls.ConnectionState) *jwt.ClientTLS {
	// "1.3", as nats-server writes the version.
	ct := &jwt.ClientTLS{Version: strings.TrimPrefix(tls.VersionName(st.Version), "TLS "), Cipher: tls.CipherSuiteName(st.CipherSuite)}
	for _, chain := range st.VerifiedChains {
		var certs jwt.StringList
		for _, cert := range chain {
			certs = append(certs, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
		}
		ct.VerifiedChains = append(ct.VerifiedChains, certs)
	}
	if len(ct.VerifiedChains) == 0 {
		for _, cert := range st.PeerCertificates {
			ct.Certs = append(ct.Certs, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
		}
	}
	return ct
}

// clientType is client_info.type as nats-server v2.15.2 gives it (recorded):
// "websocket" for a WebSocket client, "nats" for the others.
func clientType(cr *server.Credentials) string {
	if cr.ConnectionType == server.ConnTypeWebSocket {
		return "websocket"
	}
	return "nats"
}
