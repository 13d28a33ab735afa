package main

import (
	"fmt"
	"net"
	"strconv"
)

// checkLoopback accepts only "IP:port" where IP is a loopback literal and the
// port is a real one. Host names are refused rather than resolved: a name
// could resolve off the machine, and this tool can open thousands of sockets.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %v", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("address %q: host must be a loopback IP literal such as 127.0.0.1", addr)
	}
	if !ip.IsLoopback() {
		return fmt.Errorf("address %q: refusing a non-loopback address", addr)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address %q: port must be 1..65535", addr)
	}
	return nil
}
