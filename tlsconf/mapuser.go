package tlsconf

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"slices"
	"strings"
)

// verify_and_map, as nats-server v2.15.2 does it (recorded by connecting
// with generated certificates and reading /connz?auth=1's authorized_user;
// see TestMapUserFollowsReference):
//
//  1. each email address of the subject alternative names, in certificate
//     order, then each DNS name, then each URI, matches a user of exactly
//     that name (IP addresses are not tried);
//  2. then the subject, as a distinguished name, if each of its attributes
//     is one of C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER and DC
//     (one other attribute, emailAddress or UID say, and this step is
//     skipped): first the user named exactly as its RFC 4514 string (last
//     RDN first, "CN=alice,OU=Eng,O=Acme,C=US"), then any user whose name,
//     read as a DN, has the same RDNs: in any order, attribute types in any
//     case, spaces around values and separators ignored, escapes (\, or
//     \2C) read, values compared exactly. RDNs are taken as
//     the certificate has them: a multi-valued RDN (CN=x+O=y) matches a
//     user that writes it so, in any order within it (O=y+CN=x), and not
//     one that writes CN=x,O=y. nats-server picks at random among several
//     users that match; natsd picks the first in the config;
//  3. then the user named exactly as Go writes the subject
//     (pkix.Name.ToRDNSequence().String()): Go's own order and grouping
//     (every value of one type in one RDN, "OU=a+OU=b"; CN=x+O=y written
//     "CN=x,O=y"), without the attributes Go has no field for (DC, UID,
//     emailAddress: "CN=gina" for CN=gina,DC=acme,DC=com).
//
// A certificate that maps to no user is refused.

// UserMapper maps a verified client certificate to one of a list of user
// names (verify_and_map). Make one per user list; it is safe for
// concurrent use.
type UserMapper struct {
	users map[string]bool
	dns   []userDN // the names that read as a DN, in config order
}

type userDN struct {
	name string
	rdns []string // canonical RDNs, sorted
}

// NewUserMapper prepares users (the configured user names, in config order).
func NewUserMapper(users []string) *UserMapper {
	m := &UserMapper{users: make(map[string]bool, len(users))}
	for _, u := range users {
		m.users[u] = true
		if rdns, err := parseDN(u); err == nil && len(rdns) > 0 {
			m.dns = append(m.dns, userDN{name: u, rdns: rdns})
		}
	}
	return m
}

// Map returns the user cert maps to, and false if none.
func (m *UserMapper) Map(cert *x509.Certificate) (string, bool) {
	for _, e := range cert.EmailAddresses {
		if m.users[e] {
			return e, true
		}
	}
	for _, d := range cert.DNSNames {
		if m.users[d] {
			return d, true
		}
	}
	for _, u := range cert.URIs {
		if s := u.String(); m.users[s] {
			return s, true
		}
	}
	if s, rdns, ok := subjectDN(cert); ok {
		if m.users[s] {
			return s, true
		}
		for _, u := range m.dns {
			if slices.Equal(u.rdns, rdns) {
				return u.name, true
			}
		}
	}
	if s := cert.Subject.ToRDNSequence().String(); s != "" && m.users[s] {
		return s, true
	}
	return "", false
}

// dnTypes are the attributes of step 2, by OID, with the names a DN
// writes them with.
var dnTypes = map[string]string{
	"2.5.4.6":                    "C",
	"2.5.4.8":                    "ST",
	"2.5.4.7":                    "L",
	"2.5.4.9":                    "STREET",
	"2.5.4.17":                   "POSTALCODE",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.3":                    "CN",
	"2.5.4.5":                    "SERIALNUMBER",
	"0.9.2342.19200300.100.1.25": "DC",
}

// subjectDN is the subject as step 2 reads it, RDN by RDN as the
// certificate has them (a multi-valued RDN stays one): its RFC 4514 string
// and its canonical RDNs (see parseDN), or false if an attribute is not one
// of dnTypes or not a string.
func subjectDN(cert *x509.Certificate) (string, []string, bool) {
	var seq pkix.RDNSequence
	if rest, err := asn1.Unmarshal(cert.RawSubject, &seq); err != nil || len(rest) > 0 || len(seq) == 0 {
		return "", nil, false
	}
	parts := make([]string, 0, len(seq))
	rdns := make([]string, 0, len(seq))
	for i := len(seq) - 1; i >= 0; i-- {
		var written, canon []string
		for _, a := range seq[i] {
			typ, ok := dnTypes[a.Type.String()]
			if !ok {
				return "", nil, false
			}
			v, ok := a.Value.(string)
			if !ok {
				return "", nil, false
			}
			written = append(written, typ+"="+escapeDNValue(v))
			canon = append(canon, typ+"="+v)
		}
		slices.Sort(canon)
		parts = append(parts, strings.Join(written, "+"))
		rdns = append(rdns, strings.Join(canon, "+"))
	}
	slices.Sort(rdns)
	return strings.Join(parts, ","), rdns, true
}

// escapeDNValue escapes a value for an RFC 4514 string.
func escapeDNValue(v string) string {
	var b strings.Builder
	for i, r := range v {
		switch {
		case strings.ContainsRune(`,+"\<>;`, r),
			i == 0 && (r == ' ' || r == '#'),
			i == len(v)-1 && r == ' ':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

var errNotDN = errors.New("not a distinguished name")

// parseDN reads a user name as a DN and returns its RDNs in canonical form
// (each "TYPE=value", the attributes of a multi-valued RDN sorted and
// joined by "+"), sorted, so that two DNs with the same RDNs compare
// equal. A trailing comma is allowed, an empty RDN is not; a type is
// upper-cased; a value loses the spaces around it unless escaped.
func parseDN(s string) ([]string, error) {
	var rdns []string
	var atvs []string
	var cur strings.Builder
	var typ string
	inValue := false
	// trailing counts the unescaped spaces at the end of cur, to trim.
	trailing := 0
	finishATV := func() error {
		if !inValue {
			return errNotDN
		}
		v := cur.String()
		v = v[:len(v)-trailing]
		t := strings.ToUpper(strings.TrimSpace(typ))
		if t == "" {
			return errNotDN
		}
		atvs = append(atvs, t+"="+v)
		cur.Reset()
		typ, inValue, trailing = "", false, 0
		return nil
	}
	finishRDN := func() {
		slices.Sort(atvs)
		rdns = append(rdns, strings.Join(atvs, "+"))
		atvs = nil
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case !inValue && c == '=':
			typ, inValue = cur.String(), true
			cur.Reset()
		case !inValue:
			if c == ',' || c == '+' || c == '\\' {
				return nil, errNotDN
			}
			cur.WriteByte(c)
		case c == '\\':
			if i+1 >= len(s) {
				return nil, errNotDN
			}
			if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
				cur.WriteByte(unhex(s[i+1])<<4 | unhex(s[i+2]))
				i += 2
			} else {
				cur.WriteByte(s[i+1])
				i++
			}
			trailing = 0
		case c == ',' || c == '+':
			if err := finishATV(); err != nil {
				return nil, err
			}
			if c == ',' {
				finishRDN()
				if strings.TrimSpace(s[i+1:]) == "" {
					i = len(s) // a trailing comma ends the DN
				}
			}
		case c == ' ':
			if cur.Len() == 0 {
				continue // a space before the value
			}
			cur.WriteByte(c)
			trailing++
		default:
			cur.WriteByte(c)
			trailing = 0
		}
	}
	if inValue || len(atvs) > 0 {
		if err := finishATV(); err != nil {
			return nil, err
		}
		finishRDN()
	} else if strings.TrimSpace(cur.String()) != "" {
		return nil, errNotDN // text after the last comma that is no attribute
	}
	slices.Sort(rdns)
	return rdns, nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
