package jsclustertest

import (
	"fmt"

	"github.com/anishathalye/porcupine"
)

// The KV model: one key's state (the history is partitioned by key), its
// operations and their outcomes, checked by porcupine.

// kvOp is an operation kind.
type kvOp int

const (
	opPut kvOp = iota
	opGet
	opCAS
)

// KVInput is an operation as called.
type KVInput struct {
	Op     kvOp
	Key    string
	Value  string // put, cas
	Expect uint64 // cas: the revision the key must be at (0: absent)
}

// KVOutput is an operation's outcome.
type KVOutput struct {
	// Unknown: the call timed out or failed in a way that does not say
	// whether it took effect (its return is the end of the history).
	Unknown bool
	Err     string // what made it unknown
	Found   bool   // get: the key exists
	Value   string // get
	Rev     uint64 // put, cas (ok), get (found): the revision
	OK      bool   // cas: applied (false: refused)
	// Busy: a cas refused without a claim about the revision: JetStream's
	// err_code 10164, "wrong last sequence" with no sequence, which
	// nats-server answers on a replicated stream while another write to
	// the same subject is in flight (proposed, not applied). It says only
	// that the cas did not apply: a read just after it may still see the
	// expected revision (seen against nats-server v2.15.2).
	Busy bool
}

// kvState is one key: whether it exists, its value, and its revision.
// RevUnknown: the value was written by an operation whose outcome was
// unknown, so its revision is only known to be above Rev.
type kvState struct {
	Exists     bool
	Value      string
	Rev        uint64
	RevUnknown bool
}

// atRev reports whether a compare-and-set expecting rev finds s there:
// yes, no, or maybe (the revision is unknown).
func (s kvState) atRev(rev uint64) (yes, maybe bool) {
	switch {
	case rev == 0:
		return !s.Exists, false
	case !s.Exists:
		return false, false
	case s.RevUnknown:
		return false, rev > s.Rev
	default:
		return s.Rev == rev, false
	}
}

// kvStep is the sequential specification: every state the key can be in
// after the operation, given its outcome (none: the outcome is impossible
// in state s). Revisions only grow; a read sees the last write.
func kvStep(state, input, output any) []any {
	s, in, out := state.(kvState), input.(KVInput), output.(KVOutput)
	written := func(rev uint64, unknown bool) kvState {
		return kvState{Exists: true, Value: in.Value, Rev: rev, RevUnknown: unknown}
	}
	switch in.Op {
	case opPut:
		if out.Unknown {
			return []any{s, written(s.Rev, true)}
		}
		if out.Rev > s.Rev {
			return []any{written(out.Rev, false)}
		}
	case opGet:
		switch {
		case out.Unknown:
			return []any{s}
		case !out.Found:
			if !s.Exists {
				return []any{s}
			}
		case s.Exists && s.Value == out.Value && s.RevUnknown && out.Rev > s.Rev:
			s.Rev, s.RevUnknown = out.Rev, false // the read tells the revision
			return []any{s}
		case s.Exists && s.Value == out.Value && !s.RevUnknown && out.Rev == s.Rev:
			return []any{s}
		}
	case opCAS:
		yes, maybe := s.atRev(in.Expect)
		switch {
		case out.Unknown && (yes || maybe):
			return []any{s, written(max(s.Rev, in.Expect), true)}
		case out.Unknown:
			return []any{s}
		case out.OK && (yes || maybe) && out.Rev > max(s.Rev, in.Expect):
			return []any{written(out.Rev, false)}
		case !out.OK && (out.Busy || !yes):
			return []any{s}
		}
	}
	return nil
}

// kvModel is porcupine's model of the KV, partitioned by key.
var kvModel = porcupine.NondeterministicModel{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		var keys []string
		for _, op := range history {
			k := op.Input.(KVInput).Key
			if _, ok := byKey[k]; !ok {
				keys = append(keys, k)
			}
			byKey[k] = append(byKey[k], op)
		}
		var parts [][]porcupine.Operation
		for _, k := range keys {
			parts = append(parts, byKey[k])
		}
		return parts
	},
	Init: func() []any { return []any{kvState{}} },
	Step: kvStep,
	DescribeOperation: func(input, output any) string {
		in, out := input.(KVInput), output.(KVOutput)
		var call string
		switch in.Op {
		case opPut:
			call = fmt.Sprintf("put(%s, %s)", in.Key, in.Value)
		case opGet:
			call = fmt.Sprintf("get(%s)", in.Key)
		case opCAS:
			call = fmt.Sprintf("cas(%s, %s, @%d)", in.Key, in.Value, in.Expect)
		}
		switch {
		case out.Unknown:
			return call + " → ? (" + out.Err + ")"
		case in.Op == opGet && !out.Found:
			return call + " → not found"
		case in.Op == opGet:
			return fmt.Sprintf("%s → %s@%d", call, out.Value, out.Rev)
		case in.Op == opCAS && !out.OK:
			return call + " → refused (" + out.Err + ")"
		default:
			return fmt.Sprintf("%s → @%d", call, out.Rev)
		}
	},
	DescribeState: func(state any) string {
		s := state.(kvState)
		switch {
		case !s.Exists:
			return "absent"
		case s.RevUnknown:
			return fmt.Sprintf("%s@>%d", s.Value, s.Rev)
		default:
			return fmt.Sprintf("%s@%d", s.Value, s.Rev)
		}
	},
}
