package daemon

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/natsd/natsd/internal/testutil"
)

// The daemon's side of TLS (in-process): what STATUS= and /varz say of
// refused certificate files, and the reload guard for TLS turned off. The
// process-level behaviour (rotation, reloads, routes) is tested in
// cmd/natsd/tls_*_test.go.

// tlsConf is a config with a client tls block and a cluster.tls block on
// files in dir.
func tlsConf(dir string) string {
	return fmt.Sprintf("listen: 127.0.0.1:-1\nhttp: 127.0.0.1:-1\ntls { cert_file: %q, key_file: %q }\n"+
		"cluster {\n  name: c\n  listen: 127.0.0.1:-1\n  tls { cert_file: %q, key_file: %q, ca_file: %q }\n}\n",
		filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"),
		filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "ca.pem"))
}

// TestCertRefusalIsReported: files that cannot be used are refused and
// reported as "file: what" in STATUS= and /varz (tls_cert_error,
// cluster.tls_cert_error) until a good set loads; the stores keep the
// previous certificate.
func TestCertRefusalIsReported(t *testing.T) {
	ca := testutil.NewCA(t, "daemon CA")
	first := ca.Issue(t, "localhost")
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first.WriteTo(t, cert, key)
	testutil.WriteBytes(t, filepath.Join(dir, "ca.pem"), ca.PEM)
	td := startDaemon(t, tlsConf(dir))

	testutil.WriteBytes(t, cert, first.CertPEM[:40])
	td.life.Lock()
	td.reloadCerts("test")
	td.life.Unlock()
	want := cert + ": "
	status := td.statusText()
	if !strings.Contains(status, "TLS certificate refused (the previous one serves): tls: "+want) || !strings.Contains(status, "cluster.tls: "+want) {
		t.Fatalf("STATUS %q", status)
	}
	ds := td.daemonStats()
	if !strings.HasPrefix(ds.TLSCertError, want) || !strings.HasPrefix(ds.ClusterTLSCertError, want) {
		t.Fatalf("/varz errors %q, %q", ds.TLSCertError, ds.ClusterTLSCertError)
	}
	if got := td.stores().client.Leaf().SerialNumber; got.Cmp(first.Leaf.SerialNumber) != 0 {
		t.Fatal("the refused files replaced the certificate")
	}

	second := ca.Issue(t, "localhost")
	second.WriteTo(t, cert, key)
	td.life.Lock()
	td.reloadCerts("test")
	td.life.Unlock()
	if status := td.statusText(); strings.Contains(status, "TLS") {
		t.Fatalf("STATUS after a good set: %q", status)
	}
	if got := td.stores().client.Leaf().SerialNumber; got.Cmp(second.Leaf.SerialNumber) != 0 {
		t.Fatal("the good files were not taken")
	}
	if !strings.Contains(td.log.String(), "TLS certificates reloaded (test) for cluster.tls") {
		t.Fatalf("log:\n%s", td.log)
	}
}

// A file change that turns TLS off — for clients, or for a cluster that
// stays — is held back like one that removes authorization.
func TestHoldReasonsTLS(t *testing.T) {
	ca := testutil.NewCA(t, "guard CA")
	c := ca.Issue(t, "localhost")
	dir := t.TempDir()
	c.WriteTo(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	testutil.WriteBytes(t, filepath.Join(dir, "ca.pem"), ca.PEM)
	full := tlsConf(dir)
	clientBlock := full[strings.Index(full, "tls {"):strings.Index(full, "cluster {")]
	routeBlock := full[strings.Index(full, "  tls {"):strings.LastIndex(full, "}\n")]
	for _, tc := range []struct {
		name, next string
		want       string
	}{
		{"client TLS off", strings.Replace(full, clientBlock, "", 1), "client TLS would be turned off"},
		{"route TLS off", strings.Replace(full, routeBlock, "", 1), "route TLS would be turned off"},
		{"new files", strings.ReplaceAll(full, "key.pem", "key2.pem"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testutil.WriteBytes(t, filepath.Join(dir, "key2.pem"), c.KeyPEM)
			cur := loadString(t, dir, full)
			next := loadString(t, dir, tc.next)
			got := strings.Join(holdReasons(cur, next, Diff(cur, next)), "; ")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("reasons %q, want %q", got, tc.want)
			}
		})
	}
}
