package server

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

// The server's id is a real nkey server public key, as nats-server's is:
// the auth callout's requests are JWTs it signs, and services check the
// response audience against it (jwt.AuthorizationResponseClaims refuses
// an audience that is not a server key). Its curve key (xkey) is in every
// INFO, as nats-server v2.15.2 sends it (recorded).
func TestServerIdentity(t *testing.T) {
	s := New(Options{}, nil, "test")
	if !nkeys.IsValidPublicServerKey(s.ID()) {
		t.Fatalf("server id %q is not a server public key", s.ID())
	}
	if pub, err := s.NKey().PublicKey(); err != nil || pub != s.ID() {
		t.Fatalf("the signing key's public key %q (%v) is not the id %q", pub, err, s.ID())
	}
	msg := []byte("nonce")
	sig, err := s.NKey().Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if !VerifyNonceSignature(s.ID(), base64.RawURLEncoding.EncodeToString(sig), msg) {
		t.Fatal("a signature by the server's key does not verify against its id")
	}
	if other := New(Options{}, nil, "test"); other.ID() == s.ID() {
		t.Fatal("two servers have the same id")
	}
	xpub, err := s.XKey().PublicKey()
	if err != nil || !nkeys.IsValidPublicCurveKey(xpub) {
		t.Fatalf("xkey %q (%v) is not a curve public key", xpub, err)
	}
	var info map[string]any
	line := strings.TrimSuffix(strings.TrimPrefix(string(s.clientInfo(&client{}, false)), "INFO "), "\r\n")
	if err := json.Unmarshal([]byte(line), &info); err != nil {
		t.Fatal(err)
	}
	if info["xkey"] != xpub || info["server_id"] != s.ID() {
		t.Fatalf("INFO server_id %v xkey %v, want %s and %s", info["server_id"], info["xkey"], s.ID(), xpub)
	}
}
