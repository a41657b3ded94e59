package server

import (
	"context"
	"time"

	"github.com/natsd/natsd/server/conn"
)

// LameDuck drains the server for a restart without losing clients' work:
//  1. the client listeners close, so no new clients arrive;
//  2. clients that take async INFO get one with "ldm": true whose
//     connect_urls list the other servers only (nats.go calls its lame duck
//     handler and reconnects elsewhere);
//  3. after grace, the remaining clients are closed one by one, spread over
//     the rest of duration.
//
// It returns when every client is gone or ctx ends. The caller then shuts
// the server down.
func (s *Server) LameDuck(ctx context.Context) {
	o := s.getOpts()
	s.mu.Lock()
	s.ldm = true
	s.mu.Unlock()
	s.closeListeners()
	s.sendAsyncInfo(infoToAll)

	if !sleepCtx(ctx, o.LameDuckGracePeriod) {
		return
	}
	clients := s.snapshotClients()
	if len(clients) == 0 {
		return
	}
	step := (o.LameDuckDuration - o.LameDuckGracePeriod) / time.Duration(len(clients))
	for i, c := range clients {
		c.Close(conn.LameDuck)
		if i < len(clients)-1 && !sleepCtx(ctx, step) {
			return
		}
	}
}

// InLameDuck reports whether lame duck mode has begun.
func (s *Server) InLameDuck() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ldm
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
