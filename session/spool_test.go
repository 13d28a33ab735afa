package session

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// The spool is a FIFO across blocks: what goes in comes out in order, in
// pieces of any size, and every block goes back (to the loop's cache, then
// to the system).
func TestSpoolKeepsOrderAcrossBlocks(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	l := h.loops[0].Loop
	var s spool
	var want, got bytes.Buffer
	for i := range 30000 {
		b := fmt.Appendf(nil, "message %d;", i) // ~12 bytes: writes straddle blocks
		want.Write(b)
		s.write(l, b)
	}
	require.Equal(t, want.Len(), s.n)
	blocks := (want.Len() + spoolBlock - 1) / spoolBlock
	require.Len(t, s.blocks, blocks)
	require.EqualValues(t, blocks, h.b.Stats.SpoolBlocks.Load())

	for _, max := range []int{1, 1000, 3, spoolBlock - 7} {
		for range 3 {
			f := s.front(max)
			require.LessOrEqual(t, len(f), max)
			got.Write(f)
			s.discard(l, len(f))
		}
	}
	for s.n > 0 {
		f := s.front(spoolBlock)
		got.Write(f)
		s.discard(l, len(f))
	}
	require.Equal(t, want.Bytes(), got.Bytes())
	require.Nil(t, s.blocks)
	require.Len(t, l.freeBlocks, spoolCache, "a few blocks kept for the next spool")
	require.EqualValues(t, spoolCache, h.b.Stats.SpoolBlocks.Load(), "the rest unmapped")

	s.write(l, []byte("again"))
	require.Len(t, l.freeBlocks, spoolCache-1, "taken from the cache")
	s.release(l)
	require.Zero(t, s.n)
	require.Len(t, l.freeBlocks, spoolCache)
}

// A reader whose connection already holds spoolAt bytes gets the rest
// spooled, not written to gnet; the spool counts against the outbound
// limit, and once the connection has room again the spool moves into it
// in order, behind what was written before.
func TestSlowReaderIsSpooledThenPumped(t *testing.T) {
	h := newHarness(t, Options{OutboundLimit: 1 << 20, Router: router.Options{Shards: 1}}, 1)
	sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.subscribe("t", 0)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))

	pub.publish("t", "first", 0, 0)
	h.settle()
	sub.conn.setBuffered(spoolAt) // gnet's share is full: the socket does not take more
	payload := bytes.Repeat([]byte{'x'}, 1000)
	for range 300 {
		pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: payload})
	}
	h.settle()
	require.Greater(t, sub.c.spooled(), 290*1000, "spooled, not handed to gnet")
	require.Equal(t, spoolAt+sub.c.spooled(), sub.c.held())
	require.Zero(t, h.b.Stats.Dropped.Load(), "under the limit: nothing dropped")
	require.Equal(t, []string{"first"}, payloads(publishes(t, sub.recv())))

	// Past the limit, counting the spool, QoS 0 is shed.
	for range 800 {
		pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: payload})
	}
	h.settle()
	require.LessOrEqual(t, sub.c.held(), 1<<20+1100, "held at most the limit and one more message")
	require.Positive(t, h.b.Stats.Dropped.Load())
	require.True(t, sub.c.shedding())

	sub.conn.setBuffered(0) // the reader caught up
	h.tick()
	require.Zero(t, sub.c.spooled(), "pumped at the tick")
	got := publishes(t, sub.recv())
	require.EqualValues(t, int64(len(got)), int64(1100)-h.b.Stats.Dropped.Load(), "every message not dropped, once")
	for _, p := range got {
		require.Equal(t, payload, p.Payload)
	}
	h.tick()
	require.False(t, sub.c.shedding(), "drained: QoS 0 flows again")
}

// A connection that closes with bytes spooled gives its blocks back; one
// the broker closes gets its spool handed to gnet first, then the
// DISCONNECT.
func TestSpoolAtClose(t *testing.T) {
	h, sub, pub := spooledReader(t)

	sub.c.disconnect(proto.ServerShuttingDown, "")
	sub.c.loop.Flush() // as the drain that ran disconnect does (linger.go)
	require.Zero(t, sub.c.spooled())
	require.False(t, sub.conn.closed(), "the write side waits for gnet's buffer to empty")
	sub.conn.setBuffered(0)
	h.tick()
	require.True(t, sub.conn.closed(), "a fake conn cannot half-close: closed")
	ps := sub.recv()
	require.Len(t, publishes(t, ps[:len(ps)-1]), 100)
	require.Equal(t, proto.DISCONNECT, ps[len(ps)-1].PacketType())

	other := h.online(0, connectPacket(proto.V5, "other", true, 0, 0))
	other.subscribe("t", 0)
	other.conn.setBuffered(spoolAt)
	pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("z")})
	h.settle()
	require.Positive(t, other.c.spooled())
	other.c.Closed(nil) // the peer went away
	require.Zero(t, other.c.spooled())
	require.LessOrEqual(t, h.b.Stats.SpoolBlocks.Load(), int64(spoolCache))
}

// One drain that sends a reader many messages writes them out in pieces of
// about outChunk, in order, instead of growing one buffer for the lot.
func TestLargeBatchIsWrittenInChunks(t *testing.T) {
	h := newHarness(t, Options{Router: router.Options{Shards: 1}}, 1)
	sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.subscribe("t", 0)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	writes := sub.conn.writes
	for i := range 400 {
		pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: payloadBytes(i)})
	}
	h.b.Router().Barrier()
	h.loops[0].runQueued(t) // one drain delivers all 400
	got := publishes(t, sub.recv())
	require.Len(t, got, 400)
	for i, p := range got {
		require.Equal(t, payloadBytes(i), p.Payload)
	}
	require.LessOrEqual(t, sub.conn.maxWrite, 32<<10+1100, "written in pieces of 32 KiB and one message at most")
	require.Less(t, sub.conn.writes-writes, 400, "not a write per message")
}

func payloadBytes(i int) []byte {
	return append(fmt.Appendf(nil, "%04d", i), bytes.Repeat([]byte{'p'}, 996)...)
}

// The pump asks a loop with spooling clients to move their bytes along
// without a tick or new traffic, and stops once no spool is left.
func TestPumpRunsWhileSpoolsExist(t *testing.T) {
	h, sub, _ := spooledReader(t)
	require.True(t, h.b.pumping.Load(), "a spool starts the pump")
	sub.recv()

	sub.conn.setBuffered(0)
	deadline := time.Now().Add(5 * time.Second)
	for sub.c.spooled() > 0 && time.Now().Before(deadline) {
		h.loops[0].runQueued(t) // only what the pump asked for: no tick here
		time.Sleep(time.Millisecond)
	}
	require.Zero(t, sub.c.spooled(), "the pump moved the spool")
	require.Len(t, publishes(t, sub.recv()), 100)
	for h.b.pumping.Load() && time.Now().Before(deadline) {
		h.loops[0].runQueued(t)
		time.Sleep(time.Millisecond)
	}
	require.False(t, h.b.pumping.Load(), "no spool left: the pump ends")
}

// spooledReader is a broker with a subscriber whose connection is full
// (gnet's share taken) and 100 messages of 1,000 bytes spooled for it, and
// their publisher.
func spooledReader(t *testing.T) (*harness, *tclient, *tclient) {
	t.Helper()
	h := newHarness(t, Options{Router: router.Options{Shards: 1}}, 1)
	sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.subscribe("t", 0)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	sub.conn.setBuffered(spoolAt)
	for range 100 {
		pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: bytes.Repeat([]byte{'y'}, 1000)})
	}
	h.settle()
	require.Positive(t, sub.c.spooled())
	return h, sub, pub
}
