package persist

// Closed reports whether Close has begun: the store takes no more changes.
// The broker's readiness check asks it (any session.Store may offer the
// same method).
func (s *Store) Closed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}
