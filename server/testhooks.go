//go:build natsd_testhooks

package server

// Built only with -tags natsd_testhooks (the natsd that tests run, see
// internal/testutil.NatsdBin); a production build has no such method.

// WedgeForTest takes the server's lock and never gives it back: a test hook
// that makes the server look deadlocked (new clients, monitoring and health
// checks block).
func (s *Server) WedgeForTest() {
	s.mu.Lock()
}
