package monitor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/natsd/natsd/server"
)

// referenceCases are what nats-server 2.15.2 (-m) answered, recorded with
// the fixture of newReferenceFixture: two open clients C1 and C2, each with
// SUB foo 1 and SUB foo.bar q 2, and C3, which had SUB x 1 and closed.
// text is the whole body of a plain-text or /healthz answer; fields holds
// the JSON fields compared ("connections" as C1/C2/C3 labels, "server_id"
// as "ID" when set). /subsz totals are compared only where the $SYS
// account's subscriptions, which natsd does not have, do not count.
var referenceCases = []struct {
	target string
	code   int
	text   string
	fields string
}{
	{"/connz?offset=-1", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?limit=9223372036854775807&offset=1", 200, "", "{\"num_connections\": 1, \"total\": 2, \"offset\": 1, \"limit\": 9223372036854775807, \"server_id\": \"ID\", \"connections\": [\"C2\"]}"},
	{"/connz?state=closed&offset=-1", 200, "", "{\"num_connections\": 1, \"total\": 1, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C3\"]}"},
	{"/subsz?subs=1&offset=-1", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/connz?cid=-1", 400, "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"-1\": invalid syntax", ""},
	{"/subsz?test=foo.*", 400, "invalid test subject, must be valid publish subject: foo.*", ""},
	{"/connz?limit=-1", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?limit=0", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?limit=1", 200, "", "{\"num_connections\": 1, \"total\": 2, \"offset\": 0, \"limit\": 1, \"server_id\": \"ID\", \"connections\": [\"C1\"]}"},
	{"/connz?limit=abc", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/connz?limit=99999999999999999999", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \"99999999999999999999\": value out of range", ""},
	{"/connz?limit=9223372036854775807", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 9223372036854775807, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?offset=9223372036854775807", 200, "", "{\"num_connections\": 0, \"total\": 2, \"offset\": 9223372036854775807, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": []}"},
	{"/connz?offset=99999999999999999999", 400, "Error decoding int for 'offset': strconv.Atoi: parsing \"99999999999999999999\": value out of range", ""},
	{"/connz?offset=abc", 400, "Error decoding int for 'offset': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/connz?offset=1&limit=1", 200, "", "{\"num_connections\": 1, \"total\": 2, \"offset\": 1, \"limit\": 1, \"server_id\": \"ID\", \"connections\": [\"C2\"]}"},
	{"/connz?cid=0", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?cid=abc", 400, "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"abc\": invalid syntax", ""},
	{"/connz?cid={C1}", 200, "", "{\"num_connections\": 1, \"total\": 2, \"offset\": 0, \"limit\": 1, \"server_id\": \"ID\", \"connections\": [\"C1\"]}"},
	{"/connz?cid=18446744073709551615", 200, "", "{\"num_connections\": 0, \"total\": 2, \"offset\": 0, \"limit\": 1, \"server_id\": \"ID\", \"connections\": []}"},
	{"/connz?cid=99999999999999999999", 400, "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"99999999999999999999\": value out of range", ""},
	{"/connz?cid=1.5", 400, "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"1.5\": invalid syntax", ""},
	{"/connz?sort=bogus", 400, "invalid sorting option: bogus", ""},
	{"/connz?sort=CID", 400, "invalid sorting option: CID", ""},
	{"/connz?sort=", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?sort=stop", 400, "sort by stop only valid on closed connections", ""},
	{"/connz?sort=reason", 400, "sort by reason only valid on closed connections", ""},
	{"/connz?sort=stop&state=closed", 200, "", "{\"num_connections\": 1, \"total\": 1, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C3\"]}"},
	{"/connz?sort=reason&state=closed", 200, "", "{\"num_connections\": 1, \"total\": 1, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C3\"]}"},
	{"/connz?sort=stop&state=any", 400, "sort by stop only valid on closed connections", ""},
	{"/connz?sort=rtt", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?sort=idle", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?sort=last", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C2\", \"C1\"]}"},
	{"/connz?sort=uptime", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C2\", \"C1\"]}"},
	{"/connz?sort=start", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?sort=msgs_to", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?state=bogus", 400, "Error decoding state for bogus", ""},
	{"/connz?state=CLOSED", 200, "", "{\"num_connections\": 1, \"total\": 1, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C3\"]}"},
	{"/connz?state=Open", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?state=all", 200, "", "{\"num_connections\": 3, \"total\": 3, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\", \"C3\"]}"},
	{"/connz?state=any", 200, "", "{\"num_connections\": 3, \"total\": 3, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\", \"C3\"]}"},
	{"/connz?state=", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?subs=maybe", 400, "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/connz?subs=detail", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?subs=DETAIL", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?subs=1", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?subs=", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?auth=maybe", 400, "Error decoding boolean for 'auth': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/connz?auth=1", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?acc=bogus", 200, "", "{\"num_connections\": 0, \"total\": 0, \"offset\": 0, \"limit\": 1024, \"server_id\": \"\", \"connections\": null}"},
	{"/connz?acc=$G", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?user=bob", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?user=", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?mqtt_client=x", 200, "", "{\"num_connections\": 0, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": []}"},
	{"/connz?unknown=1", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?limit=1&limit=2", 200, "", "{\"num_connections\": 1, \"total\": 2, \"offset\": 0, \"limit\": 1, \"server_id\": \"ID\", \"connections\": [\"C1\"]}"},
	{"/connz?offset=%00", 400, "Error decoding int for 'offset': strconv.Atoi: parsing \"\\x00\": invalid syntax", ""},
	{"/connz?limit=+1", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \" 1\": invalid syntax", ""},
	{"/connz?limit=0x10", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \"0x10\": invalid syntax", ""},
	{"/connz?limit=1e3", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \"1e3\": invalid syntax", ""},
	{"/connz?limit=%20", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \" \": invalid syntax", ""},
	{"/connz?offset=2147483648", 200, "", "{\"num_connections\": 0, \"total\": 2, \"offset\": 2147483648, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": []}"},
	{"/connz?offset=-9223372036854775808", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/subsz?offset=-1", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/subsz?limit=-1", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/subsz?limit=0", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/subsz?limit=abc", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/subsz?offset=abc", 400, "Error decoding int for 'offset': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/subsz?subs=1&limit=9223372036854775807&offset=1", 200, "", "{\"offset\": 1, \"limit\": 9223372036854775807}"},
	{"/subsz?subs=1&offset=9223372036854775807", 200, "", "{\"offset\": 9223372036854775807, \"limit\": 1024}"},
	{"/subsz?subs=1&limit=1", 200, "", "{\"offset\": 0, \"limit\": 1}"},
	{"/subsz?subs=1&offset=1&limit=1", 200, "", "{\"offset\": 1, \"limit\": 1}"},
	{"/subsz?test=foo", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/subsz?subs=1&test=foo", 200, "", "{\"offset\": 0, \"limit\": 1024, \"total\": 2}"},
	{"/subsz?subs=1&test=foo.*", 400, "invalid test subject, must be valid publish subject: foo.*", ""},
	{"/subsz?subs=1&test=foo.>", 400, "invalid test subject, must be valid publish subject: foo.>", ""},
	{"/subsz?subs=1&test=>", 400, "invalid test subject, must be valid publish subject: >", ""},
	{"/subsz?test=", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/subsz?test=foo..bar", 400, "invalid test subject, must be valid publish subject: foo..bar", ""},
	{"/subsz?test=.foo", 400, "invalid test subject, must be valid publish subject: .foo", ""},
	{"/subsz?test=foo%20bar", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/subsz?subs=maybe", 400, "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/subsz?subs=detail", 400, "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"detail\": invalid syntax", ""},
	{"/subsz?acc=bogus", 200, "", "{\"offset\": 0, \"limit\": 1024, \"num_subscriptions\": 0, \"total\": 0}"},
	{"/subsz?acc=$G", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/subsz?unknown=1", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/subscriptionsz?subs=1&offset=-1", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/routez?subs=maybe", 400, "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/routez?subs=detail", 200, "", "{\"num_routes\": 0}"},
	{"/routez?subs=1", 200, "", "{\"num_routes\": 0}"},
	{"/routez?unknown=1", 200, "", "{\"num_routes\": 0}"},
	{"/routez?limit=-1", 200, "", "{\"num_routes\": 0}"},
	{"/varz?unknown=1", 200, "", "{\"version\": \"2.15.2\"}"},
	{"/varz?limit=-1", 200, "", "{\"version\": \"2.15.2\"}"},
	{"/healthz?unknown=1", 200, "{\"status\":\"ok\"}", ""},
	{"/healthz?js-enabled-only=maybe", 400, "Error decoding boolean for 'js-enabled-only': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/healthz?js-enabled-only=true", 200, "{\"status\":\"ok\"}", ""},
	{"/healthz?js-server-only=maybe", 400, "Error decoding boolean for 'js-server-only': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/healthz?js-server-only=true", 200, "{\"status\":\"ok\"}", ""},
	{"/healthz?js-enabled=true", 200, "{\"status\":\"ok\"}", ""},
	{"/healthz?js-enabled=maybe", 400, "Error decoding boolean for 'js-enabled': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/healthz?js-meta-only=maybe", 400, "Error decoding boolean for 'js-meta-only': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/healthz?account=foo", 200, "{\"status\":\"ok\"}", ""},
	{"/healthz?stream=foo", 400, "{\"status\":\"error\",\"error\":\"\\\"account\\\" must not be empty when checking stream health\"}", ""},
	{"/healthz?details=maybe", 400, "Error decoding boolean for 'details': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/healthz?details=true", 200, "{\"status\":\"ok\"}", ""},
	{"/varz?%zz", 200, "", "{\"version\": \"2.15.2\"}"},
	{"/connz?%zz", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?limit=%zz", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
	{"/connz?state=closed&cid={C3}", 200, "", "{\"num_connections\": 1, \"total\": 1, \"offset\": 0, \"limit\": 1, \"server_id\": \"ID\", \"connections\": [\"C3\"]}"},
	{"/connz?cid={C3}", 200, "", "{\"num_connections\": 0, \"total\": 2, \"offset\": 0, \"limit\": 1, \"server_id\": \"ID\", \"connections\": []}"},
	{"/connz?state=any&cid={C3}", 200, "", "{\"num_connections\": 1, \"total\": 3, \"offset\": 0, \"limit\": 1, \"server_id\": \"ID\", \"connections\": [\"C3\"]}"},
	{"/connz?cid={C1}&offset=1", 200, "", "{\"num_connections\": 0, \"total\": 2, \"offset\": 1, \"limit\": 1, \"server_id\": \"ID\", \"connections\": []}"},
	{"/connz?cid={C1}&limit=5", 200, "", "{\"num_connections\": 1, \"total\": 2, \"offset\": 0, \"limit\": 1, \"server_id\": \"ID\", \"connections\": [\"C1\"]}"},
	{"/connz?cid={C1}&offset=-1", 200, "", "{\"num_connections\": 1, \"total\": 2, \"offset\": 0, \"limit\": 1, \"server_id\": \"ID\", \"connections\": [\"C1\"]}"},
	{"/connz?sort=stop&state=CLOSED", 200, "", "{\"num_connections\": 1, \"total\": 1, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C3\"]}"},
	{"/connz?sort=bogus&state=bogus", 400, "Error decoding state for bogus", ""},
	{"/connz?state=bogus&sort=bogus", 400, "Error decoding state for bogus", ""},
	{"/connz?limit=abc&offset=abc", 400, "Error decoding int for 'offset': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/connz?offset=abc&limit=abc", 400, "Error decoding int for 'offset': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/connz?subs=maybe&auth=maybe", 400, "Error decoding boolean for 'auth': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/connz?auth=maybe&subs=maybe", 400, "Error decoding boolean for 'auth': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/connz?sort=bogus&limit=abc", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/connz?cid=abc&limit=abc", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/connz?cid=abc&subs=maybe", 400, "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/connz?cid=abc&auth=maybe", 400, "Error decoding boolean for 'auth': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/connz?cid=abc&state=bogus", 400, "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"abc\": invalid syntax", ""},
	{"/connz?state=bogus&limit=abc", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/connz?sort=stop&limit=abc", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/connz?sort=stop&cid=abc", 400, "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"abc\": invalid syntax", ""},
	{"/connz?acc=bogus&offset=5", 200, "", "{\"num_connections\": 0, \"total\": 0, \"offset\": 5, \"limit\": 1024, \"server_id\": \"\", \"connections\": null}"},
	{"/connz?acc=bogus&sort=bogus", 400, "invalid sorting option: bogus", ""},
	{"/connz?acc=bogus&limit=abc", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/connz?acc=bogus&state=bogus", 400, "Error decoding state for bogus", ""},
	{"/connz?sort=rtt&state=closed", 200, "", "{\"num_connections\": 1, \"total\": 1, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C3\"]}"},
	{"/connz?sort=idle&state=closed", 200, "", "{\"num_connections\": 1, \"total\": 1, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C3\"]}"},
	{"/connz?subs=detail&state=closed", 200, "", "{\"num_connections\": 1, \"total\": 1, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C3\"]}"},
	{"/subsz?acc=bogus&subs=1", 200, "", "{\"offset\": 0, \"limit\": 1024, \"num_subscriptions\": 0, \"total\": 0}"},
	{"/subsz?acc=bogus&test=foo.*", 400, "invalid test subject, must be valid publish subject: foo.*", ""},
	{"/subsz?subs=1&test=foo&offset=1", 200, "", "{\"offset\": 1, \"limit\": 1024, \"total\": 2}"},
	{"/subsz?subs=1&test=foo&limit=1", 200, "", "{\"offset\": 0, \"limit\": 1, \"total\": 2}"},
	{"/subsz?subs=true&limit=0", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/subsz?subs=1&limit=abc", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/subsz?limit=abc&subs=maybe", 400, "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/subsz?subs=maybe&limit=abc", 400, "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/subsz?offset=abc&limit=abc", 400, "Error decoding int for 'offset': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/subsz?test=foo.*&subs=maybe", 400, "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/subsz?test=foo.*&limit=abc", 400, "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax", ""},
	{"/subsz?test=foo%09bar", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/subsz?test=foo%0d%0abar", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/subsz?test=%00", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/subsz?test=foo.", 400, "invalid test subject, must be valid publish subject: foo.", ""},
	{"/subsz?test=*", 400, "invalid test subject, must be valid publish subject: *", ""},
	{"/subsz?test=%C3%A9", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/subsz?test=%ff", 200, "", "{\"offset\": 0, \"limit\": 1024}"},
	{"/routez?subs=DETAIL", 200, "", "{\"num_routes\": 0}"},
	{"/routez?subs=", 200, "", "{\"num_routes\": 0}"},
	{"/healthz?js-enabled-only=true&js-server-only=maybe", 400, "Error decoding boolean for 'js-server-only': strconv.ParseBool: parsing \"maybe\": invalid syntax", ""},
	{"/healthz?account=foo&stream=bar", 200, "{\"status\":\"ok\"}", ""},
	{"/healthz?consumer=c", 400, "{\"status\":\"error\",\"error\":\"\\\"stream\\\" must not be empty when checking consumer health\"}", ""},
	{"/healthz?account=a&consumer=c", 400, "{\"status\":\"error\",\"error\":\"\\\"stream\\\" must not be empty when checking consumer health\"}", ""},
	{"/healthz?account=a&stream=s&consumer=c", 200, "{\"status\":\"ok\"}", ""},
	{"/healthz?details=true&stream=foo", 400, "{\"status\":\"error\",\"errors\":[{\"type\":\"BAD_REQUEST\",\"error\":\"\\\"account\\\" must not be empty when checking stream health\"}]}", ""},
	{"/varz?subs=maybe", 200, "", "{\"version\": \"2.15.2\"}"},
	{"/connz?subs=detail&auth=true", 200, "", "{\"num_connections\": 2, \"total\": 2, \"offset\": 0, \"limit\": 1024, \"server_id\": \"ID\", \"connections\": [\"C1\", \"C2\"]}"},
}

// referenceFixture is the recording's setup in natsd.
type referenceFixture struct {
	srv *server.Server
	h   http.Handler
	cid map[uint64]string // cid -> C1, C2, C3
}

func newReferenceFixture(t testing.TB) *referenceFixture {
	t.Helper()
	srv, addr := serve(t)
	rawClient(t, addr, `{"verbose":false,"name":"c1","user":"bob"}`, "SUB foo 1\r\nSUB foo.bar q 2\r\n")
	rawClient(t, addr, `{"verbose":false,"name":"c1","user":"bob"}`, "SUB foo 1\r\nSUB foo.bar q 2\r\n")
	gone := rawClient(t, addr, `{"verbose":false,"name":"gone"}`, "SUB x 1\r\n")
	_ = gone.Close()
	deadline := time.Now().Add(5 * time.Second)
	for BuildConnz(srv, ConnzOptions{State: "closed"}).Total != 1 {
		if time.Now().After(deadline) {
			t.Fatal("the third client did not close")
		}
		time.Sleep(5 * time.Millisecond)
	}
	f := &referenceFixture{srv: srv, h: Handler(Sources{Server: srv}, ""), cid: map[uint64]string{}}
	for i, ci := range BuildConnz(srv, ConnzOptions{State: "any"}).Conns {
		f.cid[ci.Cid] = "C" + strconv.Itoa(i+1)
	}
	if len(f.cid) != 3 {
		t.Fatalf("%d connections, want 3", len(f.cid))
	}
	return f
}

// target replaces {C1}/{C3} with the fixture's cids.
func (f *referenceFixture) target(s string) string {
	for cid, label := range f.cid {
		s = strings.ReplaceAll(s, "{"+label+"}", strconv.FormatUint(cid, 10))
	}
	return s
}

// fields picks the fields of a JSON body that want names, in want's form.
func (f *referenceFixture) fields(body []byte, want map[string]any) (map[string]any, error) {
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		return nil, err
	}
	got := map[string]any{}
	for k := range want {
		v, ok := m[k]
		if !ok {
			continue
		}
		switch k {
		case "server_id":
			if v != "" {
				v = "ID"
			}
		case "connections":
			if conns, ok := v.([]any); ok {
				labels := []any{}
				for _, c := range conns {
					cid, _ := strconv.ParseUint(string(c.(map[string]any)["cid"].(json.Number)), 10, 64)
					labels = append(labels, f.cid[cid])
				}
				v = labels
			}
		}
		got[k] = v
	}
	return got, nil
}

func decodeWant(t *testing.T, s string) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("bad expectation %s: %v", s, err)
	}
	return m
}

// TestReferenceAnswers: natsd answers each recorded query as nats-server
// does — the status, the plain-text error word for word, the JSON fields —
// and never with an empty body.
func TestReferenceAnswers(t *testing.T) {
	f := newReferenceFixture(t)
	for _, tt := range referenceCases {
		w, panicked := serveRecovering(f.h, f.target(tt.target))
		if panicked != nil {
			t.Errorf("%s: handler panicked: %v", tt.target, panicked)
			continue
		}
		body := w.Body.Bytes()
		if w.Code != tt.code || len(body) == 0 {
			t.Errorf("%s: status %d body %q, want %d", tt.target, w.Code, body, tt.code)
			continue
		}
		ct := w.Header().Get("Content-Type")
		if tt.fields == "" {
			wantCT := "text/plain; charset=utf-8"
			if strings.HasPrefix(tt.text, "{") { // /healthz's JSON
				wantCT = "application/json"
			}
			if string(body) != tt.text || ct != wantCT {
				t.Errorf("%s: %q (%s), want %q (%s)", tt.target, body, ct, tt.text, wantCT)
			}
			continue
		}
		if ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tt.target, ct)
		}
		want := decodeWant(t, tt.fields)
		got, err := f.fields(body, want)
		if err != nil {
			t.Errorf("%s: %v: %s", tt.target, err, body)
			continue
		}
		if !reflect.DeepEqual(fmt.Sprint(got), fmt.Sprint(want)) {
			t.Errorf("%s:\n got %v\nwant %v", tt.target, got, want)
		}
	}
}

// serveRecovering is get that reports a panic instead of dying of it, so
// that one bad case does not hide the others.
func serveRecovering(h http.Handler, target string) (w *httptest.ResponseRecorder, panicked any) {
	defer func() { panicked = recover() }()
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
	return w, nil
}
