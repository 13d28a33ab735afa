package hostile_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"testing"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// idleTLSConnect dials addr over TLS and completes CONNECT as id: an
// established connection, returned open.
func idleTLSConnect(addr string, cfg *tls.Config, id string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	d := tls.Dialer{Config: cfg}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	c := loomtest.NewConn(nc, proto.V311)
	if _, err := c.Connect(proto.Connect{CleanStart: true, ClientID: []byte(id), KeepAlive: 600}, deadline()); err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	return nc, nil
}

// idleWSConnect dials a ws:// listener at addr, upgrades and completes
// CONNECT as id.
func idleWSConnect(addr, id string) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, loomtest.Wait)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	ws, err := wsHandshake(nc, "/mqtt", "mqtt")
	if err == nil {
		c := loomtest.NewConn(ws, proto.V311)
		_, err = c.Connect(proto.Connect{CleanStart: true, ClientID: []byte(id), KeepAlive: 600}, deadline())
	}
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	return ws, nil
}

// TestIdleTransportConnectionsNoGoroutines: an established TLS or
// WebSocket connection is served by the event loops, not by a goroutine of
// its own (a TLS handshake has one while it runs, and no longer). 2,000
// idle TLS and 2,000 idle WebSocket connections, each through CONNECT, may
// not add 50 goroutines to the process (both ends are in it: the clients'
// connections hold none either).
func TestIdleTransportConnectionsNoGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("4,000 connections: skipped with -short")
	}
	n := 2000
	if raceEnabled {
		n = 500
	}
	needFiles(t, uint64(4*n+500))
	pki := loomtest.NewPKI(t)
	srv, _ := loomtest.Start(t, loom.Options{Listeners: []loom.Listener{
		{Address: "tls://127.0.0.1:0", TLS: &loom.TLS{CertFile: pki.CertFile, KeyFile: pki.KeyFile}},
		{Address: "ws://127.0.0.1:0"},
	}})
	tlsAddr, wsAddr := srv.Addrs()[0].String(), srv.Addrs()[1].String()
	cfg := pki.ClientTLS()
	base := stableGoroutines()

	conns := make([]net.Conn, 2*n)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	err := loomtest.Parallel(0, 2*n, 50, func(i int) error {
		var (
			c   net.Conn
			err error
		)
		if i%2 == 0 {
			c, err = idleTLSConnect(tlsAddr, cfg, fmt.Sprint("idle-tls-", i))
		} else {
			c, err = idleWSConnect(wsAddr, fmt.Sprint("idle-ws-", i))
		}
		conns[i] = c
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := srv.Stats(); st.OpenConnections != int64(2*n) || st.Connected != int64(2*n) {
		t.Fatalf("%d connections open, %d clients connected; want %d", st.OpenConnections, st.Connected, 2*n)
	}

	grew := stableGoroutines() - base
	t.Logf("%d idle TLS and %d idle WebSocket connections: %+d goroutines", n, n, grew)
	if grew >= 50 {
		t.Fatalf("goroutines grew by %d with %d established connections: a goroutine per connection?", grew, 2*n)
	}

	// Every connection is still served: the first, the middle, the last
	// of each kind.
	for _, i := range []int{0, 1, n, n + 1, 2*n - 2, 2*n - 1} {
		c := loomtest.Over(t, conns[i], proto.V311)
		c.Ping()
	}

	for i, c := range conns {
		c.Close()
		conns[i] = nil
	}
	loomtest.WaitConnections(t, srv, 0)
	loomtest.Eventually(t, "every session has ended", func() bool { return srv.Stats().Sessions == 0 })
}
