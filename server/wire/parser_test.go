package wire

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// recorder logs every handler call as one line of text.
type recorder struct {
	events  []string
	headers bool
}

func (r *recorder) add(f string, a ...any) error {
	r.events = append(r.events, fmt.Sprintf(f, a...))
	return nil
}
func (r *recorder) Connect(arg []byte) error { return r.add("CONNECT %s", arg) }
func (r *recorder) Info(arg []byte) error    { return r.add("INFO %s", arg) }
func (r *recorder) Pub(m *Msg) error {
	return r.add("PUB subj=%q reply=%q size=%s hdr=%s hdrlen=%d data=%q", m.Subject, m.Reply, m.SizeField, m.HdrField, m.HdrLen, m.Data)
}
func (r *recorder) Sub(subject, queue, sid []byte) error {
	return r.add("SUB %q %q %q", subject, queue, sid)
}
func (r *recorder) Unsub(sid []byte, max int64) error { return r.add("UNSUB %q %d", sid, max) }
func (r *recorder) Ping() error                       { return r.add("PING") }
func (r *recorder) Pong() error                       { return r.add("PONG") }
func (r *recorder) OK() error                         { return r.add("+OK") }
func (r *recorder) Err(arg []byte) error              { return r.add("-ERR %s", arg) }
func (r *recorder) RouteSub(acc, subject, queue []byte, weight int32) error {
	return r.add("RS+ %s %s %q %d", acc, subject, queue, weight)
}
func (r *recorder) RouteUnsub(acc, subject, queue []byte) error {
	return r.add("RS- %s %s %q", acc, subject, queue)
}
func (r *recorder) RouteMsg(m *Msg) error {
	return r.add("RMSG acc=%s subj=%s reply=%q queues=%q size=%s hdr=%s data=%q", m.Account, m.Subject, m.Reply, m.Queues, m.SizeField, m.HdrField, m.Data)
}

type parseCase struct {
	name    string
	in      string
	route   bool
	headers bool
	limits  Limits
	want    []string
	err     ErrKind // 0: no error
}

var clientLimits = Limits{MaxControlLine: 64, MaxPayload: 32}

var parseCases = []parseCase{
	{name: "ping", in: "PING\r\n", want: []string{"PING"}},
	{name: "ping lower, trailing bytes", in: "pingxyz\r\nPoNg\r\n+ok\r\n+OKabc\n", want: []string{"PING", "PONG", "+OK", "+OK"}},
	{name: "ping trailing bytes beyond limit", in: "PING" + strings.Repeat("z", 200) + "\r\n", want: []string{"PING"}},
	{name: "pub", in: "PUB foo 5\r\nhello\r\n", want: []string{`PUB subj="foo" reply="" size=5 hdr= hdrlen=0 data="hello"`}},
	{name: "pub reply tabs runs", in: "pub\tfoo  \t bar\t5 \r\nhello\r\n", want: []string{`PUB subj="foo" reply="bar" size=5 hdr= hdrlen=0 data="hello"`}},
	{name: "pub size as written", in: "PUB foo 005\r\nhello\r\n", want: []string{`PUB subj="foo" reply="" size=005 hdr= hdrlen=0 data="hello"`}},
	{name: "pub zero", in: "PUB foo 0\r\n\r\n", want: []string{`PUB subj="foo" reply="" size=0 hdr= hdrlen=0 data=""`}},
	{name: "pub payload with crlf", in: "PUB foo 6\r\na\r\nb\r\n\r\n", want: []string{`PUB subj="foo" reply="" size=6 hdr= hdrlen=0 data="a\r\nb\r\n"`}},
	{name: "bare lf control lines", in: "SUB foo 1\nPUB foo 2\nhi\r\nPING\n", want: []string{`SUB "foo" "" "1"`, `PUB subj="foo" reply="" size=2 hdr= hdrlen=0 data="hi"`, "PING"}},
	{name: "payload bare lf", in: "PUB foo 5\r\nhello\nPING\r\n", err: UnknownOp},
	{name: "payload too long", in: "PUB foo 3\r\nhello\r\n", err: UnknownOp},
	{name: "payload short then ping", in: "PUB foo 10\r\nhello\r\nPING\r\n", err: UnknownOp},
	{name: "payload cr cr lf", in: "PUB foo 1\r\nx\r\r\n", err: UnknownOp},
	{name: "pub one arg", in: "PUB foo\r\n", err: BadArgs},
	{name: "pub four args", in: "PUB a b c 1\r\n", err: BadArgs},
	{name: "pub no args", in: "PUB\r\n", err: UnknownOp},
	{name: "pub space only", in: "PUB  \r\n", err: BadArgs},
	{name: "pubx", in: "PUBX foo 1\r\n", err: UnknownOp},
	{name: "pub bad size", in: "PUB foo abc\r\n", err: BadArgs},
	{name: "pub negative size", in: "PUB foo -1\r\n", err: BadArgs},
	{name: "pub ten digit size", in: "PUB foo 0000000001\r\n", err: BadArgs},
	{name: "pub nine digit size", in: "PUB foo 000000001\r\nx\r\n", want: []string{`PUB subj="foo" reply="" size=000000001 hdr= hdrlen=0 data="x"`}},
	{name: "pub over max payload", in: "PUB foo 33\r\n", limits: clientLimits, err: MaxPayload},
	{name: "pub at max payload", in: "PUB foo 32\r\n" + strings.Repeat("x", 32) + "\r\n", limits: clientLimits, want: []string{`PUB subj="foo" reply="" size=32 hdr= hdrlen=0 data="` + strings.Repeat("x", 32) + `"`}},
	{name: "hpub", in: "HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", headers: true, want: []string{`PUB subj="foo" reply="" size=14 hdr=12 hdrlen=12 data="NATS/1.0\r\n\r\nhi"`}},
	{name: "hpub reply", in: "HPUB foo bar 12 14\r\nNATS/1.0\r\n\r\nhi\r\n", headers: true, want: []string{`PUB subj="foo" reply="bar" size=14 hdr=12 hdrlen=12 data="NATS/1.0\r\n\r\nhi"`}},
	{name: "hpub hdr zero is plain", in: "HPUB foo 0 5\r\nhello\r\n", headers: true, want: []string{`PUB subj="foo" reply="" size=5 hdr= hdrlen=0 data="hello"`}},
	{name: "hpub without headers", in: "HPUB foo 12 14\r\n", err: HeadersNotSupported},
	{name: "hpub hdr over total", in: "HPUB foo 12 5\r\n", headers: true, err: BadArgs},
	{name: "hpub total over max", in: "HPUB foo 12 33\r\n", headers: true, limits: clientLimits, err: MaxPayload},
	{name: "sub", in: "SUB foo 1\r\nsub foo q 2\r\nSuB foo  3\r\n", want: []string{`SUB "foo" "" "1"`, `SUB "foo" "q" "2"`, `SUB "foo" "" "3"`}},
	{name: "sub splits at cr", in: "SUB a\rb 1\r\n", want: []string{`SUB "a" "b" "1"`}},
	{name: "sub one arg", in: "SUB foo\r\n", err: BadArgs},
	{name: "sub four args", in: "SUB foo q x 1\r\n", err: BadArgs},
	{name: "sub at control line limit", in: "SUB " + strings.Repeat("s", 62) + " 1\r\n", limits: clientLimits, want: []string{`SUB "` + strings.Repeat("s", 62) + `" "" "1"`}},
	{name: "sub over control line limit", in: "SUB " + strings.Repeat("s", 63) + " 1\r\n", limits: clientLimits, err: MaxControlLine},
	{name: "sub over limit without lf", in: "SUB " + strings.Repeat("t", 100), limits: clientLimits, err: MaxControlLine},
	{name: "connect over limit without lf", in: "CONNECT {" + strings.Repeat("t", 100), limits: clientLimits, err: MaxControlLine},
	{name: "unsub", in: "UNSUB 1\r\nunsub  1 \t 2 \r\nUNSUB 1 abc\r\nUNSUB 1 +2\r\n", want: []string{`UNSUB "1" 0`, `UNSUB "1" 2`, `UNSUB "1" -1`, `UNSUB "1" -1`}},
	{name: "unsub three args", in: "UNSUB 1 2 3\r\n", err: BadArgs},
	{name: "unsub bare", in: "UNSUB\r\n", err: UnknownOp},
	{name: "connect", in: "CONNECT {\"verbose\":true}\r\nconnect{}\r\nCONNECT\r\n", want: []string{`CONNECT {"verbose":true}`, "CONNECT {}", "CONNECT "}},
	{name: "info from client", in: "info {}\r\nINFOxyz\r\n", want: []string{"INFO {}", "INFO xyz"}},
	{name: "err from client", in: "-ERR 'oops'\r\n", want: []string{"-ERR 'oops'"}},
	{name: "err without space", in: "-ERRx\r\n", err: UnknownOp},
	{name: "unknown", in: "FOO bar\r\n", err: UnknownOp},
	{name: "unknown without lf", in: "FOO", err: UnknownOp},
	{name: "empty line", in: "\r\n", err: UnknownOp},
	{name: "leading space", in: " PING\r\n", err: UnknownOp},
	{name: "pin", in: "PIN\r\n", err: UnknownOp},
	{name: "msg from client", in: "MSG foo 1 2\r\nhi\r\n", err: UnknownOp},
	{name: "rmsg from client", in: "RMSG $G foo 2\r\nhi\r\n", err: UnknownOp},
	{name: "route rs+", route: true, in: "RS+ $G foo\r\nRS+ $G foo grp 3\r\nrs- $G foo\r\nRS- $G foo grp\r\n", want: []string{`RS+ $G foo "" 0`, `RS+ $G foo "grp" 3`, `RS- $G foo ""`, `RS- $G foo "grp"`}},
	{name: "route rs+ no account", route: true, in: "RS+ foo\r\n", err: BadArgs},
	{name: "route rmsg", route: true, in: "RMSG $G foo 2\r\nhi\r\nRMSG $G foo r 2\r\nhi\r\nRMSG $G mq + r g1 g2 1\r\nx\r\nRMSG $G xq | grp 3\r\nabc\r\n",
		want: []string{
			`RMSG acc=$G subj=foo reply="" queues=[] size=2 hdr= data="hi"`,
			`RMSG acc=$G subj=foo reply="r" queues=[] size=2 hdr= data="hi"`,
			`RMSG acc=$G subj=mq reply="r" queues=["g1" "g2"] size=1 hdr= data="x"`,
			`RMSG acc=$G subj=xq reply="" queues=["grp"] size=3 hdr= data="abc"`,
		}},
	{name: "route hmsg", route: true, in: "HMSG $G foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n", want: []string{`RMSG acc=$G subj=foo reply="" queues=[] size=17 hdr=12 data="NATS/1.0\r\n\r\nhello"`}},
	{name: "route rmsg truncated", route: true, in: "RMSG $G\r\n", err: BadArgs},
	{name: "route rmsg bad marker", route: true, in: "RMSG $G foo x y z 1\r\n", err: BadArgs},
	{name: "route pub is unknown", route: true, in: "PUB foo 1\r\nx\r\n", err: UnknownOp},
}

func runParse(t testing.TB, c parseCase, chunks [][]byte) ([]string, error) {
	t.Helper()
	r := &recorder{}
	var p *Parser
	if c.route {
		p = NewRouteParser(r, c.limits)
	} else {
		p = NewClientParser(r, c.limits)
	}
	p.Headers = c.headers
	for _, ch := range chunks {
		if err := p.Parse(ch); err != nil {
			return r.events, err
		}
	}
	return r.events, nil
}

func checkResult(t *testing.T, c parseCase, got []string, err error, how string) {
	t.Helper()
	var perr *Error
	switch {
	case c.err == 0 && err != nil:
		t.Fatalf("%s: unexpected error %v (events %q)", how, err, got)
	case c.err != 0 && (!errors.As(err, &perr) || perr.Kind != c.err):
		t.Fatalf("%s: error = %v, want kind %d", how, err, c.err)
	}
	if c.err != 0 && c.want == nil {
		return
	}
	if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
		t.Fatalf("%s:\n got %q\nwant %q", how, got, c.want)
	}
}

func TestParse(t *testing.T) {
	for _, c := range parseCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := runParse(t, c, [][]byte{[]byte(c.in)})
			checkResult(t, c, got, err, "whole")
			// The same bytes split at every offset, and one byte at a time,
			// must give the same result: reads end anywhere.
			for i := 1; i < len(c.in); i++ {
				got, err := runParse(t, c, [][]byte{[]byte(c.in[:i]), []byte(c.in[i:])})
				checkResult(t, c, got, err, fmt.Sprintf("split at %d", i))
			}
			var bytewise [][]byte
			for i := range len(c.in) {
				bytewise = append(bytewise, []byte{c.in[i]})
			}
			got, err = runParse(t, c, bytewise)
			checkResult(t, c, got, err, "byte by byte")
		})
	}
}

// The read buffer is reused after Parse returns: a message split across reads
// must not see its control line overwritten.
func TestParseSurvivesBufferReuse(t *testing.T) {
	r := &recorder{}
	p := NewClientParser(r, Limits{})
	buf := []byte("PUB foo.bar reply.x 11\r\nhello")
	if err := p.Parse(buf); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'Z'
	}
	if err := p.Parse([]byte(" world\r\n")); err != nil {
		t.Fatal(err)
	}
	want := `PUB subj="foo.bar" reply="reply.x" size=11 hdr= hdrlen=0 data="hello world"`
	if len(r.events) != 1 || r.events[0] != want {
		t.Fatalf("got %q, want %q", r.events, want)
	}
}

func TestErrText(t *testing.T) {
	for kind, want := range map[ErrKind]string{
		UnknownOp: "Unknown Protocol Operation", BadArgs: "", MaxControlLine: "maximum control line exceeded",
		MaxPayload: "Maximum Payload Violation", HeadersNotSupported: "",
	} {
		if got := (&Error{Kind: kind}).ErrText(); got != want {
			t.Errorf("kind %d: ErrText %q, want %q", kind, got, want)
		}
	}
}
