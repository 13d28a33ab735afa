package session

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

func TestInboundQoS1(t *testing.T) {
	for _, v := range []proto.Version{proto.V311, proto.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			h := newHarness(t, Options{}, 1)
			sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
			sub.subscribe("in", 1)
			pub := h.online(0, connectPacket(v, "pub", true, 0, 0))
			// [MQTT-4.3.2-4] [MQTT-4.3.2-2 v3.1.1]: PUBACK with the id.
			pub.publish("in", "a", 1, 300)
			// [MQTT-4.3.2-5]: after PUBACK the same id is a new message,
			// DUP or not.
			pub.mustSend(&proto.Publish{Topic: []byte("in"), Payload: []byte("b"), QoS: 1, PacketID: 300, Dup: true})
			requireAck(t, pub.recvOne(), proto.PUBACK, 300, proto.Success)
			h.settle()
			require.Equal(t, []string{"a", "b"}, payloads(publishes(t, sub.recv())))
		})
	}
}

func TestInboundQoS2ExactlyOnce(t *testing.T) {
	for _, v := range []proto.Version{proto.V311, proto.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			h := newHarness(t, Options{}, 2)
			sub := h.online(1, connectPacket(proto.V5, "sub", true, 0, 0))
			sub.subscribe("x", 2)
			pub := h.online(0, connectPacket(v, "pub", true, 0, 0))

			// [MQTT-4.3.3-8] [MQTT-4.3.3-2 v3.1.1]: PUBREC with the id.
			pub.publish("x", "one", 2, 7)
			h.settle()
			require.Equal(t, []string{"one"}, payloads(publishes(t, sub.recv())))

			// [MQTT-4.3.3-10] [MQTT-4.3.3-2 v3.1.1]: until PUBREL, a
			// re-sent PUBLISH is answered with PUBREC and not delivered again.
			for range 2 {
				pub.mustSend(&proto.Publish{Topic: []byte("x"), Payload: []byte("one"), QoS: 2, PacketID: 7, Dup: true})
				requireAck(t, pub.recvOne(), proto.PUBREC, 7, proto.Success)
			}
			h.settle()
			sub.recvNone()

			// [MQTT-4.3.3-11]: PUBREL is answered with PUBCOMP, same id.
			pub.ack(proto.PUBREL, 7, proto.Success)
			requireAck(t, pub.recvOne(), proto.PUBCOMP, 7, proto.Success)

			// [MQTT-4.3.3-12]: after PUBCOMP the id starts a new message.
			pub.publish("x", "two", 2, 7)
			h.settle()
			require.Equal(t, []string{"two"}, payloads(publishes(t, sub.recv())))
		})
	}
}

func TestInboundQoS2SurvivesReconnect(t *testing.T) {
	// The ids awaiting PUBREL are session state: a publisher that resumes
	// re-sends with DUP [MQTT-4.4.0-1] and the message still arrives once
	// [MQTT-4.3.3-10].
	h := newHarness(t, Options{}, 1)
	sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.subscribe("x", 2)
	pub := h.online(0, connectPacket(proto.V5, "pub", false, 0, 60))
	pub.publish("x", "once", 2, 9)
	pub.drop()
	h.settle()
	require.Equal(t, []string{"once"}, payloads(publishes(t, sub.recv())))

	pub = h.dial(0)
	require.True(t, pub.connect(connectPacket(proto.V5, "pub", false, 0, 60)).SessionPresent)
	pub.mustSend(&proto.Publish{Topic: []byte("x"), Payload: []byte("once"), QoS: 2, PacketID: 9, Dup: true})
	requireAck(t, pub.recvOne(), proto.PUBREC, 9, proto.Success)
	pub.ack(proto.PUBREL, 9, proto.Success)
	requireAck(t, pub.recvOne(), proto.PUBCOMP, 9, proto.Success)
	h.settle()
	sub.recvNone()
}

func TestUnknownPubrel(t *testing.T) {
	tests := []struct {
		v    proto.Version
		want proto.ReasonCode
	}{
		// [MQTT-4.3.3-11] PUBCOMP answers every PUBREL; 0x92 says the id
		// was not awaiting one.
		{proto.V5, proto.PacketIdentifierNotFound},
		// [MQTT-4.3.3-2 v3.1.1]: PUBCOMP, which has no reason code there.
		{proto.V311, proto.Success},
	}
	for _, tt := range tests {
		t.Run(versionName(tt.v), func(t *testing.T) {
			h := newHarness(t, Options{}, 1)
			c := h.online(0, connectPacket(tt.v, "c", true, 0, 0))
			c.ack(proto.PUBREL, 55, proto.Success)
			requireAck(t, c.recvOne(), proto.PUBCOMP, 55, tt.want)
		})
	}
}

func TestInboundReceiveMaximumExceeded(t *testing.T) {
	// The client may have at most the broker's Receive Maximum of QoS 2
	// messages unreleased ([MQTT-3.3.4-7] is its duty); the broker answers
	// one more with DISCONNECT 0x93 (3.3.4).
	h := newHarness(t, Options{ReceiveMaximum: 2}, 1)
	c := h.online(0, connectPacket(proto.V5, "c", true, 0, 0))
	c.publish("t", "1", 2, 1)
	c.publish("t", "2", 2, 2)
	err := c.send(&proto.Publish{Topic: []byte("t"), Payload: []byte("3"), QoS: 2, PacketID: 3})
	var pe *proto.Error
	require.True(t, errors.As(err, &pe))
	require.Equal(t, proto.ReceiveMaximumExceeded, pe.Code)
	requireDisconnect(t, c.recvOne(), proto.ReceiveMaximumExceeded)

	// A re-sent one of the two is not a third.
	h2 := newHarness(t, Options{ReceiveMaximum: 2}, 1)
	c = h2.online(0, connectPacket(proto.V5, "c", true, 0, 0))
	c.publish("t", "1", 2, 1)
	c.publish("t", "2", 2, 2)
	c.mustSend(&proto.Publish{Topic: []byte("t"), Payload: []byte("2"), QoS: 2, PacketID: 2, Dup: true})
	requireAck(t, c.recvOne(), proto.PUBREC, 2, proto.Success)
	// Released ids make room again.
	c.ack(proto.PUBREL, 1, proto.Success)
	requireAck(t, c.recvOne(), proto.PUBCOMP, 1, proto.Success)
	c.publish("t", "3", 2, 3)
}
