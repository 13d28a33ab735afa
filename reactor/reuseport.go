package reactor

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Listening with SO_REUSEPORT.
//
// gnet's default multi-loop mode accepts on one reactor goroutine, in a loop
// until the backlog is empty, and hands each connection to a loop to open
// later: a burst of clients can hold more descriptors than the budget
// before any OnOpen has refused one, and the first EMFILE kills the engine
// (reactor-notes: "Accept errors kill the engine"; measured with a limit of
// 1,024 and 2,000 clients at once). With SO_REUSEPORT every loop has its own
// listening socket and accepts one connection at a time, opening it (and
// so refusing it when over budget) before the next accept: the descriptors
// in use never pass the budget by more than one per loop.
//
// Two things have to be handled around gnet for that:
//   - gnet binds each loop's socket to the address as written, so port 0
//     would give every loop a different port: pinPorts resolves it first
//     and holds the port until the loops have bound it;
//   - SO_REUSEPORT lets a second broker of the same user bind a port in
//     use and silently share its clients: pinPorts first binds every
//     concrete address without the option, which fails as usual if
//     anything holds it.
//
// gnet turns SO_REUSEPORT off when any listener is a Unix socket; with one,
// the reactor falls back to the single acceptor and its burst hazard.

// pinned is what pinPorts holds until the loops have bound.
type pinned struct {
	listens []string // the listeners, port 0 replaced by the port held
	holds   []net.Listener
}

func (p *pinned) release() {
	for _, l := range p.holds {
		_ = l.Close()
	}
	p.holds = nil
}

// usesReusePort reports whether gnet will give each loop its own listener.
func usesReusePort(listens []string) bool {
	for _, l := range listens {
		if network, _ := splitListen(l); network == "unix" {
			return false
		}
	}
	return true
}

func reusePortControl(_, _ string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
		if serr == nil {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// pinPorts checks that every concrete TCP address is free and picks a port
// for every port-0 one, held until release when hold (the loops bind with
// SO_REUSEPORT), else given up at once for gnet to bind.
func pinPorts(listens []string, hold bool) (*pinned, error) {
	p := &pinned{listens: make([]string, len(listens))}
	for i, l := range listens {
		p.listens[i] = l
		network, addr := splitListen(l)
		if !strings.HasPrefix(network, "tcp") {
			continue
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			p.release()
			return nil, fmt.Errorf("reactor: listener %s: %w", l, err)
		}
		if port != "0" {
			// Free now? Bound without SO_REUSEPORT, this fails if anything
			// holds the port, with or without the option.
			ln, err := net.Listen(network, addr)
			if err != nil {
				p.release()
				return nil, fmt.Errorf("reactor: listener %s: %w", l, err)
			}
			_ = ln.Close()
			continue
		}
		lc := net.ListenConfig{Control: reusePortControl}
		ln, err := lc.Listen(context.Background(), network, addr)
		if err != nil {
			p.release()
			return nil, fmt.Errorf("reactor: listener %s: %w", l, err)
		}
		if hold {
			p.holds = append(p.holds, ln)
		} else {
			defer ln.Close() // after the other port-0 listeners have picked theirs
		}
		_, port, _ = net.SplitHostPort(ln.Addr().String())
		p.listens[i] = network + "://" + net.JoinHostPort(host, port)
	}
	return p, nil
}
