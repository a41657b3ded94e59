package confparse

import (
	"fmt"
	"strings"
	"testing"
)

// benchConfig generates a realistic configuration of about lines lines:
// server options, TLS, a cluster with routes, and accounts with users
// whose permissions come from variables, with comments, sizes, durations,
// quoted and unquoted strings throughout.
func benchConfig(lines int) []byte {
	var b strings.Builder
	n := 0
	w := func(format string, args ...any) {
		fmt.Fprintf(&b, format+"\n", args...)
		n++
	}
	w("# natsd benchmark configuration")
	w("server_name: bench-node-1")
	w("listen: 0.0.0.0:4222")
	w("http: 8222")
	w("max_payload: 1MB")
	w("max_pending: 64MB")
	w("max_connections: 64k")
	w("ping_interval: \"2m\"")
	w("write_deadline: '10s'")
	w("debug: false; trace: off")
	w("logtime: true")
	w("")
	w("tls {")
	w("  cert_file: \"/etc/natsd/certs/server-cert.pem\"")
	w("  key_file:  \"/etc/natsd/certs/server-key.pem\"")
	w("  ca_file:   \"/etc/natsd/certs/ca.pem\"")
	w("  verify: true")
	w("  timeout: 2.5")
	w("}")
	w("")
	w("DEFAULT_PERMS = {")
	w("  publish = { allow: [\"req.>\", \"events.*\"], deny: [\"$SYS.>\"] }")
	w("  subscribe = { allow: [\"_INBOX.>\", \"events.>\"] }")
	w("  allow_responses: { max: 1, expires: \"1m\" }")
	w("}")
	w("ADMIN_PASS: \"$2a$11$3kIDaCxw.Glsl1.u5nKa6eUnNDLV5HV9tIuUp7EHhMt6Nm9myW1aS\"")
	w("")
	w("cluster {")
	w("  name: bench")
	w("  listen: 0.0.0.0:6222")
	w("  routes = [")
	for i := 0; i < 20; i++ {
		w("    nats://10.0.%d.%d:6222", i/250, i%250+1)
	}
	w("  ]")
	w("}")
	w("")
	w("accounts {")
	for a := 0; n < lines-3; a++ {
		w("  # account %d", a)
		w("  ACCT_%d {", a)
		w("    jetstream { max_mem: 512M, max_file: 10G, max_streams: 100 }")
		w("    users = [")
		for u := 0; u < 8; u++ {
			w("      { user: user_%d_%d, password: \"s3cr3t-%d-%d\", permissions: $DEFAULT_PERMS }", a, u, a, u)
		}
		w("      { user: admin_%d, password: $ADMIN_PASS }", a)
		w("    ]")
		w("    exports = [")
		w("      { stream: \"acct%d.events.>\" }  // public", a)
		w("      { service: \"acct%d.req\", response: singleton, accounts: [ACCT_%d] }", a, a+1)
		w("    ]")
		w("    limits { max_conn: 1000, max_subs: -1, max_data: 2GiB, created: 2016-05-04T18:53:41Z }")
		w("  }")
	}
	w("}")
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	src := benchConfig(2000)
	b.SetBytes(int64(len(src)))
	opts := &Options{LookupEnv: func(string) (string, bool) { return "", false }}
	if _, err := Parse("bench.conf", src, opts); err != nil {
		b.Fatal(joinErrors(err))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("bench.conf", src, opts); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(strings.Count(string(src), "\n")), "lines")
}

func BenchmarkLex(b *testing.B) {
	src := string(benchConfig(2000))
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		lx := newLexer(src)
		for it := lx.nextItem(); it.typ != itemEOF; it = lx.nextItem() {
			if it.typ == itemError {
				b.Fatal(it.val)
			}
		}
	}
}

func BenchmarkDigest(b *testing.B) {
	doc, err := Parse("bench.conf", benchConfig(2000), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		doc.Digest()
	}
}
