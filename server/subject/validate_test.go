package subject

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestValidSubject(t *testing.T) {
	tests := []struct {
		s              string
		valid, literal bool
	}{
		{"foo", true, true},
		{"foo.bar", true, true},
		{"foo.bar.baz", true, true},
		{"Foo.BAR", true, true},
		{"*", true, false},
		{">", true, false},
		{"foo.*", true, false},
		{"foo.>", true, false},
		{"*.bar", true, false},
		{"*.*.>", true, false},
		{"foo.*.bar", true, false},
		// '*' and '>' are wildcards only as whole tokens.
		{"foo*.b", true, true},
		{"foo>", true, true},
		{"a>b.c", true, true},
		{"**", true, true},
		{">>", true, true},
		{"foo.>bar", true, true},
		{">.foo", false, false}, // '>' must be last
		{"a.>.b", false, false}, // corpus sub_invalid_gt_middle
		{"a.>.>", false, false},
		// Empty tokens.
		{"", false, false},
		{".", false, false},
		{"..", false, false},
		{".foo", false, false},
		{"foo.", false, false},
		{"a..b", false, false}, // corpus sub_invalid_verbose
		{"foo.*.", false, false},
		// Whitespace anywhere.
		{"foo bar", false, false},
		{"foo\tbar", false, false},
		{"a\rb", false, false}, // corpus sub_subject_with_cr splits here
		{"a\nb", false, false},
		{"a\fb", false, false},
		{" foo", false, false},
		{"foo.\t", false, false},
		// Any other byte is accepted, UTF-8 or not.
		{"héllo.wörld", true, true},
		{"日本.語", true, true},
		{"\xff\xfe.x", true, true},
		{"a\x00b", true, true},
		{"$SYS.REQ.>", true, false},
		{"_INBOX.abc.*", true, false},
		{"foo-bar_baz:1/2", true, true},
	}
	for _, tt := range tests {
		if got := ValidSubject(tt.s); got != tt.valid {
			t.Errorf("ValidSubject(%q) = %v, want %v", tt.s, got, tt.valid)
		}
		if got := ValidLiteral(tt.s); got != tt.literal {
			t.Errorf("ValidLiteral(%q) = %v, want %v", tt.s, got, tt.literal)
		}
		if got := ValidLiteralBytes([]byte(tt.s)); got != tt.literal {
			t.Errorf("ValidLiteralBytes(%q) = %v, want %v", tt.s, got, tt.literal)
		}
		if tt.valid {
			if got, want := HasWildcard(tt.s), !tt.literal; got != want {
				t.Errorf("HasWildcard(%q) = %v, want %v", tt.s, got, want)
			}
		}
	}
}

func TestValidLiteralBytesNoAlloc(t *testing.T) {
	b := []byte("orders.eu-central-1.customer-000123456.created.v2")
	if n := testing.AllocsPerRun(100, func() { ValidLiteralBytes(b) }); n != 0 {
		t.Fatalf("ValidLiteralBytes allocates %v times", n)
	}
}

func TestValidQueue(t *testing.T) {
	tests := []struct {
		q     string
		valid bool
	}{
		{"q", true},
		{"workers", true},
		{"q.*", true}, // corpus queue_name_with_wildcard: not validated
		{">", true},
		{"a..b", true},
		{"_sys_", true}, // refused by the server as a permission, not here
		{"ünïcode", true},
		{"a\fb", true}, // not a wire separator, so nats-server keeps it in the name
		{"", false},
		{"a b", false},
		{"a\tb", false},
		{"a\rb", false},
		{"a\nb", false},
	}
	for _, tt := range tests {
		if got := ValidQueue(tt.q); got != tt.valid {
			t.Errorf("ValidQueue(%q) = %v, want %v", tt.q, got, tt.valid)
		}
	}
}

func TestHasWildcard(t *testing.T) {
	for s, want := range map[string]bool{
		"foo": false, "foo*": false, "*foo": false, "foo.>x": false, "": false,
		"*": true, ">": true, "foo.*": true, "*.foo": true, "a.*.b": true, "a.>": true,
	} {
		if got := HasWildcard(s); got != want {
			t.Errorf("HasWildcard(%q) = %v, want %v", s, got, want)
		}
	}
}

var matchTests = []struct {
	pattern, literal string
	want             bool
}{
	{"foo", "foo", true},
	{"foo", "Foo", false}, // case-sensitive
	{"foo", "foo.bar", false},
	{"foo.bar", "foo", false},
	// '*' matches exactly one token.
	{"foo.*", "foo.bar", true},
	{"foo.*", "foo", false},
	{"foo.*", "foo.bar.baz", false},
	{"*", "foo", true},
	{"*", "foo.bar", false},
	{"*.bar", "foo.bar", true},
	{"foo.*.baz", "foo.bar.baz", true},
	{"foo.*.baz", "foo.bar.qux", false},
	// '>' matches one or more tokens, never zero.
	{"foo.>", "foo.bar", true},
	{"foo.>", "foo.bar.baz", true},
	{"foo.>", "foo", false},
	{">", "foo", true},
	{">", "foo.bar.baz", true},
	{"*.>", "foo", false},
	{"*.>", "foo.bar", true},
	// Literal '*'/'>' tokens in a published subject are plain tokens.
	{"foo.*", "foo.*", true},
	{"foo.>", "foo.>", true},
	{"foo.bar", "foo.*", false},
	{">", "a.>.b", true}, // corpus pub_gt_middle_pedantic
	// "foo*" is a literal token.
	{"foo*.b", "foo*.b", true},
	{"foo*.b", "foox.b", false},
	// UTF-8 tokens compare byte-exact.
	{"héllo.*", "héllo.wörld", true},
	{"hello.*", "héllo.wörld", false},
	// Malformed published subjects match nothing; invalid patterns nothing.
	{">", "a..b", false}, // corpus pub_invalid_subject_pedantic
	{">", "", false},
	{">", ".a", false},
	{"*", "a.", false},
	{"a.>.b", "a.x.b", false},
	{"a..b", "a..b", false},
	{"", "", false},
	{"foo bar", "foo bar", false},
}

func TestMatches(t *testing.T) {
	for _, tt := range matchTests {
		if got := Matches(tt.pattern, tt.literal); got != tt.want {
			t.Errorf("Matches(%q, %q) = %v, want %v", tt.pattern, tt.literal, got, tt.want)
		}
	}
}

func TestIsSubsetMatch(t *testing.T) {
	tests := []struct {
		sub, pattern string
		want         bool
	}{
		{"foo", "foo", true},
		{"foo", "bar", false},
		{"foo", "*", true},
		{"foo", ">", true},
		{"foo.bar", "foo.*", true},
		{"foo.bar", "foo.>", true},
		{"foo.*", "foo.>", true},
		{"foo.*", "foo.*", true},
		{"foo.>", "foo.>", true},
		{"foo.>", ">", true},
		{"foo.*.baz", "foo.>", true},
		{"foo.*.baz", "*.*.baz", true},
		{"foo.*", "foo.bar", false}, // foo.* also reaches foo.qux
		{"foo.>", "foo.*", false},   // foo.> also reaches foo.a.b
		{"foo.>", "foo.*.>", false}, // foo.> also reaches foo.a
		{"foo.*.>", "foo.>", true},
		{"*", "foo", false},
		{">", "*", false},
		{">", "*.>", false},
		{"*.>", ">", true},
		{"foo", "foo.>", false}, // '>' needs at least one more token
		{"foo.bar", "foo", false},
		{"foo", "foo.bar", false},
		{"Foo.bar", "foo.>", false},
		{"foo*.bar", "foo*.*", true},
		{"foo*.bar", "foo.*", false},
		// Invalid inputs are never subsets.
		{"a..b", ">", false},
		{"foo", "a.>.b", false},
		{"", ">", false},
	}
	for _, tt := range tests {
		if got := IsSubsetMatch(tt.sub, tt.pattern); got != tt.want {
			t.Errorf("IsSubsetMatch(%q, %q) = %v, want %v", tt.sub, tt.pattern, got, tt.want)
		}
	}
	// For a literal sub, being a subset is being matched.
	for _, tt := range matchTests {
		if ValidLiteral(tt.literal) {
			if got := IsSubsetMatch(tt.literal, tt.pattern); got != tt.want {
				t.Errorf("IsSubsetMatch(%q, %q) = %v, Matches says %v", tt.literal, tt.pattern, got, tt.want)
			}
		}
	}
}

// TestCorpusSubjects replays the SUB subjects and queue names of the
// recorded nats-server 2.15.2 transcripts through the validators: every SUB
// that got -ERR 'Invalid Subject' must be invalid here, every other SUB
// valid, and every queue name the server accepted valid.
func TestCorpusSubjects(t *testing.T) {
	dir := os.Getenv("PROTOCOL_CORPUS")
	if dir == "" {
		dir = "../../../shared/testdata/protocol"
	}
	var checked int
	for _, group := range []string{"errors", "pubsub", "permissions", "whitespace"} {
		raw, err := os.ReadFile(dir + "/" + group + ".json")
		if err != nil {
			t.Fatalf("protocol corpus not available (set PROTOCOL_CORPUS): %v", err)
		}
		var file struct {
			Cases []struct {
				Name   string
				Writes []struct{ Data string }
				Expect struct{ Lines []string }
			}
		}
		if err := json.Unmarshal(raw, &file); err != nil {
			t.Fatal(err)
		}
		for _, c := range file.Cases {
			invalid := false
			for _, l := range c.Expect.Lines {
				invalid = invalid || l == "-ERR 'Invalid Subject'"
			}
			for _, w := range c.Writes {
				for _, line := range strings.Split(w.Data, "\n") {
					args := corpusSubArgs(line)
					if args == nil {
						continue
					}
					subj := args[0]
					if got := ValidSubject(subj); got == invalid {
						t.Errorf("%s/%s: ValidSubject(%q) = %v, server said invalid=%v", group, c.Name, subj, got, invalid)
					}
					if len(args) == 3 && !ValidQueue(args[1]) {
						t.Errorf("%s/%s: ValidQueue(%q) = false, server accepted it", group, c.Name, args[1])
					}
					checked++
				}
			}
		}
	}
	if checked < 30 {
		t.Fatalf("only %d SUB lines found in the corpus", checked)
	}
}

// corpusSubArgs returns the arguments of a SUB control line, split the way
// nats-server's parser splits them (space, tab, CR, LF), or nil.
func corpusSubArgs(line string) []string {
	line = strings.TrimSuffix(line, "\r")
	if len(line) < 4 || !strings.EqualFold(line[:3], "SUB") || (line[3] != ' ' && line[3] != '\t') {
		return nil
	}
	args := strings.FieldsFunc(line[4:], func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' })
	if len(args) < 2 || len(args) > 3 {
		return nil // the server closes on a wrong argument count
	}
	return args
}
