package main

import (
	"bytes"
	"testing"
)

// The TLS flags reach daemon.Flags under nats-server's names; -ms is
// https_port; parseFlags does not call them ignored.
func TestParseTLSFlags(t *testing.T) {
	var stderr bytes.Buffer
	cl, err := parseFlags([]string{"--tls", "--tlsverify", "--tlscert", "c.pem", "--tlskey=k.pem", "-tlscacert", "ca.pem", "-ms", "8443"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	f := cl.flags
	if !f.TLS || !f.TLSVerify || f.TLSCert != "c.pem" || f.TLSKey != "k.pem" || f.TLSCACert != "ca.pem" || f.HTTPSPort != 8443 {
		t.Fatalf("flags %+v", f)
	}
	for _, name := range []string{"tls", "tlsverify", "tlscert", "tlskey", "tlscacert", "https_port"} {
		if !f.Set[name] {
			t.Errorf("%s not recorded as given: %v", name, f.Set)
		}
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr %q", stderr.String())
	}

	cl, err = parseFlags([]string{"--tls=false", "--https_port", "-1"}, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if f := cl.flags; f.TLS || !f.Set["tls"] || f.HTTPSPort != -1 || !f.Set["https_port"] {
		t.Fatalf("--tls=false --https_port -1: %+v", f)
	}
}
