package v311_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// TestV311QoSMatrix publishes at each QoS to subscriptions of each QoS
// through paho.mqtt.golang clients and checks the QoS each delivery has.
// An outbound window of one makes every QoS 1 and 2 delivery wait for the
// previous one's flow to finish (PUBACK, or PUBREC, PUBREL, PUBCOMP), so a
// flow the broker leaves open stops the deliveries after it.
func TestV311QoSMatrix(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{MaxInflight: 1}})
	in := pahotest.NewV3Inbox()
	sub, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-matrix-sub"))
	for s := byte(0); s <= 2; s++ {
		// [MQTT-3.8.4-5 v3.1.1] the SUBACK code is the granted QoS; Loom grants up to 2.
		require.Equal(t, s, pahotest.V3Subscribe(t, sub, fmt.Sprintf("matrix/sub%d", s), s, in))
	}
	pub, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-matrix-pub"))

	for p := byte(0); p <= 2; p++ {
		for s := byte(0); s <= 2; s++ {
			topic := fmt.Sprintf("matrix/sub%d", s)
			payload := fmt.Sprintf("published at %d to a QoS %d subscription", p, s)
			// The publish token completes only when the broker has answered:
			// PUBACK for QoS 1 [MQTT-4.3.2-2 v3.1.1], PUBREC then PUBCOMP for QoS 2
			// [MQTT-4.3.3-2 v3.1.1].
			pahotest.V3Publish(t, pub, topic, p, false, payload)
			// [MQTT-3.8.4-6 v3.1.1] delivered at the lower of the published and the
			// granted QoS; [MQTT-3.3.2-3 v3.1.1] under the topic it was published to.
			// Each case waits for its own message, so a duplicate of an
			// earlier one would show up here in its place.
			in.Expect(t, pahotest.V3Message{Topic: topic, Payload: payload, QoS: min(p, s)})
		}
	}
	// The last case's duplicate, if any, would come before this marker.
	pahotest.V3Publish(t, pub, "matrix/sub2", 2, false, "end")
	in.Expect(t, pahotest.V3Message{Topic: "matrix/sub2", Payload: "end", QoS: 2})
}

// TestV311Retained sets, replaces and deletes a retained message and checks
// what established and new subscriptions receive.
func TestV311Retained(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	const topic = "retain/t"
	pub, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-ret-pub"))
	live := pahotest.NewV3Inbox()
	liveSub, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-ret-live"))
	pahotest.V3Subscribe(t, liveSub, topic, 1, live)

	n := 0
	fresh := func() pahotest.V3Inbox {
		n++
		in := pahotest.NewV3Inbox()
		c, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, fmt.Sprintf("v3-ret-fresh-%d", n)))
		pahotest.V3Subscribe(t, c, topic, 1, in)
		return in
	}

	// Set.
	pahotest.V3Publish(t, pub, topic, 1, true, "first")
	// [MQTT-3.3.1-9 v3.1.1] an established subscription gets RETAIN 0.
	live.Expect(t, pahotest.V3Message{Topic: topic, Payload: "first", QoS: 1})
	// [MQTT-3.3.1-5 v3.1.1] stored with its QoS; [MQTT-3.3.1-6 v3.1.1] [MQTT-3.3.1-8 v3.1.1] sent to
	// a new subscription with RETAIN 1.
	fresh().Expect(t, pahotest.V3Message{Topic: topic, Payload: "first", QoS: 1, Retain: true})

	// Replace, at QoS 0: [MQTT-3.3.1-7 v3.1.1] the old one is discarded; Loom keeps
	// the new QoS 0 message as the spec recommends, and [MQTT-3.8.4-6 v3.1.1] sends
	// it at QoS 0 to the QoS 1 subscription.
	pahotest.V3Publish(t, pub, topic, 0, true, "second")
	live.Expect(t, pahotest.V3Message{Topic: topic, Payload: "second", QoS: 0})
	fresh().Expect(t, pahotest.V3Message{Topic: topic, Payload: "second", QoS: 0, Retain: true})

	// [MQTT-3.3.1-12 v3.1.1] RETAIN 0 neither stores nor removes the retained message.
	pahotest.V3Publish(t, pub, topic, 1, false, "plain")
	live.Expect(t, pahotest.V3Message{Topic: topic, Payload: "plain", QoS: 1})
	fresh().Expect(t, pahotest.V3Message{Topic: topic, Payload: "second", QoS: 0, Retain: true})

	// Delete: [MQTT-3.3.1-10 v3.1.1] a retained empty payload is delivered as usual
	// and removes the retained message; [MQTT-3.3.1-11 v3.1.1] it is not stored itself.
	pahotest.V3Publish(t, pub, topic, 1, true, "")
	live.Expect(t, pahotest.V3Message{Topic: topic, Payload: "", QoS: 1})
	after := fresh()
	// A retained message would be sent on SUBSCRIBE, before anything
	// published after the SUBACK on the same topic.
	pahotest.V3Publish(t, pub, topic, 1, false, "after delete")
	after.Expect(t, pahotest.V3Message{Topic: topic, Payload: "after delete", QoS: 1})
}

// TestV311WillOnAbruptClose cuts a client's TCP connection without a
// DISCONNECT and checks its will is published, retained or not as asked.
func TestV311WillOnAbruptClose(t *testing.T) {
	for _, retain := range []bool{false, true} {
		t.Run(fmt.Sprintf("retain=%v", retain), func(t *testing.T) {
			_, addr := loomtest.Start(t, loom.Options{})
			const topic = "will/abrupt"
			watch := pahotest.NewV3Inbox()
			watcher, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-will-watch"))
			pahotest.V3Subscribe(t, watcher, "will/+", 2, watch)

			conns := make(chan net.Conn, 1)
			o := pahotest.V3Options(addr, "v3-will-client").
				SetWill(topic, "gone", 1, retain).
				SetCustomOpenConnectionFn(pahotest.V3DialKeep(conns))
			pahotest.V3Connect(t, o)
			require.NoError(t, (<-conns).Close())

			// [MQTT-3.1.2-8 v3.1.1] the will is published when the connection closes
			// without DISCONNECT; at its own QoS; [MQTT-3.3.1-9 v3.1.1] with RETAIN 0
			// to an established subscription.
			watch.Expect(t, pahotest.V3Message{Topic: topic, Payload: "gone", QoS: 1})

			late := pahotest.NewV3Inbox()
			lateSub, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-will-late"))
			pahotest.V3Subscribe(t, lateSub, topic, 2, late)
			if retain {
				// [MQTT-3.1.2-17 v3.1.1] Will Retain 1: published as a retained message.
				late.Expect(t, pahotest.V3Message{Topic: topic, Payload: "gone", QoS: 1, Retain: true})
				return
			}
			// [MQTT-3.1.2-16 v3.1.1] Will Retain 0: not retained, so the first thing
			// the late subscriber sees is a message published after it
			// subscribed.
			pahotest.V3Publish(t, watcher, topic, 1, false, "marker")
			late.Expect(t, pahotest.V3Message{Topic: topic, Payload: "marker", QoS: 1})
		})
	}
}

// TestV311NoWillAfterDisconnect checks a client that ends with DISCONNECT
// leaves no will behind.
func TestV311NoWillAfterDisconnect(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	const topic = "will/clean"
	watch := pahotest.NewV3Inbox()
	watcher, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-nowill-watch"))
	pahotest.V3Subscribe(t, watcher, "will/+", 1, watch)

	c, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-nowill-client").SetWill(topic, "should not appear", 1, false))
	c.Disconnect(250)
	// Its clean session is dropped as the connection closes, just before a
	// will would be routed.
	loomtest.Eventually(t, "the disconnected client's session to end", func() bool { return srv.Stats().Sessions == 1 })

	// [MQTT-3.1.2-10 v3.1.1] [MQTT-3.14.4-3 v3.1.1] DISCONNECT discards the will. A will
	// would be routed as the connection closed, before this marker on the
	// same topic, so the marker must be the first message.
	pahotest.V3Publish(t, watcher, topic, 1, false, "marker")
	watch.Expect(t, pahotest.V3Message{Topic: topic, Payload: "marker", QoS: 1})
}

// TestV311Takeover connects a second client with the id of a connected one.
func TestV311Takeover(t *testing.T) {
	t.Run("clean session", func(t *testing.T) {
		_, addr := loomtest.Start(t, loom.Options{})
		watch := pahotest.NewV3Inbox()
		watcher, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-twin-watch"))
		pahotest.V3Subscribe(t, watcher, "twin/will", 1, watch)
		lost := make(chan error, 1)
		first, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-twin").
			SetWill("twin/will", "first lost", 1, false).
			SetConnectionLostHandler(func(_ mqtt3.Client, err error) { lost <- err }))
		second, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-twin"))

		// [MQTT-3.1.4-2 v3.1.1] the broker disconnects the client already connected
		// with that id.
		select {
		case <-lost:
		case <-time.After(loomtest.Wait):
			t.Fatal("the first client kept its connection")
		}
		require.False(t, first.IsConnectionOpen())
		// [MQTT-3.1.2-8 v3.1.1] its connection closed without DISCONNECT, so its
		// will is published.
		watch.Expect(t, pahotest.V3Message{Topic: "twin/will", Payload: "first lost", QoS: 1})

		// The newcomer holds a working connection.
		in := pahotest.NewV3Inbox()
		pahotest.V3Subscribe(t, second, "twin/t", 1, in)
		pahotest.V3Publish(t, second, "twin/t", 1, false, "still here")
		in.Expect(t, pahotest.V3Message{Topic: "twin/t", Payload: "still here", QoS: 1})
	})

	t.Run("persistent session", func(t *testing.T) {
		_, addr := loomtest.Start(t, loom.Options{})
		lost := make(chan error, 1)
		first, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-twin").SetCleanSession(false).
			SetConnectionLostHandler(func(_ mqtt3.Client, err error) { lost <- err }))
		pahotest.V3Subscribe(t, first, "twin/t", 1, pahotest.NewV3Inbox())

		in := pahotest.NewV3Inbox()
		second, present := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-twin").SetCleanSession(false).
			SetDefaultPublishHandler(in.Handle))
		// [MQTT-3.2.2-2 v3.1.1] the session lives on and is handed to the newcomer.
		require.True(t, present)
		select {
		case <-lost: // [MQTT-3.1.4-2 v3.1.1]
		case <-time.After(loomtest.Wait):
			t.Fatal("the first client kept its connection")
		}
		// [MQTT-3.1.2-4 v3.1.1] the first connection's subscription now delivers to
		// the second, which never subscribed.
		pub, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-twin-pub"))
		pahotest.V3Publish(t, pub, "twin/t", 1, false, "for the session")
		in.Expect(t, pahotest.V3Message{Topic: "twin/t", Payload: "for the session", QoS: 1})
		require.True(t, second.IsConnectionOpen())
	})
}

// TestMQTT31 connects with protocol name "MQIsdp" and level 3, from a raw
// client and from paho.mqtt.golang, and exchanges messages both ways.
func TestMQTT31(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})

	// paho.mqtt.golang speaking 3.1.
	in := pahotest.NewV3Inbox()
	paho31, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v31-paho").SetProtocolVersion(3))
	pahotest.V3Subscribe(t, paho31, "v31/to-paho", 2, in)

	// A raw 3.1 client. [MQTT-3.1.2-2 v3.1.1] the broker supports this level, so
	// it accepts the connection: [MQTT-3.1.4-4 v3.1.1] CONNACK 0.
	r := loomtest.Dial(t, addr, proto.V31)
	r.Send(&proto.Connect{Version: proto.V31, CleanStart: true, KeepAlive: 30, ClientID: []byte("v31-raw")})
	ack := loomtest.Expect[*proto.Connack](r)
	require.Equal(t, proto.V3Accepted, ack.Reason)
	require.False(t, ack.SessionPresent) // [MQTT-3.2.2-1 v3.1.1]

	r.Send(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("v31/to-raw"), QoS: 1}}})
	sa := loomtest.Expect[*proto.Suback](r)
	require.Equal(t, uint16(1), sa.PacketID) // [MQTT-2.3.1-7 v3.1.1]
	require.Equal(t, []proto.ReasonCode{1}, sa.Reasons)

	// paho 3.1 → raw 3.1, QoS 2 published, QoS 1 granted [MQTT-3.8.4-6 v3.1.1].
	pahotest.V3Publish(t, paho31, "v31/to-raw", 2, false, "hello raw")
	p := loomtest.Expect[*proto.Publish](r)
	require.Equal(t, "v31/to-raw", string(p.Topic))
	require.Equal(t, "hello raw", string(p.Payload))
	require.Equal(t, byte(1), p.QoS)
	require.False(t, p.Dup)
	r.Send(&proto.Ack{Type: proto.PUBACK, PacketID: p.PacketID})

	// raw 3.1 → paho 3.1 at QoS 2, the whole exchange by hand:
	// PUBLISH → PUBREC, PUBREL → PUBCOMP [MQTT-4.3.3-2 v3.1.1].
	r.Send(&proto.Publish{QoS: 2, PacketID: 7, Topic: []byte("v31/to-paho"), Payload: []byte("hello paho")})
	rec := loomtest.Expect[*proto.Ack](r)
	require.Equal(t, proto.PUBREC, rec.Type)
	require.Equal(t, uint16(7), rec.PacketID) // [MQTT-2.3.1-6 v3.1.1]
	r.Send(&proto.Ack{Type: proto.PUBREL, PacketID: 7})
	comp := loomtest.Expect[*proto.Ack](r)
	require.Equal(t, proto.PUBCOMP, comp.Type)
	require.Equal(t, uint16(7), comp.PacketID)
	in.Expect(t, pahotest.V3Message{Topic: "v31/to-paho", Payload: "hello paho", QoS: 2})

	// A 3.1.1 client shares the broker with both.
	v311, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v311-beside-v31"))
	pahotest.V3Publish(t, v311, "v31/to-paho", 1, false, "from 3.1.1")
	in.Expect(t, pahotest.V3Message{Topic: "v31/to-paho", Payload: "from 3.1.1", QoS: 1})

	r.Send(&proto.Ping{Type: proto.PINGREQ})
	require.Equal(t, proto.PINGRESP, loomtest.Expect[*proto.Ping](r).Type) // [MQTT-3.12.4-1 v3.1.1]
	r.Send(&proto.Disconnect{})
	r.ExpectClosed()
}

// TestV5PublisherToV311Subscriber sends messages with v5 properties from a
// paho.golang client to a paho.mqtt.golang 3.1.1 subscriber: 3.1.1 has no
// properties, so the broker must leave them out of the 3.1.1 encoding.
func TestV5PublisherToV311Subscriber(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	in := pahotest.NewV3Inbox()
	sub, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-mixed-sub"))
	pahotest.V3Subscribe(t, sub, "mixed/+", 2, in)

	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	pub := paho.NewClient(paho.ClientConfig{ClientID: "v5-mixed-pub", Conn: loomtest.Dial(t, addr, proto.V5).NetConn()})
	ack, err := pub.Connect(ctx, &paho.Connect{ClientID: "v5-mixed-pub", CleanStart: true, KeepAlive: 30})
	require.NoError(t, err)
	require.Equal(t, byte(0), ack.ReasonCode)
	defer func() { _ = pub.Disconnect(&paho.Disconnect{}) }()

	utf8 := byte(1)
	expiry := uint32(600)
	for q := byte(0); q <= 2; q++ {
		payload := fmt.Sprintf("v5 at QoS %d", q)
		_, err := pub.Publish(ctx, &paho.Publish{
			Topic: "mixed/x", QoS: q, Payload: []byte(payload),
			Properties: &paho.PublishProperties{
				User:            paho.UserProperties{{Key: "k", Value: "v"}},
				ContentType:     "text/plain",
				ResponseTopic:   "mixed/reply",
				CorrelationData: []byte{1, 2, 3},
				PayloadFormat:   &utf8,
				MessageExpiry:   &expiry,
			},
		})
		require.NoError(t, err)
		// A property block in the 3.1.1 PUBLISH would be read as the start of
		// the payload, so an exact payload shows there is none; the topic and
		// QoS follow [MQTT-3.3.2-3 v3.1.1] [MQTT-3.8.4-6 v3.1.1].
		in.Expect(t, pahotest.V3Message{Topic: "mixed/x", Payload: payload, QoS: q})
	}
}

// TestV311PeerResetWhileBrokerWrites has clients send a burst of PINGREQs
// and reset the connection at once, so the broker's PINGRESP writes fail
// while it is flushing. A failed write closes the connection inside the
// write call; the broker must survive that, publish each will and keep
// serving.
func TestV311PeerResetWhileBrokerWrites(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	watch := pahotest.NewV3Inbox()
	watcher, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-reset-watch"))
	pahotest.V3Subscribe(t, watcher, "reset/+", 0, watch)

	burst := make([]byte, 0, 2*50000)
	for range 50000 {
		burst = append(burst, 0xC0, 0) // PINGREQ
	}
	const clients = 10
	for i := range clients {
		r := loomtest.Dial(t, addr, proto.V311)
		r.Send(&proto.Connect{CleanStart: true, KeepAlive: 30, ClientID: fmt.Appendf(nil, "v3-reset-%d", i),
			WillTopic: []byte("reset/will"), WillPayload: fmt.Appendf(nil, "%d", i)})
		require.Equal(t, proto.V3Accepted, loomtest.Expect[*proto.Connack](r).Reason)
		_, _ = r.NetConn().Write(burst)
		// Linger 0: close with RST, so the broker's next write fails.
		require.NoError(t, r.NetConn().(*net.TCPConn).SetLinger(0))
		require.NoError(t, r.Close())
	}

	// [MQTT-3.1.2-8 v3.1.1] every connection closed without DISCONNECT: one will each.
	got := map[string]bool{}
	for range clients {
		got[string(watch.Next(t).Payload())] = true
	}
	require.Len(t, got, clients)
	loomtest.Eventually(t, "the reset connections to close", func() bool { return srv.Stats().OpenConnections == 1 })
	after, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "v3-reset-after"))
	pahotest.V3Publish(t, after, "reset/after", 1, false, "still serving")
	watch.Expect(t, pahotest.V3Message{Topic: "reset/after", Payload: "still serving", QoS: 0})
}
