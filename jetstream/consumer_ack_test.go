package jetstream

import (
	"strconv"
	"strings"
	"testing"
)

// ackTokensSplit is the reference: split on dots, then strconv.
func ackTokensSplit(subj string) (dc, sseq, cseq uint64, ok bool) {
	t := strings.Split(subj, ".")
	var nums []string
	switch len(t) {
	case 9:
		nums = t[4:7]
	case 12:
		nums = t[6:9]
	default:
		return 0, 0, 0, false
	}
	var err error
	if dc, err = strconv.ParseUint(nums[0], 10, 64); err != nil {
		return 0, 0, 0, false
	}
	if sseq, err = strconv.ParseUint(nums[1], 10, 64); err != nil {
		return 0, 0, 0, false
	}
	if cseq, err = strconv.ParseUint(nums[2], 10, 64); err != nil {
		return 0, 0, 0, false
	}
	return dc, sseq, cseq, true
}

func TestAckTokens(t *testing.T) {
	for _, tc := range []struct {
		subj           string
		dc, sseq, cseq uint64
		ok             bool
	}{
		{"$JS.ACK.ORDERS.c1.1.42.7.1733356800000000000.3", 1, 42, 7, true},
		{"$JS.ACK.dom.ACCHASH.ORDERS.c1.2.42.9.1733356800000000000.0.rnd", 2, 42, 9, true},
		{"$JS.ACK.S.C.1.18446744073709551615.1.0.0", 1, 18446744073709551615, 1, true},
		{"$JS.ACK.S.C.1.18446744073709551616.1.0.0", 0, 0, 0, false}, // overflows
		{"$JS.ACK.S.C.1.-2.1.0.0", 0, 0, 0, false},
		{"$JS.ACK.S.C.1.+2.1.0.0", 0, 0, 0, false},
		{"$JS.ACK.S.C.1..1.0.0", 0, 0, 0, false}, // empty token
		{"$JS.ACK.S.C.1.1_0.1.0.0", 0, 0, 0, false},
		{"$JS.ACK.S.C.1.2.3.0", 0, 0, 0, false},               // 8 tokens
		{"$JS.ACK.S.C.1.2.3.0.0.0", 0, 0, 0, false},           // 10 tokens
		{"$JS.ACK.a.b.S.C.1.2.3.0.0.r.x", 0, 0, 0, false},     // 13 tokens
		{"$JS.ACK.a.b.S.C.1.2.3.0.0.r.x.y.z", 0, 0, 0, false}, // many dots
		{"", 0, 0, 0, false},
	} {
		dc, sseq, cseq, ok := ackTokens([]byte(tc.subj))
		if dc != tc.dc || sseq != tc.sseq || cseq != tc.cseq || ok != tc.ok {
			t.Errorf("%q: got %d %d %d %v, want %d %d %d %v", tc.subj, dc, sseq, cseq, ok, tc.dc, tc.sseq, tc.cseq, tc.ok)
		}
	}
}

// ackTokens reads every subject as the split-and-strconv reference does.
func FuzzAckTokens(f *testing.F) {
	for _, s := range []string{
		"$JS.ACK.ORDERS.c1.1.42.7.1733356800000000000.3",
		"$JS.ACK.dom.ACCHASH.ORDERS.c1.2.42.9.1733356800000000000.0.rnd",
		"$JS.ACK.S.C.1.18446744073709551616.1.0.0",
		"$JS.ACK.S.C.1..1.0.0",
		"........",
		"...........",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, subj string) {
		dc, sseq, cseq, ok := ackTokens([]byte(subj))
		wdc, wsseq, wcseq, wok := ackTokensSplit(subj)
		if dc != wdc || sseq != wsseq || cseq != wcseq || ok != wok {
			t.Fatalf("%q: got %d %d %d %v, the reference %d %d %d %v", subj, dc, sseq, cseq, ok, wdc, wsseq, wcseq, wok)
		}
	})
}
