package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// allOff is a broker that lacks every optional capability.
func allOff() Options {
	return Options{MaxQoS: MaxQoS1, DisableRetain: true, DisableWildcards: true,
		DisableSubscriptionIDs: true, DisableSharedSubscriptions: true}
}

func TestConnackAdvertisesCapabilities(t *testing.T) {
	// A broker with everything: none of the "not available" properties.
	h := newHarness(t, Options{}, 1)
	ack := h.dial(0).connect(connectPacket(proto.V5, "full", true, 30, 0))
	for _, id := range []proto.PropID{proto.PropMaximumQoS, proto.PropRetainAvailable,
		proto.PropWildcardSubAvailable, proto.PropSubIDAvailable, proto.PropSharedSubAvailable,
		proto.PropServerKeepAlive, proto.PropResponseInfo} {
		require.False(t, ack.Props.Has(id), "property 0x%02X", byte(id))
	}

	// A broker without them says so.
	h = newHarness(t, allOff(), 1)
	ack = h.dial(0).connect(connectPacket(proto.V5, "lean", true, 30, 0))
	pr := &ack.Props
	require.True(t, pr.Has(proto.PropMaximumQoS))
	require.EqualValues(t, 1, pr.MaximumQoS) // [MQTT-3.2.2-9]
	require.True(t, pr.Has(proto.PropRetainAvailable))
	require.Zero(t, pr.RetainAvailable)
	require.True(t, pr.Has(proto.PropWildcardSubAvailable))
	require.Zero(t, pr.WildcardSubAvailable)
	require.True(t, pr.Has(proto.PropSubIDAvailable))
	require.Zero(t, pr.SubIDAvailable)
	require.True(t, pr.Has(proto.PropSharedSubAvailable))
	require.Zero(t, pr.SharedSubAvailable)
}

func TestResponseInformationOnlyOnRequest(t *testing.T) {
	h := newHarness(t, Options{ResponseInformation: "resp/"}, 1)
	// [MQTT-3.1.2-28] not sent unless requested
	ack := h.dial(0).connect(connectPacket(proto.V5, "a", true, 0, 0))
	require.False(t, ack.Props.Has(proto.PropResponseInfo))

	p := connectPacket(proto.V5, "b", true, 0, 0)
	p.Props.RequestResponseInfo = 1
	p.Props.Set(proto.PropRequestResponseInfo)
	ack = h.dial(0).connect(p)
	require.True(t, ack.Props.Has(proto.PropResponseInfo))
	require.Equal(t, "resp/", string(ack.Props.ResponseInfo))
}

func TestServerKeepAliveCapsTheClients(t *testing.T) {
	h := newHarness(t, Options{ServerKeepAlive: 2}, 1)
	// v5: the client asked for none; the broker's value is sent and used.
	v5 := h.dial(0)
	ack := v5.connect(connectPacket(proto.V5, "ka5", true, 0, 0))
	require.True(t, ack.Props.Has(proto.PropServerKeepAlive))
	require.EqualValues(t, 2, ack.Props.ServerKeepAlive)
	// v5 asking for less than the cap keeps its own: nothing to tell.
	v5short := h.dial(0)
	ack = v5short.connect(connectPacket(proto.V5, "ka5-short", true, 1, 0))
	require.False(t, ack.Props.Has(proto.PropServerKeepAlive))
	// 3.1.1 cannot be told: a keepalive under the broker's stays the
	// client's, none or a longer one is capped.
	short := h.dial(0)
	short.connect(connectPacket(proto.V311, "ka3-short", true, 1, 0))
	long := h.dial(0)
	long.connect(connectPacket(proto.V311, "ka3-none", true, 0, 0))

	// The wheel files deadlines by 250 ms ticks: step past each deadline by
	// more than one tick.
	h.advanceClock(1800 * time.Millisecond)
	h.tick()
	require.True(t, short.conn.closed(), "1.5 × its own keepalive of 1 s passed")
	require.True(t, v5short.conn.closed(), "v5 under the cap: its own keepalive of 1 s")
	require.False(t, long.conn.closed())
	require.False(t, v5.conn.closed())

	h.advanceClock(1800 * time.Millisecond) // 3.6 s > 1.5 × 2 s
	h.tick()
	require.True(t, long.conn.closed(), "capped at the broker's 2 s")
	require.True(t, v5.conn.closed(), "v5 uses Server Keep Alive [MQTT-3.2.2-21]")
	requireDisconnect(t, v5.recvOne(), proto.KeepAliveTimeout)
}

func TestPublishBeyondCapabilities(t *testing.T) {
	for _, tt := range []struct {
		name string
		pub  proto.Publish
		rc   proto.ReasonCode
	}{
		// Section 3.3.1.2: a QoS above the Maximum QoS → 0x9B
		{"qos above maximum", proto.Publish{QoS: 2, PacketID: 1, Topic: []byte("t")}, proto.QoSNotSupported},
		// Section 3.3.1.3: RETAIN with Retain Available 0 → 0x9A
		{"retain unavailable", proto.Publish{Retain: true, Topic: []byte("t")}, proto.RetainNotSupported},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, allOff(), 1)
			c := h.online(0, connectPacket(proto.V5, "p", true, 0, 0))
			require.Error(t, c.send(&tt.pub))
			d := c.recvOne()
			requireDisconnect(t, d, tt.rc)
			// [MQTT-3.1.2-29] a reason string is allowed on DISCONNECT
			require.NotEmpty(t, d.(*proto.Disconnect).Props.ReasonString)
		})
	}
}

func TestWillBeyondCapabilitiesIsRefused(t *testing.T) {
	for _, tt := range []struct {
		name   string
		qos    byte
		retain bool
		rc     proto.ReasonCode
	}{
		{"will qos above maximum", 2, false, proto.QoSNotSupported}, // [MQTT-3.2.2-12]
		{"retained will", 0, true, proto.RetainNotSupported},        // [MQTT-3.2.2-13]
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, allOff(), 1)
			c := h.dial(0)
			p := connectPacket(proto.V5, "w", true, 0, 0)
			p.WillFlag, p.WillQoS, p.WillRetain = true, tt.qos, tt.retain
			p.WillTopic, p.WillPayload = []byte("w"), []byte("x")
			require.Error(t, c.send(p))
			ack, ok := c.recvOne().(*proto.Connack)
			require.True(t, ok)
			require.Equal(t, tt.rc, ack.Reason)
			require.NotEmpty(t, ack.Props.ReasonString)
			require.Zero(t, h.b.SessionCount())
		})
	}
}

func TestSubscribeBeyondCapabilities(t *testing.T) {
	h := newHarness(t, allOff(), 1)
	c := h.online(0, connectPacket(proto.V5, "s", true, 0, 0))
	c.mustSend(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{
		{Filter: []byte("plain"), QoS: 2},      // [MQTT-3.2.2-10] accepted at the broker's QoS 1
		{Filter: []byte("a/+"), QoS: 0},        // wildcards off → 0xA2
		{Filter: []byte("$share/g/x"), QoS: 0}, // shared off → 0x9E
	}})
	sa, ok := c.recvOne().(*proto.Suback)
	require.True(t, ok)
	require.Equal(t, []proto.ReasonCode{proto.GrantedQoS1, proto.WildcardSubsNotSupported, proto.SharedSubsNotSupported}, sa.Reasons)

	// 3.1.1 has one failure code for all of it: 0x80 (section 3.9.3 of 3.1.1).
	v3 := h.online(0, connectPacket(proto.V311, "s3", true, 0, 0))
	v3.mustSend(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("#")}}})
	sa, ok = v3.recvOne().(*proto.Suback)
	require.True(t, ok)
	require.Equal(t, []proto.ReasonCode{proto.V3SubackFailure}, sa.Reasons)

	// Section 3.2.2.3.12: a Subscription Identifier when none are offered
	// ends the connection with 0xA1.
	sub := &proto.Subscribe{PacketID: 2, Subscriptions: []proto.Subscription{{Filter: []byte("plain")}}}
	sub.Props.SubscriptionIDs = []uint32{7}
	sub.Props.Set(proto.PropSubscriptionID)
	require.Error(t, c.send(sub))
	requireDisconnect(t, c.recvOne(), proto.SubIDsNotSupported)
}

func TestReasonStringRespectsClientMaximumPacketSize(t *testing.T) {
	// [MQTT-3.14.2-3] no Reason String that would make the DISCONNECT
	// larger than the client accepts.
	h := newHarness(t, allOff(), 1)
	p := connectPacket(proto.V5, "tiny", true, 0, 0)
	p.Props.MaximumPacketSize = 16
	p.Props.Set(proto.PropMaximumPacketSize)
	c := h.dial(0)
	c.connect(p)
	require.Error(t, c.send(&proto.Publish{Retain: true, Topic: []byte("t")}))
	d := c.recvOne()
	requireDisconnect(t, d, proto.RetainNotSupported)
	require.False(t, d.(*proto.Disconnect).Props.Has(proto.PropReasonString))
}
