package raftdriver

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	"go.uber.org/zap"
)

// Sizes that bound what one round and one batch may hold.
const (
	// inboxBatches is how many received batches may wait for the driver;
	// beyond that Receive drops (it runs on a network reader and may not
	// block; Raft retransmits what is lost).
	inboxBatches = 4096
	// requestQueue is how many calls (proposals mostly) may wait for the
	// driver goroutine before Propose waits: the back-pressure a leader's
	// ingest feels when the driver is behind.
	requestQueue = 1024
	// maxBatchBytes is the most a batch to one server holds before it is
	// split: NATS's default max_payload, so that one batch is one message
	// on the route. A single frame larger than this goes alone.
	maxBatchBytes = 1 << 20
	// drainPerWake bounds how many inbox batches and calls one wake-up of
	// the loop takes before running a round: enough for the round to
	// gather many groups (one fsync for all), few enough that a flood of
	// messages does not delay the round (and the tick) indefinitely.
	drainPerWake = 256
)

// Stats are a driver's counters since New.
type Stats struct {
	Rounds           uint64 // rounds with at least one ready group
	Saves            uint64 // Log.Save calls (at most one a round)
	SentBatches      uint64 // Transport.Send calls
	DroppedInbox     uint64 // received batches dropped: the inbox was full
	BadFrames        uint64 // frames skipped: bad checksum or content
	BadBatches       uint64 // batches whose framing did not parse
	UnknownGroup     uint64 // messages for a group this server does not run
	DroppedProposals uint64 // proposals Raft refused (leadership lost since the check)
	HeldRefused      uint64 // vote requests and leadership transfers a held group did not step
}

// Driver runs every Raft group of one server. Its methods are safe for
// concurrent use; the RawNodes are touched only by its one goroutine
// (etcd/raft takes no locks, so that goroutine is their lock).
type Driver struct {
	cfg  Config
	log  *zap.Logger
	rlog raft.Logger

	mu      sync.Mutex
	started bool
	stopped bool
	// groups belong to the driver goroutine once it runs; before Start
	// calls touch them under mu (there is no driver goroutine yet).
	groups map[string]*group

	// leading says, per group, whether this server led it at the end of
	// the last round: Propose's check, made without a trip to the driver
	// goroutine so that a proposal only queues.
	stateMu sync.Mutex
	leading map[string]bool

	reqs  chan func()
	inbox chan []byte
	quit  chan struct{}
	done  chan struct{} // closed once the driver goroutine has returned

	stopOnce sync.Once
	// closed is set once the driver stops: Receive then drops at once
	// instead of filling an inbox nobody reads.
	closed atomic.Bool

	unreachMu sync.Mutex
	unreach   map[uint64]struct{}

	rounds, saves, sentBatches, droppedInbox, badFrames, badBatches,
	unknownGroup, droppedProposals atomic.Uint64
	heldRefused atomic.Uint64

	// Scratch of the driver goroutine, reused across rounds.
	readies []groupReady
	snaps   []snapSent
}

// New is a driver for cfg (defaults filled in); Start runs it.
func New(cfg Config) *Driver {
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.ElectionTicks <= 0 {
		cfg.ElectionTicks = 10
	}
	if cfg.HeartbeatTicks <= 0 {
		cfg.HeartbeatTicks = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	lg := cfg.Logger.With(zap.Uint64("raft_id", cfg.ID))
	return &Driver{
		cfg:     cfg,
		log:     lg,
		rlog:    newRaftLogger(lg),
		groups:  map[string]*group{},
		leading: map[string]bool{},
		reqs:    make(chan func(), requestQueue),
		inbox:   make(chan []byte, inboxBatches),
		quit:    make(chan struct{}),
		done:    make(chan struct{}),
		unreach: map[uint64]struct{}{},
	}
}

// Start starts the driver goroutine. Groups added before Start begin to
// tick then.
func (d *Driver) Start() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started || d.stopped {
		return
	}
	d.started = true
	go d.run()
}

// Stop stops the driver goroutine and every group's apply goroutine, as a
// kill would (nothing is flushed: what was saved is in the Log). What is
// queued for a state machine and not yet applied is dropped; a restart
// hands it again (AddGroup's applied). Stop waits for an Apply in
// progress to return, so it must not be called from a state machine's
// Apply or LeaderChanged. Later calls give ErrStopped; Stop may be called
// again.
func (d *Driver) Stop() {
	d.stopOnce.Do(func() {
		d.closed.Store(true)
		d.mu.Lock()
		d.stopped = true
		started := d.started
		d.mu.Unlock()
		close(d.quit)
		if started {
			<-d.done
		} else {
			close(d.done)
		}
		// The driver goroutine is gone: its groups are ours now.
		for _, g := range d.groups {
			g.apply.stop()
		}
	})
}

// Stats are the driver's counters.
func (d *Driver) Stats() Stats {
	return Stats{
		Rounds:           d.rounds.Load(),
		Saves:            d.saves.Load(),
		SentBatches:      d.sentBatches.Load(),
		DroppedInbox:     d.droppedInbox.Load(),
		BadFrames:        d.badFrames.Load(),
		BadBatches:       d.badBatches.Load(),
		UnknownGroup:     d.unknownGroup.Load(),
		DroppedProposals: d.droppedProposals.Load(),
		HeldRefused:      d.heldRefused.Load(),
	}
}

// Receive takes a batch the transport received. It runs on a network
// reader: it copies the batch and returns at once; when the inbox is full
// the batch is dropped and counted (Raft retransmits).
func (d *Driver) Receive(batch []byte) {
	if len(batch) == 0 || d.closed.Load() {
		return
	}
	b := append([]byte(nil), batch...)
	select {
	case d.inbox <- b:
	default:
		d.droppedInbox.Add(1)
	}
}

// ReportUnreachable tells the driver that a batch for server to was
// dropped by the transport: every group's leader then probes that
// follower instead of pipelining appends it will not receive. It does not
// block.
func (d *Driver) ReportUnreachable(to uint64) {
	d.unreachMu.Lock()
	d.unreach[to] = struct{}{}
	d.unreachMu.Unlock()
}

// do runs fn on the driver goroutine (or, before Start, on the caller's
// under mu: there is no driver goroutine to race with) and waits for it.
func (d *Driver) do(fn func()) error {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return ErrStopped
	}
	if !d.started {
		fn()
		d.mu.Unlock()
		return nil
	}
	d.mu.Unlock()
	ran := make(chan struct{})
	select {
	case d.reqs <- func() { fn(); close(ran) }:
	case <-d.done:
		return ErrStopped
	}
	select {
	case <-ran:
		return nil
	case <-d.done:
		select {
		case <-ran:
			return nil
		default:
			return ErrStopped
		}
	}
}

// errFatal marks an error after which the driver stops: the journal did
// not take a round.
var errFatal = errors.New("raftdriver: cannot persist")

// run is the driver goroutine.
func (d *Driver) run() {
	defer func() {
		d.closed.Store(true)
		d.mu.Lock()
		d.stopped = true
		d.mu.Unlock()
		close(d.done)
	}()
	ticker := time.NewTicker(d.cfg.Tick)
	defer ticker.Stop()
	for {
		select {
		case <-d.quit:
			return
		case <-ticker.C:
			for _, g := range d.groups {
				g.rn.Tick()
			}
		case b := <-d.inbox:
			d.receive(b, time.Now())
		case fn := <-d.reqs:
			fn()
		}
		d.drain()
		d.reportUnreachable()
		if err := d.round(); err != nil {
			// A server that cannot persist must not take part: what it
			// would send could promise what it does not hold. It stops
			// here, without sending or advancing the round.
			d.log.Error("raft driver stopped", zap.Error(err))
			return
		}
	}
}

// drain takes, without waiting, what else is queued (bounded), so that
// the round that follows gathers as many groups as are ready.
func (d *Driver) drain() {
	var now time.Time
	for i := 0; i < drainPerWake; i++ {
		select {
		case b := <-d.inbox:
			if now.IsZero() {
				now = time.Now()
			}
			d.receive(b, now)
		case fn := <-d.reqs:
			fn()
		default:
			return
		}
	}
}

// reportUnreachable passes what the transport reported to every group.
func (d *Driver) reportUnreachable() {
	d.unreachMu.Lock()
	if len(d.unreach) == 0 {
		d.unreachMu.Unlock()
		return
	}
	ids := make([]uint64, 0, len(d.unreach))
	for id := range d.unreach {
		ids = append(ids, id)
		delete(d.unreach, id)
	}
	d.unreachMu.Unlock()
	for _, g := range d.groups {
		for _, id := range ids {
			if id != d.cfg.ID {
				g.rn.ReportUnreachable(id)
			}
		}
	}
}

// fatal wraps a persistence error so that run stops.
func fatal(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", errFatal, what, err)
}
