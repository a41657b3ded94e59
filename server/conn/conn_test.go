package conn

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// owner is a test Owner that records what the Conn reports.
type owner struct {
	limits Limits
	ka     Keepalive
	ticks  atomic.Int32 // keepalive ticks (Keepalive calls)

	mu      sync.Mutex
	reasons []Reason
	closed  chan struct{}
}

func newOwner() *owner {
	return &owner{
		limits: Limits{MaxPending: 1 << 20, WriteDeadline: 2 * time.Second},
		ka:     Keepalive{Interval: time.Hour, Max: 2},
		closed: make(chan struct{}),
	}
}

func (o *owner) Limits() Limits       { return o.limits }
func (o *owner) Keepalive() Keepalive { o.ticks.Add(1); return o.ka }
func (o *owner) Closed(r Reason) {
	o.mu.Lock()
	o.reasons = append(o.reasons, r)
	if len(o.reasons) == 1 {
		close(o.closed)
	}
	o.mu.Unlock()
}

// reason waits for the connection to close and returns why.
func (o *owner) reason(t *testing.T) Reason {
	t.Helper()
	select {
	case <-o.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not close")
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reasons[0]
}

// pair is a Conn on one end of a loopback TCP connection and the raw peer
// on the other, with the writer running.
func pair(t *testing.T, o *owner) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	c := &Conn{}
	c.Init(nc, o)
	done := make(chan struct{})
	go func() { c.WriteLoop(); close(done) }()
	t.Cleanup(func() {
		c.Close(ServerShutdown)
		_ = peer.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("the writer did not stop")
		}
	})
	return c, peer
}

func readLine(t *testing.T, br *bufio.Reader, peer net.Conn) string {
	t.Helper()
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	l, err := br.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (%q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

func TestCloseOnceWritesWhatIsQueued(t *testing.T) {
	o := newOwner()
	c, peer := pair(t, o)
	c.Send([]byte("INFO {}\r\n"))
	var wg sync.WaitGroup
	var won atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.Close(AuthViolation) {
				won.Add(1)
			}
		}()
	}
	wg.Wait()
	if won.Load() != 1 {
		t.Fatalf("%d Close calls reported closing the connection, want 1", won.Load())
	}
	if r := o.reason(t); r != AuthViolation {
		t.Fatalf("reason %v", r)
	}
	// What was queued before the close is written, then the socket closes.
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(peer)
	if err != nil || string(b) != "INFO {}\r\n" {
		t.Fatalf("peer read %q, %v", b, err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.reasons) != 1 {
		t.Fatalf("Closed ran %d times", len(o.reasons))
	}
}

func TestSendErrAndClose(t *testing.T) {
	o := newOwner()
	c, peer := pair(t, o)
	c.SendErrAndClose("Authorization Violation", AuthViolation)
	c.Send([]byte("late\r\n")) // after the close: dropped
	br := bufio.NewReader(peer)
	if l := readLine(t, br, peer); l != "-ERR 'Authorization Violation'" {
		t.Fatalf("got %q", l)
	}
	if _, err := br.ReadString('\n'); err != io.EOF {
		t.Fatalf("after the -ERR: %v, want EOF", err)
	}
}

// A queue past half of max_pending hands out a stall channel; the writer
// closes it once the peer has read enough; Close releases it too.
func TestStallReleasedByWriterAndByClose(t *testing.T) {
	o := newOwner()
	o.limits.MaxPending = 64 << 10
	c, peer := pair(t, o)

	c.Lock()
	if c.StallLocked(o.limits.MaxPending) != nil {
		t.Fatal("an empty queue stalls")
	}
	c.Unlock()
	// Block the writer: the peer does not read, so fill the socket buffers
	// first, then queue past half of max_pending.
	big := make([]byte, 8<<20)
	c.Send(big)
	var stall chan struct{}
	deadline := time.Now().Add(5 * time.Second)
	for stall == nil {
		c.Lock()
		c.Queue().Write(make([]byte, 40<<10))
		stall = c.StallLocked(o.limits.MaxPending)
		c.Unlock()
		if time.Now().After(deadline) {
			t.Fatal("no stall past half of max_pending")
		}
	}
	select {
	case <-stall:
		t.Fatal("stall released while nothing drained")
	default:
	}
	// The peer reads everything: the writer drains and releases the stall.
	go func() { _, _ = io.Copy(io.Discard, peer) }()
	select {
	case <-stall:
	case <-time.After(5 * time.Second):
		t.Fatal("the writer did not release the stall after draining")
	}

	// A stall outstanding at close is released by Close.
	c.Lock()
	c.Queue().Write(make([]byte, 1<<20))
	stall = c.StallLocked(o.limits.MaxPending)
	c.Unlock()
	if stall == nil {
		t.Fatal("no stall")
	}
	c.Close(ClientClosed)
	select {
	case <-stall:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not release the stall")
	}
}

// A peer that reads nothing is cut off once a write outlasts the write
// deadline.
func TestWriteDeadlineClosesAsSlowConsumer(t *testing.T) {
	o := newOwner()
	o.limits.WriteDeadline = 200 * time.Millisecond
	o.limits.MaxPending = 1 << 30
	c, _ := pair(t, o)
	for i := 0; i < 64 && !c.IsClosed(); i++ {
		c.Send(make([]byte, 1<<20))
	}
	if r := o.reason(t); r != SlowConsumerWriteDeadline {
		t.Fatalf("reason %v, want %v", r, SlowConsumerWriteDeadline)
	}
}

func TestKeepalive(t *testing.T) {
	t.Run("stale after max unanswered", func(t *testing.T) {
		o := newOwner()
		o.ka = Keepalive{Interval: 20 * time.Millisecond, Max: 2, StaleErr: "Stale Connection"}
		c, peer := pair(t, o)
		c.ArmKeepalive(time.Millisecond)
		br := bufio.NewReader(peer)
		for i := range 2 {
			if l := readLine(t, br, peer); l != "PING" {
				t.Fatalf("line %d: %q, want PING", i, l)
			}
		}
		if l := readLine(t, br, peer); l != "-ERR 'Stale Connection'" {
			t.Fatalf("got %q", l)
		}
		if r := o.reason(t); r != StaleConnection {
			t.Fatalf("reason %v", r)
		}
	})
	t.Run("answered keeps it and measures the RTT", func(t *testing.T) {
		o := newOwner()
		o.ka = Keepalive{Interval: 10 * time.Millisecond, Max: 1}
		c, peer := pair(t, o)
		c.ArmKeepalive(time.Millisecond)
		br := bufio.NewReader(peer)
		for range 5 {
			if l := readLine(t, br, peer); l != "PING" {
				t.Fatalf("got %q", l)
			}
			c.Pong()
		}
		if c.IsClosed() {
			t.Fatal("closed although every PING was answered")
		}
		c.Lock()
		rtt := c.RTTLocked()
		c.Unlock()
		if rtt <= 0 {
			t.Fatal("no RTT measured")
		}
	})
	t.Run("active client skipped once its RTT is known", func(t *testing.T) {
		o := newOwner()
		o.ka = Keepalive{Interval: 50 * time.Millisecond, Max: 1, SkipIfActive: true}
		c, peer := pair(t, o)
		c.ArmKeepalive(time.Millisecond)
		br := bufio.NewReader(peer)
		if l := readLine(t, br, peer); l != "PING" {
			t.Fatalf("got %q", l)
		}
		c.Pong()
		// Active all the time from now on: ticks come, but no PING, and
		// the client is never stale.
		ticks := o.ticks.Load()
		for o.ticks.Load() < ticks+4 {
			c.Lock()
			c.TouchLocked(time.Now())
			c.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
		if c.IsClosed() {
			t.Fatal("an active client was closed as stale")
		}
		c.Close(ClientClosed)
		_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
		rest, _ := io.ReadAll(br)
		if strings.Contains(string(rest), "PING") {
			t.Fatalf("an active client with a known RTT got %q", rest)
		}
	})
}

func TestAuthTimer(t *testing.T) {
	for _, passed := range []bool{false, true} {
		o := newOwner()
		c, peer := pair(t, o)
		asked := make(chan struct{})
		c.Lock()
		c.ArmAuthTimerLocked(20*time.Millisecond, "Authentication Timeout", func() bool { close(asked); return passed })
		c.Unlock()
		if !passed {
			br := bufio.NewReader(peer)
			if l := readLine(t, br, peer); l != "-ERR 'Authentication Timeout'" {
				t.Fatalf("got %q", l)
			}
			if r := o.reason(t); r != AuthTimeout {
				t.Fatalf("reason %v", r)
			}
			continue
		}
		// Passed: once the timer has fired (and asked), a PING written
		// after it is the first thing the peer reads.
		<-asked
		c.Send([]byte("PING\r\n"))
		if l := readLine(t, bufio.NewReader(peer), peer); l != "PING" {
			t.Fatalf("got %q", l)
		}
		if c.IsClosed() {
			t.Fatal("closed although auth passed")
		}
	}
}

func TestReadLoop(t *testing.T) {
	o := newOwner()
	c, peer := pair(t, o)
	var got strings.Builder
	errStop := errors.New("stop")
	var onErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.ReadLoop(ReadSizing{Start: 4, Min: 4, Max: 16}, func(b []byte) error {
			got.Write(b)
			if strings.Contains(got.String(), "STOP") {
				return errStop
			}
			return nil
		}, func(err error) { onErr = err; c.Close(ProtocolViolation) })
	}()
	if _, err := io.WriteString(peer, "hello world, this is more than sixteen bytes. STOP"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ReadLoop did not return")
	}
	if onErr != errStop || !strings.HasSuffix(got.String(), "STOP") {
		t.Fatalf("onErr %v, read %q", onErr, got.String())
	}
	if r := o.reason(t); r != ProtocolViolation {
		t.Fatalf("reason %v", r)
	}

	// EOF closes as ClientClosed.
	o2 := newOwner()
	c2, peer2 := pair(t, o2)
	go c2.ReadLoop(ReadSizing{Start: 4, Min: 4, Max: 4}, func([]byte) error { return nil }, func(error) {})
	_ = peer2.Close()
	if r := o2.reason(t); r != ClientClosed {
		t.Fatalf("reason %v", r)
	}
}

func TestReadSizing(t *testing.T) {
	rs := ReadSizing{Start: 512, Min: 64, Max: 4096}
	buf, short := make([]byte, 512), 0
	// Full reads double it up to Max.
	for _, want := range []int{1024, 2048, 4096, 4096} {
		buf, short = rs.resize(buf, len(buf), short)
		if len(buf) != want {
			t.Fatalf("after a full read: %d, want %d", len(buf), want)
		}
	}
	// Short reads halve it after shrinkAfter+1 in a row, never below
	// Start (Min only bounds what a smaller Start would allow).
	for _, want := range []int{4096, 4096, 2048, 2048, 2048, 1024, 1024, 1024, 512, 512, 512, 512} {
		buf, short = rs.resize(buf, 1, short)
		if len(buf) != want {
			t.Fatalf("after short reads: %d, want %d", len(buf), want)
		}
	}
}

func TestAcceptLoop(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan net.Conn, 4)
	done := make(chan struct{})
	go func() {
		AcceptLoop(ln, func(nc net.Conn) { accepted <- nc }, func(err error) { t.Errorf("accept error: %v", err) })
		close(done)
	}()
	for range 3 {
		nc, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		select {
		case a := <-accepted:
			_ = a.Close()
		case <-time.After(5 * time.Second):
			t.Fatal("not accepted")
		}
	}
	_ = ln.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("AcceptLoop did not return after the listener closed")
	}
}

func TestReasonTexts(t *testing.T) {
	for r := ClientClosed; r <= DuplicateRoute; r++ {
		if r.String() == "Unknown State" {
			t.Errorf("reason %d has no text", r)
		}
	}
	if Reason(0).String() != "Unknown State" {
		t.Error("the zero reason has a text")
	}
}
