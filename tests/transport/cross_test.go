package transport_test

import (
	"bytes"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// TestCrossTransport runs one broker with a listener of every kind: a
// message published over any of them reaches subscribers on all of them,
// and one session moves from listener to listener, taken over while
// connected and resumed after it was left.
func TestCrossTransport(t *testing.T) {
	b := startBroker(t, kinds...)

	t.Run("fan out", func(t *testing.T) {
		subs := make([]*pahotest.V5Client, len(kinds))
		for i, k := range kinds {
			subs[i], _ = connectV5(t, b.ep(k), pahotest.V5Conf{ID: "cross-sub-" + k})
			subs[i].Sub(t, paho.SubscribeOptions{Topic: "cross/#", QoS: 1})
		}
		var want []string
		for _, k := range kinds {
			pub, _ := connectV5(t, b.ep(k), pahotest.V5Conf{ID: "cross-pub-" + k})
			pub.Say(t, "cross/"+k, 1, false, "from "+k)
			want = append(want, "cross/"+k+"|from "+k)
		}
		slices.Sort(want)
		for i, k := range kinds {
			var got []string
			for _, m := range subs[i].RecvN(t, len(kinds)) {
				got = append(got, m.Topic+"|"+string(m.Payload))
			}
			// Publishers on different connections: no order between them.
			slices.Sort(got)
			require.Equal(t, want, got, "the subscriber on %s", k)
		}
	})

	t.Run("roaming session", func(t *testing.T) {
		const topic = "roam/t"
		b.waitConnections(t, 0) // the fan-out's clients have gone
		pub, _ := connectV5(t, b.ep(kTCP), pahotest.V5Conf{ID: "roam-pub"})
		conf := pahotest.V5Conf{ID: "roamer", Expiry: 300}
		cur, _ := connectV5(t, b.ep(kinds[0]), conf)
		cur.Sub(t, paho.SubscribeOptions{Topic: topic, QoS: 1})
		conf.Keep = true
		// expect reads the roamer's next message on listener k, want.
		// paho.golang acknowledges a message after the test has it, so the
		// one before may not have been acknowledged when the connection
		// went: then it comes again first, as a duplicate [MQTT-4.4.0-1]
		// [MQTT-3.3.1-1].
		last := ""
		expect := func(c *pahotest.V5Client, k, want string) {
			t.Helper()
			for _, m := range c.UpTo(t, topic, want) {
				require.Equal(t, last, string(m.Payload), "on %s before %q", k, want)
				require.True(t, m.Duplicate(), "%q again on %s without DUP", last, k)
			}
			last = want
		}
		for i, k := range kinds[1:] {
			from := kinds[i]
			if i%2 == 0 {
				// Taken over from another listener while connected:
				// [MQTT-3.1.4-3] DISCONNECT 0x8E to the existing connection.
				next, ack := connectV5(t, b.ep(k), conf)
				require.True(t, ack.SessionPresent, "%s -> %s", from, k) // [MQTT-3.2.2-3]
				select {
				case d := <-cur.Disconnects:
					require.Equal(t, byte(proto.SessionTakenOver), d.ReasonCode, "%s -> %s", from, k)
				case <-time.After(loomtest.Wait):
					t.Fatalf("%s -> %s: the connection on %s got no DISCONNECT", from, k, from)
				}
				cur = next
				pub.Say(t, topic, 1, false, "after the takeover by "+k)
				expect(cur, k, "after the takeover by "+k)
				continue
			}
			// Left on one listener, resumed on another with what came
			// meanwhile [MQTT-3.1.2-4].
			require.NoError(t, cur.Disconnect(&paho.Disconnect{ReasonCode: 0}))
			b.waitConnections(t, 1) // the publisher
			pub.Say(t, topic, 1, false, "while away from "+from)
			next, ack := connectV5(t, b.ep(k), conf)
			require.True(t, ack.SessionPresent, "%s -> %s", from, k)
			expect(next, k, "while away from "+from)
			cur = next
		}
	})
}

// TestListenerTransports checks that each listener speaks only its own
// transport, with and without a Unix socket listener beside the TCP ones:
// a plain MQTT CONNECT on a tls, mtls or wss listener is not a TLS
// ClientHello, and on a ws listener not an HTTP upgrade; none of them may
// answer it with a CONNACK (on mtls that would let a client in without a
// certificate).
func TestListenerTransports(t *testing.T) {
	for _, set := range []struct {
		name  string
		kinds []string
	}{
		{"without unix", []string{kTCP, kTLS, kMTLS, kWS, kWSS}},
		{"with unix", kinds},
	} {
		t.Run(set.name, func(t *testing.T) {
			b := startBroker(t, set.kinds...)
			for _, k := range []string{kTLS, kMTLS, kWS, kWSS} {
				e := b.ep(k)
				nc, err := net.DialTimeout("tcp", e.hostPort(), loomtest.Wait)
				require.NoError(t, err)
				c := loomtest.Over(t, nc, proto.V5)
				c.Write((&proto.Connect{Version: proto.V5, CleanStart: true, KeepAlive: 30,
					ClientID: []byte("plain-on-" + k)}).Append(nil, proto.V5))
				got := c.RestBytes() // until the broker closes the connection
				_ = nc.Close()
				require.False(t, len(got) > 0 && got[0] == 0x20,
					"the %s listener answered a plain MQTT CONNECT with a CONNACK: % x", k, got)
				if k == kWS {
					// Not an upgrade: HTTP 400.
					require.True(t, bytes.HasPrefix(got, []byte("HTTP/1.1 400")), "the ws listener answered %q", got)
				}
			}
		})
	}
}
