package loom_test

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
)

// TestV311QoSMatrix publishes at each QoS to subscriptions of each QoS
// through paho.mqtt.golang clients and checks the QoS each delivery has.
// An outbound window of one makes every QoS 1 and 2 delivery wait for the
// previous one's flow to finish (PUBACK, or PUBREC, PUBREL, PUBCOMP), so a
// flow the broker leaves open stops the deliveries after it.
func TestV311QoSMatrix(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{MaxInflight: 1}})
	in := newV3Inbox()
	sub, _ := v3Connect(t, v3Options(addr, "v3-matrix-sub"))
	for s := byte(0); s <= 2; s++ {
		// [MQTT-3.8.4-5 v3.1.1] the SUBACK code is the granted QoS; Loom grants up to 2.
		require.Equal(t, s, v3Subscribe(t, sub, fmt.Sprintf("matrix/sub%d", s), s, in))
	}
	pub, _ := v3Connect(t, v3Options(addr, "v3-matrix-pub"))

	for p := byte(0); p <= 2; p++ {
		for s := byte(0); s <= 2; s++ {
			topic := fmt.Sprintf("matrix/sub%d", s)
			payload := fmt.Sprintf("published at %d to a QoS %d subscription", p, s)
			// The publish token completes only when the broker has answered:
			// PUBACK for QoS 1 [MQTT-4.3.2-2 v3.1.1], PUBREC then PUBCOMP for QoS 2
			// [MQTT-4.3.3-2 v3.1.1].
			v3Publish(t, pub, topic, p, false, payload)
			// [MQTT-3.8.4-6 v3.1.1] delivered at the lower of the published and the
			// granted QoS; [MQTT-3.3.2-3 v3.1.1] under the topic it was published to.
			// Each case waits for its own message, so a duplicate of an
			// earlier one would show up here in its place.
			in.expect(t, v3Message{topic: topic, payload: payload, qos: min(p, s)})
		}
	}
	// The last case's duplicate, if any, would come before this marker.
	v3Publish(t, pub, "matrix/sub2", 2, false, "end")
	in.expect(t, v3Message{topic: "matrix/sub2", payload: "end", qos: 2})
}

// TestV311Retained sets, replaces and deletes a retained message and checks
// what established and new subscriptions receive.
func TestV311Retained(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	const topic = "retain/t"
	pub, _ := v3Connect(t, v3Options(addr, "v3-ret-pub"))
	live := newV3Inbox()
	liveSub, _ := v3Connect(t, v3Options(addr, "v3-ret-live"))
	v3Subscribe(t, liveSub, topic, 1, live)

	n := 0
	fresh := func() v3Inbox {
		n++
		in := newV3Inbox()
		c, _ := v3Connect(t, v3Options(addr, fmt.Sprintf("v3-ret-fresh-%d", n)))
		v3Subscribe(t, c, topic, 1, in)
		return in
	}

	// Set.
	v3Publish(t, pub, topic, 1, true, "first")
	// [MQTT-3.3.1-9 v3.1.1] an established subscription gets RETAIN 0.
	live.expect(t, v3Message{topic: topic, payload: "first", qos: 1})
	// [MQTT-3.3.1-5 v3.1.1] stored with its QoS; [MQTT-3.3.1-6 v3.1.1] [MQTT-3.3.1-8 v3.1.1] sent to
	// a new subscription with RETAIN 1.
	fresh().expect(t, v3Message{topic: topic, payload: "first", qos: 1, retain: true})

	// Replace, at QoS 0: [MQTT-3.3.1-7 v3.1.1] the old one is discarded; Loom keeps
	// the new QoS 0 message as the spec recommends, and [MQTT-3.8.4-6 v3.1.1] sends
	// it at QoS 0 to the QoS 1 subscription.
	v3Publish(t, pub, topic, 0, true, "second")
	live.expect(t, v3Message{topic: topic, payload: "second", qos: 0})
	fresh().expect(t, v3Message{topic: topic, payload: "second", qos: 0, retain: true})

	// [MQTT-3.3.1-12 v3.1.1] RETAIN 0 neither stores nor removes the retained message.
	v3Publish(t, pub, topic, 1, false, "plain")
	live.expect(t, v3Message{topic: topic, payload: "plain", qos: 1})
	fresh().expect(t, v3Message{topic: topic, payload: "second", qos: 0, retain: true})

	// Delete: [MQTT-3.3.1-10 v3.1.1] a retained empty payload is delivered as usual
	// and removes the retained message; [MQTT-3.3.1-11 v3.1.1] it is not stored itself.
	v3Publish(t, pub, topic, 1, true, "")
	live.expect(t, v3Message{topic: topic, payload: "", qos: 1})
	after := fresh()
	// A retained message would be sent on SUBSCRIBE, before anything
	// published after the SUBACK on the same topic.
	v3Publish(t, pub, topic, 1, false, "after delete")
	after.expect(t, v3Message{topic: topic, payload: "after delete", qos: 1})
}

// TestV311WillOnAbruptClose cuts a client's TCP connection without a
// DISCONNECT and checks its will is published, retained or not as asked.
func TestV311WillOnAbruptClose(t *testing.T) {
	for _, retain := range []bool{false, true} {
		t.Run(fmt.Sprintf("retain=%v", retain), func(t *testing.T) {
			_, addr := loomtest.Start(t, loom.Options{})
			const topic = "will/abrupt"
			watch := newV3Inbox()
			watcher, _ := v3Connect(t, v3Options(addr, "v3-will-watch"))
			v3Subscribe(t, watcher, "will/+", 2, watch)

			conns := make(chan net.Conn, 1)
			o := v3Options(addr, "v3-will-client").
				SetWill(topic, "gone", 1, retain).
				SetCustomOpenConnectionFn(v3DialKeep(conns))
			v3Connect(t, o)
			require.NoError(t, (<-conns).Close())

			// [MQTT-3.1.2-8 v3.1.1] the will is published when the connection closes
			// without DISCONNECT; at its own QoS; [MQTT-3.3.1-9 v3.1.1] with RETAIN 0
			// to an established subscription.
			watch.expect(t, v3Message{topic: topic, payload: "gone", qos: 1})

			late := newV3Inbox()
			lateSub, _ := v3Connect(t, v3Options(addr, "v3-will-late"))
			v3Subscribe(t, lateSub, topic, 2, late)
			if retain {
				// [MQTT-3.1.2-17 v3.1.1] Will Retain 1: published as a retained message.
				late.expect(t, v3Message{topic: topic, payload: "gone", qos: 1, retain: true})
				return
			}
			// [MQTT-3.1.2-16 v3.1.1] Will Retain 0: not retained, so the first thing
			// the late subscriber sees is a message published after it
			// subscribed.
			v3Publish(t, watcher, topic, 1, false, "marker")
			late.expect(t, v3Message{topic: topic, payload: "marker", qos: 1})
		})
	}
}

// TestV311NoWillAfterDisconnect checks a client that ends with DISCONNECT
// leaves no will behind.
func TestV311NoWillAfterDisconnect(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	const topic = "will/clean"
	watch := newV3Inbox()
	watcher, _ := v3Connect(t, v3Options(addr, "v3-nowill-watch"))
	v3Subscribe(t, watcher, "will/+", 1, watch)

	c, _ := v3Connect(t, v3Options(addr, "v3-nowill-client").SetWill(topic, "should not appear", 1, false))
	c.Disconnect(250)
	// Its clean session is dropped as the connection closes, just before a
	// will would be routed.
	loomtest.Eventually(t, "the disconnected client's session to end", func() bool { return srv.Stats().Sessions == 1 })

	// [MQTT-3.1.2-10 v3.1.1] [MQTT-3.14.4-3 v3.1.1] DISCONNECT discards the will. A will
	// would be routed as the connection closed, before this marker on the
	// same topic, so the marker must be the first message.
	v3Publish(t, watcher, topic, 1, false, "marker")
	watch.expect(t, v3Message{topic: topic, payload: "marker", qos: 1})
}

// TestV311Takeover connects a second client with the id of a connected one.
func TestV311Takeover(t *testing.T) {
	t.Run("clean session", func(t *testing.T) {
		_, addr := loomtest.Start(t, loom.Options{})
		watch := newV3Inbox()
		watcher, _ := v3Connect(t, v3Options(addr, "v3-twin-watch"))
		v3Subscribe(t, watcher, "twin/will", 1, watch)
		lost := make(chan error, 1)
		first, _ := v3Connect(t, v3Options(addr, "v3-twin").
			SetWill("twin/will", "first lost", 1, false).
			SetConnectionLostHandler(func(_ mqtt3.Client, err error) { lost <- err }))
		second, _ := v3Connect(t, v3Options(addr, "v3-twin"))

		// [MQTT-3.1.4-2 v3.1.1] the broker disconnects the client already connected
		// with that id.
		select {
		case <-lost:
		case <-time.After(v3Wait):
			t.Fatal("the first client kept its connection")
		}
		require.False(t, first.IsConnectionOpen())
		// [MQTT-3.1.2-8 v3.1.1] its connection closed without DISCONNECT, so its
		// will is published.
		watch.expect(t, v3Message{topic: "twin/will", payload: "first lost", qos: 1})

		// The newcomer holds a working connection.
		in := newV3Inbox()
		v3Subscribe(t, second, "twin/t", 1, in)
		v3Publish(t, second, "twin/t", 1, false, "still here")
		in.expect(t, v3Message{topic: "twin/t", payload: "still here", qos: 1})
	})

	t.Run("persistent session", func(t *testing.T) {
		_, addr := loomtest.Start(t, loom.Options{})
		lost := make(chan error, 1)
		first, _ := v3Connect(t, v3Options(addr, "v3-twin").SetCleanSession(false).
			SetConnectionLostHandler(func(_ mqtt3.Client, err error) { lost <- err }))
		v3Subscribe(t, first, "twin/t", 1, newV3Inbox())

		in := newV3Inbox()
		second, present := v3Connect(t, v3Options(addr, "v3-twin").SetCleanSession(false).
			SetDefaultPublishHandler(in.handle))
		// [MQTT-3.2.2-2 v3.1.1] the session lives on and is handed to the newcomer.
		require.True(t, present)
		select {
		case <-lost: // [MQTT-3.1.4-2 v3.1.1]
		case <-time.After(v3Wait):
			t.Fatal("the first client kept its connection")
		}
		// [MQTT-3.1.2-4 v3.1.1] the first connection's subscription now delivers to
		// the second, which never subscribed.
		pub, _ := v3Connect(t, v3Options(addr, "v3-twin-pub"))
		v3Publish(t, pub, "twin/t", 1, false, "for the session")
		in.expect(t, v3Message{topic: "twin/t", payload: "for the session", qos: 1})
		require.True(t, second.IsConnectionOpen())
	})
}

// TestMQTT31 connects with protocol name "MQIsdp" and level 3, from a raw
// client and from paho.mqtt.golang, and exchanges messages both ways.
func TestMQTT31(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})

	// paho.mqtt.golang speaking 3.1.
	in := newV3Inbox()
	paho31, _ := v3Connect(t, v3Options(addr, "v31-paho").SetProtocolVersion(3))
	v3Subscribe(t, paho31, "v31/to-paho", 2, in)

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
	v3Publish(t, paho31, "v31/to-raw", 2, false, "hello raw")
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
	in.expect(t, v3Message{topic: "v31/to-paho", payload: "hello paho", qos: 2})

	// A 3.1.1 client shares the broker with both.
	v311, _ := v3Connect(t, v3Options(addr, "v311-beside-v31"))
	v3Publish(t, v311, "v31/to-paho", 1, false, "from 3.1.1")
	in.expect(t, v3Message{topic: "v31/to-paho", payload: "from 3.1.1", qos: 1})

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
	in := newV3Inbox()
	sub, _ := v3Connect(t, v3Options(addr, "v3-mixed-sub"))
	v3Subscribe(t, sub, "mixed/+", 2, in)

	ctx, cancel := context.WithTimeout(context.Background(), v3Wait)
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
		in.expect(t, v3Message{topic: "mixed/x", payload: payload, qos: q})
	}
}

// TestV311PeerResetWhileBrokerWrites has clients send a burst of PINGREQs
// and reset the connection at once, so the broker's PINGRESP writes fail
// while it is flushing. A failed write closes the connection inside the
// write call; the broker must survive that, publish each will and keep
// serving.
func TestV311PeerResetWhileBrokerWrites(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	watch := newV3Inbox()
	watcher, _ := v3Connect(t, v3Options(addr, "v3-reset-watch"))
	v3Subscribe(t, watcher, "reset/+", 0, watch)

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
		got[string(watch.next(t).Payload())] = true
	}
	require.Len(t, got, clients)
	loomtest.Eventually(t, "the reset connections to close", func() bool { return srv.Stats().OpenConnections == 1 })
	after, _ := v3Connect(t, v3Options(addr, "v3-reset-after"))
	v3Publish(t, after, "reset/after", 1, false, "still serving")
	watch.expect(t, v3Message{topic: "reset/after", payload: "still serving", qos: 0})
}
