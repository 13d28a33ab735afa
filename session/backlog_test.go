package session

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// backlogSetup is a broker with one loop, a subscriber of "t" and a
// publisher, with the given IngestBacklog.
func backlogSetup(t *testing.T, limit int) (*harness, *tclient, *tclient) {
	t.Helper()
	// No $SYS: its ticks would add to the backlog this test counts.
	h := newHarness(t, Options{IngestBacklog: limit, SysInterval: -1, Router: router.Options{Shards: 1}}, 1)
	sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.subscribe("t", 0)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	h.settle()
	return h, sub, pub
}

// Deliveries waiting in a loop's inbox count as backlog until the loop has
// handled them; past IngestBacklog the broker reports congestion, and the
// callback registered for relief runs once the backlog is under a quarter
// of the limit — not before, and only once.
func TestBacklogCongestsAndRelieves(t *testing.T) {
	h, sub, pub := backlogSetup(t, 8)
	require.False(t, h.b.Congested())
	require.True(t, h.b.Relieved())

	// The loop does not run: what the router hands it piles up.
	for range 10 {
		pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("x")})
	}
	h.b.Router().Barrier()
	require.EqualValues(t, 10, h.b.inboxed.Load())
	require.True(t, h.b.Congested(), "10 deliveries waiting, limit 8")

	var called atomic.Int32
	h.b.WhenRelieved(func() { called.Add(1) })
	require.Zero(t, called.Load(), "still congested: the callback waits")

	h.settle() // the loop drains its inbox
	require.Zero(t, h.b.inboxed.Load())
	require.False(t, h.b.Congested())
	require.EqualValues(t, 1, called.Load(), "the drain that relieved the backlog ran the callback")
	require.Len(t, publishes(t, sub.recv()), 10, "nothing dropped")

	h.settle()
	h.tick()
	require.EqualValues(t, 1, called.Load(), "a callback runs once")

	// Registered while already relieved: runs at once.
	h.b.WhenRelieved(func() { called.Add(1) })
	require.EqualValues(t, 2, called.Load())
}

// Between the two marks the broker is neither congested (reading goes on
// for those not paused) nor relieved (the paused stay paused), so pauses do
// not flap at every delivery.
func TestBacklogHysteresis(t *testing.T) {
	h, _, pub := backlogSetup(t, 8)
	for range 5 {
		pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("x")})
	}
	h.b.Router().Barrier()
	require.False(t, h.b.Congested(), "5 of 8")
	require.False(t, h.b.Relieved(), "5 is not under a quarter of 8")
}

// A negative IngestBacklog turns the pause off.
func TestBacklogOff(t *testing.T) {
	h, sub, pub := backlogSetup(t, -1)
	for range 100 {
		pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("x")})
	}
	h.b.Router().Barrier()
	require.False(t, h.b.Congested())
	h.settle()
	require.Len(t, publishes(t, sub.recv()), 100)
}

// A client whose reading is paused is not idle: its packets wait in the
// broker's buffer, so its keepalive [MQTT-3.1.2-24] does not run out while
// the pause lasts, and does once it is read again and stays silent.
func TestPausedClientKeepsItsKeepAlive(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	c := h.dial(0)
	c.connect(connectPacket(proto.V311, "paused", true, 1, 0))
	c.c.SetReadPaused(true)
	h.advanceClock(1800 * time.Millisecond)
	h.tick()
	require.False(t, c.conn.closed(), "paused past 1.5 × its keepalive: kept")
	c.c.SetReadPaused(false)
	h.advanceClock(1800 * time.Millisecond)
	h.tick()
	require.True(t, c.conn.closed(), "read again and silent: closed")
}
