package conn

import (
	"time"

	"github.com/natsd/natsd/server/wire"
)

// Keepalive is a connection kind's PING policy, asked for at every tick.
type Keepalive struct {
	// Interval between PINGs.
	Interval time.Duration
	// Max PINGs may go unanswered; the next tick closes the connection as
	// stale.
	Max int
	// SkipIfActive spares a PING to a connection that was active within
	// Interval once its RTT is known and less than an hour old
	// (nats-server's rule for clients).
	SkipIfActive bool
	// StaleErr is the -ERR text sent before closing a stale connection
	// ("" closes without one, as routes do).
	StaleErr string
}

// ArmKeepalive starts the keepalive: the first tick after first.
func (c *Conn) ArmKeepalive(first time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.pingT != nil {
		return
	}
	c.pingT = time.AfterFunc(first, c.keepaliveTick)
}

func (c *Conn) keepaliveTick() {
	ka := c.owner.Keepalive()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	now := time.Now()
	if ka.SkipIfActive && c.rtt > 0 && now.Sub(c.rttStart) < time.Hour && now.Sub(c.last) < ka.Interval {
		c.pingT.Reset(ka.Interval)
		c.mu.Unlock()
		return
	}
	if c.pingsOut+1 > ka.Max {
		c.mu.Unlock()
		if ka.StaleErr != "" {
			c.SendErrAndClose(ka.StaleErr, StaleConnection)
		} else {
			c.Close(StaleConnection)
		}
		return
	}
	c.pingsOut++
	c.rttStart = now
	c.out.Write(wire.Ping)
	c.pingT.Reset(ka.Interval)
	c.mu.Unlock()
	c.Wake()
}

// Pong records the peer's answer to a keepalive PING and its round trip.
func (c *Conn) Pong() {
	c.mu.Lock()
	c.pingsOut = 0
	if !c.rttStart.IsZero() {
		c.rtt = max(time.Since(c.rttStart), time.Nanosecond)
	}
	c.mu.Unlock()
}

// ArmAuthTimerLocked closes the connection with "-ERR 'errText'" unless
// passed reports true after d. It does nothing when the connection is
// closed or a timer is already running. Call with the lock held; passed is
// called without it.
func (c *Conn) ArmAuthTimerLocked(d time.Duration, errText string, passed func() bool) {
	if c.closed || c.authT != nil {
		return
	}
	c.authT = time.AfterFunc(d, func() {
		if c.IsClosed() || passed() {
			return
		}
		c.SendErrAndClose(errText, AuthTimeout)
	})
}

// StopAuthTimerLocked stops the auth timer (the peer authenticated). Call
// with the lock held.
func (c *Conn) StopAuthTimerLocked() {
	if c.authT != nil {
		c.authT.Stop()
	}
}

// SetRTTLocked records a round-trip time measured elsewhere (tests of
// monitoring sort it). Call with the lock held.
func (c *Conn) SetRTTLocked(d time.Duration) { c.rtt = d }
