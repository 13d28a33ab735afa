package session

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// pubsub is a subscriber and a publisher on one broker.
type pubsub struct {
	h        *harness
	sub, pub *tclient
}

// newPubsub connects sub (with the given CONNECT) on loop 0, subscribes it
// to filter at qos, and connects a v5 publisher on the last loop.
func newPubsub(t *testing.T, opts Options, loops int, sub *proto.Connect, filter string, qos byte) *pubsub {
	t.Helper()
	h := newHarness(t, opts, loops)
	ps := &pubsub{h: h, sub: h.online(0, sub)}
	ps.sub.subscribe(filter, qos)
	ps.pub = h.online(loops-1, connectPacket(proto.V5, "pub", true, 0, 0))
	return ps
}

// send publishes messages m<first>..m<last> on topic at qos and lets them
// reach the subscriber's loop.
func (ps *pubsub) send(topic string, qos byte, first, last int) {
	ps.h.t.Helper()
	for i := first; i <= last; i++ {
		ps.pub.publish(topic, fmt.Sprintf("m%d", i), qos, uint16(i))
	}
	ps.h.settle()
}

func names(first, last int) []string {
	var out []string
	for i := first; i <= last; i++ {
		out = append(out, fmt.Sprintf("m%d", i))
	}
	return out
}

func TestOutboundWindow(t *testing.T) {
	tests := []struct {
		name        string
		v           proto.Version
		maxInflight uint16
		receiveMax  uint16 // the client's Receive Maximum; 0 = not sent
		window      int
	}{
		{"v5 broker limit", proto.V5, 3, 0, 3},
		{"v5 client Receive Maximum lowers it", proto.V5, 10, 2, 2},
		{"v5 client Receive Maximum above the broker's", proto.V5, 2, 5, 2},
		{"v3.1.1 broker limit", proto.V311, 3, 0, 3},
	}
	for _, tt := range tests {
		for _, qos := range []byte{1, 2} {
			t.Run(fmt.Sprintf("%s qos %d", tt.name, qos), func(t *testing.T) {
				p := connectPacket(tt.v, "sub", true, 0, 0)
				if tt.receiveMax != 0 {
					p.Props.ReceiveMaximum = tt.receiveMax
					p.Props.Set(proto.PropReceiveMaximum)
				}
				ps := newPubsub(t, Options{MaxInflight: tt.maxInflight}, 1, p, "w", qos)
				ps.send("w", qos, 1, 6)

				// [MQTT-3.3.4-9] [MQTT-4.9.0-2]: no more unacknowledged
				// QoS > 0 PUBLISH packets than the window.
				got := publishes(t, ps.sub.recv())
				require.Equal(t, names(1, tt.window), payloads(got))
				for i, pub := range got {
					require.Equal(t, qos, pub.QoS)
					require.False(t, pub.Dup, "[MQTT-4.3.2-2] [MQTT-4.3.3-2] DUP 0 on first delivery")
					require.NotZero(t, pub.PacketID)
					for _, prev := range got[:i] {
						require.NotEqual(t, prev.PacketID, pub.PacketID)
					}
				}

				// Each completed flow lets exactly one more in, in order.
				next := tt.window + 1
				for len(got) > 0 {
					done := got[0]
					got = got[1:]
					if qos == 1 {
						ps.sub.ack(proto.PUBACK, done.PacketID, proto.Success)
					} else {
						// [MQTT-4.3.3-3] [MQTT-4.3.3-5]: PUBREC does not end
						// the flow; PUBCOMP does.
						ps.sub.ack(proto.PUBREC, done.PacketID, proto.Success)
						requireAck(t, ps.sub.recvOne(), proto.PUBREL, done.PacketID, proto.Success)
						ps.sub.ack(proto.PUBCOMP, done.PacketID, proto.Success)
					}
					more := publishes(t, ps.sub.recv())
					if next <= 6 {
						require.Equal(t, names(next, next), payloads(more))
						got = append(got, more...)
						next++
					} else {
						require.Empty(t, more)
					}
				}
				require.Equal(t, 7, next, "all six delivered")
			})
		}
	}
}

func TestOutboundQoS2Flow(t *testing.T) {
	ps := newPubsub(t, Options{MaxInflight: 1}, 1, connectPacket(proto.V5, "sub", true, 0, 0), "q2", 2)
	ps.send("q2", 2, 1, 3)
	first := publishes(t, ps.sub.recv())
	require.Equal(t, []string{"m1"}, payloads(first))
	pid := first[0].PacketID

	// [MQTT-4.3.3-4] PUBREC below 0x80 is answered with PUBREL, same id.
	ps.sub.ack(proto.PUBREC, pid, proto.Success)
	requireAck(t, ps.sub.recvOne(), proto.PUBREL, pid, proto.Success)
	// A repeated PUBREC gets the PUBREL again, never the PUBLISH
	// [MQTT-4.3.3-6].
	ps.sub.ack(proto.PUBREC, pid, proto.Success)
	requireAck(t, ps.sub.recvOne(), proto.PUBREL, pid, proto.Success)
	// [MQTT-4.3.3-5] the window stays taken until PUBCOMP.
	ps.sub.ack(proto.PUBCOMP, pid, proto.Success)
	second := publishes(t, ps.sub.recv())
	require.Equal(t, []string{"m2"}, payloads(second))

	// [MQTT-4.4.0-2] PUBREC 0x80 or above ends the flow: no PUBREL, the
	// message is not sent again, and the window opens.
	ps.sub.ack(proto.PUBREC, second[0].PacketID, proto.UnspecifiedError)
	third := publishes(t, ps.sub.recv())
	require.Equal(t, []string{"m3"}, payloads(third))

	// An unknown PUBREC still gets its PUBREL, 0x92 in v5, so the client
	// can finish.
	ps.sub.ack(proto.PUBREC, 4242, proto.Success)
	requireAck(t, ps.sub.recvOne(), proto.PUBREL, 4242, proto.PacketIdentifierNotFound)
}

func TestPubackErrorEndsFlow(t *testing.T) {
	// [MQTT-4.4.0-2] a PUBACK with a code of 0x80 or above acknowledges too.
	ps := newPubsub(t, Options{MaxInflight: 1}, 1, connectPacket(proto.V5, "sub", true, 0, 0), "q1", 1)
	ps.send("q1", 1, 1, 2)
	got := publishes(t, ps.sub.recv())
	require.Equal(t, []string{"m1"}, payloads(got))
	ps.sub.ack(proto.PUBACK, got[0].PacketID, proto.NotAuthorized)
	require.Equal(t, []string{"m2"}, payloads(publishes(t, ps.sub.recv())))
}

func TestRedeliveryOnResume(t *testing.T) {
	for _, v := range []proto.Version{proto.V311, proto.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			h := newHarness(t, Options{MaxInflight: 4}, 2)
			sub := h.online(0, connectPacket(v, "sub", false, 0, ExpiryNever))
			// One first topic level: one router shard, one order.
			sub.subscribe("r/q1", 1)
			sub.subscribe("r/q2", 2)
			pub := h.online(1, connectPacket(proto.V5, "pub", true, 0, 0))

			// m1 q1, m2 q2, m3 q1, m4 q2 fill the window; m5, m6 wait.
			for i, qos := range []byte{1, 2, 1, 2, 1, 1} {
				pub.publish(fmt.Sprintf("r/q%d", qos), fmt.Sprintf("m%d", i+1), qos, uint16(i+1))
			}
			h.settle()
			sent := publishes(t, sub.recv())
			require.Equal(t, names(1, 4), payloads(sent))
			pid := func(i int) uint16 { return sent[i-1].PacketID }

			sub.ack(proto.PUBREC, pid(2), proto.Success)
			requireAck(t, sub.recvOne(), proto.PUBREL, pid(2), proto.Success)
			sub.ack(proto.PUBACK, pid(3), proto.Success)
			m5 := publishes(t, sub.recv())
			require.Equal(t, []string{"m5"}, payloads(m5))

			// The connection fails; m7 arrives while it is away.
			sub.drop()
			pub.publish("r/q1", "m7", 1, 7)
			h.settle()

			sub = h.dial(0)
			ack := sub.connect(connectPacket(v, "sub", false, 0, ExpiryNever))
			require.True(t, ack.SessionPresent)
			// [MQTT-4.4.0-1] [MQTT-4.4.0-1 v3.1.1]: unacknowledged
			// PUBLISH and PUBREL packets again, with their original ids, in
			// the order first sent; [MQTT-3.3.1-1] [MQTT-3.3.1-1 v3.1.1] DUP set
			// on the PUBLISH.
			// [MQTT-4.3.3-6] m2 is past PUBREC: only its PUBREL.
			again := sub.recv()
			require.Len(t, again, 4, "got %s", describe(again))
			want := []struct {
				name string
				id   uint16
			}{{"m1", pid(1)}, {"", pid(2)}, {"m4", pid(4)}, {"m5", m5[0].PacketID}}
			for i, w := range want {
				if w.name == "" {
					requireAck(t, again[i], proto.PUBREL, w.id, proto.Success)
					continue
				}
				p, ok := again[i].(*proto.Publish)
				require.True(t, ok, "packet %d is %v", i, again[i].PacketType())
				require.Equal(t, w.name, string(p.Payload))
				require.Equal(t, w.id, p.PacketID)
				require.True(t, p.Dup)
			}

			// The window is full with the four; m6 and m7 follow as flows
			// complete, as new deliveries (DUP 0), in order [MQTT-4.6.0-6].
			sub.ack(proto.PUBACK, pid(1), proto.Success)
			sub.ack(proto.PUBCOMP, pid(2), proto.Success)
			rest := publishes(t, sub.recv())
			require.Equal(t, []string{"m6", "m7"}, payloads(rest))
			for _, p := range rest {
				require.False(t, p.Dup)
			}
		})
	}
}

func TestQueueBoundDropsAndCounts(t *testing.T) {
	t.Run("connected, window full", func(t *testing.T) {
		ps := newPubsub(t, Options{MaxInflight: 1, MaxQueued: 3}, 1, connectPacket(proto.V5, "sub", true, 0, 0), "t", 1)
		ps.send("t", 1, 1, 10)
		// One in flight, three queued, six dropped.
		require.EqualValues(t, 6, ps.h.b.Stats.Dropped.Load())
		var got []string
		for range 10 {
			ps2 := publishes(t, ps.sub.recv())
			if len(ps2) == 0 {
				break
			}
			require.Len(t, ps2, 1)
			got = append(got, string(ps2[0].Payload))
			ps.sub.ack(proto.PUBACK, ps2[0].PacketID, proto.Success)
		}
		require.Equal(t, names(1, 4), got)
	})
	t.Run("offline", func(t *testing.T) {
		ps := newPubsub(t, Options{MaxQueued: 3}, 1, connectPacket(proto.V5, "sub", false, 0, 60), "t", 1)
		ps.sub.drop()
		ps.send("t", 1, 1, 5)
		ps.send("t", 0, 6, 6) // QoS 0 is not kept for an offline session
		require.EqualValues(t, 2, ps.h.b.Stats.Dropped.Load())
		sub := ps.h.dial(0)
		require.True(t, sub.connect(connectPacket(proto.V5, "sub", false, 0, 60)).SessionPresent)
		require.Equal(t, names(1, 3), payloads(publishes(t, sub.recv())))
	})
}

func TestQoSDowngradeToGranted(t *testing.T) {
	// [MQTT-3.8.4-8]: delivered at the lower of the published QoS and
	// the subscription's.
	for sq := byte(0); sq <= 2; sq++ {
		for pq := byte(0); pq <= 2; pq++ {
			t.Run(fmt.Sprintf("sub %d pub %d", sq, pq), func(t *testing.T) {
				ps := newPubsub(t, Options{}, 2, connectPacket(proto.V5, "sub", true, 0, 0), "d", sq)
				ps.send("d", pq, 1, 1)
				got := publishes(t, ps.sub.recv())
				require.Len(t, got, 1)
				require.Equal(t, min(sq, pq), got[0].QoS)
				if got[0].QoS == 0 {
					require.Zero(t, got[0].PacketID)
				}
			})
		}
	}
}

func TestSlowReader(t *testing.T) {
	const limit = 1000
	ps := newPubsub(t, Options{OutboundLimit: limit}, 2, connectPacket(proto.V5, "sub", true, 0, 0), "s", 1)
	ps.sub.conn.setBuffered(limit + 1) // the reader is behind

	ps.send("s", 0, 1, 2)
	require.EqualValues(t, 2, ps.h.b.Stats.Dropped.Load(), "QoS 0 to a slow reader is dropped and counted")
	ps.send("s", 1, 3, 4)
	ps.sub.recvNone()
	require.EqualValues(t, 2, ps.h.b.Stats.Dropped.Load(), "QoS 1 waits instead")

	// The reader catches up; the next delivery brings the waiting ones
	// first, in order.
	ps.sub.conn.setBuffered(0)
	ps.send("s", 1, 5, 5)
	require.Equal(t, names(3, 5), payloads(publishes(t, ps.sub.recv())))
}

func TestSlowReaderQueueDrainsOnTick(t *testing.T) {
	// With nothing in flight no acknowledgement will come, and the client
	// may send nothing at all: the loop's tick must let the waiting
	// messages out once the write buffer has drained.
	const limit = 1000
	ps := newPubsub(t, Options{OutboundLimit: limit}, 2, connectPacket(proto.V5, "sub", true, 0, 0), "s", 1)
	ps.sub.conn.setBuffered(limit + 1)
	ps.send("s", 1, 1, 2)
	ps.sub.recvNone()

	ps.h.tick() // still full: nothing moves, the client stays held back
	ps.sub.recvNone()

	ps.sub.conn.setBuffered(0)
	ps.h.tick()
	require.Equal(t, names(1, 2), payloads(publishes(t, ps.sub.recv())))
}

func TestOversizedForClientIsSkipped(t *testing.T) {
	// [MQTT-3.1.2-24] nothing larger than the client's Maximum Packet
	// Size is sent; [MQTT-3.1.2-25] it is dropped as if delivered, so it
	// takes no place in the window.
	p := connectPacket(proto.V5, "sub", true, 0, 0)
	p.Props.MaximumPacketSize = 64
	p.Props.Set(proto.PropMaximumPacketSize)
	ps := newPubsub(t, Options{MaxInflight: 1}, 1, p, "big", 1)
	ps.pub.publish("big", string(make([]byte, 100)), 1, 1)
	ps.pub.publish("big", "small", 1, 2)
	ps.h.settle()
	got := publishes(t, ps.sub.recv())
	require.Equal(t, []string{"small"}, payloads(got))
	require.EqualValues(t, 1, ps.h.b.Stats.Dropped.Load())
}

func TestOneWritePerDrain(t *testing.T) {
	// Deliveries that reach a loop together leave in one write.
	ps := newPubsub(t, Options{}, 2, connectPacket(proto.V5, "sub", true, 0, 0), "b", 0)
	before := ps.sub.conn.writes
	for i := 1; i <= 5; i++ {
		ps.pub.publish("b", fmt.Sprintf("m%d", i), 0, 0)
	}
	ps.h.settle()
	require.Equal(t, 1, ps.sub.conn.writes-before)
	require.Equal(t, names(1, 5), payloads(publishes(t, ps.sub.recv())))
}
