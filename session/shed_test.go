package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/router"
)

// A subscriber whose outbound buffer is over the limit has its QoS 0
// messages dropped and counted, from the second one on before they reach
// its loop; once its buffer drains, messages flow again. QoS 1 messages
// are queued for it as before, never shed.
func TestSlowReaderIsShedUntilItDrains(t *testing.T) {
	h := newHarness(t, Options{OutboundLimit: 1000, Router: router.Options{Shards: 1}}, 1)
	slow := h.online(0, connectPacket(proto.V5, "slow", true, 0, 0))
	slow.subscribe("t", 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))

	slow.conn.setBuffered(5000)
	pub.publish("t", "a", 0, 0)
	h.settle()
	require.True(t, slow.c.shedding())
	require.EqualValues(t, 1, h.b.Stats.Dropped.Load())

	for range 10 {
		pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("b")})
	}
	h.b.Router().Barrier()
	require.Zero(t, h.loops[0].pending(), "shed in the sink: nothing posted to the loop")
	require.EqualValues(t, 11, h.b.Stats.Dropped.Load())
	pub.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("q1"), QoS: 1, PacketID: 1})
	h.settle()
	requireAck(t, pub.recvOne(), proto.PUBACK, 1, proto.Success)

	h.tick() // still full
	require.True(t, slow.c.shedding())
	slow.conn.setBuffered(400) // under half the limit
	h.tick()
	require.False(t, slow.c.shedding())
	pub.publish("t", "c", 0, 0)
	h.settle()
	got := payloads(publishes(t, slow.recv()))
	require.Equal(t, []string{"q1", "c"}, got, "the QoS 1 one kept, QoS 0 flows again")
}
