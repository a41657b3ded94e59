package raftdriver

import (
	"fmt"
	"testing"
	"time"

	"github.com/natsd/natsd/internal/testutil"
)

// A replica held with HoldVote neither votes nor campaigns: with the
// leader gone, the one other replica cannot win (it needs the held one's
// vote), so the group waits, unavailable but not wrong. Released, the
// group elects again. With HoldCampaign the held replica votes but never
// leads.
func TestHoldKeepsAReplicaOutOfElections(t *testing.T) {
	for _, tc := range []struct {
		name string
		hold Hold
	}{{"vote", HoldVote}, {"campaign", HoldCampaign}} {
		t.Run(tc.name, func(t *testing.T) {
			checkNoLeak(t)
			c := newCluster(t, 3, 7)
			for _, id := range ids(3) {
				c.start(id)
				c.addGroup(id, "g", ids(3))
			}
			want := seqData("a", 10)
			c.proposeFromLeader("g", want)
			c.waitApplied("g", ids(3), want)
			old := c.leader("g")
			var held, other uint64
			for _, id := range ids(3) {
				if id == old {
					continue
				}
				if held == 0 {
					held = id
				} else {
					other = id
				}
			}
			if err := c.drivers[held].SetHold("g", tc.hold); err != nil {
				t.Fatal(err)
			}
			if err := c.drivers[held].Campaign("g"); err == nil {
				t.Fatal("a held group campaigned on request")
			}
			c.drivers[old].Stop()
			if tc.hold == HoldCampaign {
				if lead := c.leader("g"); lead != other {
					t.Fatalf("leader %d, want %d (the held replica must not lead)", lead, other)
				}
				return
			}
			// The other replica asks for votes again and again; the held
			// one refuses each. Once it has refused several, nobody may
			// lead.
			testutil.Eventually(t, 10*time.Second, func() error {
				if n := c.drivers[held].Stats().HeldRefused; n < 3 {
					return fmt.Errorf("%d vote requests refused", n)
				}
				return nil
			})
			for _, id := range []uint64{held, other} {
				if st, ok := c.drivers[id].Status("g"); ok && st.Leader == id {
					t.Fatalf("server %d leads without the held replica's vote", id)
				}
			}
			if err := c.drivers[held].SetHold("g", HoldNone); err != nil {
				t.Fatal(err)
			}
			if lead := c.leader("g"); lead != held && lead != other {
				t.Fatalf("leader %d after release", lead)
			}
		})
	}
}
