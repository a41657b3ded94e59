package jetstream

import (
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// The ack floor found through oldestHint is the one a walk of every
// pending delivery finds, whatever the order of deliveries, acks and
// redeliveries.
func TestAckFloorMatchesWalk(t *testing.T) {
	for _, tc := range []struct {
		name     string
		gap      int     // stream sequences skipped between deliveries (a filtered consumer)
		inOrder  bool    // acks oldest first
		redeliv  float64 // chance that a step redelivers a pending message
		restored int     // pending deliveries restored from the store first
	}{
		{name: "in order", gap: 0, inOrder: true},
		{name: "random order", gap: 0},
		{name: "sparse, in order", gap: 1000, inOrder: true},
		{name: "sparse, random order", gap: 37},
		{name: "redeliveries", gap: 0, redeliv: 0.1},
		{name: "redeliveries, in order", gap: 2, inOrder: true, redeliv: 0.05},
		{name: "restored state", gap: 0, inOrder: true, restored: 50},
		{name: "restored state, random order", gap: 3, restored: 80, redeliv: 0.02},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, uint64(len(tc.name))))
			o := &consumer{pending: map[uint64]*pendingMsg{}}
			var sseq uint64
			next := func() uint64 { sseq += 1 + uint64(tc.gap); return sseq }
			// A restored state, added in a map's order (restoreState), with
			// consumer sequences in any order.
			restored := make([]uint64, tc.restored)
			for i := range restored {
				restored[i] = next()
			}
			cseqs := rng.Perm(tc.restored)
			for i, j := range rng.Perm(tc.restored) {
				o.addPendingLocked(restored[j], &pendingMsg{cseq: uint64(cseqs[i] + 1), unordered: true})
			}
			o.dseq = uint64(tc.restored)
			o.sseq = sseq + 1
			for step := range 5000 {
				switch r := rng.Float64(); {
				case len(o.pending) > 0 && r < tc.redeliv:
					keys := slices.Sorted(maps.Keys(o.pending))
					s := keys[rng.IntN(len(keys))]
					o.dseq++
					o.addPendingLocked(s, &pendingMsg{cseq: o.dseq, unordered: true})
				case len(o.pending) < 300 && r < 0.55:
					o.dseq++
					s := next()
					o.sseq = s + 1
					o.addPendingLocked(s, &pendingMsg{cseq: o.dseq})
				case len(o.pending) > 0:
					keys := slices.Sorted(maps.Keys(o.pending))
					s := keys[0]
					if !tc.inOrder {
						s = keys[rng.IntN(len(keys))]
					}
					if !o.dropPendingLocked(s) {
						t.Fatalf("step %d: %d pending but not dropped", step, s)
					}
				}
				o.updateAckFloorLocked()
				wantS, wantC := walkFloor(o)
				if o.asflr != wantS || o.adflr != wantC {
					t.Fatalf("step %d: floor (stream %d, consumer %d), a walk finds (%d, %d)", step, o.asflr, o.adflr, wantS, wantC)
				}
				n := 0
				for _, p := range o.pending {
					if p.unordered {
						n++
					}
				}
				if n != o.unordered {
					t.Fatalf("step %d: unordered = %d, %d entries are", step, o.unordered, n)
				}
			}
		})
	}
}

// walkFloor is the ack floor by walking every pending delivery.
func walkFloor(o *consumer) (asflr, adflr uint64) {
	if len(o.pending) == 0 {
		return o.deliveredStreamSeq(), o.dseq
	}
	var minS, minC uint64
	for s, p := range o.pending {
		if minS == 0 || s < minS {
			minS = s
		}
		if minC == 0 || p.cseq < minC {
			minC = p.cseq
		}
	}
	return minS - 1, minC - 1
}
