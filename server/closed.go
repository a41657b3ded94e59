package server

// maxClosed is how many closed connections /connz?state=closed remembers.
const maxClosed = 10000

// recordClosed keeps the snapshot of a closed client for /connz.
func (s *Server) recordClosed(ci *ConnStats) {
	s.closedMu.Lock()
	if len(s.closedRing) < maxClosed {
		s.closedRing = append(s.closedRing, ci)
	} else {
		s.closedRing[s.closedNext] = ci
		s.closedNext = (s.closedNext + 1) % maxClosed
	}
	s.closedMu.Unlock()
}
