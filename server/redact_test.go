package server

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRedactConnect(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string   // "" = only check secrets
		secrets []string // never in the output
	}{
		// nats-server 2.15.2's form, recorded with -DV.
		{"user and pass", `{"verbose":false,"user":"alice","pass":"s3cretPW","name":"good"}`,
			`{"verbose":false,"user":"alice","pass":"[REDACTED]","name":"good"}`, []string{"s3cretPW"}},
		{"token", `{"verbose":false,"auth_token":"T0kenXYZ","name":"tok"}`,
			`{"verbose":false,"auth_token":"[REDACTED]","name":"tok"}`, []string{"T0kenXYZ"}},
		{"all credentials", `{"pass":"P1","auth_token":"T1","sig":"S1","jwt":"J1","nkey":"N1","user":"u"}`,
			`{"pass":"[REDACTED]","auth_token":"[REDACTED]","sig":"[REDACTED]","jwt":"[REDACTED]","nkey":"[REDACTED]","user":"u"}`,
			[]string{"P1", "T1", "S1", "J1", "N1"}},
		// nats-server leaves `aped"` here; natsd reads the string.
		{"escaped quote", `{"user":"alice","pass":"esc\"aped","name":"n"}`,
			`{"user":"alice","pass":"[REDACTED]","name":"n"}`, []string{"esc", "aped"}},
		{"escaped backslash before quote", `{"pass":"ab\\","x":"y"}`, `{"pass":"[REDACTED]","x":"y"}`, []string{"ab"}},
		{"unicode escape in the value", `{"pass":"\u0053ECRET"}`, `{"pass":"[REDACTED]"}`, []string{"ECRET"}},
		// Keys encoding/json takes for pass (see TestRedactedKeysAreTheDecodedOnes).
		{"unicode escape in the key", `{"verbose":false,"p\u0061ss":"UNIPASS","user":"alice"}`,
			`{"verbose":false,"p\u0061ss":"[REDACTED]","user":"alice"}`, []string{"UNIPASS"}},
		{"escaped key, all escapes", `{"\u0070\u0061\u0073\u0073":"ALLESC"}`, "", []string{"ALLESC"}},
		{"upper case key", `{"PASS":"UPPER","Auth_Token":"MIXED"}`, `{"PASS":"[REDACTED]","Auth_Token":"[REDACTED]"}`, []string{"UPPER", "MIXED"}},
		{"long s folds to s", `{"paſs":"LONGS"}`, `{"paſs":"[REDACTED]"}`, []string{"LONGS"}},
		{"kelvin sign folds to k", `{"n\u212aey":"KELVIN"}`, "", []string{"KELVIN"}},
		{"nested", `{"nested":{"pass":"NESTED","deeper":[{"auth_token":"DEEP"}]},"user":"alice","pass":"TOP"}`,
			`{"nested":{"pass":"[REDACTED]","deeper":[{"auth_token":"[REDACTED]"}]},"user":"alice","pass":"[REDACTED]"}`,
			[]string{"NESTED", "DEEP", "TOP"}},
		{"duplicate keys", `{"pass":"DUP1","pass":"DUP2","user":"alice"}`,
			`{"pass":"[REDACTED]","pass":"[REDACTED]","user":"alice"}`, []string{"DUP1", "DUP2"}},
		{"whitespace", "{ \"pass\" :\t\"WS\" ,\n\"user\" : \"u\" }", "{ \"pass\" :\t\"[REDACTED]\" ,\n\"user\" : \"u\" }", []string{"WS"}},
		{"number", `{"pass":123456,"user":"alice"}`, `{"pass":"[REDACTED]","user":"alice"}`, []string{"123456"}},
		{"negative number", `{"pass":-1.5e7}`, `{"pass":"[REDACTED]"}`, []string{"1.5e7"}},
		{"bool", `{"pass":true}`, `{"pass":"[REDACTED]"}`, []string{"true"}},
		{"object value", `{"pass":{"a":"OBJ","b":["x}"]},"user":"u"}`, `{"pass":"[REDACTED]","user":"u"}`, []string{"OBJ", "x}"}},
		{"array value", `{"sig":["ARR1","]ARR2"]}`, `{"sig":"[REDACTED]"}`, []string{"ARR1", "ARR2"}},
		{"null stays", `{"pass":null,"user":"u"}`, `{"pass":null,"user":"u"}`, nil},
		{"key name as a value", `{"name":"pass","user":"jwt"}`, `{"name":"pass","user":"jwt"}`, nil},
		{"no credentials", `{"verbose":true,"name":"x"}`, `{"verbose":true,"name":"x"}`, nil},
		{"empty object", `{}`, `{}`, nil},
		{"other keys with the name inside", `{"password":"kept","passport":"also"}`, `{"password":"kept","passport":"also"}`, nil},

		// Not JSON: from the first thing that could name a credential on,
		// nothing is kept.
		{"unterminated value", `{"pass":"BROKEN`, `{"pass":[REDACTED]`, []string{"BROKEN"}},
		{"unterminated after escaped quote", `{"user":"a","pass":"x\"SECRET`, `{"user":"a","pass":[REDACTED]`, []string{"SECRET"}},
		{"missing brace", `{"pass":"NOBRACE"`, `{"pass":[REDACTED]`, []string{"NOBRACE"}},
		{"trailing comma", `{"user":"u","pass":"TRAIL",}`, `{"user":"u","pass":[REDACTED]`, []string{"TRAIL"}},
		{"no colon", `{"pass" "NOCOLON"}`, `{"pass"[REDACTED]`, []string{"NOCOLON"}},
		{"bare key", `{pass:"BARE"}`, `{pass:[REDACTED]`, []string{"BARE"}},
		{"single quotes", `{'pass':'SINGLE'}`, `{'pass':[REDACTED]`, []string{"SINGLE"}},
		{"upper bare key", `{user:"u",PaSs:"BAREUP"}`, `{user:"u",PaSs:[REDACTED]`, []string{"BAREUP"}},
		{"escaped key, not JSON", `{"p\u0061ss":"UNIBROKEN"`, `{"p\u0061ss":[REDACTED]`, []string{"UNIBROKEN"}},
		{"bad escape in a key", `{"p\qss":"BADESC"}`, `{"p\qss":[REDACTED]`, []string{"BADESC"}},
		{"value before its key", `{"x":"EARLY" "pass"}`, "", nil},
		{"number key value", `{"pass":12345`, `{"pass":[REDACTED]`, []string{"12345"}},
		{"nothing secret", `{"user":"bob"`, `{"user":"bob"`, nil},
		{"garbage", "\x00\xff{", "\x00\xff{", nil},
		{"empty", ``, ``, nil},
	}
	for _, tt := range tests {
		got := string(redactConnect([]byte(tt.in)))
		if tt.want != "" && got != tt.want {
			t.Errorf("%s: redactConnect(%s)\n got %s\nwant %s", tt.name, tt.in, got, tt.want)
		}
		for _, s := range tt.secrets {
			if strings.Contains(got, s) {
				t.Errorf("%s: %q leaks %q", tt.name, got, s)
			}
		}
		if json.Valid([]byte(tt.in)) && !json.Valid([]byte(got)) {
			t.Errorf("%s: %s is no longer JSON: %s", tt.name, tt.in, got)
		}
	}
}

// TestRedactedKeysAreTheDecodedOnes: the key spellings the redaction
// tests use really do set a credential when natsd decodes a CONNECT — which
// is why they must be redacted.
func TestRedactedKeysAreTheDecodedOnes(t *testing.T) {
	for _, in := range []string{`{"p\u0061ss":"x"}`, `{"PASS":"x"}`, `{"paſs":"x"}`, `{"\u0070\u0061\u0073\u0073":"x"}`} {
		var o connectOpts
		if err := json.Unmarshal([]byte(in), &o); err != nil || o.Pass != "x" {
			t.Errorf("%s: Pass %q (%v), want x", in, o.Pass, err)
		}
	}
	var o connectOpts
	if err := json.Unmarshal([]byte(`{"n\u212aey":"x"}`), &o); err != nil || o.Nkey != "x" {
		t.Errorf("Kelvin sign: Nkey %q (%v), want x", o.Nkey, err)
	}
}

func TestConnectJSONError(t *testing.T) {
	for _, in := range []string{`{"pass":Zsecret}`, `{"pass":"a"Q}`, `{"pass":123}`, `{"protocol":"Zx"}`, `{"pass"`} {
		var o connectOpts
		err := json.Unmarshal([]byte(in), &o)
		if err == nil {
			t.Fatalf("%s decoded", in)
		}
		msg := connectJSONError(err).Error()
		if strings.ContainsAny(msg, "ZQ") || strings.Contains(msg, "123") || msg == "" {
			t.Errorf("%s: %q quotes the input", in, msg)
		}
	}
}

// FuzzRedactConnect: whatever a CONNECT looks like, once redacted it
// decodes (if it did before) to no credential but "[REDACTED]", and stays
// JSON.
func FuzzRedactConnect(f *testing.F) {
	for _, s := range []string{
		`{"verbose":false,"user":"alice","pass":"s3cretPW","name":"good"}`, `{"pass":"esc\"aped"}`,
		`{"p\u0061ss":"UNI"}`, `{"PASS":"U","n\u212aey":"K"}`, `{"nested":{"pass":"N"},"pass":"T"}`,
		`{"pass":"D1","pass":"D2"}`, `{"pass":123}`, `{"pass":"BROKEN`, `{pass:"BARE"}`, `{"sig":["a"],"jwt":{"b":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out := redactConnect(in)
		var before connectOpts
		if json.Unmarshal(in, &before) != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("%q redacted to %q: not JSON", in, out)
		}
		var after connectOpts
		if err := json.Unmarshal(out, &after); err != nil {
			t.Fatalf("%q redacted to %q: %v", in, out, err)
		}
		for _, v := range []string{after.Pass, after.Token, after.Sig, after.JWT, after.Nkey} {
			if v != "" && v != redactedText {
				t.Fatalf("%q redacted to %q still carries %q", in, out, v)
			}
		}
	})
}
