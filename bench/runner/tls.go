package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The TLS scenarios run both servers with the same certificates, made here
// for the run (ECDSA P-256, valid for a day, in the run's temp directory,
// removed with it): a CA and one certificate for 127.0.0.1 that every
// server presents, to clients and on routes.

// tlsMode says what a scenario puts on TLS.
type tlsMode uint8

const (
	tlsNone    tlsMode = iota
	tlsClients         // the client port: --tlscert/--tlskey; natscli trusts the CA
	tlsRoutes          // cluster.tls on every node (verify both ways); clients in plain text
)

// benchPKI is the run's CA and server pair, as files.
type benchPKI struct {
	ca, cert, key string
}

// newBenchPKI writes a CA and a certificate for 127.0.0.1 (client and
// server authentication) into dir.
func newBenchPKI(dir string) (*benchPKI, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "natsd bench CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, key.Public(), caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	p := &benchPKI{ca: filepath.Join(dir, "ca.pem"), cert: filepath.Join(dir, "cert.pem"), key: filepath.Join(dir, "key.pem")}
	for name, block := range map[string]*pem.Block{
		p.ca:   {Type: "CERTIFICATE", Bytes: caDER},
		p.cert: {Type: "CERTIFICATE", Bytes: der},
		p.key:  {Type: "PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(name, pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// clientArgs are a server's flags for TLS on its client port.
func (p *benchPKI) clientArgs() []string {
	return []string{"--tlscert", p.cert, "--tlskey", p.key}
}

// routeConfig writes a config file with cluster.tls (both servers read it
// the same way) and returns the flags that load it; the cluster's other
// settings stay flags.
func (p *benchPKI) routeTLSConf() string {
	return fmt.Sprintf("cluster {\n  tls {\n    cert_file: %q\n    key_file: %q\n    ca_file: %q\n  }\n}\n", p.cert, p.key, p.ca)
}

func (p *benchPKI) cliArgs() []string { return []string{"--tlsca", p.ca} }
