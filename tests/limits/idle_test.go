package limits_test

import (
	"fmt"
	"net"
	"runtime"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// rbIdleConns is the number of idle connections TestIdleConnectionsNoGoroutines
// holds open. The test process holds both ends, two descriptors each.
const rbIdleConns = 5000

// rbRaiseFileLimit lifts the soft open-file limit towards the hard one and
// skips the test if the process still cannot hold need descriptors. (Go
// raises the soft limit at start-up already; this covers other runtimes.)
func rbRaiseFileLimit(t *testing.T, need uint64) {
	t.Helper()
	var rl syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl))
	if rl.Cur < need && rl.Cur < rl.Max {
		rl.Cur = rl.Max
		require.NoError(t, syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl))
	}
	if rl.Cur < need {
		t.Skipf("open-file limit %d is below the %d this test needs", rl.Cur, need)
	}
}

// TestIdleConnectionsNoGoroutines: connections are served by the event
// loops, not by a goroutine each (design.md, "Rules of the hot path").
// 5,000 idle MQTT connections may not add 50 goroutines, and all of them
// are gone from the broker's count once closed.
func TestIdleConnectionsNoGoroutines(t *testing.T) {
	if testing.Short() {
		t.Skip("5,000 connections: skipped with -short")
	}
	rbRaiseFileLimit(t, 2*rbIdleConns+500)
	srv, addr := loomtest.Start(t, loom.Options{})
	base := runtime.NumGoroutine()
	heapBase := rbHeapInuse()

	conns := make([]net.Conn, rbIdleConns)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	err := loomtest.Parallel(0, rbIdleConns, 50, func(i int) error {
		c, err := rbTryConnect(addr, fmt.Sprintf("rb-idle-%d", i))
		switch {
		case err != nil:
			return err
		case c == nil:
			return fmt.Errorf("connection %d refused", i)
		}
		conns[i] = c
		return nil
	})
	require.NoError(t, err)

	require.EqualValues(t, rbIdleConns, srv.Stats().OpenConnections)
	require.EqualValues(t, rbIdleConns, srv.Stats().Connected)
	grew := runtime.NumGoroutine() - base
	t.Logf("%d idle connections: %+d goroutines, %.0f heap bytes per connection (both ends, -race inflates it)",
		rbIdleConns, grew, float64(rbHeapInuse()-heapBase)/rbIdleConns)
	require.Less(t, grew, 50, "goroutines grew with the connections")

	// Every connection is still served after the others came.
	for _, i := range []int{0, rbIdleConns / 2, rbIdleConns - 1} {
		r := loomtest.Over(t, conns[i], proto.V311)
		r.Write(proto.AppendPingreq(nil))
		require.Equal(t, proto.PINGRESP, loomtest.Expect[*proto.Ping](r).Type)
	}

	for i, c := range conns {
		c.Close()
		conns[i] = nil
	}
	loomtest.Eventually(t, "every connection is closed", func() bool { return srv.Stats().OpenConnections == 0 })
	loomtest.Eventually(t, "no client counts as connected", func() bool { return srv.Stats().Connected == 0 })
	loomtest.Eventually(t, "every session has ended", func() bool { return srv.Stats().Sessions == 0 })
}

// rbHeapInuse is the heap in use after a full collection.
func rbHeapInuse() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapInuse)
}
