package main

import (
	"fmt"
	"net"
	"sync/atomic"
	"syscall"
)

// ipBindAddressNoPort is IP_BIND_ADDRESS_NO_PORT (linux/in.h; Linux 4.2+):
// binding a source address leaves the port to connect(), which may then
// share it between different destinations. The syscall package lacks it.
const ipBindAddressNoPort = 24

// sources spreads the tool's connections over several loopback source
// addresses (127.0.0.1, 127.0.0.2, ...): each (source address, broker
// address) pair has only the local port range to draw from, and connect()
// searches that range for a free port, which grows slow as it fills.
type sources struct {
	n    int
	next atomic.Uint64
}

// srcs is set once from -src-ips before any dial.
var srcs sources

func (s *sources) set(n int, brokerAddr string) error {
	if n <= 1 {
		s.n = 0
		return nil
	}
	if n > 254 {
		return fmt.Errorf("-src-ips must be 1..254")
	}
	host, _, err := net.SplitHostPort(brokerAddr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || ip.To4() == nil || !ip.IsLoopback() {
		return fmt.Errorf("-src-ips needs an IPv4 loopback broker address")
	}
	s.n = n
	return nil
}

// local returns the source address of the next connection, nil when the
// kernel should choose.
func (s *sources) local() *net.TCPAddr {
	if s.n == 0 {
		return nil
	}
	i := s.next.Add(1) % uint64(s.n)
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i))}
}

// noPortControl sets IP_BIND_ADDRESS_NO_PORT on a socket about to be bound.
func noPortControl(rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1)
	}); err != nil {
		return err
	}
	return serr
}
