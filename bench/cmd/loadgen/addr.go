package main

import (
	"fmt"
	"net"
	"strconv"
	"strings"
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

// The transports a broker address may name.
const (
	transportTCP = "tcp" // plain MQTT over TCP
	transportTLS = "tls" // MQTT over TLS over TCP
	transportWS  = "ws"  // MQTT in WebSocket binary frames over TCP
	transportWSS = "wss" // the same over TLS
)

// defaultWSPath is the WebSocket path when a ws:// or wss:// address names
// none: Loom's default, and a path Mosquitto and Mochi serve too (they serve
// any).
const defaultWSPath = "/mqtt"

// endpoint is a broker address taken apart.
type endpoint struct {
	transport string // transportTCP, transportTLS, transportWS or transportWSS
	hostPort  string // a loopback IP literal and a port
	path      string // ws and wss: the request path
}

// parseEndpoint reads "IP:port", "tcp://IP:port", "tls://IP:port",
// "ws://IP:port[/path]" or "wss://IP:port[/path]"; the IP must be a
// loopback literal (checkLoopback).
func parseEndpoint(addr string) (endpoint, error) {
	e := endpoint{transport: transportTCP, hostPort: addr}
	if scheme, rest, ok := strings.Cut(addr, "://"); ok {
		e.transport, e.hostPort = scheme, rest
	}
	switch e.transport {
	case transportTCP, transportTLS:
		if strings.Contains(e.hostPort, "/") {
			return endpoint{}, fmt.Errorf("address %q: a %s address has no path", addr, e.transport)
		}
	case transportWS, transportWSS:
		if i := strings.IndexByte(e.hostPort, '/'); i >= 0 {
			e.hostPort, e.path = e.hostPort[:i], e.hostPort[i:]
		}
		if e.path == "" {
			e.path = defaultWSPath
		}
		if strings.ContainsAny(e.path, " \r\n?#") {
			return endpoint{}, fmt.Errorf("address %q: the path must be a plain path", addr)
		}
	default:
		return endpoint{}, fmt.Errorf("address %q: transport %q is not tcp, tls, ws or wss", addr, e.transport)
	}
	if err := checkLoopback(e.hostPort); err != nil {
		return endpoint{}, err
	}
	return e, nil
}

// usesTLS says whether the transport runs over TLS.
func (e endpoint) usesTLS() bool { return e.transport == transportTLS || e.transport == transportWSS }

// websocket says whether MQTT travels in WebSocket frames.
func (e endpoint) websocket() bool { return e.transport == transportWS || e.transport == transportWSS }
