package jscluster

import (
	"sync/atomic"

	"github.com/natsd/natsd/server"
)

// Raft messages travel as NATS messages in the system account, over the
// routes the cluster already has: no new port. Each server subscribes one
// subject, $NATSD.RAFT.<its id>, so that interest does not change as
// groups come and go; a message carries a batch of frames (raftdriver's
// AppendFrame), everything one round of the driver sends to that server.
// nats-server's own replication subjects ($NRG.…) are different: neither
// answers the other's.

const raftPrefix = "$NATSD.RAFT."

type transport struct {
	acc     *server.Account
	dropped atomic.Uint64
}

// Send publishes a batch for server to. Publish does not block on a slow
// route (the route's buffer takes it or the route is cut); what is lost
// Raft sends again.
func (t *transport) Send(to uint64, batch []byte) {
	if err := t.acc.Publish(raftPrefix+idToken(to), "", nil, batch); err != nil {
		t.dropped.Add(1)
	}
}
