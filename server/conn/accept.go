package conn

import (
	"errors"
	"net"
	"time"
)

// AcceptLoop accepts on ln until ln is closed, handing each connection to
// handle. A failed accept (out of file descriptors, say) is reported to
// onErr and retried after a growing pause: a server must not stop serving
// because one accept failed.
func AcceptLoop(ln net.Listener, handle func(net.Conn), onErr func(error)) {
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			onErr(err)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		handle(nc)
	}
}
