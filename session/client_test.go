package session

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

func TestPingreq(t *testing.T) {
	// [MQTT-3.12.4-1] [MQTT-3.12.4-1 v3.1.1]: PINGRESP for PINGREQ.
	for _, v := range []proto.Version{proto.V311, proto.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			h := newHarness(t, Options{}, 1)
			c := h.online(0, connectPacket(v, "p", true, 30, 0))
			c.mustSend(&proto.Ping{Type: proto.PINGREQ})
			require.Equal(t, []byte{0xD0, 0x00}, c.conn.take())
		})
	}
}

// TestMalformedAfterConnect sends every malformed packet of the wire
// catalogue that a client could send, after a valid CONNECT in its
// version: the connection is closed; a v5 client first gets DISCONNECT with
// the example's reason code [MQTT-4.13.1-1], a 3.1.1 client nothing (the
// server has no DISCONNECT there).
func TestMalformedAfterConnect(t *testing.T) {
	fromClient := map[proto.Type]bool{
		proto.PUBLISH: true, proto.PUBACK: true, proto.PUBREC: true, proto.PUBREL: true,
		proto.PUBCOMP: true, proto.SUBSCRIBE: true, proto.UNSUBSCRIBE: true,
		proto.PINGREQ: true, proto.DISCONNECT: true, proto.AUTH: true,
	}
	n := 0
	for _, ex := range proto.Catalogue {
		if ex.Valid || len(ex.Raw) < 2 || !fromClient[proto.Type(ex.Raw[0]>>4)] {
			continue
		}
		typ := proto.Type(ex.Raw[0] >> 4)
		n++
		t.Run(ex.Name, func(t *testing.T) {
			h := newHarness(t, Options{}, 1)
			c := h.online(0, connectPacket(ex.Version, "m", true, 0, 0))
			var err error
			if _, _, ferr := proto.ParseFixedHeader(ex.Raw); ferr != nil {
				// A bad fixed header: the reactor's framing reports it.
				err = c.c.Fail(ferr)
				c.l.Flush()
			} else {
				err = c.sendRaw(ex.Raw)
			}
			var pe *proto.Error
			require.True(t, errors.As(err, &pe), "err = %v", err)
			want := []proto.ReasonCode{ex.Reason}
			if typ == proto.AUTH {
				// No authentication method was agreed: any AUTH is a
				// protocol error before it is looked at.
				want = append(want, proto.ProtocolError)
			}
			require.Contains(t, want, pe.Code, "[%s]", ex.Spec)
			if ex.Version == proto.V5 {
				requireDisconnect(t, c.recvOne(), pe.Code)
			} else {
				c.recvNone()
			}
			require.EqualValues(t, 1, h.b.Stats.ProtocolFails.Load())
			c.drop()
			require.Zero(t, h.b.SessionCount())
		})
	}
	require.NotZero(t, n)
}

func TestServerPacketsFromClient(t *testing.T) {
	tests := []struct {
		name string
		p    proto.Packet
	}{
		{"CONNACK", &proto.Connack{}},
		{"SUBACK", &proto.Suback{PacketID: 1, Reasons: []proto.ReasonCode{0}}},
		{"UNSUBACK", &proto.Unsuback{PacketID: 1, Reasons: []proto.ReasonCode{0}}},
		{"PINGRESP", &proto.Ping{Type: proto.PINGRESP}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// [MQTT-4.13.1-1]: a protocol error closes, with 0x82.
			h := newHarness(t, Options{}, 1)
			c := h.online(0, connectPacket(proto.V5, "c", true, 0, 0))
			require.Error(t, c.send(tt.p))
			requireDisconnect(t, c.recvOne(), proto.ProtocolError)
		})
	}
}

func TestPacketTooLarge(t *testing.T) {
	// The broker's Maximum Packet Size (sent in CONNACK) is the client's to
	// respect [MQTT-3.2.2-15]; a larger packet is refused before its bytes
	// are buffered, with DISCONNECT 0x95 once connected in v5.
	h := newHarness(t, Options{MaxPacketSize: 100}, 1)
	before := h.dial(0)
	require.NoError(t, before.c.CheckSize(100))
	require.Error(t, before.c.CheckSize(101))
	before.recvNone()

	c := h.online(0, connectPacket(proto.V5, "c", true, 0, 0))
	require.NoError(t, c.c.CheckSize(100))
	err := c.c.CheckSize(101)
	var pe *proto.Error
	require.True(t, errors.As(err, &pe))
	require.Equal(t, proto.PacketTooLarge, pe.Code)
	c.l.Flush()
	requireDisconnect(t, c.recvOne(), proto.PacketTooLarge)
}

func TestInboundTopicAlias(t *testing.T) {
	withAlias := func(topic string, alias uint16, payload string) *proto.Publish {
		p := &proto.Publish{Topic: []byte(topic), Payload: []byte(payload)}
		p.Props.TopicAlias = alias
		p.Props.Set(proto.PropTopicAlias)
		return p
	}
	h := newHarness(t, Options{TopicAliasMaximum: 4}, 1)
	sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.subscribe("alias/#", 0)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))

	// [MQTT-3.3.2-12] every alias from 1 to the maximum is accepted: a
	// topic with an alias sets it, an empty topic uses it.
	pub.mustSend(withAlias("alias/a", 4, "set"))
	pub.mustSend(withAlias("", 4, "used"))
	pub.mustSend(withAlias("alias/b", 4, "reset"))
	pub.mustSend(withAlias("", 4, "used again"))
	h.settle()
	got := publishes(t, sub.recv())
	require.Equal(t, []string{"set", "used", "reset", "used again"}, payloads(got))
	var topics []string
	for _, p := range got {
		topics = append(topics, string(p.Topic))
		require.False(t, p.Props.Has(proto.PropTopicAlias), "inbound aliases are not passed on")
	}
	require.Equal(t, []string{"alias/a", "alias/a", "alias/b", "alias/b"}, topics)

	// [MQTT-3.3.2-7] aliases do not carry over to a new connection.
	pub.disconnect(proto.Success)
	pub = h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	require.Error(t, pub.send(withAlias("", 4, "stale")))
	requireDisconnect(t, pub.recvOne(), proto.ProtocolError)

	// Above the maximum (3.2.2.3.8): 0x94.
	pub = h.online(0, connectPacket(proto.V5, "pub2", true, 0, 0))
	require.Error(t, pub.send(withAlias("alias/c", 5, "too high")))
	requireDisconnect(t, pub.recvOne(), proto.TopicAliasInvalid)
	h.settle()
	sub.recvNone()
}

func TestSubscribeReasonCodes(t *testing.T) {
	subscribe := &proto.Subscribe{PacketID: 77, Subscriptions: []proto.Subscription{
		{Filter: []byte("a/+"), QoS: 0},
		{Filter: []byte("a/#/b"), QoS: 1}, // invalid: # not last
		{Filter: []byte("b/#"), QoS: 2},
		{Filter: []byte("$share/g/c"), QoS: 1},
	}}
	tests := []struct {
		v    proto.Version
		want []proto.ReasonCode
	}{
		// [MQTT-3.8.4-6] one code per filter in order [MQTT-3.9.3-1],
		// [MQTT-3.8.4-7] the granted QoS or a failure.
		{proto.V5, []proto.ReasonCode{0, proto.TopicFilterInvalid, 2, 1}},
		// 3.1.1 [MQTT-3.8.4-5 v3.1.1] [MQTT-3.9.3-1 v3.1.1]: 0x80 for a failure.
		{proto.V311, []proto.ReasonCode{0, proto.V3SubackFailure, 2, 1}},
	}
	for _, tt := range tests {
		t.Run(versionName(tt.v), func(t *testing.T) {
			h := newHarness(t, Options{}, 1)
			c := h.online(0, connectPacket(tt.v, "s", true, 0, 0))
			c.mustSend(subscribe)
			sa, ok := c.recvOne().(*proto.Suback)
			require.True(t, ok)
			require.Equal(t, uint16(77), sa.PacketID) // [MQTT-3.8.4-2] [MQTT-3.8.4-2 v3.1.1]
			require.Equal(t, tt.want, sa.Reasons)
			h.settle()
			require.Equal(t, 3, h.b.Router().Stats().Subscriptions)

			// [MQTT-3.10.4-4] [MQTT-3.10.4-5] [MQTT-3.10.4-4 v3.1.1] [MQTT-3.10.4-5 v3.1.1]
			// UNSUBACK with the id, even
			// for a filter that was not subscribed; [MQTT-3.11.3-1] codes
			// in order in v5.
			c.mustSend(&proto.Unsubscribe{PacketID: 78, Filters: [][]byte{[]byte("b/#"), []byte("zzz")}})
			ua, ok := c.recvOne().(*proto.Unsuback)
			require.True(t, ok)
			require.Equal(t, uint16(78), ua.PacketID)
			if tt.v == proto.V5 {
				require.Equal(t, []proto.ReasonCode{proto.Success, proto.NoSubscriptionExisted}, ua.Reasons)
			}
			h.settle()
			require.Equal(t, 2, h.b.Router().Stats().Subscriptions)
		})
	}
}
