package jsclustertest

import (
	"testing"

	"github.com/anishathalye/porcupine"
)

// The KV model accepts the histories a linearizable KV can produce and
// refuses the ones it cannot: the checker can fail.
func TestKVModel(t *testing.T) {
	put := func(call, ret int64, k, v string, rev uint64) porcupine.Operation {
		return porcupine.Operation{Input: KVInput{Op: opPut, Key: k, Value: v}, Call: call, Output: KVOutput{Rev: rev}, Return: ret}
	}
	putUnknown := func(call, ret int64, k, v string) porcupine.Operation {
		return porcupine.Operation{Input: KVInput{Op: opPut, Key: k, Value: v}, Call: call, Output: KVOutput{Unknown: true}, Return: ret}
	}
	get := func(call, ret int64, k, v string, rev uint64) porcupine.Operation {
		out := KVOutput{Found: v != "", Value: v, Rev: rev}
		return porcupine.Operation{Input: KVInput{Op: opGet, Key: k}, Call: call, Output: out, Return: ret}
	}
	cas := func(call, ret int64, k, v string, expect uint64, ok bool, rev uint64) porcupine.Operation {
		return porcupine.Operation{Input: KVInput{Op: opCAS, Key: k, Value: v, Expect: expect}, Call: call, Output: KVOutput{OK: ok, Rev: rev}, Return: ret}
	}
	casUnknown := func(call, ret int64, k, v string, expect uint64) porcupine.Operation {
		return porcupine.Operation{Input: KVInput{Op: opCAS, Key: k, Value: v, Expect: expect}, Call: call, Output: KVOutput{Unknown: true}, Return: ret}
	}
	const end = 1000
	cases := []struct {
		name string
		ops  []porcupine.Operation
		ok   bool
	}{
		{"empty key reads not found", []porcupine.Operation{get(0, 1, "a", "", 0)}, true},
		{"read your write", []porcupine.Operation{put(0, 1, "a", "x", 5), get(2, 3, "a", "x", 5)}, true},
		{"stale read", []porcupine.Operation{put(0, 1, "a", "x", 5), put(2, 3, "a", "y", 6), get(4, 5, "a", "x", 5)}, false},
		{"read of nothing after a write", []porcupine.Operation{put(0, 1, "a", "x", 5), get(2, 3, "a", "", 0)}, false},
		{"concurrent read may see either", []porcupine.Operation{put(0, 1, "a", "x", 5), put(2, 6, "a", "y", 6), get(3, 4, "a", "x", 5)}, true},
		{"revisions go backwards", []porcupine.Operation{put(0, 1, "a", "x", 5), put(2, 3, "a", "y", 4)}, false},
		{"cas at the current revision", []porcupine.Operation{put(0, 1, "a", "x", 5), cas(2, 3, "a", "y", 5, true, 7), get(4, 5, "a", "y", 7)}, true},
		{"cas at a stale revision applied", []porcupine.Operation{put(0, 1, "a", "x", 5), put(2, 3, "a", "y", 6), cas(4, 5, "a", "z", 5, true, 7)}, false},
		{"cas refused at the current revision", []porcupine.Operation{put(0, 1, "a", "x", 5), cas(2, 3, "a", "y", 5, false, 0)}, false},
		{"busy refusal (10164) at the current revision", []porcupine.Operation{put(0, 1, "a", "x", 5),
			{Input: KVInput{Op: opCAS, Key: "a", Value: "y", Expect: 5}, Call: 2, Output: KVOutput{Busy: true}, Return: 3}, get(4, 5, "a", "x", 5)}, true},
		{"create (cas at 0) on an absent key", []porcupine.Operation{cas(0, 1, "a", "x", 0, true, 3), get(2, 3, "a", "x", 3)}, true},
		{"two creates both applied", []porcupine.Operation{cas(0, 2, "a", "x", 0, true, 3), cas(1, 3, "a", "y", 0, true, 4)}, false},
		{"lost acknowledged write", []porcupine.Operation{put(0, 1, "a", "x", 5), cas(2, 3, "a", "y", 5, true, 6), get(4, 5, "a", "x", 5)}, false},
		{"unknown put may have happened", []porcupine.Operation{putUnknown(0, end, "a", "x"), get(2, 3, "a", "x", 9)}, true},
		{"unknown put may not have happened", []porcupine.Operation{putUnknown(0, end, "a", "x"), get(2, 3, "a", "", 0)}, true},
		{"unknown put's value cannot appear before its call", []porcupine.Operation{get(0, 1, "a", "x", 9), putUnknown(2, end, "a", "x")}, false},
		{"unknown cas took effect", []porcupine.Operation{put(0, 1, "a", "x", 5), casUnknown(2, end, "a", "y", 5), get(3, 4, "a", "y", 8), cas(5, 6, "a", "z", 8, true, 9)}, true},
		{"unknown cas at a wrong revision cannot take effect", []porcupine.Operation{put(0, 1, "a", "x", 5), casUnknown(2, end, "a", "y", 4), get(3, 4, "a", "y", 8)}, false},
		{"keys are independent", []porcupine.Operation{put(0, 1, "a", "x", 5), put(2, 3, "b", "y", 6), get(4, 5, "a", "x", 5), get(4, 5, "b", "y", 6)}, true},
	}
	model := kvModel.ToModel()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(model, tc.ops); got != tc.ok {
				t.Errorf("linearizable = %v, want %v", got, tc.ok)
			}
		})
	}
}
