package loom

import (
	"errors"
	"fmt"
	"net"
)

// Safe by default: a broker that authenticates no one serves loopback and
// Unix sockets only, unless the embedder says anonymous clients from the
// network are meant (Options.AllowAnonymous).

// ErrExposed is what Start returns when a listener is reachable from the
// network while no hook authenticates clients and Options.AllowAnonymous is
// not set.
var ErrExposed = errors.New("a listener is reachable from the network and no hook authenticates clients")

// checkExposure refuses to open listeners off loopback without
// authentication.
func (s *Server) checkExposure() error {
	if s.opts.AllowAnonymous || s.broker.Authenticates() {
		return nil
	}
	for _, l := range s.opts.Listeners {
		if !LoopbackOnly(l.Address) && !l.verifiesClients() {
			return fmt.Errorf("loom: listener %s: %w (add an authentication hook with AddHook, require client certificates, or set Options.AllowAnonymous to accept anonymous clients)", l.Address, ErrExposed)
		}
	}
	return nil
}

// LoopbackOnly reports whether a listener's address (Listener.Address) can
// only be reached from this machine: a Unix socket, or TCP (plain, TLS or
// WebSocket) on a loopback address (a name counts when every address it
// resolves to is loopback). An empty host is every interface.
func LoopbackOnly(address string) bool {
	addr, unix := listenerHost(address)
	if unix {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}
