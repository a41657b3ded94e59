package wire

import (
	"reflect"
	"strings"
	"testing"
)

// routeSeeds are route traffic as the protocol notes (section 2) record it
// from nats-server 2.9.10 and 2.15.2: the handshake, interest (RS+/RS- with
// and without queue and weight, the leafnode-origin LS+/LS-), messages in
// every RMSG/HMSG/LMSG form, keepalives and errors.
var routeSeeds = []string{
	`CONNECT {"echo":true,"verbose":false,"pedantic":false,"tls_required":false,"headers":true,"name":"NDU3ABCDEF","cluster":"east","lnoc":true,"ln":true}` + "\r\n",
	`CONNECT {"echo":true,"verbose":false,"pedantic":false,"user":"ruser","pass":"rpass","tls_required":false,"headers":true,"name":"NABC","cluster":"seed","cluster_dynamic":true}` + "\r\n",
	`INFO {"server_id":"NDU3ABCDEF","server_name":"F","version":"2.15.2","proto":3,"go":"go1.26.8","host":"127.0.0.1","port":16398,"headers":true,"max_payload":1048576,"nonce":"mxfh","cluster":"east","connect_urls":["127.0.0.1:14398"],"compression":"not supported","lnoc":true,"lnocu":true,"ln":true,"route_pool_size":3}` + "\r\n",
	`INFO {"server_id":"NBCI","server_name":"A","version":"2.9.10","proto":2,"host":"127.0.0.1","port":16301,"cluster":"east","connect_urls":["127.0.0.1:14301"],"lnoc":true} ` + "\r\n",
	`INFO {"server_id":"NX","ip":"nats-route://127.0.0.1:16303/","port":16303,"gossip_mode":1,"ldm":true}` + "\r\n",
	"RS+ $SYS $SYS.REQ.SERVER.PING.CONNZ\r\nRS+ $G foo\r\nRS+ $G foo.* \r\nRS+ $G >\r\n",
	"RS+ $G qq grp 1\r\nRS+ $G qq grp 2\r\nRS+ $G qq grp 0\r\nRS- $G qq grp\r\nRS- $G foo\r\n",
	"RS+ $G qq grp\r\nRS+ $G qq grp -1\r\nRS+ $G qq grp 99999999999\r\nRS+\t$G\tfoo\tq\t3\r\n",
	"LS+ hub $G foo\r\nLS+ hub $G foo q 2\r\nLS- hub $G foo\r\nLS- $G foo\r\nLS- hub $G foo q\r\n",
	"RMSG $G foo 5\r\nhello\r\nRMSG $G foo _INBOX.r1 5\r\nhello\r\n",
	"RMSG $G foo + _INBOX.r1 q1 q2 5\r\nhello\r\nRMSG $G foo | q1 q2 q3 0\r\n\r\n",
	"HMSG $G foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\nHMSG $G foo reply 22 27\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\n",
	"HMSG $G foo + reply q1 12 14\r\nNATS/1.0\r\n\r\nhi\r\nHMSG $G foo | q1 12 12\r\nNATS/1.0\r\n\r\n\r\n",
	"LMSG hub $G foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\nLMSG hub $G foo + r q 12 14\r\nNATS/1.0\r\n\r\nhi\r\n",
	"PING\r\nPONG\r\n+OK\r\n-ERR 'Authorization Violation'\r\n",
	"-ERR 'Not possible to have a dedicated route for account \"$SYS\" between those servers'\r\n",
	"rmsg $G foo 2\r\nhi\r\nrs+ $G bar\r\nping\r\n",
	"RMSG $G foo 2\r\nhello\r\n", "RMSG $G foo x y z 1\r\n", "RS+ foo\r\n", "PUB foo 1\r\nx\r\n", "HMSG $G foo 20 10\r\n",
}

// maxRouteFuzzLen bounds an input: every split offset is tried, so an
// input costs its length squared.
const maxRouteFuzzLen = 2048

// FuzzRouteParser is FuzzParser for the route side: the route parser never
// panics, and the input parsed whole, split in two at every offset, and
// byte by byte gives the same handler calls and the same error.
func FuzzRouteParser(f *testing.F) {
	for _, s := range routeSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(strings.Join(routeSeeds, "")))
	for _, c := range parseCases {
		if c.route {
			f.Add([]byte(c.in))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > maxRouteFuzzLen {
			in = in[:maxRouteFuzzLen]
		}
		c := parseCase{route: true, headers: true, limits: Limits{MaxControlLine: 256, MaxPayload: 1024}}
		whole, werr := runParse(t, c, [][]byte{in})
		for at := 1; at < len(in); at++ {
			halves, herr := runParse(t, c, [][]byte{in[:at], in[at:]})
			if !reflect.DeepEqual(whole, halves) || errKind(werr) != errKind(herr) {
				t.Fatalf("split at %d differs:\nwhole %q %v\nsplit %q %v", at, whole, werr, halves, herr)
			}
		}
		bytewise := make([][]byte, len(in))
		for i := range in {
			bytewise[i] = in[i : i+1]
		}
		single, serr := runParse(t, c, bytewise)
		if !reflect.DeepEqual(whole, single) || errKind(werr) != errKind(serr) {
			t.Fatalf("byte by byte differs:\nwhole %q %v\nbytes %q %v", whole, werr, single, serr)
		}
	})
}
