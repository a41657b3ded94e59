package daemon

import "github.com/natsd/natsd/tlsconf"

// The diff rules of the two tls blocks, one line per key, as in rules.
// None is a secret: they are paths, names and public-key hashes.
func init() {
	rules = append(rules, tlsRules("tls", "Server.TLS", secClientTLS, func(o *Options) *tlsconf.Options { return o.Server.TLS })...)
	rules = append(rules, tlsRules("cluster.tls", "Cluster.TLS", secClusterTLS, func(o *Options) *tlsconf.Options { return o.Cluster.TLS })...)
}

// tlsRules are the rules of one block: whether it is there (turning TLS
// on or off), then each key, read as its zero value when the block is not.
func tlsRules(option, field string, sec section, block func(o *Options) *tlsconf.Options) []rule {
	key := func(name, f string, get func(t *tlsconf.Options) any) rule {
		return rule{option + "." + name, field + "." + f, false, sec, func(o *Options) any {
			t := block(o)
			if t == nil {
				t = &tlsconf.Options{}
			}
			return get(t)
		}}
	}
	return []rule{
		{option, field + "!enabled", false, sec, func(o *Options) any { return block(o) != nil }},
		key("cert_file", "CertFile", func(t *tlsconf.Options) any { return t.CertFile }),
		key("key_file", "KeyFile", func(t *tlsconf.Options) any { return t.KeyFile }),
		key("certs", "Certs", func(t *tlsconf.Options) any { return t.Certs }),
		key("ca_file", "CAFile", func(t *tlsconf.Options) any { return t.CAFile }),
		key("verify", "Verify", func(t *tlsconf.Options) any { return t.Verify }),
		key("verify_and_map", "VerifyAndMap", func(t *tlsconf.Options) any { return t.VerifyAndMap }),
		key("verify_cert_and_check_known_urls", "VerifyCertAndCheckKnownURLs", func(t *tlsconf.Options) any { return t.VerifyCertAndCheckKnownURLs }),
		key("insecure", "Insecure", func(t *tlsconf.Options) any { return t.Insecure }),
		key("timeout", "Timeout", func(t *tlsconf.Options) any { return t.Timeout }),
		key("handshake_first", "HandshakeFirst", func(t *tlsconf.Options) any { return t.HandshakeFirst }),
		key("handshake_first fallback", "HandshakeFirstFallback", func(t *tlsconf.Options) any { return t.HandshakeFirstFallback }),
		key("cipher_suites", "CipherSuites", func(t *tlsconf.Options) any { return t.CipherSuites }),
		key("allow_insecure_cipher_suites", "AllowInsecureCipherSuites", func(t *tlsconf.Options) any { return t.AllowInsecureCipherSuites }),
		key("curve_preferences", "CurvePreferences", func(t *tlsconf.Options) any { return t.CurvePreferences }),
		key("min_version", "MinVersion", func(t *tlsconf.Options) any { return t.MinVersion }),
		key("pinned_certs", "PinnedCerts", func(t *tlsconf.Options) any { return t.PinnedCerts }),
	}
}
