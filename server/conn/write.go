package conn

import (
	"errors"
	"net"
	"os"
	"time"

	"github.com/natsd/natsd/server/outbuf"
)

// WriteLoop drains the outbound queue until the connection is closed, then
// writes what is left (a final -ERR) and closes the socket. Run it on a
// goroutine of its own. A write that outlasts the write deadline closes the
// connection as a slow consumer: the peer took nothing for that long.
func (c *Conn) WriteLoop() {
	defer func() {
		_ = c.nc.Close()
		c.mu.Lock()
		c.out.Reset() // whatever could not be written goes back to the pool
		c.mu.Unlock()
	}()
	for range c.signal {
		for {
			c.mu.Lock()
			if c.out.Queued() == 0 {
				done := c.closed
				c.mu.Unlock()
				if done {
					return
				}
				break
			}
			bufs := c.out.Take()
			done := c.closed
			c.mu.Unlock()

			lim := c.owner.Limits()
			_ = c.nc.SetWriteDeadline(time.Now().Add(lim.WriteDeadline))
			_, err := outbuf.WriteTo(c.nc, bufs, &c.scratch)
			c.mu.Lock()
			c.out.Done(bufs)
			if c.stall != nil && int64(c.out.Pending()) < lim.MaxPending/2 {
				c.releaseStallLocked()
			}
			c.mu.Unlock()
			if err != nil {
				if done {
					return
				}
				if isTimeout(err) {
					c.Close(SlowConsumerWriteDeadline)
				} else {
					c.Close(WriteError)
				}
				return
			}
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}
