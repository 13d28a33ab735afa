package conformance_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// Conformance tests for the operational behaviour of chapter 4 (QoS flows,
// ordering, topic rules, transports), run against a real broker with raw
// clients so that every flag and packet id on the wire is visible. Where a
// rule is the same in 5.0 and 3.1.1 the test runs in both versions and
// carries both tags.

// The publishers here use loomtest.Client.Publish, which completes the QoS
// flow and requires the broker's acknowledgements to carry the PUBLISH's
// packet id [MQTT-2.3.1-5 v3.1.1].

// confVersions are the versions a shared rule is checked in.
var confVersions = []proto.Version{proto.V5, proto.V311}

func confVersionName(v proto.Version) string {
	if v == proto.V5 {
		return "v5"
	}
	return "v3.1.1"
}

// confConnect connects id in version v; a persistent session is Clean
// Start 0 and, in v5, a long Session Expiry Interval.
func confConnect(t testing.TB, addr string, v proto.Version, id string, persistent bool) (*loomtest.Client, *proto.Connack) {
	t.Helper()
	cp := proto.Connect{ClientID: []byte(id), CleanStart: !persistent}
	if persistent && v == proto.V5 {
		cp.Props = pahotest.V5Expiry(600)
	}
	return loomtest.Connect(t, addr, v, cp)
}

func TestConformanceListenerMustBeAStream(t *testing.T) {
	t.Parallel()
	// [MQTT-4.2-1] [MQTT-7.1.1-1 v3.1.1]: MQTT needs an ordered, lossless
	// byte stream; gnet would serve a datagram address, so the broker must
	// refuse to start on one rather than run MQTT over UDP.
	for _, l := range []string{"udp://127.0.0.1:0", "udp4://127.0.0.1:0", "udp6://[::1]:0"} {
		t.Run(l, func(t *testing.T) {
			srv, err := loom.New(loom.Options{
				Listeners: []loom.Listener{{Address: "tcp://127.0.0.1:0"}, {Address: l}},
				Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			if err == nil { // refused by New, or else by Start
				t.Cleanup(func() { _ = srv.Close(context.Background()) })
				err = srv.Start()
			}
			require.Error(t, err, "a %s listener was accepted", l)
		})
	}
	// The stream networks still start.
	_, addr := loomtest.Start(t, loom.Options{Listeners: []loom.Listener{{Address: "tcp://127.0.0.1:0"}}})
	confConnect(t, addr, proto.V5, "stream", false)
}

func TestConformanceQoS0Sender(t *testing.T) {
	t.Parallel()
	for _, v := range confVersions {
		t.Run(confVersionName(v), func(t *testing.T) {
			t.Parallel()
			_, addr := loomtest.Start(t, loom.Options{})
			sub, _ := confConnect(t, addr, v, "sub", false)
			sub.Subscribe("q0/t", 0)
			pub, _ := confConnect(t, addr, v, "pub", false)

			pub.Publish("q0/t", "plain", 0, 0)
			// A QoS 1 PUBLISH the publisher marks as a re-send still
			// reaches a QoS 0 subscription as a first delivery.
			pub.Send(&proto.Publish{Topic: []byte("q0/t"), Payload: []byte("dup"), QoS: 1, PacketID: 7, Dup: true})
			require.EqualValues(t, 7, pub.ReadAck(proto.PUBACK).PacketID)

			for _, want := range []string{"plain", "dup"} {
				p := sub.ReadPublish()
				require.Equal(t, want, string(p.Payload))
				// [MQTT-4.3.1-1] [MQTT-4.3.1-1 v3.1.1]: QoS 0 and DUP 0;
				// [MQTT-3.3.1-3 v3.1.1] the outgoing DUP does not copy the
				// incoming one.
				require.Zero(t, p.QoS, "[MQTT-4.3.1-1] QoS")
				require.False(t, p.Dup, "[MQTT-4.3.1-1] [MQTT-3.3.1-3 v3.1.1] DUP")
				require.Zero(t, p.PacketID)
			}
		})
	}
}

func TestConformanceQoS1Sender(t *testing.T) {
	t.Parallel()
	for _, v := range confVersions {
		t.Run(confVersionName(v), func(t *testing.T) {
			t.Parallel()
			_, addr := loomtest.Start(t, loom.Options{})
			sub, _ := confConnect(t, addr, v, "sub", true)
			sub.Subscribe("q1/t", 1)
			pub, _ := confConnect(t, addr, v, "pub", false)

			// m1 arrives at the broker marked DUP, as a publisher's re-send.
			pub.Send(&proto.Publish{Topic: []byte("q1/t"), Payload: []byte("m1"), QoS: 1, PacketID: 1, Dup: true})
			require.EqualValues(t, 1, pub.ReadAck(proto.PUBACK).PacketID)
			for i := 2; i <= 5; i++ {
				pub.Publish("q1/t", fmt.Sprintf("m%d", i), 1, uint16(i))
			}
			ids := map[string]uint16{}
			for i := 1; i <= 5; i++ {
				p := sub.ReadPublish()
				require.Equal(t, fmt.Sprintf("m%d", i), string(p.Payload))
				require.EqualValues(t, 1, p.QoS)
				// [MQTT-4.3.2-1 v3.1.1] DUP 0 on a first delivery;
				// [MQTT-3.3.1-3 v3.1.1] whatever the publisher sent.
				require.False(t, p.Dup, "[MQTT-4.3.2-1 v3.1.1] [MQTT-3.3.1-3 v3.1.1]")
				// [MQTT-4.3.2-1] [MQTT-4.3.2-1 v3.1.1]: a packet id not in use.
				require.NotZero(t, p.PacketID)
				for name, id := range ids {
					require.NotEqual(t, id, p.PacketID, "[MQTT-4.3.2-1] id of %s reused", name)
				}
				ids[string(p.Payload)] = p.PacketID
			}
			sub.Ack(proto.PUBACK, ids["m2"])
			sub.Ack(proto.PUBACK, ids["m4"])

			// New messages take ids not held by m1, m3, m5 [MQTT-4.3.2-1].
			pub.Publish("q1/t", "m6", 1, 6)
			p := sub.ReadPublish()
			require.Equal(t, "m6", string(p.Payload))
			for _, held := range []string{"m1", "m3", "m5"} {
				require.NotEqual(t, ids[held], p.PacketID, "[MQTT-4.3.2-1] m6 took the id of unacknowledged %s", held)
			}
			ids["m6"] = p.PacketID

			// The connection fails; on resume the broker still holds m1, m3,
			// m5 and m6 as unacknowledged [MQTT-4.3.2-3] [MQTT-4.3.2-1 v3.1.1],
			// and only them: m2 and m4 were acknowledged.
			_ = sub.Close()
			sub, ack := confConnect(t, addr, v, "sub", true)
			require.True(t, ack.SessionPresent)
			for _, want := range []string{"m1", "m3", "m5", "m6"} {
				p := sub.ReadPublish()
				require.Equal(t, want, string(p.Payload), "[MQTT-4.3.2-3]")
				require.Equal(t, ids[want], p.PacketID)
				// [MQTT-3.3.1-3 v3.1.1] DUP 1 now, because this is a re-send.
				require.True(t, p.Dup, "[MQTT-3.3.1-3 v3.1.1]")
				sub.Ack(proto.PUBACK, p.PacketID)
			}
			sub.Ping()
		})
	}
}

func TestConformanceQoS2Sender(t *testing.T) {
	t.Parallel()
	for _, v := range confVersions {
		t.Run(confVersionName(v), func(t *testing.T) {
			t.Parallel()
			_, addr := loomtest.Start(t, loom.Options{})
			sub, _ := confConnect(t, addr, v, "sub", true)
			sub.Subscribe("q2/t", 2)
			pub, _ := confConnect(t, addr, v, "pub", false)
			for i := 1; i <= 3; i++ {
				pub.Publish("q2/t", fmt.Sprintf("m%d", i), 2, uint16(100+i))
			}
			ids := map[string]uint16{}
			for i := 1; i <= 3; i++ {
				p := sub.ReadPublish()
				require.Equal(t, fmt.Sprintf("m%d", i), string(p.Payload))
				// [MQTT-4.3.3-1 v3.1.1] QoS 2, DUP 0, and [MQTT-4.3.3-1]
				// [MQTT-4.3.3-1 v3.1.1] a packet id not in use.
				require.EqualValues(t, 2, p.QoS)
				require.False(t, p.Dup)
				require.NotZero(t, p.PacketID)
				for name, id := range ids {
					require.NotEqual(t, id, p.PacketID, "[MQTT-4.3.3-1] id of %s reused", name)
				}
				ids[string(p.Payload)] = p.PacketID
			}

			// PUBREC for m1: PUBREL with m1's id [MQTT-4.3.3-1 v3.1.1]
			// [MQTT-2.3.1-5 v3.1.1]. The flow is not over until PUBCOMP, so
			// its id stays in use [MQTT-4.3.3-1].
			sub.Ack(proto.PUBREC, ids["m1"])
			require.Equal(t, ids["m1"], sub.ReadAck(proto.PUBREL).PacketID)
			pub.Publish("q2/t", "m4", 2, 104)
			p := sub.ReadPublish()
			require.Equal(t, "m4", string(p.Payload))
			for _, held := range []string{"m1", "m2", "m3"} {
				require.NotEqual(t, ids[held], p.PacketID, "[MQTT-4.3.3-1] m4 took the id of %s", held)
			}
			ids["m4"] = p.PacketID

			// On resume: the PUBREL of m1 again, never its PUBLISH (it was
			// released), and the PUBLISH of m2, m3, m4, still unacknowledged
			// [MQTT-4.3.3-1 v3.1.1].
			_ = sub.Close()
			sub, ack := confConnect(t, addr, v, "sub", true)
			require.True(t, ack.SessionPresent)
			var got []string
			for range 4 {
				p, err := sub.Next()
				require.NoError(t, err)
				switch p := p.(type) {
				case *proto.Ack:
					require.Equal(t, proto.PUBREL, p.Type)
					require.Equal(t, ids["m1"], p.PacketID)
					got = append(got, "PUBREL m1")
					sub.Ack(proto.PUBCOMP, p.PacketID)
				case *proto.Publish:
					name := string(p.Payload)
					require.Equal(t, ids[name], p.PacketID, "%s re-sent with another id", name)
					require.True(t, p.Dup, "[MQTT-3.3.1-3 v3.1.1] re-send without DUP")
					got = append(got, name)
				default:
					t.Fatalf("unexpected %T", p)
				}
			}
			require.Equal(t, []string{"PUBREL m1", "m2", "m3", "m4"}, got)
			for _, name := range []string{"m2", "m3", "m4"} {
				sub.Ack(proto.PUBREC, ids[name])
				require.Equal(t, ids[name], sub.ReadAck(proto.PUBREL).PacketID)
				sub.Ack(proto.PUBCOMP, ids[name])
			}
			sub.Ping()
		})
	}
}

func TestConformanceOfflineSubscriberGetsMessage(t *testing.T) {
	t.Parallel()
	// [MQTT-4.5.0-1]: once the broker has acknowledged a QoS 1 or 2
	// PUBLISH, the message belongs to every matching session, connected or
	// not.
	_, addr := loomtest.Start(t, loom.Options{})
	away, _ := confConnect(t, addr, proto.V5, "away", true)
	away.Subscribe("own/t", 2)
	here, _ := confConnect(t, addr, proto.V5, "here", false)
	here.Subscribe("own/t", 1)
	away.Send(&proto.Disconnect{})
	away.ExpectClosed()

	pub, _ := confConnect(t, addr, proto.V5, "pub", false)
	pub.Publish("own/t", "q1", 1, 1)
	pub.Publish("own/t", "q2", 2, 2)

	for _, want := range []string{"q1", "q2"} {
		p := here.ReadPublish()
		require.Equal(t, want, string(p.Payload))
		if p.QoS == 1 {
			here.Ack(proto.PUBACK, p.PacketID)
		}
	}
	away, ack := confConnect(t, addr, proto.V5, "away", true)
	require.True(t, ack.SessionPresent)
	q1 := away.ReadPublish()
	require.Equal(t, "q1", string(q1.Payload))
	require.EqualValues(t, 1, q1.QoS)
	q2 := away.ReadPublish()
	require.Equal(t, "q2", string(q2.Payload))
	require.EqualValues(t, 2, q2.QoS)
}

func TestConformanceOrderedTopic(t *testing.T) {
	t.Parallel()
	// [MQTT-4.6.0-5] [MQTT-4.6.0-5 v3.1.1]: each topic is ordered: every
	// subscriber gets each publisher's messages (same topic, same QoS) in
	// the order the broker received them, while two publishers interleave.
	const n = 40
	for _, v := range confVersions {
		for _, qos := range []byte{0, 1, 2} {
			t.Run(fmt.Sprintf("%s qos %d", confVersionName(v), qos), func(t *testing.T) {
				t.Parallel()
				_, addr := loomtest.Start(t, loom.Options{Loops: 2})
				var subs []*loomtest.Client
				for i := range 3 {
					s, _ := confConnect(t, addr, v, fmt.Sprintf("sub%d", i), false)
					s.Subscribe("ord/t", 2)
					subs = append(subs, s)
				}
				a, _ := confConnect(t, addr, v, "a", false)
				b, _ := confConnect(t, addr, v, "b", false)
				for i := 1; i <= n; i++ {
					a.Publish("ord/t", fmt.Sprintf("a%d", i), qos, uint16(i))
					b.Publish("ord/t", fmt.Sprintf("b%d", i), qos, uint16(i))
				}
				for si, s := range subs {
					// 2n stays inside the broker's window, so all come
					// before any acknowledgement.
					next := map[byte]int{'a': 1, 'b': 1}
					var ids []uint16
					for range 2 * n {
						p := s.ReadPublish()
						require.Equal(t, qos, p.QoS)
						from := p.Payload[0]
						require.Equal(t, fmt.Sprintf("%c%d", from, next[from]), string(p.Payload),
							"[MQTT-4.6.0-5] subscriber %d: out of order", si)
						next[from]++
						ids = append(ids, p.PacketID)
					}
					for _, id := range ids {
						switch qos {
						case 1:
							s.Ack(proto.PUBACK, id)
						case 2:
							s.Ack(proto.PUBREC, id)
							require.Equal(t, id, s.ReadAck(proto.PUBREL).PacketID)
							s.Ack(proto.PUBCOMP, id)
						}
					}
				}
			})
		}
	}
}

func TestConformanceTopicNameCharacters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		topic string
	}{
		// [MQTT-4.7.0-1] [MQTT-4.7.1-1 v3.1.1]: no wildcards in a Topic Name.
		{"single-level wildcard", "tn/+"},
		{"multi-level wildcard", "tn/#"},
		{"wildcard inside a level", "tn/a+b"},
		// [MQTT-4.7.3-2] [MQTT-4.7.3-2 v3.1.1] [MQTT-1.5.3-2 v3.1.1]: no
		// U+0000 in a topic.
		{"null character", "tn/a\x00b"},
	}
	for _, v := range confVersions {
		for _, tt := range tests {
			t.Run(confVersionName(v)+" "+tt.name, func(t *testing.T) {
				t.Parallel()
				_, addr := loomtest.Start(t, loom.Options{})
				watch, _ := confConnect(t, addr, v, "watch", false)
				watch.Subscribe("#", 0)
				bad, _ := confConnect(t, addr, v, "bad", false)
				bad.Send(&proto.Publish{Topic: []byte(tt.topic), Payload: []byte("x"), QoS: 1, PacketID: 1})
				// The broker closes the connection; a v5 broker may say why
				// first, never with an acknowledgement.
				for _, p := range bad.Rest() {
					d, ok := p.(*proto.Disconnect)
					require.True(t, ok && v == proto.V5, "got %T %+v before the close", p, p)
					require.GreaterOrEqual(t, d.Reason, proto.ReasonCode(0x80))
				}
				// Nothing was published: the next message the watcher sees
				// is the marker.
				pub, _ := confConnect(t, addr, v, "pub", false)
				pub.Publish("tn/marker", "marker", 1, 1)
				require.Equal(t, "tn/marker", string(watch.ReadPublish().Topic))
			})
		}
	}
}

func TestConformanceTopicFilterNull(t *testing.T) {
	t.Parallel()
	// [MQTT-4.7.3-2] [MQTT-4.7.3-2 v3.1.1] [MQTT-1.5.3-2 v3.1.1]: a Topic
	// Filter with U+0000 is refused: 3.1.1 must close the connection; v5
	// may treat it as malformed (close) or refuse the filter, but must not
	// subscribe it.
	for _, v := range confVersions {
		t.Run(confVersionName(v), func(t *testing.T) {
			t.Parallel()
			_, addr := loomtest.Start(t, loom.Options{})
			r, _ := confConnect(t, addr, v, "nul", false)
			r.Send(&proto.Subscribe{PacketID: 3, Subscriptions: []proto.Subscription{{Filter: []byte("nf/a\x00b"), QoS: 1}}})
			p, err := r.Next()
			if err == io.EOF {
				return // closed at once
			}
			require.NoError(t, err)
			switch p := p.(type) {
			case *proto.Suback:
				require.Equal(t, proto.V5, v, "3.1.1 must close, not answer")
				require.EqualValues(t, 3, p.PacketID)
				require.Len(t, p.Reasons, 1)
				require.GreaterOrEqual(t, p.Reasons[0], proto.ReasonCode(0x80))
			case *proto.Disconnect:
				require.Equal(t, proto.V5, v)
				require.GreaterOrEqual(t, p.Reason, proto.ReasonCode(0x80))
				r.ExpectClosed()
			default:
				t.Fatalf("unexpected %T", p)
			}
		})
	}
}
