package conformance_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
)

// Conformance tests for MQTT 3.1.1 statements, against a real broker with
// raw 3.1.1 clients. The rules 3.1.1 shares with 5.0 (QoS flows, ordering,
// topic characters) are in conformance_v5_ops_test.go.

// v311Connect connects id in 3.1.1, Clean Session 1 unless persistent.
func v311Connect(t testing.TB, addr, id string, persistent bool) (*loomtest.Client, *proto.Connack) {
	t.Helper()
	return confConnect(t, addr, proto.V311, id, persistent)
}

func TestV311ReservedFlagsFromBroker(t *testing.T) {
	t.Parallel()
	// [MQTT-2.2.2-1 v3.1.1]: every packet the broker sends has the flag
	// bits Table 2.2 lists for its type.
	_, addr := loomtest.Start(t, loom.Options{})
	sub := loomtest.Dial(t, addr, proto.V311)
	sub.Send(&proto.Connect{ClientID: []byte("flags"), CleanStart: true, Version: proto.V311})
	require.Equal(t, byte(0x20), sub.Frame()[0], "CONNACK")
	sub.Send(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("fl/t"), QoS: 2}}})
	require.Equal(t, byte(0x90), sub.Frame()[0], "SUBACK")

	// As receiver of a QoS 1 and a QoS 2 PUBLISH.
	sub.Send(&proto.Publish{Topic: []byte("fl/other"), QoS: 1, PacketID: 2})
	require.Equal(t, byte(0x40), sub.Frame()[0], "PUBACK")
	sub.Send(&proto.Publish{Topic: []byte("fl/other"), QoS: 2, PacketID: 3})
	require.Equal(t, byte(0x50), sub.Frame()[0], "PUBREC")
	sub.Ack(proto.PUBREL, 3)
	require.Equal(t, byte(0x70), sub.Frame()[0], "PUBCOMP")

	// As sender of a QoS 2 PUBLISH: its PUBREL is 0110 0010.
	pub, _ := v311Connect(t, addr, "pub", false)
	pub.Publish("fl/t", "x", 2, 1)
	f := sub.Frame()
	require.Equal(t, byte(0x34), f[0], "PUBLISH QoS 2, DUP 0, RETAIN 0")
	p, _, err := proto.Decode(f, proto.V311)
	require.NoError(t, err)
	pid := p.(*proto.Publish).PacketID
	sub.Ack(proto.PUBREC, pid)
	require.Equal(t, byte(0x62), sub.Frame()[0], "PUBREL")
	sub.Ack(proto.PUBCOMP, pid)

	sub.Send(&proto.Unsubscribe{PacketID: 4, Filters: [][]byte{[]byte("fl/t")}})
	require.Equal(t, byte(0xB0), sub.Frame()[0], "UNSUBACK")
	sub.Send(&proto.Ping{Type: proto.PINGREQ})
	require.Equal(t, []byte{0xD0, 0}, sub.Frame(), "PINGRESP")
}

func TestV311NullInClientID(t *testing.T) {
	t.Parallel()
	// [MQTT-1.5.3-2 v3.1.1]: U+0000 in a UTF-8 string closes the
	// connection; no session is made for it.
	_, addr := loomtest.Start(t, loom.Options{})
	r := loomtest.Dial(t, addr, proto.V311)
	r.Send(&proto.Connect{ClientID: []byte("a\x00b"), CleanStart: true, Version: proto.V311})
	for _, p := range r.Rest() {
		ack, ok := p.(*proto.Connack)
		require.True(t, ok, "got %T", p)
		require.NotEqual(t, proto.Success, ack.Reason, "[MQTT-1.5.3-2 v3.1.1] accepted")
	}
}

func TestV311ByteOrderMarkKept(t *testing.T) {
	t.Parallel()
	// [MQTT-1.5.3-3 v3.1.1]: EF BB BF is U+FEFF, a character like any
	// other: not stripped from a topic, so "\uFEFFbom" and "bom" differ.
	_, addr := loomtest.Start(t, loom.Options{})
	withBOM, _ := v311Connect(t, addr, "with", false)
	withBOM.Subscribe("\uFEFFbom/t", 0)
	plain, _ := v311Connect(t, addr, "plain", false)
	plain.Subscribe("bom/t", 0)
	pub, _ := v311Connect(t, addr, "pub", false)
	pub.Publish("\uFEFFbom/t", "marked", 0, 0)
	pub.Publish("bom/t", "bare", 0, 0)

	p := withBOM.ReadPublish()
	require.Equal(t, "marked", string(p.Payload))
	require.Equal(t, []byte("\xEF\xBB\xBFbom/t"), p.Topic, "[MQTT-1.5.3-3 v3.1.1]")
	p = plain.ReadPublish()
	require.Equal(t, "bare", string(p.Payload), "[MQTT-1.5.3-3 v3.1.1] the BOM was skipped")
	withBOM.Ping()
	plain.Ping()
}

func TestV311RetainedOutlivesSession(t *testing.T) {
	t.Parallel()
	// [MQTT-3.1.2-7 v3.1.1]: retained messages are not session state; they
	// stay when the publisher's session ends.
	_, addr := loomtest.Start(t, loom.Options{})
	pub, _ := v311Connect(t, addr, "pub", false)
	pub.Send(&proto.Publish{Topic: []byte("ret/t"), Payload: []byte("kept"), Retain: true, QoS: 1, PacketID: 1})
	pub.ReadAck(proto.PUBACK)
	pub.Send(&proto.Disconnect{})
	pub.ExpectClosed()
	// Its Clean Session is over; a new one under the same id too.
	again, ack := v311Connect(t, addr, "pub", false)
	require.False(t, ack.SessionPresent)
	again.Send(&proto.Disconnect{})
	again.ExpectClosed()

	sub, _ := v311Connect(t, addr, "sub", false)
	sub.Subscribe("ret/t", 1)
	p := sub.ReadPublish()
	require.Equal(t, "kept", string(p.Payload), "[MQTT-3.1.2-7 v3.1.1]")
	require.True(t, p.Retain)
}

func TestV311ClientIDNamesSession(t *testing.T) {
	t.Parallel()
	// [MQTT-3.1.3-2 v3.1.1]: the ClientId is what the broker finds a
	// session by: each id gets back its own subscriptions and messages.
	_, addr := loomtest.Start(t, loom.Options{})
	for _, id := range []string{"one", "two"} {
		c, _ := v311Connect(t, addr, id, true)
		c.Subscribe("cid/"+id, 1)
		c.Send(&proto.Disconnect{})
		c.ExpectClosed()
	}
	pub, _ := v311Connect(t, addr, "pub", false)
	pub.Publish("cid/one", "for one", 1, 1)
	pub.Publish("cid/two", "for two", 1, 2)
	for _, id := range []string{"two", "one"} {
		c, ack := v311Connect(t, addr, id, true)
		require.True(t, ack.SessionPresent)
		p := c.ReadPublish()
		require.Equal(t, "for "+id, string(p.Payload), "[MQTT-3.1.3-2 v3.1.1]")
		c.Ack(proto.PUBACK, p.PacketID)
		c.Ping()
	}
	// A new id has no session.
	_, ack := v311Connect(t, addr, "three", true)
	require.False(t, ack.SessionPresent)
}

func TestV311ClientIDsAllowed(t *testing.T) {
	t.Parallel()
	// [MQTT-3.1.3-5 v3.1.1]: 1 to 23 bytes of 0-9a-zA-Z are always allowed.
	_, addr := loomtest.Start(t, loom.Options{})
	for _, id := range []string{"a", "Z", "7", "0123456789abcdefghijklm", "ABCDEFGHIJKLMNOPQRSTUVW", "aZ09"} {
		for _, persistent := range []bool{false, true} {
			r := loomtest.Dial(t, addr, proto.V311)
			r.Send(&proto.Connect{ClientID: []byte(id), CleanStart: !persistent, Version: proto.V311})
			ack := loomtest.Expect[*proto.Connack](r)
			require.Equal(t, proto.Success, ack.Reason, "[MQTT-3.1.3-5 v3.1.1] %q refused", id)
			r.Send(&proto.Disconnect{})
			r.ExpectClosed()
		}
	}
}

func TestV311IdentifierRejectedCloses(t *testing.T) {
	t.Parallel()
	// [MQTT-3.1.3-9 v3.1.1]: a rejected ClientId (here empty with Clean
	// Session 0) gets CONNACK 0x02 and then the connection is closed.
	_, addr := loomtest.Start(t, loom.Options{})
	r := loomtest.Dial(t, addr, proto.V311)
	r.Send(&proto.Connect{ClientID: nil, CleanStart: false, Version: proto.V311})
	got := r.Rest()
	require.Len(t, got, 1, "[MQTT-3.1.3-9 v3.1.1] want CONNACK then close")
	ack, ok := got[0].(*proto.Connack)
	require.True(t, ok)
	require.Equal(t, proto.V3IdentifierRejected, ack.Reason)
}

func TestV311SecondConnectionClosesFirst(t *testing.T) {
	t.Parallel()
	// [MQTT-3.1.4-3 v3.1.1]: a CONNECT with the id of a connected client
	// disconnects the existing one (3.1.1 has no packet to say so: it is
	// closed).
	for _, persistent := range []bool{false, true} {
		_, addr := loomtest.Start(t, loom.Options{})
		old, _ := v311Connect(t, addr, "dup", persistent)
		_, _ = v311Connect(t, addr, "dup", persistent)
		old.ExpectClosed()
	}
}

func TestV311RefusedConnectIgnoresRest(t *testing.T) {
	t.Parallel()
	// [MQTT-3.1.4-5 v3.1.1]: after refusing a CONNECT the broker processes
	// nothing else the client sent: here a SUBSCRIBE and a retained
	// PUBLISH in the same write.
	_, addr := loomtest.Start(t, loom.Options{})
	watch, _ := v311Connect(t, addr, "watch", false)
	watch.Subscribe("rej/#", 0)

	r := loomtest.Dial(t, addr, proto.V311)
	var b []byte
	b = (&proto.Connect{ClientID: nil, CleanStart: false, Version: proto.V311}).Append(b, proto.V311)
	b = (&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("rej/x")}}}).Append(b, proto.V311)
	b = (&proto.Publish{Topic: []byte("rej/t"), Payload: []byte("leak"), Retain: true}).Append(b, proto.V311)
	r.Write(b)
	got := r.Rest()
	require.Len(t, got, 1, "[MQTT-3.1.4-5 v3.1.1] only the CONNACK")
	require.Equal(t, proto.V3IdentifierRejected, got[0].(*proto.Connack).Reason)

	pub, _ := v311Connect(t, addr, "pub", false)
	pub.Publish("rej/marker", "marker", 1, 1)
	require.Equal(t, "marker", string(watch.ReadPublish().Payload), "[MQTT-3.1.4-5 v3.1.1] the PUBLISH was routed")
	late, _ := v311Connect(t, addr, "late", false)
	late.Send(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("rej/t")}}})
	loomtest.Expect[*proto.Suback](late)
	late.Ping() // no retained message was stored
}

func TestV311ConnackFirst(t *testing.T) {
	t.Parallel()
	// [MQTT-3.2.0-1 v3.1.1]: the first packet is CONNACK even when the
	// resumed session has messages waiting.
	_, addr := loomtest.Start(t, loom.Options{})
	c, _ := v311Connect(t, addr, "first", true)
	c.Subscribe("cf/t", 1)
	c.Send(&proto.Disconnect{})
	c.ExpectClosed()
	pub, _ := v311Connect(t, addr, "pub", false)
	for i := range 5 {
		pub.Publish("cf/t", "queued", 1, uint16(i+1))
	}
	r := loomtest.Dial(t, addr, proto.V311)
	r.Send(&proto.Connect{ClientID: []byte("first"), Version: proto.V311})
	f := r.Frame()
	require.Equal(t, byte(0x20), f[0], "[MQTT-3.2.0-1 v3.1.1] first packet % x", f)
	require.Equal(t, "queued", string(r.ReadPublish().Payload))
}

func TestV311RefusedConnackNoSessionPresent(t *testing.T) {
	t.Parallel()
	// [MQTT-3.2.2-4 v3.1.1]: a refusing CONNACK has Session Present 0, even
	// for an id whose session the broker holds.
	_, addr := loomtest.Start(t, loom.Options{})
	c, _ := v311Connect(t, addr, "held", true)
	c.Subscribe("held/t", 1)
	c.Send(&proto.Disconnect{})
	c.ExpectClosed()

	// An unacceptable protocol level, code 0x01.
	r := loomtest.Dial(t, addr, proto.V311)
	r.Write((&proto.Connect{ClientID: []byte("held"), Version: 6}).Append(nil, 6))
	got := r.Rest()
	require.Len(t, got, 1)
	ack := got[0].(*proto.Connack)
	require.Equal(t, proto.V3UnacceptableProtocolVersion, ack.Reason)
	require.False(t, ack.SessionPresent, "[MQTT-3.2.2-4 v3.1.1]")

	// A broker that turns everyone away, code 0x03.
	_, addr2 := loomtest.Start(t, loom.Options{Capabilities: loom.Capabilities{Redirect: "elsewhere:1883"}})
	r = loomtest.Dial(t, addr2, proto.V311)
	r.Send(&proto.Connect{ClientID: []byte("held"), Version: proto.V311})
	got = r.Rest()
	require.Len(t, got, 1)
	ack = got[0].(*proto.Connack)
	require.NotEqual(t, proto.Success, ack.Reason)
	require.False(t, ack.SessionPresent, "[MQTT-3.2.2-4 v3.1.1]")

	// The held session is still there.
	_, ack = v311Connect(t, addr, "held", true)
	require.True(t, ack.SessionPresent)
}

func TestV311PublishAnsweredByQoS(t *testing.T) {
	t.Parallel()
	// [MQTT-3.3.4-1 v3.1.1]: QoS 0 gets nothing back, QoS 1 a PUBACK, QoS 2
	// a PUBREC, each with the PUBLISH's packet id.
	_, addr := loomtest.Start(t, loom.Options{})
	r, _ := v311Connect(t, addr, "p", false)
	r.Send(&proto.Publish{Topic: []byte("ans/t"), Payload: []byte("0")})
	r.Ping() // nothing came before the PINGRESP
	r.Send(&proto.Publish{Topic: []byte("ans/t"), Payload: []byte("1"), QoS: 1, PacketID: 0x1234})
	require.EqualValues(t, 0x1234, r.ReadAck(proto.PUBACK).PacketID)
	r.Send(&proto.Publish{Topic: []byte("ans/t"), Payload: []byte("2"), QoS: 2, PacketID: 0xBEEF})
	require.EqualValues(t, 0xBEEF, r.ReadAck(proto.PUBREC).PacketID)
	r.Ack(proto.PUBREL, 0xBEEF)
	require.EqualValues(t, 0xBEEF, r.ReadAck(proto.PUBCOMP).PacketID)
}

func TestV311OverlappingSubscriptions(t *testing.T) {
	t.Parallel()
	// [MQTT-3.3.5-1 v3.1.1]: a message matching several of a client's
	// subscriptions is delivered at the highest QoS among them (capped by
	// the message's own). Loom sends one copy per client.
	_, addr := loomtest.Start(t, loom.Options{})
	sub, _ := v311Connect(t, addr, "over", false)
	sub.Subscribe("ov/+", 0)
	sub.Subscribe("ov/#", 2)
	sub.Subscribe("ov/a", 1)
	pub, _ := v311Connect(t, addr, "pub", false)
	for i, pubQoS := range []byte{2, 1, 0} {
		pub.Publish("ov/a", "m", pubQoS, uint16(i+1))
		p := sub.ReadPublish()
		require.Equal(t, pubQoS, p.QoS, "[MQTT-3.3.5-1 v3.1.1]")
		switch p.QoS {
		case 1:
			sub.Ack(proto.PUBACK, p.PacketID)
		case 2:
			sub.Ack(proto.PUBREC, p.PacketID)
			sub.ReadAck(proto.PUBREL)
			sub.Ack(proto.PUBCOMP, p.PacketID)
		}
		sub.Ping() // one copy only
	}
}

func TestV311WildcardsDisabled(t *testing.T) {
	t.Parallel()
	// [MQTT-3.8.3-2 v3.1.1]: a broker that does not support wildcard
	// filters refuses each subscription that has one (0x80), and
	// [MQTT-3.8.4-1 v3.1.1] still answers the SUBSCRIBE with a SUBACK.
	_, addr := loomtest.Start(t, loom.Options{Capabilities: loom.Capabilities{DisableWildcards: true}})
	r, _ := v311Connect(t, addr, "nowild", false)
	r.Send(&proto.Subscribe{PacketID: 9, Subscriptions: []proto.Subscription{
		{Filter: []byte("w/+"), QoS: 1}, {Filter: []byte("w/t"), QoS: 1}, {Filter: []byte("#"), QoS: 0}, {Filter: []byte("w/#"), QoS: 2}}})
	ack := loomtest.Expect[*proto.Suback](r)
	require.EqualValues(t, 9, ack.PacketID)
	require.Equal(t, []proto.ReasonCode{proto.V3SubackFailure, 1, proto.V3SubackFailure, proto.V3SubackFailure}, ack.Reasons,
		"[MQTT-3.8.3-2 v3.1.1]")
	// Only the plain filter took effect.
	pub, _ := v311Connect(t, addr, "pub", false)
	pub.Publish("w/x", "wild", 0, 0)
	pub.Publish("w/t", "plain", 0, 0)
	require.Equal(t, "plain", string(r.ReadPublish().Payload))

	// A SUBSCRIBE refused in full still gets its SUBACK [MQTT-3.8.4-1 v3.1.1].
	r.Send(&proto.Subscribe{PacketID: 10, Subscriptions: []proto.Subscription{{Filter: []byte("+"), QoS: 0}}})
	ack = loomtest.Expect[*proto.Suback](r)
	require.EqualValues(t, 10, ack.PacketID)
	require.Equal(t, []proto.ReasonCode{proto.V3SubackFailure}, ack.Reasons)
}

func TestV311ResubscribeReplaces(t *testing.T) {
	t.Parallel()
	// [MQTT-3.8.4-3 v3.1.1]: a SUBSCRIBE with a filter the session already
	// has replaces that subscription (its QoS now; no second copy), sends
	// the retained messages again, and loses nothing published meanwhile.
	_, addr := loomtest.Start(t, loom.Options{})
	pub, _ := v311Connect(t, addr, "pub", false)
	pub.Send(&proto.Publish{Topic: []byte("rs/t"), Payload: []byte("retained"), Retain: true, QoS: 1, PacketID: 1})
	pub.ReadAck(proto.PUBACK)

	sub, _ := v311Connect(t, addr, "sub", false)
	sub.Subscribe("rs/t", 0)
	p := sub.ReadPublish()
	require.Equal(t, "retained", string(p.Payload))
	require.Zero(t, p.QoS)

	sub.Send(&proto.Subscribe{PacketID: 2, Subscriptions: []proto.Subscription{{Filter: []byte("rs/t"), QoS: 1}}})
	pub.Publish("rs/t", "live", 1, 2)
	var got []string
	for len(got) < 3 {
		p, err := sub.Next()
		require.NoError(t, err)
		switch p := p.(type) {
		case *proto.Suback:
			require.EqualValues(t, 2, p.PacketID)
			require.Equal(t, []proto.ReasonCode{1}, p.Reasons)
			got = append(got, "SUBACK")
		case *proto.Publish:
			// "live" races the SUBSCRIBE: it may still go through the
			// old QoS 0 subscription, but it must come exactly once.
			if string(p.Payload) == "retained" {
				require.EqualValues(t, 1, p.QoS, "[MQTT-3.8.4-3 v3.1.1] the new QoS applies")
			}
			got = append(got, string(p.Payload))
			if p.QoS == 1 {
				sub.Ack(proto.PUBACK, p.PacketID)
			}
		default:
			t.Fatalf("unexpected %T", p)
		}
	}
	require.ElementsMatch(t, []string{"SUBACK", "retained", "live"}, got, "[MQTT-3.8.4-3 v3.1.1]")
	// One subscription, at the new QoS, one copy.
	pub.Publish("rs/t", "once", 1, 3)
	p = sub.ReadPublish()
	require.Equal(t, "once", string(p.Payload))
	require.EqualValues(t, 1, p.QoS, "[MQTT-3.8.4-3 v3.1.1] the new QoS applies")
	sub.Ack(proto.PUBACK, p.PacketID)
	sub.Ping()
}

func TestV311SubscribeManyFilters(t *testing.T) {
	t.Parallel()
	// [MQTT-3.8.4-4 v3.1.1]: several filters in one SUBSCRIBE act as that
	// many SUBSCRIBEs in order (the later of two equal filters wins), with
	// one SUBACK holding a code for each.
	_, addr := loomtest.Start(t, loom.Options{})
	sub, _ := v311Connect(t, addr, "many", false)
	sub.Send(&proto.Subscribe{PacketID: 5, Subscriptions: []proto.Subscription{
		{Filter: []byte("mf/a"), QoS: 0}, {Filter: []byte("mf/b"), QoS: 1}, {Filter: []byte("mf/a"), QoS: 2}}})
	ack := loomtest.Expect[*proto.Suback](sub)
	require.EqualValues(t, 5, ack.PacketID)
	require.Equal(t, []proto.ReasonCode{0, 1, 2}, ack.Reasons, "[MQTT-3.8.4-4 v3.1.1]")

	pub, _ := v311Connect(t, addr, "pub", false)
	pub.Publish("mf/a", "a", 2, 1)
	pub.Publish("mf/b", "b", 2, 2)
	a, b := sub.ReadPublish(), sub.ReadPublish()
	require.Equal(t, "a", string(a.Payload))
	require.EqualValues(t, 2, a.QoS, "[MQTT-3.8.4-4 v3.1.1] the second mf/a replaced the first")
	require.Equal(t, "b", string(b.Payload))
	require.EqualValues(t, 1, b.QoS)
	sub.Ack(proto.PUBACK, b.PacketID)
	sub.Ack(proto.PUBREC, a.PacketID)
	sub.ReadAck(proto.PUBREL)
	sub.Ack(proto.PUBCOMP, a.PacketID)
	sub.Ping()
}

func TestV311UnsubscribeExactFilters(t *testing.T) {
	t.Parallel()
	// [MQTT-3.10.4-1 v3.1.1]: UNSUBSCRIBE filters are compared with the
	// session's character by character, wildcards included; only an equal
	// one is deleted. [MQTT-3.10.4-6 v3.1.1]: several filters act as that
	// many UNSUBSCRIBEs, answered by one UNSUBACK.
	_, addr := loomtest.Start(t, loom.Options{})
	sub, _ := v311Connect(t, addr, "uns", false)
	for _, f := range []string{"us/+", "us/a", "us/b", "us/c"} {
		sub.Subscribe(f, 0)
	}
	sub.Send(&proto.Unsubscribe{PacketID: 7, Filters: [][]byte{
		[]byte("us/a"),  // equal: deleted
		[]byte("us/#"),  // matches the topics, but is no subscription
		[]byte("US/+"),  // differs in case
		[]byte("us/b"),  // equal: deleted
		[]byte("us/+/"), // differs by a character
	}})
	require.EqualValues(t, 7, loomtest.Expect[*proto.Unsuback](sub).PacketID, "[MQTT-3.10.4-6 v3.1.1] one UNSUBACK")
	sub.Ping()

	// us/+ and us/c are left: a and b still come, through us/+.
	pub, _ := v311Connect(t, addr, "pub", false)
	for _, topic := range []string{"us/a", "us/b", "us/c"} {
		pub.Publish(topic, topic, 0, 0)
		require.Equal(t, topic, string(sub.ReadPublish().Payload), "[MQTT-3.10.4-1 v3.1.1] us/+ was deleted")
	}
	sub.Send(&proto.Unsubscribe{PacketID: 8, Filters: [][]byte{[]byte("us/+"), []byte("us/c")}})
	require.EqualValues(t, 8, loomtest.Expect[*proto.Unsuback](sub).PacketID)

	// [MQTT-3.10.4-2 v3.1.1]: no new message is added for a deleted
	// subscription. The marker comes through a subscription on the same
	// first level (one router shard, in order), so nothing else can follow.
	sub.Subscribe("us/marker", 0)
	for _, topic := range []string{"us/a", "us/b", "us/c"} {
		pub.Publish(topic, topic, 1, 1)
	}
	pub.Publish("us/marker", "marker", 1, 2)
	require.Equal(t, "marker", string(sub.ReadPublish().Payload), "[MQTT-3.10.4-2 v3.1.1]")
}

func TestV311UnsubscribeCompletesInflight(t *testing.T) {
	t.Parallel()
	// [MQTT-3.10.4-3 v3.1.1]: deliveries already begun at QoS 1 and 2 are
	// completed after their subscription is deleted: the PUBREL still
	// comes, and an unacknowledged PUBLISH is sent again on resume.
	_, addr := loomtest.Start(t, loom.Options{})
	sub, _ := v311Connect(t, addr, "inf", true)
	sub.Subscribe("inf/1", 1)
	sub.Subscribe("inf/2", 2)
	pub, _ := v311Connect(t, addr, "pub", false)
	pub.Publish("inf/1", "one", 1, 1)
	pub.Publish("inf/2", "two", 2, 2)
	one, two := sub.ReadPublish(), sub.ReadPublish()
	require.Equal(t, "one", string(one.Payload))
	require.Equal(t, "two", string(two.Payload))

	sub.Send(&proto.Unsubscribe{PacketID: 3, Filters: [][]byte{[]byte("inf/1"), []byte("inf/2")}})
	loomtest.Expect[*proto.Unsuback](sub)
	sub.Ack(proto.PUBREC, two.PacketID)
	require.Equal(t, two.PacketID, sub.ReadAck(proto.PUBREL).PacketID, "[MQTT-3.10.4-3 v3.1.1]")
	sub.Ack(proto.PUBCOMP, two.PacketID)
	// The broker handles a connection's packets in order: once the ping is
	// answered the PUBCOMP was taken, and the resumed session has only the
	// QoS 1 message in flight (otherwise the PUBREL would rightly come again).
	sub.Ping()

	_ = sub.Close()
	sub, ack := v311Connect(t, addr, "inf", true)
	require.True(t, ack.SessionPresent)
	p := sub.ReadPublish()
	require.Equal(t, "one", string(p.Payload), "[MQTT-3.10.4-3 v3.1.1]")
	require.Equal(t, one.PacketID, p.PacketID)
	require.True(t, p.Dup)
	sub.Ack(proto.PUBACK, p.PacketID)
	sub.Ping()
}

func TestV311TransientErrorClosesOnlyThatConnection(t *testing.T) {
	t.Parallel()
	// [MQTT-4.8.0-2 v3.1.1]: a packet the broker cannot take in (larger
	// than the buffer it allows a packet; 3.1.1 has no Maximum Packet
	// Size to announce it) is a transient error: that connection is
	// closed, and other clients go on undisturbed.
	_, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{MaxPacketSize: 1024}})
	other, _ := v311Connect(t, addr, "other", false)
	other.Subscribe("tr/t", 1)
	big, _ := v311Connect(t, addr, "big", false)
	big.Send(&proto.Publish{Topic: []byte("tr/t"), Payload: make([]byte, 4096), QoS: 1, PacketID: 1})
	big.ExpectClosed()

	pub, _ := v311Connect(t, addr, "pub", false)
	pub.Publish("tr/t", "fine", 1, 1)
	p := other.ReadPublish()
	require.Equal(t, "fine", string(p.Payload))
	other.Ack(proto.PUBACK, p.PacketID)
	other.Ping()
}
