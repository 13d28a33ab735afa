package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/loom-mqtt/loom"
)

// maxUnixPath is the longest Unix socket path the system takes: sun_path
// holds 108 bytes on Linux (104 on the BSDs), the final NUL included.
const maxUnixPath = 103

// parseListen checks one -listen value against the forms the broker serves
// and returns it in the library's form (scheme://host:port[/path] or
// unix:///path) and whether it ends in ?proxy (a PROXY protocol header
// comes first on every connection).
func parseListen(l string) (addr string, proxy bool, err error) {
	if rest, ok := strings.CutSuffix(l, "?proxy"); ok {
		l, proxy = rest, true
	}
	network, addr, ok := strings.Cut(l, "://")
	if !ok {
		network, addr = "tcp", l
	}
	switch network {
	case "tcp", "tcp4", "tcp6", "tls", "ws", "wss":
		path := ""
		if network == "ws" || network == "wss" {
			if i := strings.IndexByte(addr, '/'); i >= 0 {
				addr, path = addr[:i], addr[i:]
			}
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return "", false, fmt.Errorf("%q is not an address: say host:port (127.0.0.1:1883; :1883 for every interface), tcp://, tls://, ws://host:port/path, wss://host:port/path or unix:///path/to/socket", l)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return "", false, fmt.Errorf("%q: port %q is not a number from 0 to 65535 (0 picks a free one)", l, port)
		}
		if host != "" && net.ParseIP(host) == nil && !hostName(host) {
			return "", false, fmt.Errorf("%q: %q is not an IP address or a host name", l, host)
		}
		return network + "://" + net.JoinHostPort(host, port) + path, proxy, nil
	case "unix":
		if proxy {
			return "", false, fmt.Errorf("%q: a Unix socket takes no PROXY header", l)
		}
		if addr == "" {
			return "", false, fmt.Errorf("%q names no socket file: say unix:///path/to/socket", l)
		}
		if len(addr) > maxUnixPath {
			return "", false, fmt.Errorf("%q: a socket path is at most %d bytes long", l, maxUnixPath)
		}
		dir := filepath.Dir(addr)
		if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
			return "", false, fmt.Errorf("%q: there is no folder %s for the socket", l, dir)
		}
		return "unix://" + addr, false, nil
	}
	return "", false, fmt.Errorf("%q: MQTT runs over a byte stream: say host:port, tcp://, tls://, ws://, wss:// or unix:///path/to/socket", l)
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

// checkLoopback refuses a profile address that is not host:port on a
// loopback IP: profiles are not for the network.
func checkLoopback(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (say 127.0.0.1:6060)", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address (127.0.0.1 or [::1]): profiles are not for the network", addr)
	}
	return nil
}

// probeListeners checks, before the store is opened, that the listeners
// can be had: a TCP port another program holds, a Unix socket another
// program serves, or one a stopped broker left behind. The broker binds
// for real later; this only spares a start that cannot succeed the
// creation of the data folder, and says what to do. Port 0 is not probed.
func probeListeners(listens []loom.Listener) error {
	for _, ll := range listens {
		l := ll.Address
		network, addr, _ := strings.Cut(l, "://")
		switch network {
		case "tls", "ws", "wss":
			network = "tcp"
			if i := strings.IndexByte(addr, '/'); i >= 0 {
				addr = addr[:i]
			}
		}
		if network == "unix" {
			if _, err := os.Lstat(addr); err != nil {
				continue
			}
			if c, err := net.Dial("unix", addr); err == nil {
				_ = c.Close()
				return fmt.Errorf("listener %s: %w", l, errUnixInUse)
			}
			return fmt.Errorf("listener %s: %w", l, errUnixLeftOver)
		}
		if strings.HasSuffix(addr, ":0") {
			continue
		}
		ln, err := net.Listen(network, addr)
		if err != nil {
			return fmt.Errorf("listener %s: %w", l, err)
		}
		_ = ln.Close()
	}
	return nil
}

var (
	errUnixInUse    = errors.New("another program serves this socket")
	errUnixLeftOver = errors.New("the path exists, and nothing answers on it")
)

// hint says what to do about the errors a start meets most, or "".
func hint(err error) string {
	var op *net.OpError
	switch {
	case errors.Is(err, loom.ErrLocked):
		return "stop that broker first, or give this one another folder with -data-dir"
	case errors.Is(err, syscall.EADDRINUSE), errors.Is(err, errUnixInUse):
		return "another program (a broker already running?) listens there: stop it, or pick another address with -listen"
	case errors.Is(err, errUnixLeftOver):
		return "a socket left by a broker that did not stop cleanly? remove the file if no broker is running, or pick another path with -listen"
	case errors.As(err, &op) && strings.HasPrefix(op.Net, "tcp") && errors.Is(err, syscall.EACCES):
		return "ports below 1024 need privileges: pick another with -listen (1883 is MQTT's)"
	}
	return ""
}

// applyOrigins gives every WebSocket listener the allowed origins of
// -ws-origins; the flag without a WebSocket listener is refused.
func applyOrigins(flag string, ls []loom.Listener) error {
	if flag == "" {
		return nil
	}
	var origins []string
	for _, o := range strings.Split(flag, ",") {
		if o = strings.TrimSpace(o); o != "" {
			origins = append(origins, o)
		}
	}
	ws := 0
	for i := range ls {
		if scheme, _, _ := strings.Cut(ls[i].Address, "://"); scheme == "ws" || scheme == "wss" {
			ls[i].Origins = origins
			ws++
		}
	}
	if ws == 0 {
		return usagef("-ws-origins", "no listener speaks WebSocket: say -listen ws://host:port/path or wss://host:port/path")
	}
	return nil
}
