package daemon

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/natsd/natsd/confparse"
	"github.com/natsd/natsd/tlsconf"
)

// TLS is read as nats-server v2.15.2 reads it; what it accepts and refuses
// was recorded with `nats-server -t -c` and by running it, and the cases are
// in build_tls_test.go. natsd differs in two ways, both on the side of
// telling: a problem nats-server reports at "file:1:0" is reported at the
// value at fault, and a value nats-server accepts but that cannot work
// (an empty block, a negative timeout, pinned_certs without verify) is
// accepted with a warning that says what will happen.

// tlsBlock reads a tls { } block: the top-level one (path "tls", for
// clients and HTTPS monitoring) or cluster.tls (routes). It returns nil if
// the block is not a block.
func (b *builder) tlsBlock(e *confparse.Entry, path string, routes bool) *tlsconf.Options {
	n, ok := b.block(e, path)
	if !ok {
		return nil
	}
	t := &tlsconf.Options{}
	errorsBefore := len(b.diag.Errors)
	var (
		verifyFalse  *confparse.Entry // verify written false
		insecure     []string         // insecure cipher suites named
		insecureNode *confparse.Node
		allowInsec   bool
	)
	files := map[string]*confparse.Entry{} // cert_file, key_file, ca_file, certs: where written
	for _, e := range n.Entries {
		key := strings.ToLower(e.Key)
		p := path + "." + key
		b.pos[p] = e.KeyPos
		switch key {
		case "cert_file", "key_file", "ca_file":
			if e.Value.Kind != confparse.String {
				b.wrongType(e, p, "a file name")
				continue
			}
			files[key] = e
			switch key {
			case "cert_file":
				t.CertFile = e.Value.Str
			case "key_file":
				t.KeyFile = e.Value.Str
			default:
				t.CAFile = e.Value.Str
			}
		case "certs":
			files[key] = e
			t.Certs = b.certPairs(e, p)
		case "verify":
			if v, ok := b.boolean(e, p); ok {
				t.Verify = v
				verifyFalse = nil
				if !v {
					verifyFalse = e
				}
			}
		case "verify_and_map":
			t.VerifyAndMap, _ = b.boolean(e, p)
		case "verify_cert_and_check_known_urls":
			v, ok := b.boolean(e, p)
			if ok && v && !routes {
				// nats-server refuses it true here (false is accepted).
				b.errorf(e.KeyPos, p, "verify_cert_and_check_known_urls applies to routes only (cluster.tls), not to clients")
				continue
			}
			t.VerifyCertAndCheckKnownURLs = v
		case "insecure":
			t.Insecure, _ = b.boolean(e, p)
			if t.Insecure && !routes {
				b.warnf(e.KeyPos, p, "insecure applies only to connections natsd dials (routes): clients are verified as verify says")
			}
		case "timeout":
			t.Timeout = b.tlsTimeout(e, p)
		case "handshake_first", "first", "immediate":
			b.handshakeFirst(e, p, t)
		case "cipher_suites":
			list, ok := b.nonEmptyStrings(e, p)
			if !ok {
				continue
			}
			nodes := stringNodes(e.Value)
			for i, name := range list {
				id, insec, ok := tlsconf.CipherSuiteByName(name)
				if !ok {
					b.errorf(nodes[i].Pos, p, "unrecognized cipher suite %q (names are Go's, such as %q)", name, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256")
					continue
				}
				if insec {
					insecure, insecureNode = append(insecure, name), e.Value
				}
				t.CipherSuites = append(t.CipherSuites, id)
			}
		case "allow_insecure_cipher_suites":
			allowInsec, _ = b.boolean(e, p)
			t.AllowInsecureCipherSuites = allowInsec
		case "curve_preferences":
			list, ok := b.nonEmptyStrings(e, p)
			if !ok {
				continue
			}
			nodes := stringNodes(e.Value)
			for i, name := range list {
				c, ok := tlsconf.CurveByName(name)
				if !ok {
					b.errorf(nodes[i].Pos, p, "unrecognized curve %q (one of CurveP256, CurveP384, CurveP521, X25519, X25519MLKEM768, SecP256r1MLKEM768, SecP384r1MLKEM1024)", name)
					continue
				}
				t.CurvePreferences = append(t.CurvePreferences, c)
			}
		case "min_version":
			if e.Value.Kind != confparse.String {
				b.wrongType(e, p, `a version string, "1.2" or "1.3"`)
				continue
			}
			v, err := tlsconf.ParseVersion(e.Value.Str)
			if err != nil {
				b.errorf(e.Value.Pos, p, "%v", err)
				continue
			}
			t.MinVersion = v
		case "pinned_certs":
			if e.Value.Kind != confparse.Array {
				b.wrongType(e, p, "a list of SHA-256 hashes (hex) of certificates' SubjectPublicKeyInfo")
				continue
			}
			list, _ := b.stringList(e, p)
			nodes := stringNodes(e.Value)
			for i, s := range list {
				pin, err := tlsconf.ParsePin(s)
				if err != nil {
					b.errorf(nodes[i].Pos, p, "%v", err)
					continue
				}
				t.PinnedCerts = append(t.PinnedCerts, pin)
			}
		case "cert_store":
			// nats-server: "cert_store not compatible with current operating
			// system": it is Windows only.
			b.errorf(e.KeyPos, p, "cert_store reads the Windows certificate store: not available on this system (nats-server refuses it too)")
		case "cert_match", "cert_match_by", "cert_match_skip_invalid", "ca_certs_match":
			b.warnf(e.KeyPos, p, "natsd does not serve the Windows certificate store; ignored")
		case "ocsp_peer":
			b.warnf(e.KeyPos, p, "natsd does not serve OCSP peer verification yet; ignored: peer certificates are not checked for revocation")
		case "connection_rate_limit":
			b.warnf(e.KeyPos, p, "natsd does not serve TLS connection rate limits yet; ignored")
		default:
			// nats-server refuses an unknown key in a tls block: a typo
			// such as "verfy" must not leave clients unverified.
			b.errorf(e.KeyPos, p, "unknown field (nats-server refuses it too)")
		}
	}

	if len(insecure) > 0 && !allowInsec {
		b.errorf(insecureNode.Pos, path+".cipher_suites", "insecure cipher suites %s need allow_insecure_cipher_suites: true", strings.Join(insecure, ", "))
	}
	// verify_and_map implies verify, unless verify is written false: then
	// no certificate is asked for and no client can be mapped (recorded).
	if t.VerifyAndMap {
		if verifyFalse != nil {
			b.warnf(verifyFalse.KeyPos, path+".verify", "false with verify_and_map: no client certificate is asked for, so no client can be mapped to a user and every client is refused (as with nats-server)")
		} else {
			t.Verify = true
		}
	}
	if routes {
		// Routes always verify their peer (nats-server's cluster tls_verify
		// is true whatever the block says).
		if verifyFalse != nil {
			b.warnf(verifyFalse.KeyPos, path+".verify", "routes always verify their peer's certificate; false is ignored")
		}
		t.Verify = true
	} else if len(t.PinnedCerts) > 0 && !t.Verify {
		b.warnf(b.pos[path+".pinned_certs"], path+".pinned_certs", "without verify no client sends a certificate, so every client is refused (as with nats-server); set verify: true")
	}
	if len(b.diag.Errors) == errorsBefore {
		// Only a block without errors has its files checked: a file name
		// of the wrong type would otherwise also read as a missing one.
		b.tlsFiles(t, path, files, e)
	}
	return t
}

// tlsFiles checks the pairs and the CA file of a block: each must load,
// each key must go with its certificate. The error points at the option
// that names the file at fault.
func (b *builder) tlsFiles(t *tlsconf.Options, path string, files map[string]*confparse.Entry, block *confparse.Entry) {
	at := func(key string) confparse.Pos {
		if e, ok := files[key]; ok {
			return e.Value.Pos
		}
		if e, ok := files["certs"]; ok {
			return e.Value.Pos
		}
		return block.KeyPos
	}
	switch {
	case t.CertFile != "" && len(t.Certs) > 0:
		b.errorf(at("certs"), path+".certs", "cannot be used with cert_file and key_file: give the pairs one way")
		return
	case t.CertFile == "" && t.KeyFile != "":
		b.errorf(at("key_file"), path+".cert_file", "missing: key_file needs its certificate")
		return
	case t.CertFile != "" && t.KeyFile == "":
		b.errorf(at("cert_file"), path+".key_file", "missing: cert_file needs its private key")
		return
	case len(t.Pairs()) == 0:
		b.warnf(block.KeyPos, path, "no cert_file and key_file: every TLS handshake will fail (nats-server starts like this too)")
	}
	s, err := tlsconf.NewStore(t)
	var fe *tlsconf.FileError
	if errors.As(err, &fe) {
		b.errorf(at(fe.Key), path+"."+fe.Key, "%s: %v", fe.File, fe.Err)
		return
	}
	if err != nil {
		b.errorf(block.KeyPos, path, "%v", err)
		return
	}
	now := time.Now()
	for i, leaf := range s.Leaves() {
		file := t.Pairs()[i].CertFile
		switch {
		case now.After(leaf.NotAfter):
			b.warnf(at("cert_file"), path+".cert_file", "%s expired on %s: TLS clients will refuse it", file, leaf.NotAfter.UTC().Format(time.RFC3339))
		case now.Before(leaf.NotBefore):
			b.warnf(at("cert_file"), path+".cert_file", "%s is not valid before %s: TLS clients will refuse it until then", file, leaf.NotBefore.UTC().Format(time.RFC3339))
		}
	}
}

// tlsFlagFiles checks the files the TLS flags name (nats-server: "TLS
// Server certificate must be present and valid", "... private key must be
// present and valid").
func (b *builder) tlsFlagFiles(t *tlsconf.Options) {
	at := confparse.Pos{File: "natsd"}
	flag := map[string]string{"cert_file": "--tlscert", "key_file": "--tlskey", "ca_file": "--tlscacert"}
	switch {
	case t.CertFile == "":
		b.diag.Errors.Add(at, "--tlscert: TLS for clients needs a certificate and its key (--tlscert, --tlskey)")
		return
	case t.KeyFile == "":
		b.diag.Errors.Add(at, "--tlskey: TLS for clients needs the certificate's private key")
		return
	}
	_, err := tlsconf.NewStore(t)
	var fe *tlsconf.FileError
	if errors.As(err, &fe) {
		b.diag.Errors.Add(at, fmt.Sprintf("%s %s: %v", flag[fe.Key], fe.File, fe.Err))
	} else if err != nil {
		b.diag.Errors.Add(at, "--tls: "+err.Error())
	}
}

// certPairs reads certs: [ { cert_file, key_file }, … ].
func (b *builder) certPairs(e *confparse.Entry, path string) []tlsconf.CertPair {
	if e.Value.Kind != confparse.Array {
		b.wrongType(e, path, "a list of { cert_file, key_file }")
		return nil
	}
	var out []tlsconf.CertPair
	for i, it := range e.Value.Items {
		ip := fmt.Sprintf("%s[%d]", path, i)
		if it.Kind != confparse.Map {
			b.errorf(it.Pos, ip, "expected { cert_file, key_file }, found %s", describe(it))
			continue
		}
		var pair tlsconf.CertPair
		for _, pe := range it.Entries {
			// Unlike every other key, nats-server reads these two in lower
			// case only (recorded: "unknown field \"CERT_FILE\"").
			k := pe.Key
			switch k {
			case "cert_file", "key_file":
				if pe.Value.Kind != confparse.String {
					b.wrongType(pe, ip+"."+k, "a file name")
					continue
				}
				if k == "cert_file" {
					pair.CertFile = pe.Value.Str
				} else {
					pair.KeyFile = pe.Value.Str
				}
			default:
				b.errorf(pe.KeyPos, ip+"."+k, "unknown field (a pair has cert_file and key_file, in lower case)")
			}
		}
		if pair.CertFile == "" || pair.KeyFile == "" {
			b.errorf(it.Pos, ip, "both cert_file and key_file are required")
			continue
		}
		out = append(out, pair)
	}
	return out
}

// tlsTimeout is the handshake timeout: seconds (fractions allowed) or a
// duration string; 0 is the default. nats-server takes a negative value,
// with which every handshake fails at once: a warning says so.
func (b *builder) tlsTimeout(e *confparse.Entry, path string) time.Duration {
	var d time.Duration
	switch e.Value.Kind {
	case confparse.Int:
		d = time.Duration(e.Value.Int) * time.Second
		if secs := strconv.FormatInt(e.Value.Int, 10); e.Value.Raw != secs {
			b.warnf(e.Value.Pos, path, "%s is read as %s seconds; write a duration string such as %q", e.Value.Raw, secs, e.Value.Raw)
		}
	case confparse.Float:
		d = time.Duration(e.Value.Float * float64(time.Second))
	case confparse.String:
		var err error
		if d, err = time.ParseDuration(e.Value.Str); err != nil {
			b.errorf(e.Value.Pos, path, "expected seconds or a duration such as \"2s\", found %q", e.Value.Str)
			return 0
		}
	default:
		b.wrongType(e, path, "seconds or a duration")
		return 0
	}
	if d < 0 {
		b.warnf(e.Value.Pos, path, "%s is negative: every TLS handshake will time out at once (nats-server accepts it too)", e.Value.Raw)
	}
	return d
}

// handshakeFirst reads handshake_first: a boolean, or a string (see
// tlsconf.ParseHandshakeFirst).
func (b *builder) handshakeFirst(e *confparse.Entry, path string, t *tlsconf.Options) {
	switch e.Value.Kind {
	case confparse.Bool:
		t.HandshakeFirst, t.HandshakeFirstFallback = e.Value.Bool, 0
	case confparse.String:
		first, fallback, err := tlsconf.ParseHandshakeFirst(e.Value.Str)
		if err != nil {
			b.errorf(e.Value.Pos, path, "%v, found %q", err, e.Value.Str)
			return
		}
		t.HandshakeFirst, t.HandshakeFirstFallback = first, fallback
	default:
		b.wrongType(e, path, `true, false, "auto" or a duration such as "300ms"`)
	}
}

// nonEmptyStrings reads an array of strings that must not be empty
// (cipher_suites, curve_preferences: nats-server refuses an empty list).
func (b *builder) nonEmptyStrings(e *confparse.Entry, path string) ([]string, bool) {
	if e.Value.Kind != confparse.Array {
		b.wrongType(e, path, "a list of names")
		return nil, false
	}
	if len(e.Value.Items) == 0 {
		b.errorf(e.Value.Pos, path, "cannot be empty")
		return nil, false
	}
	return b.stringList(e, path)
}

// tlsWithout warns about a TLS setting that does nothing without a tls
// block.
func (b *builder) tlsWithout(o *Options) {
	if o.Server.AllowNonTLS && o.Server.TLS == nil {
		b.warnf(b.at("allow_non_tls"), "allow_non_tls", "has no effect without a tls { } block")
	}
}

// tlsAuthTimeouts gives the authorization timeouts nats-server's default
// when TLS is on and none is written: the TLS timeout plus a second, so
// that a client's (or route's) CONNECT has time to follow a slow handshake
// (recorded with nats-server v2.15.2: tls timeout 0.5, 2, 3, 7 give
// auth_timeout 1.5, 3, 4, 8, for clients and for routes alike).
func tlsAuthTimeouts(o *Options) {
	if t := o.Server.TLS; t != nil && o.Server.Auth.Timeout == 0 {
		o.Server.Auth.Timeout = t.HandshakeTimeout() + time.Second
	}
	if t := o.Cluster.TLS; t != nil && o.Cluster.AuthTimeout == 0 {
		o.Cluster.AuthTimeout = t.HandshakeTimeout() + time.Second
	}
}

// monitorTLS checks what no key can alone: HTTPS monitoring needs the
// top-level tls block, and monitoring is HTTP or HTTPS, not both (nats-server
// refuses both at start: "TLS cert and key required for HTTPS", "can't
// specify both HTTP (…) and HTTPs (…) ports").
func (b *builder) monitorTLS(o *Options) {
	m := &o.Monitor
	if m.HTTPSPort == 0 {
		return
	}
	if m.Port != 0 {
		b.errorf(b.at("https_port"), "https_port", "monitoring is served over HTTP or HTTPS, not both: http port %d and https port %d are set", m.Port, m.HTTPSPort)
	}
	if o.Server.TLS == nil {
		b.errorf(b.at("https_port"), "https_port", "HTTPS monitoring uses the top-level tls { } block (cert_file, key_file), and there is none")
	}
}
