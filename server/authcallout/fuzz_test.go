package authcallout

import (
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

// FuzzDecodeResponse feeds arbitrary bytes, as a service (or anyone who
// can publish to the reply inbox) may send them, to the response checks,
// with and without an xkey: they must never panic, and must accept nothing
// but a response the issuer signed (or the service's xkey sealed) for this
// user and server.
func FuzzDecodeResponse(f *testing.F) {
	issuer, _ := nkeys.CreateAccount()
	ipub, _ := issuer.PublicKey()
	srv, _ := nkeys.CreateServer()
	srvPub, _ := srv.PublicKey()
	user, _ := nkeys.CreateUser()
	userPub, _ := user.PublicKey()
	serverX, _ := nkeys.CreateCurveKeys()
	serverXPub, _ := serverX.PublicKey()
	serviceX, _ := nkeys.CreateCurveKeys()
	serviceXPub, _ := serviceX.PublicKey()

	uc := jwt.NewUserClaims(userPub)
	uc.Audience = "APP"
	ujwt, _ := uc.Encode(issuer)
	resp := jwt.NewAuthorizationResponseClaims(userPub)
	resp.Audience = srvPub
	resp.Jwt = ujwt
	good, _ := resp.Encode(issuer)
	refused := jwt.NewAuthorizationResponseClaims(userPub)
	refused.Audience = srvPub
	refused.Error = "no"
	bad, _ := refused.Encode(issuer)
	sealed, _ := serviceX.Seal([]byte(good), serverXPub)
	for _, seed := range [][]byte{[]byte(good), []byte(bad), sealed, []byte("eyJ"), []byte("a.b.c"), {}, []byte(good[:len(good)-3])} {
		f.Add(seed, false)
		f.Add(seed, true)
	}
	plain := &verifier{issuer: ipub, serverID: srvPub, account: "AUTH"}
	withX := &verifier{issuer: ipub, serverID: srvPub, account: "AUTH", xkp: serverX, xkey: serviceXPub}
	f.Fuzz(func(t *testing.T, msg []byte, xkey bool) {
		v := plain
		if xkey {
			v = withX
		}
		got, err := v.decode(msg, userPub)
		if err != nil {
			return
		}
		if got == nil || got.Subject != userPub {
			t.Fatalf("accepted %q: user claims %+v", msg, got)
		}
		// Accepted: it must be the issuer's response, or sealed by the
		// service's key (opening it again tells).
		if opened, oerr := serverX.Open(msg, serviceXPub); xkey && oerr == nil {
			msg = opened
		}
		cr, err := jwt.DecodeAuthorizationResponseClaims(string(msg))
		if err != nil || cr.Issuer != ipub || cr.Audience != srvPub || cr.Subject != userPub {
			t.Fatalf("accepted %q, which is not the issuer's response for this user and server (%v)", msg, err)
		}
		if _, err := v.userAccount(got, userPub); err != nil && got.Issuer == ipub && got.IssuerAccount == "" {
			vr := jwt.CreateValidationResults()
			got.Validate(vr)
			if len(vr.Issues) == 0 {
				t.Fatalf("a valid user JWT by the issuer refused: %v", err)
			}
		}
	})
}
