package reactor

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/session"
)

// onLoops runs f on every loop's goroutine (where gnet's fields may be
// read) and returns what each reported.
func onLoops(t *testing.T, s *Server, f func(ls *loopState) int) []int {
	t.Helper()
	var out []int
	s.loops.Range(func(_, v any) bool {
		ls := v.(*loopState)
		ch := make(chan int, 1)
		require.NoError(t, ls.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			ch <- f(ls)
			return nil
		})))
		select {
		case n := <-ch:
			out = append(out, n)
		case <-time.After(5 * time.Second):
			t.Fatal("loop did not run the task")
		}
		return true
	})
	return out
}

// The gnet fields the reactor reads by name are where it expects them: a
// gnet upgrade that moves them fails here instead of silently turning
// pausing (pause.go) or map compaction off.
func TestGnetInternalsFound(t *testing.T) {
	s, addr := startServer(t, session.Options{})
	for i := range 8 { // enough for every loop to open one
		dialV311(t, addr, fmt.Sprintf("c%d", i))
	}
	lens := onLoops(t, s, func(ls *loopState) int {
		if runtime.GOOS == "linux" {
			require.GreaterOrEqual(t, ls.poller, 0, "gnet's poller descriptor not found")
		}
		m := connMap(ls.el)
		require.True(t, m.IsValid(), "gnet's connection map not found")
		return m.Len()
	})
	total := 0
	for _, n := range lens {
		total += n
	}
	require.Equal(t, 8, total, "the map found holds the open connections")
}

// CompactLoops rebuilds gnet's connection maps after a crowd has left; the
// connections still open are found by gnet as before: they keep exchanging
// messages, and they close cleanly.
func TestCompactLoopsKeepsOpenConnections(t *testing.T) {
	s, addr := startServer(t, session.Options{})
	sub, sr := dialV311(t, addr, "sub")
	subscribeV311(t, sub, sr, "k/#")
	pub, _ := dialV311(t, addr, "pub")

	crowd := make([]net.Conn, 300)
	for i := range crowd {
		crowd[i], _ = dialV311(t, addr, fmt.Sprintf("crowd%d", i))
	}
	for _, c := range crowd {
		require.NoError(t, c.Close())
	}
	require.Eventually(t, func() bool { return s.Connections() == 2 }, 5*time.Second, 10*time.Millisecond)

	s.CompactLoops(context.Background())
	total := 0
	for _, n := range onLoops(t, s, func(ls *loopState) int { return connMap(ls.el).Len() }) {
		total += n
	}
	require.Equal(t, 2, total, "the rebuilt maps hold the two open connections")

	for i := range 50 {
		_, err := pub.Write((&proto.Publish{Topic: []byte("k/x"), Payload: []byte{byte(i)}}).Append(nil, proto.V311))
		require.NoError(t, err)
		p := readPacket(t, sub, sr)
		require.Equal(t, []byte{byte(i)}, p.(*proto.Publish).Payload)
	}
	c, _ := dialV311(t, addr, "after")
	require.NoError(t, c.Close())
	require.NoError(t, pub.Close())
	require.NoError(t, sub.Close())
	require.Eventually(t, func() bool { return s.Connections() == 0 }, 5*time.Second, 10*time.Millisecond)
	total = 0
	for _, n := range onLoops(t, s, func(ls *loopState) int { return connMap(ls.el).Len() }) {
		total += n
	}
	require.Zero(t, total, "gnet found and removed them in the rebuilt map")
}
