package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// TestDocTLSSeedConf runs docs/tls.md's seed.conf as a two-node cluster:
// its certificate paths point at certificates the test makes (for
// nats-1.example.com, localhost and 127.0.0.1), its hosts and ports at
// loopback and free ports, nats-1.example.com at localhost; the second node
// is the same file with server_name nats-2. The routes form over TLS and
// TLS clients trusting the CA reach each other across them.
func TestDocTLSSeedConf(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "docs", "tls.md"))
	if err != nil {
		t.Fatal(err)
	}
	var conf string
	for _, b := range testutil.MarkdownBlocks(src) {
		if b.Lang == "conf" && strings.Contains(string(b.Text), "server_name: nats-1") {
			conf = string(b.Text)
			break
		}
	}
	if conf == "" || !strings.Contains(conf, "cluster {") || !strings.Contains(conf, "tls {") {
		t.Fatalf("no seed.conf example with tls and cluster in docs/tls.md:\n%s", conf)
	}
	p := newPKI(t, "docs")
	dir := t.TempDir()
	testutil.WriteBytes(t, filepath.Join(dir, "ca.pem"), p.ca.PEM)
	p.ca.Issue(t, "nats-1.example.com", "localhost", "127.0.0.1").WriteTo(t, filepath.Join(dir, "server.pem"), filepath.Join(dir, "server-key.pem"))

	seedPort := testutil.FreePort(t)
	start := func(name string, cp int) *node {
		c := strings.NewReplacer(
			"/etc/nats/tls/", dir+"/",
			"server_name: nats-1", "server_name: "+name,
			"0.0.0.0:4222", "127.0.0.1:-1",
			"127.0.0.1:8222", "127.0.0.1:-1",
			"0.0.0.0:6222", "127.0.0.1:"+strconv.Itoa(cp),
			"nats-1.example.com:6222", "localhost:"+strconv.Itoa(seedPort),
		).Replace(conf)
		for _, left := range []string{"4222", "6222", "8222", "example.com", "/etc/nats/tls"} {
			if strings.Contains(c, left) {
				t.Fatalf("the example changed: %q is left after the test's replacements:\n%s", left, c)
			}
		}
		return &node{Proc: testutil.Start(t, testutil.NatsdBin(t), "-c", testutil.WriteFile(t, name+".conf", c)), clusterPort: cp}
	}
	n1 := start("nats-1", seedPort)
	n2 := start("nats-2", testutil.FreePort(t))
	waitMesh(t, 10*time.Second, n1, n2)
	for _, n := range []*node{n1, n2} {
		if !strings.HasPrefix(n.ClientURL(), "tls://") {
			t.Fatalf("client URL %s: clients do not need TLS", n.ClientURL())
		}
	}
	sub := connect(t, n2.ClientURL(), p.opts(nil)...)
	s, _ := sub.SubscribeSync("doc.>")
	_ = sub.Flush()
	pub := connect(t, n1.ClientURL(), p.opts(nil)...)
	waitInterest(t, pub, "doc.probe", s)
	_ = pub.Publish("doc.hello", []byte("across TLS routes"))
	if m := nextMsg(t, s); string(m.Data) != "across TLS routes" {
		t.Fatalf("got %q", m.Data)
	}
}
