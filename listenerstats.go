package loom

import (
	"github.com/loom-mqtt/loom/reactor"
	"github.com/loom-mqtt/loom/session"
)

// ListenerStats are one listener's clients and refusals, taken by
// Server.ListenerStats: what a metrics exporter labels by listener.
type ListenerStats struct {
	// ID is the listener's Listener.ID (its Address when that is empty);
	// Address is where it is bound once started (port 0 resolved), its
	// Listener.Address before.
	ID, Address string
	// MaxClients is its Listener.MaxClients (0: no cap of its own).
	MaxClients int
	// Connected is the number of clients with a completed CONNECT through
	// it now; ConnectedV5, ConnectedV311 and ConnectedV31 split it by
	// protocol version.
	Connected                                int64
	ConnectedV5, ConnectedV311, ConnectedV31 int64
	// RefusedAtCap counts the CONNECTs it refused at its MaxClients or at
	// Limits.MaxClients; RefusedForRate the connections it refused past
	// its ConnectRate.
	RefusedAtCap, RefusedForRate int64
}

// ListenerStats reads each listener's counts, in the order of
// Options.Listeners. The counts are atomics changed at CONNECT and at
// close, never per message, so it is cheap to call at every scrape.
func (s *Server) ListenerStats() []ListenerStats {
	addrs := s.Addrs()
	out := make([]ListenerStats, len(s.gates))
	for i, g := range s.gates {
		st := g.Stats()
		addr := s.opts.Listeners[i].Address
		if i < len(addrs) {
			addr = addrs[i].String()
		}
		out[i] = ListenerStats{
			ID: st.ID, Address: addr, MaxClients: st.MaxClients,
			Connected:   st.V5 + st.V311 + st.V31,
			ConnectedV5: st.V5, ConnectedV311: st.V311, ConnectedV31: st.V31,
			RefusedAtCap: st.RefusedCap, RefusedForRate: st.RefusedRate,
		}
	}
	return out
}

// addGates makes each listener's gate (its client cap, connect rate and
// counts: session/gate.go), registers it with the broker and hands it to
// the reactor's listener.
func addGates(b *session.Broker, ls []Listener, rls []reactor.Listener) ([]*session.Gate, error) {
	gates := make([]*session.Gate, len(ls))
	for i, l := range ls {
		id := l.ID
		if id == "" {
			id = l.Address
		}
		g := session.NewGate(id, l.MaxClients, l.ConnectRate, l.ConnectBurst)
		if err := b.AddGate(g); err != nil {
			return nil, err
		}
		gates[i], rls[i].Gate = g, g
	}
	return gates, nil
}
