package conformance_test

import (
	"fmt"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// MQTT 5.0 statements of SUBSCRIBE, UNSUBSCRIBE and the server's
// DISCONNECT, against a live broker; the helpers and code tables are in
// conformance_v5_packets_test.go.

func TestV5SubscribeEachFilterInTurn(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	sub := loomtest.Dial(t, addr, proto.V5)
	sub.Connect("s45", nil)

	// [MQTT-3.8.4-1] a SUBSCRIBE whose only filter is refused still gets
	// its SUBACK.
	sub.Send(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("s45/#/x")}}})
	require.Equal(t, []proto.ReasonCode{proto.TopicFilterInvalid}, loomtest.Expect[*proto.Suback](sub).Reasons)

	// [MQTT-3.8.4-5] several filters are handled as that many SUBSCRIBE
	// packets in order, answered by one SUBACK: the refused one does not
	// stop the rest, and the repeated s45/1 replaces the earlier one.
	sub.Send(&proto.Subscribe{PacketID: 2, Subscriptions: []proto.Subscription{
		{Filter: []byte("s45/1"), QoS: 0},
		{Filter: []byte("s45/#/bad"), QoS: 1},
		{Filter: []byte("s45/2"), QoS: 1},
		{Filter: []byte("s45/1"), QoS: 2},
	}})
	ack := loomtest.Expect[*proto.Suback](sub)
	require.Equal(t, uint16(2), ack.PacketID)
	require.Equal(t, []proto.ReasonCode{0, proto.TopicFilterInvalid, 1, 2}, ack.Reasons)
	// [MQTT-3.9.3-2] one SUBACK code per filter, each a SUBACK code.
	for _, rc := range ack.Reasons {
		require.True(t, v5SubackCodes[rc], "SUBACK code %#x", byte(rc))
	}

	pub := loomtest.Dial(t, addr, proto.V5)
	pub.Connect("s45-pub", nil)
	pub.Send(v5Pub("s45/1", 1, 1, "one"))
	pub.ReadAck(proto.PUBACK)
	pub.Send(v5Pub("s45/2", 1, 2, "two"))
	pub.ReadAck(proto.PUBACK)
	m := sub.ReadPublish()
	require.Equal(t, "s45/1", string(m.Topic))
	require.Equal(t, byte(1), m.QoS, "s45/1 kept the first subscription's QoS 0")
	sub.Ack(proto.PUBACK, m.PacketID)
	m = sub.ReadPublish()
	require.Equal(t, "s45/2", string(m.Topic), "s45/1 delivered twice, or s45/2 lost")
	sub.Ack(proto.PUBACK, m.PacketID)
}

func TestV5ResubscribeResendsRetainedLosesNothing(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	p, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "rs4-pub"})
	p.Say(t, "rs4/retained", 1, true, "kept")
	c, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "rs4-sub"})
	c.Sub(t, pahotest.V5Opt("rs4/#", 1))

	// Live messages flow while the subscription is replaced five times.
	const live, resubs = 200, 5
	done := make(chan error, 1)
	go func() {
		for i := range live {
			if _, err := p.Publish(t.Context(), &paho.Publish{Topic: "rs4/live", QoS: 1, Payload: fmt.Appendf(nil, "%d", i)}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range resubs {
		c.Sub(t, pahotest.V5Opt("rs4/#", 1)) // Retain Handling 0
	}
	require.NoError(t, <-done)

	// [MQTT-3.8.4-4] with Retain Handling 0 each replacement re-sends the
	// retained message, and no live message is lost to a replacement.
	retained, seen := 0, make(map[string]bool)
	for len(seen) < live || retained < 1+resubs {
		m := c.Recv(t)
		if m.Topic == "rs4/retained" {
			retained++
			continue
		}
		seen[string(m.Payload)] = true
	}
	require.Equal(t, 1+resubs, retained)
	require.Len(t, seen, live)
}

func TestV5UnsubscribeExactFilters(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	sub := loomtest.Dial(t, addr, proto.V5)
	sub.Connect("u41", nil)
	sub.Send(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{
		{Filter: []byte("u41/+/x")}, {Filter: []byte("u41/a/x")}, {Filter: []byte("u41/b")}, {Filter: []byte("u41/c")}}})
	loomtest.Expect[*proto.Suback](sub)

	// [MQTT-3.10.4-1] filters are compared character by character: u41/a/x
	// removes only itself, not u41/+/x which matches it, and neither U41/+/x
	// nor u41/+ removes anything. [MQTT-3.10.4-6] the filters of one
	// UNSUBSCRIBE are handled in turn, [MQTT-3.11.3-2] each with its UNSUBACK
	// code.
	sub.Send(&proto.Unsubscribe{PacketID: 2, Filters: [][]byte{
		[]byte("u41/a/x"), []byte("U41/+/x"), []byte("u41/+"), []byte("u41/b"), []byte("u41/b"), []byte("u41/c")}})
	ack := loomtest.Expect[*proto.Unsuback](sub)
	require.Equal(t, []proto.ReasonCode{proto.Success, proto.NoSubscriptionExisted, proto.NoSubscriptionExisted,
		proto.Success, proto.NoSubscriptionExisted, proto.Success}, ack.Reasons)
	for _, rc := range ack.Reasons {
		require.True(t, v5UnsubackCodes[rc], "UNSUBACK code %#x", byte(rc))
	}

	// [MQTT-3.10.4-2] nothing new is sent for the removed filters; the
	// wildcard one still delivers u41/a/x, once.
	pub := loomtest.Dial(t, addr, proto.V5)
	pub.Connect("u41-pub", nil)
	for _, topic := range []string{"u41/b", "u41/c", "u41/a/x", "u41/end/x"} {
		pub.Send(v5Pub(topic, 0, 0, topic))
	}
	require.Equal(t, "u41/a/x", string(sub.ReadPublish().Topic))
	require.Equal(t, "u41/end/x", string(sub.ReadPublish().Topic))
}

func TestV5UnsubscribeCompletesStartedDeliveries(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	sub, _ := v5Persistent(t, addr, "u43", true)
	sub.Send(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{
		{Filter: []byte("u43/1"), QoS: 1}, {Filter: []byte("u43/2"), QoS: 2}}})
	loomtest.Expect[*proto.Suback](sub)
	pub := loomtest.Dial(t, addr, proto.V5)
	pub.Connect("u43-pub", nil)
	pub.Send(v5Pub("u43/1", 1, 1, "q1"))
	pub.ReadAck(proto.PUBACK)
	pub.Send(v5Pub("u43/2", 1, 2, "q2"))
	pub.ReadAck(proto.PUBACK)
	q1, q2 := sub.ReadPublish(), sub.ReadPublish()
	require.Equal(t, "q1", string(q1.Payload))
	require.Equal(t, "q2", string(q2.Payload))
	require.Equal(t, byte(1), q2.QoS) // published at QoS 1
	pub.Send(v5Pub("u43/2", 2, 3, "q2-2"))
	pub.ReadAck(proto.PUBREC)
	pub.Ack(proto.PUBREL, 3)
	pub.ReadAck(proto.PUBCOMP)
	q22 := sub.ReadPublish()
	require.Equal(t, byte(2), q22.QoS)

	sub.Send(&proto.Unsubscribe{PacketID: 2, Filters: [][]byte{[]byte("u43/1"), []byte("u43/2")}})
	require.Equal(t, []proto.ReasonCode{proto.Success, proto.Success}, loomtest.Expect[*proto.Unsuback](sub).Reasons)

	// [MQTT-3.10.4-3] deliveries begun before the UNSUBSCRIBE are finished:
	// the QoS 2 flow goes on to its PUBREL...
	sub.Ack(proto.PUBREC, q22.PacketID)
	require.Equal(t, q22.PacketID, sub.ReadAck(proto.PUBREL).PacketID)
	sub.Ack(proto.PUBCOMP, q22.PacketID)
	sub.Ack(proto.PUBACK, q2.PacketID)
	sub.Ping() // answered in order: the acks above were taken before the close
	// ...and the unacknowledged QoS 1 message is sent again on the resumed
	// session, though its subscription is gone.
	_ = sub.Close()
	sub2, ack := v5Persistent(t, addr, "u43", false)
	require.True(t, ack.SessionPresent)
	again := sub2.ReadPublish()
	require.Equal(t, "q1", string(again.Payload))
	require.True(t, again.Dup)
	sub2.Ack(proto.PUBACK, again.PacketID)
	sub2.Ping()
}

func TestV5ServerDisconnect(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	withProps := func(edit func(*proto.Properties)) []byte {
		p := v5Pub("sd/t", 0, 0, "x")
		edit(&p.Props)
		return p.Append(nil, proto.V5)
	}
	cases := []struct {
		name    string
		trigger []byte
		want    proto.ReasonCode
	}{
		{"second CONNECT", (&proto.Connect{Version: proto.V5, CleanStart: true, ClientID: []byte("x")}).Append(nil, proto.V5), proto.ProtocolError},
		{"PUBLISH with QoS 3", []byte{0x36, 0x06, 0x00, 0x01, 'a', 0x00, 0x01, 0x00}, proto.MalformedPacket},
		{"topic alias above the maximum", withProps(func(p *proto.Properties) { p.TopicAlias = 1000; p.Set(proto.PropTopicAlias) }), proto.TopicAliasInvalid},
		{"subscription identifier from a client", withProps(func(p *proto.Properties) {
			p.SubscriptionIDs = []uint32{1}
			p.Set(proto.PropSubscriptionID)
		}), proto.ProtocolError},
		{"AUTH without a method agreed", (&proto.Auth{Reason: proto.ReAuthenticate}).Append(nil, proto.V5), proto.ProtocolError},
	}
	check := func(name string, got []proto.Packet, want proto.ReasonCode) {
		t.Helper()
		// [MQTT-3.14.4-1] the DISCONNECT is the last packet the server sends,
		// and [MQTT-3.14.4-2] it then closes (rest returns only on the close).
		require.NotEmpty(t, got, name)
		d, ok := got[len(got)-1].(*proto.Disconnect)
		require.True(t, ok, "%s: the last packet is %T, not DISCONNECT", name, got[len(got)-1])
		// [MQTT-3.14.2-1] a DISCONNECT reason code, the one for the fault.
		require.True(t, v5ServerDisconnectCodes[d.Reason], "%s: DISCONNECT code %#x", name, byte(d.Reason))
		require.Equal(t, want, d.Reason, name)
		// [MQTT-3.14.2-2] never a Session Expiry Interval from the server.
		require.False(t, d.Props.Has(proto.PropSessionExpiry), "%s: Session Expiry Interval on a server DISCONNECT", name)
	}
	for i, tc := range cases {
		r := loomtest.Dial(t, addr, proto.V5)
		r.Connect(fmt.Sprint("sd-", i), nil)
		// A PINGREQ right behind the fault must go unanswered.
		r.Write(proto.AppendPingreq(append([]byte(nil), tc.trigger...)))
		check(tc.name, r.Rest(), tc.want)
	}

	// The server's other DISCONNECT: the session taken over.
	old, _ := v5Persistent(t, addr, "sd-takeover", true)
	v5Persistent(t, addr, "sd-takeover", false)
	check("takeover", old.Rest(), proto.SessionTakenOver)
}
