package store

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// The ack floor found through oldestHint is the one a walk of every
// pending delivery finds (floorWalk, the rule as it was written first),
// whatever the order of deliveries, acks, redeliveries and restores.
func TestAckStateFloorMatchesWalk(t *testing.T) {
	for _, tc := range []struct {
		name    string
		policy  AckPolicy
		gap     uint64 // stream sequences skipped between deliveries (a filtered consumer)
		inOrder bool   // acks oldest first
		redeliv float64
		restore float64 // chance that a step puts back a state saved earlier (SetState)
		below   float64 // chance that a step delivers a sequence below the oldest pending one
	}{
		{name: "explicit, in order", policy: AckExplicit, inOrder: true},
		{name: "explicit, random order", policy: AckExplicit},
		{name: "explicit, sparse", policy: AckExplicit, gap: 500, inOrder: true},
		{name: "explicit, sparse, random order", policy: AckExplicit, gap: 41},
		{name: "explicit, redeliveries", policy: AckExplicit, redeliv: 0.1},
		{name: "explicit, restores", policy: AckExplicit, restore: 0.02, redeliv: 0.02},
		{name: "explicit, out of order deliveries", policy: AckExplicit, gap: 5, below: 0.05},
		{name: "all", policy: AckAll, gap: 3},
		{name: "all, restores", policy: AckAll, restore: 0.05},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(2, uint64(len(tc.name))))
			a := newAckState(ConsumerConfig{AckPolicy: tc.policy})
			var dseq, sseq uint64
			var saved []ConsumerState
			for step := range 5000 {
				before := a.st.AckFloor
				r := rng.Float64()
				keys := slices.Sorted(maps.Keys(a.st.Pending))
				acked := false
				switch {
				case r < tc.restore && len(saved) > 0:
					a.set(*copyState(&saved[rng.IntN(len(saved))]))
				case r < tc.restore:
					saved = append(saved, *copyState(&a.st))
				case len(keys) > 0 && r < tc.restore+tc.below && keys[0] > a.st.AckFloor.Stream+1:
					dseq++
					if err := a.delivered(dseq, keys[0]-1, 1, 0); err != nil {
						t.Fatal(err)
					}
				case len(keys) > 0 && r < tc.restore+tc.below+tc.redeliv:
					dseq++
					if err := a.delivered(dseq, keys[rng.IntN(len(keys))], 2, 0); err != nil {
						t.Fatal(err)
					}
				case len(keys) < 300 && r < 0.55:
					dseq++
					sseq += 1 + tc.gap
					if err := a.delivered(dseq, sseq, 1, 0); err != nil {
						t.Fatal(err)
					}
				case len(keys) > 0:
					s := keys[0]
					if !tc.inOrder {
						s = keys[rng.IntN(len(keys))]
					}
					if err := a.acked(a.st.Pending[s].Sequence, s); err != nil {
						t.Fatalf("step %d: ack %d: %v", step, s, err)
					}
					acked = true
				}
				if len(a.st.Pending) > 0 {
					want := slices.Min(slices.Collect(maps.Keys(a.st.Pending)))
					if got := a.oldestPending(); got != want {
						t.Fatalf("step %d: oldest pending %d, a walk finds %d", step, got, want)
					}
				}
				if acked && tc.policy == AckExplicit {
					if want := floorWalk(before, &a.st); a.st.AckFloor != want {
						t.Fatalf("step %d: floor %+v, a walk finds %+v", step, a.st.AckFloor, want)
					}
				}
			}
		})
	}
}

// floorWalk is the floor an explicit ack leaves, from the floor before it:
// below the oldest pending delivery found by walking them all.
func floorWalk(before SequencePair, st *ConsumerState) SequencePair {
	if len(st.Pending) == 0 {
		return st.Delivered
	}
	var oldest uint64
	var op *Pending
	for s, p := range st.Pending {
		if op == nil || s < oldest {
			oldest, op = s, p
		}
	}
	if op.Sequence > 0 && op.Sequence-1 > before.Consumer {
		return SequencePair{Consumer: op.Sequence - 1, Stream: oldest - 1}
	}
	return before
}
