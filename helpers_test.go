package loom_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
)

// startBroker runs a broker on a free loopback port for the test and
// returns it with its "host:port".
func startBroker(t testing.TB, opts loom.Options) (*loom.Server, string) {
	t.Helper()
	if len(opts.Listeners) == 0 {
		opts.Listeners = []string{"tcp://127.0.0.1:0"}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := loom.New(opts)
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Close(context.Background()) })
	return srv, srv.Addrs()[0].String()
}

// dialStalled opens a raw TCP connection with a 4 KiB receive buffer, for a
// client that stops reading: the kernel then takes little off the broker.
func dialStalled(t testing.TB, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
		})
	}}
	c, err := d.DialContext(context.Background(), "tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// dial opens a raw TCP connection to the broker, closed with the test.
func dial(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}
