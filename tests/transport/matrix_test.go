package transport_test

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	mqtt3 "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// flow is one of the core flows, run against a broker that has a listener
// of the row's kind, through the endpoint of that listener.
type flow struct {
	name string
	run  func(t *testing.T, b *broker, e *endpoint)
}

// TestMatrix runs the core flows (QoS 0, 1 and 2, a retained message, a
// will, a session taken over, a persistent session) over each kind of
// listener, in MQTT 5 with paho.golang and in 3.1.1 with paho.mqtt.golang.
// Each flow has a broker of its own, so that what it waits for (no
// connection left) is its own doing. The mtls row also checks that the
// listener refuses clients without the right certificate.
func TestMatrix(t *testing.T) {
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			for _, v := range []struct {
				name  string
				flows []flow
			}{{"v5", v5Flows}, {"v311", v3Flows}} {
				t.Run(v.name, func(t *testing.T) {
					for _, f := range v.flows {
						t.Run(f.name, func(t *testing.T) {
							b := startBroker(t, kind)
							f.run(t, b, b.ep(kind))
						})
					}
				})
			}
			if kind == kMTLS {
				t.Run("refused", func(t *testing.T) {
					b := startBroker(t, kind)
					mtlsRefused(t, b.ep(kind))
				})
			}
		})
	}
}

// bigPayload is larger than a TLS record (16 KiB) and than the buffers
// either side reads with, so it crosses record and frame boundaries.
var bigPayload = bytes.Repeat([]byte("0123456789abcdef"), 12*1024)

var v5Flows = []flow{
	{"qos", func(t *testing.T, _ *broker, e *endpoint) {
		const topic = "matrix/qos"
		sub, _ := connectV5(t, e, pahotest.V5Conf{ID: "qos-sub"})
		sub.Sub(t, paho.SubscribeOptions{Topic: topic, QoS: 2})
		pub, _ := connectV5(t, e, pahotest.V5Conf{ID: "qos-pub"})
		// Pub returns once the flow is done: at once for QoS 0, on PUBACK for
		// 1, on PUBCOMP for 2.
		for q := range byte(3) {
			pub.Say(t, topic, q, false, fmt.Sprintf("at %d", q))
		}
		pub.Pub(t, &paho.Publish{Topic: topic, QoS: 1, Payload: bigPayload})
		// One publisher's messages on one topic arrive in order, each at the
		// QoS it was published with [MQTT-3.8.4-8] (the subscription
		// grants 2), with RETAIN 0 [MQTT-3.3.1-12].
		for q := range byte(3) {
			m := sub.Recv(t)
			require.Equal(t, fmt.Sprintf("at %d", q), string(m.Payload))
			require.Equal(t, q, m.QoS)
			require.Equal(t, topic, m.Topic)
			require.False(t, m.Retain)
		}
		m := sub.Recv(t)
		require.Equal(t, byte(1), m.QoS)
		require.True(t, bytes.Equal(bigPayload, m.Payload), "the large payload came back as %d bytes", len(m.Payload))
	}},
	{"retained", func(t *testing.T, _ *broker, e *endpoint) {
		pub, _ := connectV5(t, e, pahotest.V5Conf{ID: "ret-pub"})
		pub.Say(t, "matrix/retained", 1, true, "old")
		pub.Say(t, "matrix/retained", 1, true, "kept")
		sub, _ := connectV5(t, e, pahotest.V5Conf{ID: "ret-sub"})
		sub.Sub(t, paho.SubscribeOptions{Topic: "matrix/#", QoS: 1})
		// The last retained message is kept [MQTT-3.3.1-5] and sent to the
		// new subscription [MQTT-3.3.1-9], with RETAIN 1.
		m := sub.Recv(t)
		require.Equal(t, "matrix/retained", m.Topic)
		require.Equal(t, "kept", string(m.Payload))
		require.True(t, m.Retain)
		require.Equal(t, byte(1), m.QoS)
	}},
	{"will", func(t *testing.T, _ *broker, e *endpoint) {
		watch, _ := connectV5(t, e, pahotest.V5Conf{ID: "will-watch"})
		watch.Sub(t, paho.SubscribeOptions{Topic: "matrix/will/#", QoS: 1})
		for i, how := range vanishings(e.kind) {
			topic := fmt.Sprintf("matrix/will/%d", i)
			dying, _ := connectV5(t, e, pahotest.V5Conf{ID: fmt.Sprintf("will-dying-%d", i), Will: pahotest.V5Will(topic, false)})
			require.NoError(t, vanish(dying.Conn, how))
			// [MQTT-3.1.2-8] the connection closed without DISCONNECT: the
			// will is published.
			m := watch.Recv(t)
			require.Equal(t, topic, m.Topic, "after %s", how)
			require.Equal(t, "gone:"+topic, string(m.Payload))
			require.Equal(t, byte(1), m.QoS)
		}
	}},
	{"takeover", func(t *testing.T, _ *broker, e *endpoint) {
		const topic = "matrix/takeover"
		first, _ := connectV5(t, e, pahotest.V5Conf{ID: "taken"})
		second, _ := connectV5(t, e, pahotest.V5Conf{ID: "taken"})
		// [MQTT-3.1.4-3] DISCONNECT 0x8E (Session taken over) to the
		// existing client, whose connection is closed.
		select {
		case d := <-first.Disconnects:
			require.Equal(t, byte(proto.SessionTakenOver), d.ReasonCode)
		case <-time.After(loomtest.Wait):
			t.Fatal("the first client got no DISCONNECT")
		}
		second.Sub(t, paho.SubscribeOptions{Topic: topic, QoS: 1})
		second.Say(t, topic, 1, false, "still here")
		require.Equal(t, "still here", string(second.Recv(t).Payload))
	}},
	{"persistent", func(t *testing.T, b *broker, e *endpoint) {
		const topic = "matrix/persistent"
		c1, ack := connectV5(t, e, pahotest.V5Conf{ID: "persist", Expiry: 300})
		require.False(t, ack.SessionPresent) // [MQTT-3.2.2-2] Clean Start 1
		c1.Sub(t, paho.SubscribeOptions{Topic: topic, QoS: 1})
		require.NoError(t, c1.Disconnect(&paho.Disconnect{ReasonCode: 0}))
		b.waitConnections(t, 0)

		pub, _ := connectV5(t, e, pahotest.V5Conf{ID: "persist-pub"})
		pub.Say(t, topic, 1, false, "queued")

		c2, ack := connectV5(t, e, pahotest.V5Conf{ID: "persist", Keep: true, Expiry: 300})
		// The session outlived the connection (its expiry interval has not
		// passed): Session Present 1 [MQTT-3.2.2-3], and it resumes
		// [MQTT-3.1.2-4] with the QoS 1 message that came while the client
		// was away
		require.True(t, ack.SessionPresent)
		m := c2.Recv(t)
		require.Equal(t, "queued", string(m.Payload))
		require.Equal(t, byte(1), m.QoS)
		// and with its subscription.
		pub.Say(t, topic, 1, false, "live")
		require.Equal(t, "live", string(c2.Recv(t).Payload))
	}},
}

var v3Flows = []flow{
	{"qos", func(t *testing.T, _ *broker, e *endpoint) {
		const topic = "matrix/qos"
		in := pahotest.NewV3Inbox()
		sub, _ := pahotest.V3Connect(t, e.v3Options("v3-qos-sub"))
		// [MQTT-3.8.4-5 v3.1.1] the SUBACK code is the granted QoS.
		require.Equal(t, byte(2), pahotest.V3Subscribe(t, sub, topic, 2, in))
		pub, _ := pahotest.V3Connect(t, e.v3Options("v3-qos-pub"))
		for q := range byte(3) {
			pahotest.V3Publish(t, pub, topic, q, false, fmt.Sprintf("at %d", q))
		}
		pahotest.V3Done(t, pub.Publish(topic, 1, false, bigPayload))
		// [MQTT-3.8.4-6 v3.1.1] delivered at the QoS published (the
		// subscription grants 2).
		for q := range byte(3) {
			in.Expect(t, pahotest.V3Message{Topic: topic, Payload: fmt.Sprintf("at %d", q), QoS: q})
		}
		m := in.Next(t)
		require.True(t, bytes.Equal(bigPayload, m.Payload()), "the large payload came back as %d bytes", len(m.Payload()))
	}},
	{"retained", func(t *testing.T, _ *broker, e *endpoint) {
		pub, _ := pahotest.V3Connect(t, e.v3Options("v3-ret-pub"))
		pahotest.V3Publish(t, pub, "matrix/retained", 1, true, "old")
		pahotest.V3Publish(t, pub, "matrix/retained", 1, true, "kept")
		in := pahotest.NewV3Inbox()
		sub, _ := pahotest.V3Connect(t, e.v3Options("v3-ret-sub"))
		pahotest.V3Subscribe(t, sub, "matrix/#", 1, in)
		// The last retained message is kept [MQTT-3.3.1-5 v3.1.1] and sent to
		// the new subscription [MQTT-3.3.1-6 v3.1.1] with RETAIN 1
		// [MQTT-3.3.1-8 v3.1.1].
		in.Expect(t, pahotest.V3Message{Topic: "matrix/retained", Payload: "kept", QoS: 1, Retain: true})
	}},
	{"will", func(t *testing.T, _ *broker, e *endpoint) {
		in := pahotest.NewV3Inbox()
		watch, _ := pahotest.V3Connect(t, e.v3Options("v3-will-watch"))
		pahotest.V3Subscribe(t, watch, "matrix/will/#", 1, in)
		for i, how := range vanishings(e.kind) {
			topic := fmt.Sprintf("matrix/will/%d", i)
			conns := make(chan net.Conn, 1)
			pahotest.V3Connect(t, e.v3Options(fmt.Sprintf("v3-will-dying-%d", i)).
				SetWill(topic, "gone", 1, false).
				SetCustomOpenConnectionFn(e.v3DialKeep(conns)))
			require.NoError(t, vanish(<-conns, how))
			// [MQTT-3.1.2-8 v3.1.1] the connection closed without
			// DISCONNECT: the will is published.
			in.Expect(t, pahotest.V3Message{Topic: topic, Payload: "gone", QoS: 1})
		}
	}},
	{"takeover", func(t *testing.T, _ *broker, e *endpoint) {
		const topic = "matrix/takeover"
		lost := make(chan error, 1)
		pahotest.V3Connect(t, e.v3Options("v3-taken").
			SetConnectionLostHandler(func(_ mqtt3.Client, err error) { lost <- err }))
		second, _ := pahotest.V3Connect(t, e.v3Options("v3-taken"))
		// [MQTT-3.1.4-2 v3.1.1] the broker disconnects the client already
		// connected with that id.
		select {
		case <-lost:
		case <-time.After(loomtest.Wait):
			t.Fatal("the first client's connection was not closed")
		}
		in := pahotest.NewV3Inbox()
		pahotest.V3Subscribe(t, second, topic, 1, in)
		pahotest.V3Publish(t, second, topic, 1, false, "still here")
		in.Expect(t, pahotest.V3Message{Topic: topic, Payload: "still here", QoS: 1})
	}},
	{"persistent", func(t *testing.T, b *broker, e *endpoint) {
		const topic = "matrix/persistent"
		c1, present := pahotest.V3Connect(t, e.v3Options("v3-persist").SetCleanSession(false))
		require.False(t, present) // [MQTT-3.2.2-3 v3.1.1] no session was stored yet
		pahotest.V3Subscribe(t, c1, topic, 1, pahotest.NewV3Inbox())
		c1.Disconnect(250)
		b.waitConnections(t, 0)

		pub, _ := pahotest.V3Connect(t, e.v3Options("v3-persist-pub"))
		pahotest.V3Publish(t, pub, topic, 1, false, "queued")

		// What arrives before any subscription on this connection comes from
		// the session, through the default handler.
		in := pahotest.NewV3Inbox()
		_, present = pahotest.V3Connect(t, e.v3Options("v3-persist").SetCleanSession(false).SetDefaultPublishHandler(in.Handle))
		// [MQTT-3.2.2-2 v3.1.1] the broker held the session;
		// [MQTT-3.1.2-5 v3.1.1] with the QoS 1 message published while the
		// client was away.
		require.True(t, present)
		in.Expect(t, pahotest.V3Message{Topic: topic, Payload: "queued", QoS: 1})
		// [MQTT-3.1.2-4 v3.1.1] and with its subscription.
		pahotest.V3Publish(t, pub, topic, 1, false, "live")
		in.Expect(t, pahotest.V3Message{Topic: topic, Payload: "live", QoS: 1})
	}},
}

// mtlsRefused checks that an mtls listener refuses a client without a
// certificate and one whose certificate another CA signed, in both
// versions, and still serves a client with the right certificate.
func mtlsRefused(t *testing.T, e *endpoint) {
	stranger := loomtest.NewPKI(t)
	_, _, foreign := stranger.MustClientCert(t, "stranger", "stranger")
	for _, c := range []struct {
		name string
		tlsc *tls.Config
	}{
		{"no certificate", e.pki.ClientTLS()},
		{"another CA's certificate", e.pki.ClientTLS(foreign)},
	} {
		t.Run(c.name, func(t *testing.T) {
			refusedV5(t, e, c.tlsc, "refused-v5")
			o := e.v3Options("refused-v3").SetTLSConfig(c.tlsc)
			tok := mqtt3.NewClient(o).Connect()
			require.True(t, tok.WaitTimeout(2*loomtest.Wait), "the 3.1.1 CONNECT never ended")
			require.Error(t, tok.Error(), "a 3.1.1 session without a good certificate")
		})
	}
	// The listener still serves a client with the right certificate.
	c, ack := connectV5(t, e, pahotest.V5Conf{ID: "accepted"})
	require.False(t, ack.SessionPresent)
	c.Sub(t, paho.SubscribeOptions{Topic: "matrix/mtls", QoS: 1})
	c.Say(t, "matrix/mtls", 1, false, "in")
	require.Equal(t, "in", string(c.Recv(t).Payload))
}
