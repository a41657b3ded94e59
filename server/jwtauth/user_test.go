package jwtauth

import (
	"net"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"

	"github.com/natsd/natsd/server"
)

func TestInTimes(t *testing.T) {
	at := func(hms string) time.Time {
		d, _ := time.Parse("15:04:05", hms)
		return time.Date(2026, 1, 2, d.Hour(), d.Minute(), d.Second(), 0, time.UTC)
	}
	day := []jwt.TimeRange{{Start: "09:00:00", End: "17:00:00"}}
	night := []jwt.TimeRange{{Start: "22:00:00", End: "06:00:00"}}
	tests := []struct {
		ranges []jwt.TimeRange
		now    string
		want   bool
	}{
		{day, "12:00:00", true}, {day, "09:00:00", true}, {day, "17:00:01", false}, {day, "08:59:59", false},
		{night, "23:30:00", true}, {night, "05:00:00", true}, {night, "12:00:00", false},
		{[]jwt.TimeRange{{Start: "bad", End: "17:00:00"}}, "12:00:00", false},
	}
	for _, tt := range tests {
		if got := inTimes(tt.ranges, "UTC", at(tt.now)); got != tt.want {
			t.Errorf("%v at %s: %v, want %v", tt.ranges, tt.now, got, tt.want)
		}
	}
}

func TestSrcAllowed(t *testing.T) {
	src := jwt.CIDRList{"10.0.0.0/8", "192.0.2.7", " 2001:db8::/32"}
	for ip, want := range map[string]bool{"10.1.2.3": true, "192.0.2.7": true, "192.0.2.8": false, "2001:db8::1": true, "127.0.0.1": false} {
		if got := srcAllowed(src, net.ParseIP(ip)); got != want {
			t.Errorf("%s: %v, want %v", ip, got, want)
		}
	}
	if srcAllowed(src, nil) {
		t.Error("an unknown address passed a source restriction")
	}
}

// TestImportOf: an import becomes a server import only when the exporter
// exports it — publicly, or privately with an activation token the
// exporter issued to the importer.
func TestImportOf(t *testing.T) {
	expKP, _ := nkeys.CreateAccount()
	expPub, _ := expKP.PublicKey()
	impKP, _ := nkeys.CreateAccount()
	impPub, _ := impKP.PublicKey()
	otherKP, _ := nkeys.CreateAccount()
	otherPub, _ := otherKP.PublicKey()
	exp := jwt.NewAccountClaims(expPub)
	exp.Exports.Add(&jwt.Export{Subject: "public.>", Type: jwt.Stream},
		&jwt.Export{Subject: "private.>", Type: jwt.Service, TokenReq: true})
	activation := func(to string, signer nkeys.KeyPair) string {
		act := jwt.NewActivationClaims(to)
		act.ImportSubject = "private.>"
		act.ImportType = jwt.Service
		tok, err := act.Encode(signer)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tests := []struct {
		name string
		im   *jwt.Import
		want *server.Import
	}{
		{"public stream, prefixed", &jwt.Import{Account: expPub, Subject: "public.x", Type: jwt.Stream, To: "p"},
			&server.Import{Account: expPub, Subject: "public.x", Prefix: "p"}},
		{"public stream, local subject", &jwt.Import{Account: expPub, Subject: "public.*", Type: jwt.Stream, LocalSubject: "mine.$1"},
			&server.Import{Account: expPub, Subject: "public.*", To: "mine.*"}},
		{"public stream, traced on", &jwt.Import{Account: expPub, Subject: "public.x", Type: jwt.Stream, AllowTrace: true},
			&server.Import{Account: expPub, Subject: "public.x", AllowTrace: true}},
		{"not exported", &jwt.Import{Account: expPub, Subject: "other.x", Type: jwt.Stream}, nil},
		{"wrong kind", &jwt.Import{Account: expPub, Subject: "public.x", Type: jwt.Service}, nil},
		{"private without a token", &jwt.Import{Account: expPub, Subject: "private.q", Type: jwt.Service}, nil},
		{"private with a token", &jwt.Import{Account: expPub, Subject: "private.q", Type: jwt.Service, Token: activation(impPub, expKP)},
			&server.Import{Service: true, Account: expPub, Subject: "private.q"}},
		{"token for another account", &jwt.Import{Account: expPub, Subject: "private.q", Type: jwt.Service, Token: activation(otherPub, expKP)}, nil},
		{"token not the exporter's", &jwt.Import{Account: expPub, Subject: "private.q", Type: jwt.Service, Token: activation(impPub, otherKP)}, nil},
	}
	for _, tt := range tests {
		got, why := importOf(impPub, tt.im, exp)
		switch {
		case tt.want == nil && got != nil:
			t.Errorf("%s: imported %+v", tt.name, got)
		case tt.want != nil && (got == nil || *got != *tt.want):
			t.Errorf("%s: %+v (%s), want %+v", tt.name, got, why, tt.want)
		}
	}
}

// TestConfigForTrace: an account JWT's message tracing settings (trace,
// and allow_trace on a service export) reach the server's account.
func TestConfigForTrace(t *testing.T) {
	kp, _ := nkeys.CreateAccount()
	pub, _ := kp.PublicKey()
	ac := jwt.NewAccountClaims(pub)
	ac.Exports.Add(&jwt.Export{Subject: "svc.>", Type: jwt.Service, AllowTrace: true})
	ac.Trace = &jwt.MsgTrace{Destination: "acc.traces", Sampling: 25}
	cfg := (&Auth{loaded: map[string]*jwt.AccountClaims{pub: ac}}).configFor(ac)
	if cfg.MsgTrace == nil || *cfg.MsgTrace != (server.MsgTraceConfig{Dest: "acc.traces", Sampling: 25}) {
		t.Errorf("MsgTrace %+v", cfg.MsgTrace)
	}
	if len(cfg.Exports) != 1 || !cfg.Exports[0].AllowTrace {
		t.Errorf("exports %+v", cfg.Exports)
	}
	ac.Trace = nil
	if cfg := (&Auth{}).configFor(ac); cfg.MsgTrace != nil {
		t.Errorf("MsgTrace without trace claims: %+v", cfg.MsgTrace)
	}
}
