package server

import "sync/atomic"

// EventSink is told of clients connecting and disconnecting: the system
// account publishes these as $SYS.ACCOUNT.<account>.CONNECT / DISCONNECT
// events. Its methods run on the client's goroutines (CONNECT on its
// reader, a disconnect on whichever goroutine closed it) and must not
// block; they may publish.
type EventSink interface {
	ClientConnected(c *ConnStats)
	ClientDisconnected(c *ConnStats)
}

type sinkHolder struct{ s EventSink }

// SetEventSink connects the system account's events; nil disconnects them.
func (s *Server) SetEventSink(e EventSink) {
	if e == nil {
		s.events.Store(nil)
		return
	}
	s.events.Store(&sinkHolder{e})
}

// RemoveEventSink disconnects e if it is the sink connected: a service
// replaced by a newer one does not disconnect the newer one's.
func (s *Server) RemoveEventSink(e EventSink) {
	for {
		h := s.events.Load()
		if h == nil || h.s != e || s.events.CompareAndSwap(h, nil) {
			return
		}
	}
}

func (s *Server) eventSink() EventSink {
	if h := s.events.Load(); h != nil {
		return h.s
	}
	return nil
}

// eventsHolder is the server's event sink slot.
type eventsHolder = atomic.Pointer[sinkHolder]
