package faults

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/natsd/natsd/internal/testutil"
)

// errList collects problems seen off the test goroutine (client callbacks,
// publishers), for the test to fail on.
type errList struct {
	mu   sync.Mutex
	errs []string
}

func (e *errList) add(format string, args ...any) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) < 20 {
		e.errs = append(e.errs, fmt.Sprintf(format, args...))
	}
}

// first is the first problem collected, or "".
func (e *errList) first() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) == 0 {
		return ""
	}
	return e.errs[0]
}

// check fails t if anything was collected.
func (e *errList) check(t *testing.T) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.errs) > 0 {
		t.Fatalf("%d problem(s):\n  %s", len(e.errs), strings.Join(e.errs, "\n  "))
	}
}

// stream is a counting publisher on one node and counting subscribers on
// others: the publisher sends sequence numbers 0, 1, 2, … on its subject,
// each subscriber checks that it sees each exactly once, in order.
type stream struct {
	name    string // "A→B"
	subject string
	pad     []byte // payload padding after the sequence number
	pub     *nats.Conn
	conns   []*nats.Conn // pub and the subscribers' connections
	probs   *errList
	counts  []*counter
	sent    atomic.Int64
	stop    chan struct{}
	done    chan struct{}
}

// counter is one subscriber of a stream. A strict counter is on a path the
// fault does not touch: it must see every sequence.
type counter struct {
	node   string
	strict bool
	mu     sync.Mutex
	next   int64 // next sequence expected
	got    int64
	gaps   int64 // sequences skipped
	bad    []string
}

func (c *counter) see(m *nats.Msg) { c.seePayload(m.Data) }

// seePayload counts one message: its payload starts with the sequence
// number, in decimal, then a space or the end.
func (c *counter) seePayload(data []byte) {
	seq, ok := int64(0), len(data) > 0
	for _, b := range data {
		if b == ' ' {
			break
		}
		if b < '0' || b > '9' {
			ok = false
			break
		}
		seq = seq*10 + int64(b-'0')
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got++
	switch {
	case !ok:
		c.note("unreadable payload %.40q", data)
	case seq == c.next:
		c.next++
	case seq > c.next:
		c.gaps += seq - c.next
		c.note("lost %d..%d", c.next, seq-1)
		c.next = seq + 1
	default:
		c.note("%d again or out of order (after %d)", seq, c.next-1)
	}
}

func (c *counter) note(format string, args ...any) {
	if len(c.bad) < 10 {
		c.bad = append(c.bad, fmt.Sprintf(format, args...))
	}
}

func (c *counter) state() (got, next, gaps int64, bad []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got, c.next, c.gaps, append([]string(nil), c.bad...)
}

// newStream sets up a stream from node from to subscribers on each of
// strict (which must see everything) and lossy (which may miss what was
// sent while the fault held), and waits until from knows of every
// subscriber's interest. Problems on the strict path's clients (a
// disconnection, a slow consumer) go to probs.
func newStream(t *testing.T, probs *errList, name string, payload int, from *node, pubOpts []nats.Option, strict []*node, lossy ...*node) *stream {
	t.Helper()
	return makeStream(t, probs, name, payload, from, pubOpts, false, strict, lossy)
}

// newFloodStream is newStream with its (strict) subscribers on rawSub
// connections, fast enough to keep up with a flood.
func newFloodStream(t *testing.T, probs *errList, name string, payload int, from *node, pubOpts []nats.Option, strict ...*node) *stream {
	t.Helper()
	return makeStream(t, probs, name, payload, from, pubOpts, true, strict, nil)
}

func makeStream(t *testing.T, probs *errList, name string, payload int, from *node, pubOpts []nats.Option, raw bool, strict, lossy []*node) *stream {
	t.Helper()
	s := &stream{
		name: name, subject: "faults." + strings.NewReplacer("→", "_to_", ",", "_", " ", "_").Replace(name),
		probs: probs, stop: make(chan struct{}), done: make(chan struct{}),
	}
	if payload > 20 {
		s.pad = bytes.Repeat([]byte("x"), payload-20)
	}
	s.pub = connect(t, from, probs, pubOpts...)
	s.conns = append(s.conns, s.pub)
	var probes []func() bool // each says whether a probe arrived
	add := func(n *node, isStrict bool) {
		c := &counter{node: n.name, strict: isStrict}
		s.counts = append(s.counts, c)
		if raw {
			rs := rawSubscribe(t, n, s.subject, c.seePayload, probs)
			probes = append(probes, func() bool {
				select {
				case <-rs.probed:
					return true
				case <-time.After(50 * time.Millisecond):
					return false
				}
			})
			return
		}
		var p *errList
		if isStrict {
			p = probs
		}
		nc := connect(t, n, p)
		s.conns = append(s.conns, nc)
		sub, err := nc.Subscribe(s.subject, c.see)
		if err != nil {
			t.Fatal(err)
		}
		// The client must never drop: only the servers are under test.
		_ = sub.SetPendingLimits(-1, -1)
		// Interest travels to other nodes in the order it was made: once
		// the probe subscription is known at from, so is the stream's.
		probe, err := nc.SubscribeSync(s.subject + ".probe")
		if err != nil {
			t.Fatal(err)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		probes = append(probes, func() bool {
			_, err := probe.NextMsg(50 * time.Millisecond)
			return err == nil
		})
	}
	for _, n := range strict {
		add(n, true)
	}
	for _, n := range lossy {
		add(n, false)
	}
	for i, probed := range probes {
		testutil.Eventually(t, 20*time.Second, func() error {
			_ = s.pub.Publish(s.subject+".probe", nil)
			if !probed() {
				return fmt.Errorf("%s: no interest of %s at %s yet", name, s.counts[i].node, from.name)
			}
			return nil
		})
	}
	return s
}

// run publishes batch messages every tick until halt.
func (s *stream) run(tick time.Duration, batch int) {
	go func() {
		defer close(s.done)
		tk := time.NewTicker(tick)
		defer tk.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-tk.C:
			}
			for range batch {
				if !s.publishOne() {
					return
				}
			}
		}
	}()
}

// flood publishes as fast as the publisher's server takes it until halt.
func (s *stream) flood() {
	go func() {
		defer close(s.done)
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			if !s.publishOne() {
				return
			}
		}
	}()
}

func (s *stream) publishOne() bool {
	seq := s.sent.Load()
	data := strconv.AppendInt(nil, seq, 10)
	if s.pad != nil {
		data = append(append(data, ' '), s.pad...)
	}
	if err := s.pub.Publish(s.subject, data); err != nil {
		s.probs.add("%s: publish %d: %v", s.name, seq, err)
		return false
	}
	s.sent.Add(1)
	return true
}

// send publishes n messages at once (for a stream not run on a ticker).
func (s *stream) send(t *testing.T, n int) {
	t.Helper()
	for range n {
		if !s.publishOne() {
			t.Fatalf("%s: publishing failed", s.name)
		}
	}
	if err := s.pub.FlushTimeout(10 * time.Second); err != nil {
		t.Fatalf("%s: flush: %v", s.name, err)
	}
}

// halt stops the publisher and flushes what it sent to its server.
func (s *stream) halt(t *testing.T) {
	t.Helper()
	close(s.stop)
	<-s.done
	if err := s.pub.FlushTimeout(20 * time.Second); err != nil {
		t.Fatalf("%s: flush: %v", s.name, err)
	}
}

// flowing waits until every strict subscriber has seen n messages
// published after this call: traffic flows now, and has for a while.
func (s *stream) flowing(t *testing.T, n int64, within time.Duration) {
	t.Helper()
	mark := s.sent.Load()
	for _, c := range s.counts {
		if !c.strict {
			continue
		}
		testutil.Eventually(t, within, func() error {
			if _, next, _, bad := c.state(); next < mark+n {
				return fmt.Errorf("%s: %s has seen up to %d, want %d (%v)", s.name, c.node, next-1, mark+n-1, bad)
			}
			return nil
		})
	}
}

// reaches waits until the subscriber on node (strict or not) has seen n
// more messages than it had at this call.
func (s *stream) reaches(t *testing.T, node string, n int64, within time.Duration) {
	t.Helper()
	from := s.seenBy(node)
	testutil.Eventually(t, within, func() error {
		if got := s.seenBy(node); got < from+n {
			return fmt.Errorf("%s: %s has seen %d since, want %d", s.name, node, got-from, n)
		}
		return nil
	})
}

// seenBy is how many messages the counter on node has seen.
func (s *stream) seenBy(node string) int64 {
	for _, c := range s.counts {
		if c.node == node {
			got, _, _, _ := c.state()
			return got
		}
	}
	return -1
}

// close closes the stream's client connections.
func (s *stream) close() {
	for _, nc := range s.conns {
		nc.Close()
	}
}

// verify waits until every strict counter has seen every sequence sent,
// and fails on any gap, repeat or reordering there. It returns a summary.
func (s *stream) verify(t *testing.T, within time.Duration) string {
	t.Helper()
	sent := s.sent.Load()
	var out []string
	for _, c := range s.counts {
		if !c.strict {
			continue
		}
		testutil.Eventually(t, within, func() error {
			if p := s.probs.first(); p != "" {
				t.Fatalf("%s: %s", s.name, p)
			}
			if got, next, _, bad := c.state(); next < sent && len(bad) == 0 {
				return fmt.Errorf("%s: %s has %d of %d", s.name, c.node, got, sent)
			}
			return nil
		})
		got, next, gaps, bad := c.state()
		if len(bad) > 0 || got != sent || next != sent {
			t.Fatalf("%s: subscriber on %s got %d messages for %d sent (%d lost): %s",
				s.name, c.node, got, sent, gaps, strings.Join(bad, "; "))
		}
	}
	for _, c := range s.counts {
		got, _, gaps, _ := c.state()
		kind := "exactly once, in order"
		if !c.strict {
			kind = fmt.Sprintf("%d lost (allowed: the fault's path)", gaps)
		}
		out = append(out, fmt.Sprintf("%s %d/%d at %s %s", s.name, got, sent, c.node, kind))
	}
	return strings.Join(out, ", ")
}
