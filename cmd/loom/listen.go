package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"

	"github.com/loom-mqtt/loom"
)

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
