package tlsconf

import (
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// TestMapUserFollowsReference replays mapCases against nats-server
// v2.15.2: in each round the server has one name of each case as its
// users, every case's certificate connects with nats.go, and the user
// /connz?auth=1 reports must be the one UserMapper picks from the same
// list (or both refuse). A last round has every refused name as users at
// once: no certificate may connect.
func TestMapUserFollowsReference(t *testing.T) {
	bin := testutil.NatsServerBin(t)
	ca := testutil.NewCA(t, "map CA")
	srvCert := ca.Issue(t, "localhost", "127.0.0.1")
	cases := mapCases(t)
	certs := make([]*testutil.Cert, len(cases))
	for i, c := range cases {
		certs[i] = ca.IssueSpec(t, c.spec)
	}
	kim := ca.IssueSpec(t, testutil.CertSpec{
		Names:   []string{"spiffe://acme/kim", "kim.acme.com", "kim@acme.com", "kim2@acme.com", "kim2.acme.com"},
		Subject: pkix.Name{Organization: []string{"Acme"}, CommonName: "kim"},
	})

	run := func(t *testing.T, users []string, certs []*testutil.Cert) {
		t.Helper()
		var b strings.Builder
		fmt.Fprintf(&b, "host: 127.0.0.1\nport: -1\nhttp_port: -1\n")
		fmt.Fprintf(&b, "tls { cert_file: %q, key_file: %q, ca_file: %q, verify_and_map: true }\n", srvCert.CertFile, srvCert.KeyFile, ca.File)
		b.WriteString("authorization { users: [\n")
		for _, u := range users {
			q, _ := json.Marshal(u)
			fmt.Fprintf(&b, "  { user: %s }\n", q)
		}
		b.WriteString("] }\n")
		p := testutil.Start(t, bin, "-c", testutil.WriteFile(t, "map.conf", b.String()))
		mapper := NewUserMapper(users)
		for _, c := range certs {
			want, wantOK := mapper.Map(c.Leaf)
			got, err := connectAs(t, p, ca, c)
			if wantOK != (err == nil) || got != want {
				t.Errorf("subject %s, users %q: nats-server: %q (error %v); natsd's mapper: %q (ok %v)",
					c.Leaf.Subject, users, got, err, want, wantOK)
			}
		}
	}

	for r := 0; ; r++ {
		var users []string
		var round []*testutil.Cert
		for i, c := range cases {
			if r < len(c.match) {
				users = append(users, c.match[r])
				round = append(round, certs[i])
			}
		}
		if len(users) == 0 {
			break
		}
		t.Run(fmt.Sprintf("matches %d", r), func(t *testing.T) { run(t, users, round) })
	}
	t.Run("misses", func(t *testing.T) {
		var users []string
		for _, c := range cases {
			users = append(users, c.miss...)
		}
		run(t, users, certs)
	})
	t.Run("precedence", func(t *testing.T) {
		run(t, []string{"O=Acme,CN=kim", "CN=kim,O=Acme", "spiffe://acme/kim", "kim2.acme.com", "kim.acme.com", "kim2@acme.com", "kim@acme.com"}, []*testutil.Cert{kim})
		run(t, []string{"O=Acme,CN=kim", "CN=kim,O=Acme", "spiffe://acme/kim", "kim2.acme.com"}, []*testutil.Cert{kim})
		run(t, []string{"O=Acme,CN=kim", "CN=kim,O=Acme"}, []*testutil.Cert{kim})
	})
}

// connectAs connects to p with cert and returns the user /connz says the
// connection was authorized as.
func connectAs(t *testing.T, p *testutil.Proc, ca *testutil.CA, cert *testutil.Cert) (string, error) {
	t.Helper()
	pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	name := cert.Leaf.SerialNumber.String()
	nc, err := nats.Connect(p.ClientURL(), nats.Name(name), nats.Timeout(5*time.Second), nats.NoReconnect(),
		nats.Secure(&tls.Config{RootCAs: pool(ca), Certificates: []tls.Certificate{pair}}))
	if err != nil {
		return "", err
	}
	defer nc.Close()
	if err := nc.Flush(); err != nil {
		return "", err
	}
	resp, err := http.Get(p.MonitorURL() + "/connz?auth=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var connz struct {
		Connections []struct {
			Name           string `json:"name"`
			AuthorizedUser string `json:"authorized_user"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&connz); err != nil {
		t.Fatal(err)
	}
	for _, c := range connz.Connections {
		if c.Name == name {
			return c.AuthorizedUser, nil
		}
	}
	t.Fatalf("connection %s not in /connz", name)
	return "", nil
}
