package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// An operator, its system account and accounts, made fresh for each test
// with nkeys and jwt/v2 (no secret is committed).
type operator struct {
	t      *testing.T
	kp     nkeys.KeyPair
	pub    string
	jwt    string
	sys    *account
	jwtDir string
}

type account struct {
	op     *operator
	kp     nkeys.KeyPair
	pub    string
	claims *jwt.AccountClaims
	signer nkeys.KeyPair // a signing key the account lists
}

func newOperator(t *testing.T) *operator {
	t.Helper()
	kp, err := nkeys.CreateOperator()
	if err != nil {
		t.Fatal(err)
	}
	op := &operator{t: t, kp: kp}
	op.pub, _ = kp.PublicKey()
	op.sys = op.newAccount("SYS", nil)
	oc := jwt.NewOperatorClaims(op.pub)
	oc.Name = "O"
	oc.SystemAccount = op.sys.pub
	if op.jwt, err = oc.Encode(kp); err != nil {
		t.Fatal(err)
	}
	return op
}

// newAccount makes an account with a signing key; edit adjusts its claims.
func (op *operator) newAccount(name string, edit func(*jwt.AccountClaims)) *account {
	op.t.Helper()
	kp, _ := nkeys.CreateAccount()
	sk, _ := nkeys.CreateAccount()
	a := &account{op: op, kp: kp, signer: sk}
	a.pub, _ = kp.PublicKey()
	a.claims = jwt.NewAccountClaims(a.pub)
	a.claims.Name = name
	skPub, _ := sk.PublicKey()
	a.claims.SigningKeys.Add(skPub)
	if edit != nil {
		edit(a.claims)
	}
	return a
}

// JWT encodes the account's claims now, signed by the operator (a later
// call is newer: JWTs carry their issue time in seconds, so one second
// passes between versions of the same account that must be ordered).
func (a *account) JWT() string {
	a.op.t.Helper()
	tok, err := a.claims.Encode(a.op.kp)
	if err != nil {
		a.op.t.Fatal(err)
	}
	return tok
}

// user makes a user of the account signed by signer (the account's key
// when nil); edit adjusts its claims.
func (a *account) user(signer nkeys.KeyPair, edit func(*jwt.UserClaims)) (string, nkeys.KeyPair) {
	a.op.t.Helper()
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	uc := jwt.NewUserClaims(pub)
	uc.Name = "u"
	if signer == nil {
		signer = a.kp
	} else {
		uc.IssuerAccount = a.pub
	}
	if edit != nil {
		edit(uc)
	}
	tok, err := uc.Encode(signer)
	if err != nil {
		a.op.t.Fatal(err)
	}
	return tok, kp
}

// creds writes a user's credentials file, as nsc does.
func (a *account) creds(tok string, kp nkeys.KeyPair) string {
	a.op.t.Helper()
	seed, _ := kp.Seed()
	b, err := jwt.FormatUserConfig(tok, seed)
	if err != nil {
		a.op.t.Fatal(err)
	}
	p := filepath.Join(a.op.t.TempDir(), "user.creds")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		a.op.t.Fatal(err)
	}
	return p
}

// connectUser connects as a new user of the account with nats.go's
// UserCredentials (a creds file).
func (a *account) connectUser(url string, opts ...nats.Option) *nats.Conn {
	a.op.t.Helper()
	tok, kp := a.user(nil, nil)
	return connect(a.op.t, url, append([]nats.Option{nats.UserCredentials(a.creds(tok, kp))}, opts...)...)
}

// memoryConf is operator mode with the MEMORY resolver and these accounts
// preloaded (the system account always).
func (op *operator) memoryConf(accs ...*account) string {
	return op.conf("resolver: MEMORY", accs...)
}

// fullConf is operator mode with a full directory resolver (op.jwtDir).
func (op *operator) fullConf(accs ...*account) string {
	if op.jwtDir == "" {
		op.jwtDir = filepath.Join(op.t.TempDir(), "jwt")
	}
	return op.conf(fmt.Sprintf("resolver { type: full, dir: %q }", op.jwtDir), accs...)
}

func (op *operator) conf(resolver string, accs ...*account) string {
	opFile := filepath.Join(op.t.TempDir(), "op.jwt")
	if err := os.WriteFile(opFile, []byte(op.jwt), 0o644); err != nil {
		op.t.Fatal(err)
	}
	var pre []string
	for _, a := range append([]*account{op.sys}, accs...) {
		pre = append(pre, fmt.Sprintf("  %s: %s", a.pub, a.JWT()))
	}
	return fmt.Sprintf("operator: %q\nsystem_account: %s\n%s\nresolver_preload {\n%s\n}\n", opFile, op.sys.pub, resolver, strings.Join(pre, "\n"))
}

// claimsReply is the system account's answer to a claims update.
type claimsReply struct {
	Server struct {
		ID string `json:"id"`
	} `json:"server"`
	Data *struct {
		Account string `json:"account"`
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"data"`
	Error *struct {
		Account     string `json:"account"`
		Code        int    `json:"code"`
		Description string `json:"description"`
	} `json:"error"`
}

// push sends an account JWT on subject from a system account connection
// and returns the server's answer.
func push(t *testing.T, sys *nats.Conn, subject, token string) claimsReply {
	t.Helper()
	m, err := sys.Request(subject, []byte(token), 5*time.Second)
	if err != nil {
		t.Fatalf("push on %s: %v", subject, err)
	}
	var r claimsReply
	if err := json.Unmarshal(m.Data, &r); err != nil || r.Server.ID == "" {
		t.Fatalf("push on %s: answer %q (%v)", subject, m.Data, err)
	}
	return r
}

// rawJWTConnect connects with a user JWT over the raw protocol, signing
// the nonce with kp (none when nil), and returns what the server said.
func rawJWTConnect(t *testing.T, addr, tok string, kp nkeys.KeyPair) []string {
	t.Helper()
	var sign func(string) string
	if kp != nil {
		sign = func(n string) string { return signNonce(t, kp, n) }
	}
	_, lines := rawConnect(t, addr, map[string]any{"jwt": tok}, sign)
	return lines
}
