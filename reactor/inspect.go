package reactor

import "net"

// ListenerID names the listener whose socket has the address local (a
// connection's LocalAddr, as session.ClientState.Local carries it): its
// ID, or "" when no listener has it. Call it once Start has returned.
func (s *Server) ListenerID(local net.Addr) string {
	if local == nil {
		return ""
	}
	if l := s.listenerOf(local); l != nil {
		return l.ID
	}
	return ""
}
