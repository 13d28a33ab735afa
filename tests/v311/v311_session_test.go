package v311_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// TestV311PersistentSession leaves a Clean Session 0 client offline while
// QoS 1 and 2 messages are published to its subscription, and reconnects it.
func TestV311PersistentSession(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	const topic = "persist/t"

	c1, present := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-persist").SetCleanSession(false))
	require.False(t, present) // [MQTT-3.2.2-3 v3.1.1] no session was stored yet
	pahotest.V3Subscribe(t, c1, topic, 1, pahotest.NewV3Inbox())
	c1.Disconnect(250)
	loomtest.Eventually(t, "the persistent client's connection to close", func() bool { return srv.Stats().OpenConnections == 0 })

	pub, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-persist-pub"))
	want := []pahotest.V3Message{
		{Topic: topic, Payload: "queued 1", QoS: 1},
		{Topic: topic, Payload: "queued 2", QoS: 1},
		{Topic: topic, Payload: "queued 3", QoS: 1},
		// Published at 2, held for a QoS 1 subscription [MQTT-3.8.4-6 v3.1.1].
		{Topic: topic, Payload: "queued at 2", QoS: 1},
	}
	for i, m := range want {
		qos := byte(1)
		if i == len(want)-1 {
			qos = 2
		}
		pahotest.V3Publish(t, pub, topic, qos, false, m.Payload)
	}

	// The reconnecting client has not subscribed on this connection: what
	// arrives comes from the session, through the default handler.
	in := pahotest.NewV3Inbox()
	c2, present := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-persist").SetCleanSession(false).SetDefaultPublishHandler(in.Handle))
	// [MQTT-3.2.2-2 v3.1.1] the broker held the session.
	require.True(t, present)
	// [MQTT-3.1.2-5 v3.1.1] the QoS 1 and 2 messages published while it was away
	// were stored with the session [MQTT-4.5.0-1 v3.1.1] and now arrive, in the
	// order published [MQTT-4.6.0-6 v3.1.1].
	for _, m := range want {
		in.Expect(t, m)
	}
	// [MQTT-3.1.2-4 v3.1.1] the subscription is part of the resumed session.
	pahotest.V3Publish(t, pub, topic, 1, false, "live")
	in.Expect(t, pahotest.V3Message{Topic: topic, Payload: "live", QoS: 1})
	require.True(t, c2.IsConnectionOpen())
}

// TestV311CleanSessionDiscards reconnects a client that had a stored
// session with Clean Session 1.
func TestV311CleanSessionDiscards(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	const topic = "clean/t"
	const marker = "clean/marker"

	c1, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-clean").SetCleanSession(false))
	pahotest.V3Subscribe(t, c1, topic, 1, pahotest.NewV3Inbox())
	c1.Disconnect(250)
	loomtest.Eventually(t, "the persistent client's connection to close", func() bool { return srv.Stats().OpenConnections == 0 })

	pub, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-clean-pub"))
	pahotest.V3Publish(t, pub, topic, 1, false, "queued while away")

	in := pahotest.NewV3Inbox()
	c2, present := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-clean").SetCleanSession(true).SetDefaultPublishHandler(in.Handle))
	// [MQTT-3.2.2-1 v3.1.1] Clean Session 1 is answered with Session Present 0.
	require.False(t, present)
	pahotest.V3Subscribe(t, c2, marker, 1, in)

	// [MQTT-3.1.2-6 v3.1.1] the old session is gone: neither the queued message
	// (it would come right after CONNACK) nor the old subscription (its
	// topic has the same first level as the marker's, so the same router
	// shard keeps the two publishes in order) reach the client before the
	// marker.
	pahotest.V3Publish(t, pub, topic, 1, false, "to the old subscription")
	pahotest.V3Publish(t, pub, marker, 1, false, "marker")
	in.Expect(t, pahotest.V3Message{Topic: marker, Payload: "marker", QoS: 1})

	// [MQTT-3.1.2-6 v3.1.1] the clean session lasted as long as its connection:
	// nothing is stored once it closes.
	c2.Disconnect(250)
	loomtest.Eventually(t, "the clean client's session to end", func() bool { return srv.Stats().Sessions == 1 })
	_, present = pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-clean").SetCleanSession(false))
	require.False(t, present) // [MQTT-3.2.2-3 v3.1.1]
}

// TestV311EmptyClientID sends CONNECT with a zero-length client id by hand,
// since paho.mqtt.golang will not do so with Clean Session 0.
func TestV311EmptyClientID(t *testing.T) {
	t.Run("clean session 0 is refused", func(t *testing.T) {
		_, addr := loomtest.Start(t, loom.Options{})
		r := loomtest.Dial(t, addr, proto.V311)
		r.Send(&proto.Connect{CleanStart: false, KeepAlive: 30})
		ack := loomtest.Expect[*proto.Connack](r)
		// [MQTT-3.1.3-8 v3.1.1] CONNACK 0x02 "identifier rejected";
		// [MQTT-3.2.2-4 v3.1.1] with Session Present 0.
		require.Equal(t, proto.V3IdentifierRejected, ack.Reason)
		require.False(t, ack.SessionPresent)
		// [MQTT-3.2.2-5 v3.1.1] then the connection is closed.
		r.ExpectClosed()
	})

	t.Run("clean session 1 is accepted", func(t *testing.T) {
		srv, addr := loomtest.Start(t, loom.Options{})
		// Two anonymous clients at once: each must get its own id
		// [MQTT-3.1.3-6 v3.1.1], or the second would take the first's place.
		var rs []*loomtest.Client
		for range 2 {
			r := loomtest.Dial(t, addr, proto.V311)
			r.Send(&proto.Connect{CleanStart: true, KeepAlive: 30})
			ack := loomtest.Expect[*proto.Connack](r)
			require.Equal(t, proto.V3Accepted, ack.Reason) // [MQTT-3.1.4-4 v3.1.1]
			require.False(t, ack.SessionPresent)           // [MQTT-3.2.2-1 v3.1.1]
			rs = append(rs, r)
		}
		require.Equal(t, 2, srv.Stats().Sessions)
		for i, r := range rs {
			r.Send(&proto.Subscribe{PacketID: uint16(i + 1), Subscriptions: []proto.Subscription{{Filter: []byte("anon/t"), QoS: 1}}})
			require.Equal(t, []proto.ReasonCode{1}, loomtest.Expect[*proto.Suback](r).Reasons)
		}
		pub, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-anon-pub"))
		pahotest.V3Publish(t, pub, "anon/t", 1, false, "to both")
		for i, r := range rs {
			p := loomtest.Expect[*proto.Publish](r)
			require.Equal(t, "to both", string(p.Payload), fmt.Sprintf("client %d", i))
			r.Send(&proto.Ack{Type: proto.PUBACK, PacketID: p.PacketID})
		}
	})
}
