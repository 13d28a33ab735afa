package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/loom-mqtt/loom"
)

// Listeners as the file writes them: a type and an address without a
// scheme (type: tls, address: 0.0.0.0:8883), where the library takes one
// URL (tls://0.0.0.0:8883). The command line's -listen takes the URL form;
// ParseListen reads it.

// Types are the listener types, in the order the docs give them.
var Types = []string{"tcp", "tls", "ws", "wss", "unix", "tcp4", "tcp6"}

// maxUnixPath is the longest Unix socket path the system takes: sun_path
// holds 108 bytes on Linux (104 on the BSDs), the final NUL included.
const maxUnixPath = 103

// listenerFile is one item of the listeners list, as decoded.
type listenerFile struct {
	ID, Type, Address string
	Proxy             bool
	MaxFrame          int
	Origins           []string
	MaxClients        int
	ConnectRate       float64
	ConnectBurst      int
	TLS               loom.TLS
	hasTLS            bool // the item has a tls section
}

// listener is the library's listener the item describes; the address is
// checked for its form only (a Unix socket's folder is for Check).
func (f *listenerFile) listener() (loom.Listener, error) {
	typ := f.Type
	addr := f.Address
	if scheme, rest, ok := strings.Cut(addr, "://"); ok {
		switch {
		case typ == "":
			typ = scheme
		case scheme != typ:
			return loom.Listener{}, &keyError{"address", fmt.Errorf("%q says %s:// and the type says %s: give the address without a scheme", addr, scheme, typ)}
		}
		addr = rest
	}
	if typ == "" {
		typ = "tcp"
	}
	if addr == "" {
		return loom.Listener{}, &keyError{"address", errors.New("missing: every listener needs an address (host:port, or a socket's path for unix)")}
	}
	norm, err := listenAddress(typ, addr)
	if err != nil {
		return loom.Listener{}, &keyError{"address", err}
	}
	l := loom.Listener{ID: f.ID, Address: norm, Proxy: f.Proxy, MaxFrame: f.MaxFrame, Origins: f.Origins,
		MaxClients: f.MaxClients, ConnectRate: f.ConnectRate, ConnectBurst: f.ConnectBurst}
	if f.hasTLS {
		t := f.TLS
		l.TLS = &t
	}
	return l, nil
}

// keyError is an error about one key of the item being converted.
type keyError struct {
	key string
	err error
}

func (e *keyError) Error() string { return e.key + ": " + e.err.Error() }

// fileListener is the item a library listener is written as.
func fileListener(l loom.Listener) (listenerFile, error) {
	scheme, rest, ok := strings.Cut(l.Address, "://")
	if !ok {
		scheme, rest = "tcp", l.Address
	}
	f := listenerFile{ID: l.ID, Type: scheme, Address: rest, Proxy: l.Proxy, MaxFrame: l.MaxFrame, Origins: l.Origins,
		MaxClients: l.MaxClients, ConnectRate: l.ConnectRate, ConnectBurst: l.ConnectBurst}
	if l.TLS != nil {
		if l.TLS.Config != nil {
			return f, fmt.Errorf("listener %s has a tls.Config of its own: a file names certificate files", l.Address)
		}
		f.TLS, f.hasTLS = *l.TLS, true
	}
	return f, nil
}

// listenAddress checks an address for a listener type and returns the
// library's form of it.
func listenAddress(typ, addr string) (string, error) {
	switch typ {
	case "tcp", "tcp4", "tcp6", "tls", "ws", "wss":
		hostport, path := addr, ""
		if typ == "ws" || typ == "wss" {
			if i := strings.IndexByte(addr, '/'); i >= 0 {
				hostport, path = addr[:i], addr[i:]
			}
		}
		host, port, err := net.SplitHostPort(hostport)
		if err != nil {
			if typ == "ws" || typ == "wss" {
				return "", fmt.Errorf("%q is not host:port[/path] (127.0.0.1:8083/mqtt; :8083 for every interface)", addr)
			}
			return "", fmt.Errorf("%q is not host:port (127.0.0.1:1883; :1883 for every interface)", addr)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return "", fmt.Errorf("%q: port %q is not a number from 0 to 65535 (0 picks a free one)", addr, port)
		}
		if host != "" && net.ParseIP(host) == nil && !hostName(host) {
			return "", fmt.Errorf("%q: %q is not an IP address or a host name", addr, host)
		}
		return typ + "://" + net.JoinHostPort(host, port) + path, nil
	case "unix":
		if len(addr) > maxUnixPath {
			return "", fmt.Errorf("%q: a socket path is at most %d bytes long", addr, maxUnixPath)
		}
		return "unix://" + addr, nil
	}
	return "", fmt.Errorf("%q is not a listener type: %s (MQTT runs over a byte stream)", typ, orList(Types[:5]))
}

// hostName reports whether h could be a DNS name: letters, digits, '-',
// '_' and dots. Whether it resolves is for the listener to find out.
func hostName(h string) bool {
	for _, r := range h {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_') {
			return false
		}
	}
	return h != ""
}

// ParseListen reads a listener in the command line's form: host:port,
// tcp://host:port, tls://host:port, ws://host:port[/path],
// wss://host:port[/path] or unix:///path, with ?proxy at the end for a
// PROXY protocol header first. A Unix socket's folder must exist.
func ParseListen(l string) (loom.Listener, error) {
	raw := l
	proxy := false
	if rest, ok := strings.CutSuffix(l, "?proxy"); ok {
		l, proxy = rest, true
	}
	network, addr, ok := strings.Cut(l, "://")
	if !ok {
		network, addr = "tcp", l
	}
	switch network {
	case "tcp", "tcp4", "tcp6", "tls", "ws", "wss":
		norm, err := listenAddress(network, addr)
		if err != nil {
			if _, _, serr := net.SplitHostPort(strings.SplitN(addr, "/", 2)[0]); serr != nil {
				return loom.Listener{}, fmt.Errorf("%q is not an address: say host:port (127.0.0.1:1883; :1883 for every interface), tcp://, tls://, ws://host:port/path, wss://host:port/path or unix:///path/to/socket", raw)
			}
			return loom.Listener{}, err
		}
		return loom.Listener{Address: norm, Proxy: proxy}, nil
	case "unix":
		switch {
		case proxy:
			return loom.Listener{}, fmt.Errorf("%q: a Unix socket takes no PROXY header", raw)
		case addr == "":
			return loom.Listener{}, fmt.Errorf("%q names no socket file: say unix:///path/to/socket", raw)
		}
		norm, err := listenAddress("unix", addr)
		if err != nil {
			return loom.Listener{}, err
		}
		if err := socketFolder(addr); err != nil {
			return loom.Listener{}, err
		}
		return loom.Listener{Address: norm}, nil
	}
	return loom.Listener{}, fmt.Errorf("%q: MQTT runs over a byte stream: say host:port, tcp://, tls://, ws://, wss:// or unix:///path/to/socket", raw)
}

// socketFolder refuses a socket path whose folder does not exist: the
// broker would fail to bind only after opening its store.
func socketFolder(path string) error {
	dir := filepath.Dir(path)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return fmt.Errorf("there is no folder %s for the socket %s", dir, path)
	}
	return nil
}

// listenerType is the type of a library listener's address.
func listenerType(address string) string {
	scheme, _, ok := strings.Cut(address, "://")
	if !ok {
		return "tcp"
	}
	return scheme
}

// hostPort is a listener address's host:port (or a socket's path), the
// part two listeners may not share.
func hostPort(address string) string {
	_, rest, ok := strings.Cut(address, "://")
	if !ok {
		rest = address
	}
	if strings.HasPrefix(address, "ws") {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i]
		}
	}
	return rest
}
