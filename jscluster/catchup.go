package jscluster

import (
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"

	"github.com/natsd/natsd/server"
)

// A replica sent a snapshot (it was too far behind for the log) fetches
// the messages it lacks from its group's leader: requests on
// $NATSD.CATCHUP.<leader id>.<group> carrying the range, answered with a
// batch of at most about 1 MiB (jetstream.Replica.CatchupBatch). The
// follower asks for the next batch only once it stored the last: that is
// the flow control.

const (
	catchupPrefix      = "$NATSD.CATCHUP."
	catchupReplyPrefix = "$NATSD.CATCHUPR."
	catchupTimeout     = 3 * time.Second
	catchupServers     = 4 // requests served at once
	// catchupConsumersReq asks for the consumers instead of a range.
	catchupConsumersReq = 'c'
)

var catchupSeq atomic.Uint64

// onCatchupRequest serves a peer's catch-up request (off the route's
// reader: reading the store may take a while).
func (c *Cluster) onCatchupRequest(m server.Msg) {
	group := strings.TrimPrefix(string(m.Subject), catchupPrefix+idToken(c.self)+".")
	consumers := len(m.Data) == 1 && m.Data[0] == catchupConsumersReq
	if (len(m.Data) != 16 && !consumers) || len(m.Reply) == 0 {
		return
	}
	var from, to uint64
	if !consumers {
		from, to = binary.BigEndian.Uint64(m.Data), binary.BigEndian.Uint64(m.Data[8:])
	}
	reply := string(m.Reply)
	c.mu.Lock()
	g := c.groups[group]
	c.mu.Unlock()
	if g == nil || g.replica == nil {
		return
	}
	select {
	case c.catchupSlots <- struct{}{}:
	default:
		return // busy: the follower asks again
	}
	go func() {
		defer func() { <-c.catchupSlots }()
		if consumers {
			_ = c.sys.Publish(reply, "", nil, g.replica.CatchupConsumers())
			return
		}
		_ = c.sys.Publish(reply, "", nil, g.replica.CatchupBatch(from, to))
	}()
}

// ApplySnapshot is raftdriver's hand-over of a snapshot to the group's
// state machine (on its apply goroutine).
func (g *streamGroup) ApplySnapshot(s *raftpb.Snapshot) {
	idx := s.GetMetadata().GetIndex()
	g.c.log.Info("Stream replica too far behind; catching up from the leader", zap.String("stream", g.stream), zap.Uint64("index", idx))
	if err := g.replica.InstallSnapshot(idx, s.GetData(), g.fetch, g.fetchConsumers); err != nil {
		g.c.log.Error("Stream catch-up failed", zap.String("stream", g.stream), zap.Error(err))
	}
}

// fetch asks the group's leader for the messages from..to.
func (g *streamGroup) fetch(from, to uint64) ([]byte, error) {
	var req [16]byte
	binary.BigEndian.PutUint64(req[:], from)
	binary.BigEndian.PutUint64(req[8:], to)
	return g.ask(req[:])
}

// fetchConsumers asks the group's leader for the stream's consumers.
func (g *streamGroup) fetchConsumers() ([]byte, error) { return g.ask([]byte{catchupConsumersReq}) }

// ask sends a catch-up request to the group's leader and waits for its
// answer.
func (g *streamGroup) ask(req []byte) ([]byte, error) {
	// The driver's view, not LeaderChanged's: a rebuild runs on the apply
	// goroutine before the leader news queued behind it.
	st, _ := g.c.drv.Status(g.name)
	leader := st.Leader
	if leader == 0 || leader == g.c.self {
		return nil, errors.New("no leader to catch up from")
	}
	inbox := catchupReplyPrefix + idToken(g.c.self) + "." + strconv.FormatUint(catchupSeq.Add(1), 36)
	ch := make(chan []byte, 1)
	sub, err := g.c.sys.Subscribe(inbox, "", func(m server.Msg) {
		select {
		case ch <- append([]byte(nil), m.Data...):
		default:
		}
	})
	if err != nil {
		return nil, err
	}
	defer sub.Unsubscribe()
	if err := g.c.sys.Publish(catchupPrefix+idToken(leader)+"."+g.name, inbox, nil, req); err != nil {
		return nil, err
	}
	select {
	case b := <-ch:
		return b, nil
	case <-time.After(catchupTimeout):
		return nil, errors.New("catch-up request timed out")
	case <-g.c.quit:
		return nil, errors.New("stopping")
	}
}
