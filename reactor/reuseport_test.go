package reactor

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/session"
)

// With port 0 every loop listens on the one port that Addrs reports, so
// connections reach all loops, not only the first.
func TestPortZeroServesEveryLoop(t *testing.T) {
	s, addr := startServer(t, session.Options{})
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 64 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		conns = append(conns, c)
	}
	require.Eventually(t, func() bool { return s.Connections() == 64 }, 5*time.Second, 10*time.Millisecond)
	n := 0
	s.loops.Range(func(_, _ any) bool { n++; return true })
	require.Equal(t, 2, n, "connections spread over both loops' listeners")
}

// SO_REUSEPORT must not let a second broker share a port in use: Start
// fails as it would without the option.
func TestPortInUseIsAnError(t *testing.T) {
	_, addr := startServer(t, session.Options{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	b := session.NewBroker(session.Options{Logger: log})
	defer b.Close()
	s := New(b, Options{Listeners: []Listener{{Address: "tcp://" + addr}}, Loops: 2, Logger: log})
	err := s.Start()
	require.Error(t, err)
	require.Contains(t, err.Error(), "address already in use")

	// Nor a port held by another program without the option.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	s2 := New(b, Options{Listeners: []Listener{{Address: fmt.Sprint("tcp://", ln.Addr())}}, Logger: log})
	require.Error(t, s2.Start())
}
