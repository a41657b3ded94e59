package tlsconf

import (
	"crypto/x509/pkix"
	"encoding/asn1"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/natsd/natsd/internal/testutil"
)

// OIDs of subject attributes Go's pkix.Name has no field for.
var (
	oidDC    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	oidUID   = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	oidEmail = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
	oidCN    = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidO     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOU    = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidC     = asn1.ObjectIdentifier{2, 5, 4, 6}
)

// rawSubject encodes RDNs in the order given (the first is the most
// significant: C before CN); an RDN of several attributes is multi-valued.
func rawSubject(t *testing.T, rdns ...[]pkix.AttributeTypeAndValue) []byte {
	t.Helper()
	var seq pkix.RDNSequence
	for _, r := range rdns {
		seq = append(seq, pkix.RelativeDistinguishedNameSET(r))
	}
	b, err := asn1.Marshal(seq)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func atv(oid asn1.ObjectIdentifier, v string) []pkix.AttributeTypeAndValue {
	return []pkix.AttributeTypeAndValue{{Type: oid, Value: v}}
}

// mapCase is one certificate and the user names tried against it: match
// are names that map (each alone), miss are names that do not.
type mapCase struct {
	name  string
	spec  testutil.CertSpec
	match []string
	miss  []string
}

// mapCases are the certificates of the recording (see mapuser.go), with
// the names nats-server v2.15.2 accepted and refused for each, one user at
// a time. TestMapUserFollowsReference replays a selection of them against
// the reference.
func mapCases(t *testing.T) []mapCase {
	return []mapCase{
		{name: "SANs and a plain subject",
			spec: testutil.CertSpec{Names: []string{"alice@acme.com", "alice.acme.com"},
				Subject: pkix.Name{Country: []string{"US"}, Organization: []string{"Acme"}, OrganizationalUnit: []string{"Eng"}, CommonName: "alice"}},
			match: []string{"alice@acme.com", "alice.acme.com", "CN=alice,OU=Eng,O=Acme,C=US", "C=US,O=Acme,OU=Eng,CN=alice",
				"CN=alice, OU=Eng, O=Acme, C=US", "cn=alice,ou=Eng,o=Acme,c=US", "OU=Eng,CN=alice,O=Acme,C=US", "CN = alice , OU = Eng,O=Acme,C=US"},
			miss: []string{"CN=alice,OU=Eng,O=Acme", "CN=alice", "alice", "CN=ALICE,OU=Eng,O=Acme,C=US", "CN=alice,OU=Eng,O=Acme,C=US,C=US",
				"commonName=alice,OU=Eng,O=Acme,C=US", "2.5.4.3=alice,OU=Eng,O=Acme,C=US", "CN=alice;OU=Eng;O=Acme;C=US"}},
		{name: "trailing comma, escapes, spaces",
			spec:  testutil.CertSpec{Subject: pkix.Name{Organization: []string{"Acme"}, CommonName: "kim"}},
			match: []string{"CN=kim,O=Acme,", " CN=kim,O=Acme", `CN=k\69m,O=Acme`, "CN= kim,O=Acme", "CN=kim ,O=Acme"},
			miss:  []string{"CN=kim,,O=Acme", `CN=kim,O=Acme\ `, "CN=#13036b696d,O=Acme", "CN=kim+O=Acme", "CN=kim,O=acme"}},
		{name: "special characters",
			spec:  testutil.CertSpec{Subject: pkix.Name{Organization: []string{"Acme+Co"}, CommonName: "Smith, John"}},
			match: []string{`CN=Smith\, John,O=Acme\+Co`, `CN=Smith\2C John,O=Acme\2BCo`, `O=Acme\+Co,CN=Smith\, John`},
			miss:  []string{`CN="Smith, John",O="Acme+Co"`}},
		{name: "emailAddress in the subject: only Go's form",
			spec:  testutil.CertSpec{RawSubject: rawSubject(t, atv(oidCN, "carol"), atv(oidEmail, "carol@acme.com"))},
			match: []string{"CN=carol"},
			miss: []string{"carol@acme.com", "emailAddress=carol@acme.com,CN=carol", "E=carol@acme.com,CN=carol",
				"cn=carol", "CN=carol,1.2.840.113549.1.9.1=#0c0e6361726f6c4061636d652e636f6d"}},
		{name: "multi-valued RDN with UID: only Go's form",
			spec: testutil.CertSpec{RawSubject: rawSubject(t, atv(oidO, "Acme"),
				[]pkix.AttributeTypeAndValue{{Type: oidCN, Value: "dave"}, {Type: oidUID, Value: "d1"}})},
			match: []string{"CN=dave,O=Acme"},
			miss:  []string{"UID=d1+CN=dave,O=Acme", "CN=dave+UID=d1,O=Acme", "CN=dave,UID=d1,O=Acme", "O=Acme,CN=dave"}},
		{name: "domain components",
			spec:  testutil.CertSpec{Names: []string{"gina.acme.com", "gina2.acme.com"}, RawSubject: rawSubject(t, atv(oidDC, "com"), atv(oidDC, "acme"), atv(oidCN, "gina"))},
			match: []string{"CN=gina,DC=acme,DC=com", "CN=gina", "gina.acme.com", "gina2.acme.com", "DC=com,DC=acme,CN=gina", "CN=gina,DC=com,DC=acme", "dc=acme,dc=com,cn=gina"},
			miss:  []string{"CN=gina,DC=acme"}},
		{name: "URI SAN; IP SAN is not tried",
			spec:  testutil.CertSpec{Names: []string{"spiffe://acme/erin", "127.0.0.1"}, Subject: pkix.Name{CommonName: "erin"}},
			match: []string{"spiffe://acme/erin", "CN=erin"},
			miss:  []string{"127.0.0.1", "erin"}},
		{name: "two OUs in one RDN (as Go writes two OUs)",
			spec: testutil.CertSpec{Subject: pkix.Name{Country: []string{"US"}, Province: []string{"CA"}, Locality: []string{"LA"},
				Organization: []string{"Acme"}, OrganizationalUnit: []string{"Eng", "Ops"}, CommonName: "hank"}},
			match: []string{"CN=hank,OU=Eng+OU=Ops,O=Acme,L=LA,ST=CA,C=US", "CN=hank,OU=Ops+OU=Eng,O=Acme,L=LA,ST=CA,C=US",
				"cn=hank,ou=Eng+ou=Ops,o=Acme,l=LA,st=CA,c=US", "C=US,ST=CA,L=LA,O=Acme,OU=Eng+OU=Ops,CN=hank",
				"CN=hank, OU=Eng + OU=Ops, O=Acme, L=LA, ST=CA, C=US"},
			miss: []string{"CN=hank,OU=Eng,OU=Ops,O=Acme,L=LA,ST=CA,C=US", "CN=hank,OU=Ops,OU=Eng,O=Acme,L=LA,ST=CA,C=US",
				"CN=hank,OU=Eng,O=Acme,L=LA,ST=CA,C=US", "CN=hank,OU=Eng+OU=Eng,O=Acme,L=LA,ST=CA,C=US"}},
		{name: "two OUs in two RDNs (as openssl writes them)",
			spec: testutil.CertSpec{RawSubject: rawSubject(t, atv(oidC, "US"), atv(oidO, "Acme"), atv(oidOU, "Eng"), atv(oidOU, "Ops"), atv(oidCN, "hank"))},
			match: []string{"CN=hank,OU=Ops,OU=Eng,O=Acme,C=US", "CN=hank,OU=Eng,OU=Ops,O=Acme,C=US", "OU=Eng,CN=hank,OU=Ops,O=Acme,C=US",
				"CN=hank,OU=Eng+OU=Ops,O=Acme,C=US"}, // the last is Go's string (step 3)
			miss: []string{"CN=hank,OU=Ops+OU=Eng,O=Acme,C=US", "CN=hank,OU=Eng,O=Acme,C=US", "CN=hank,OU=Eng,OU=Eng,O=Acme,C=US",
				"cn=hank,ou=Eng+ou=Ops,o=Acme,c=US", "C=US,O=Acme,OU=Eng+OU=Ops,CN=hank"}},
		{name: "a multi-valued RDN of two types",
			spec: testutil.CertSpec{RawSubject: rawSubject(t, atv(oidC, "US"),
				[]pkix.AttributeTypeAndValue{{Type: oidCN, Value: "x"}, {Type: oidO, Value: "y"}})},
			match: []string{"CN=x+O=y,C=US", "O=y+CN=x,C=US", "C=US,CN=x+O=y", "cn=x+o=y,c=US",
				"CN=x,O=y,C=US"}, // Go's string (step 3)
			miss: []string{"O=y,CN=x,C=US", "CN=x,C=US"}},
		{name: "serial number, street, postal code",
			spec: testutil.CertSpec{Subject: pkix.Name{CommonName: "ivy", SerialNumber: "123", StreetAddress: []string{"Main St"}, PostalCode: []string{"9999"}}},
			match: []string{"SERIALNUMBER=123,CN=ivy,POSTALCODE=9999,STREET=Main St", "postalCode=9999,street=Main St,serialNumber=123,CN=ivy",
				"CN=ivy,SERIALNUMBER=123,STREET=Main St,POSTALCODE=9999"},
			miss: []string{"CN=ivy"}},
	}
}

func TestMapUser(t *testing.T) {
	ca := testutil.NewCA(t, "map CA")
	for _, c := range mapCases(t) {
		t.Run(c.name, func(t *testing.T) {
			leaf := ca.IssueSpec(t, c.spec).Leaf
			for _, u := range c.match {
				if got, ok := NewUserMapper([]string{"someone else", u}).Map(leaf); !ok || got != u {
					t.Errorf("%q: got %q %v, want it to map (subject %s)", u, got, ok, leaf.Subject)
				}
			}
			for _, u := range c.miss {
				if got, ok := NewUserMapper([]string{u}).Map(leaf); ok {
					t.Errorf("%q mapped (as %q), nats-server refuses it (subject %s)", u, got, leaf.Subject)
				}
			}
		})
	}
}

// TestMapUserPrecedence: emails, then DNS names, then URIs, then the
// subject; among equivalent DNs the exact RFC 4514 string first
// (recorded: 6 of 6 connections each time), then the first in the config
// (nats-server picks at random there).
func TestMapUserPrecedence(t *testing.T) {
	ca := testutil.NewCA(t, "map CA")
	leaf := ca.IssueSpec(t, testutil.CertSpec{
		Names:   []string{"spiffe://acme/kim", "kim.acme.com", "kim@acme.com", "kim2@acme.com", "kim2.acme.com"},
		Subject: pkix.Name{Organization: []string{"Acme"}, CommonName: "kim"},
	}).Leaf
	users := []string{"O=Acme, CN=kim", "CN=kim,O=Acme", "spiffe://acme/kim", "kim2.acme.com", "kim.acme.com", "kim2@acme.com", "kim@acme.com"}
	for _, want := range []string{"kim@acme.com", "kim2@acme.com", "kim.acme.com", "kim2.acme.com", "spiffe://acme/kim", "CN=kim,O=Acme", "O=Acme, CN=kim"} {
		got, ok := NewUserMapper(users).Map(leaf)
		if !ok || got != want {
			t.Fatalf("users %q: got %q, want %q", users, got, want)
		}
		for i, u := range users {
			if u == want {
				users = append(users[:i:i], users[i+1:]...)
			}
		}
	}
	if got, ok := NewUserMapper(nil).Map(leaf); ok {
		t.Fatalf("no users, mapped to %q", got)
	}
	// The DN step comes before Go's subject string.
	gina := ca.IssueSpec(t, testutil.CertSpec{RawSubject: rawSubject(t, atv(oidDC, "com"), atv(oidDC, "acme"), atv(oidCN, "gina"))}).Leaf
	if got, _ := NewUserMapper([]string{"CN=gina", "DC=com,DC=acme,CN=gina"}).Map(gina); got != "DC=com,DC=acme,CN=gina" {
		t.Fatalf("got %q", got)
	}
	hank := ca.IssueSpec(t, testutil.CertSpec{RawSubject: rawSubject(t, atv(oidO, "Acme"), atv(oidOU, "Eng"), atv(oidOU, "Ops"), atv(oidCN, "hank"))}).Leaf
	if got, _ := NewUserMapper([]string{"CN=hank,OU=Eng+OU=Ops,O=Acme", "CN=hank,OU=Ops,OU=Eng,O=Acme"}).Map(hank); got != "CN=hank,OU=Ops,OU=Eng,O=Acme" {
		t.Fatalf("got %q", got)
	}
}

func TestParseDN(t *testing.T) {
	cases := []struct {
		in   string
		want string // canonical RDNs joined by " | "; "!" for not a DN
	}{
		{"CN=a,O=b", "CN=a | O=b"},
		{"o=b, cn=a", "CN=a | O=b"},
		{"CN=a+UID=x,O=b", "CN=a+UID=x | O=b"},
		{"UID=x+CN=a,O=b", "CN=a+UID=x | O=b"},
		{`CN=a\,b\2Bc\20`, "CN=a,b+c "},
		{"CN=  a  ", "CN=a"},
		{"CN=a,", "CN=a"},
		{"CN=a=b", "CN=a=b"},
		{"CN=", "CN="},
		{"alice", "!"},
		{"alice@acme.com", "!"},
		{"CN=a,,O=b", "!"},
		{",CN=a", "!"},
		{"=a", "!"},
		{`CN=a\`, "!"},
		{"CN=a,O", "!"},
		{"C\\N=a", "!"},
	}
	for _, c := range cases {
		rdns, err := parseDN(c.in)
		got := strings.Join(rdns, " | ")
		if err != nil {
			got = "!"
		}
		if got != c.want {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzParseDN: any input parses or is refused without a panic, and a DN
// written from any two values with escapeDNValue reads back as exactly
// those values.
func FuzzParseDN(f *testing.F) {
	for _, s := range [][2]string{{"a", "b"}, {"Smith, John", "Acme+Co"}, {"  x ", "#y"}, {`\`, ""}, {"a=b;c", "<>\""}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		_, _ = parseDN(a)
		if !utf8.ValidString(a) || !utf8.ValidString(b) {
			return
		}
		dn := "CN=" + escapeDNValue(a) + ",O=" + escapeDNValue(b)
		rdns, err := parseDN(dn)
		if err != nil {
			t.Fatalf("%q: %v", dn, err)
		}
		want := []string{"CN=" + a, "O=" + b}
		slices.Sort(want)
		if !slices.Equal(rdns, want) {
			t.Fatalf("%q read as %q, want %q", dn, rdns, want)
		}
	})
}
