package v5_test

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

// TestV5QoSMatrix publishes at QoS 0, 1 and 2 to subscriptions granted
// QoS 0, 1 and 2. Every publish is acknowledged as its QoS asks, and every
// delivery comes at the lower of the two QoS, acknowledged by the paho
// subscriber in turn.
// [MQTT-3.8.4-8] delivered QoS is min(published QoS, granted QoS)
// [MQTT-4.3.2-4] [MQTT-4.3.3-8] PUBACK / PUBREC for inbound QoS 1 / 2
// [MQTT-3.8.4-6] one SUBACK code per filter, here the QoS asked for
func TestV5QoSMatrix(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "matrix-sub"})
	sub.Sub(t, pahotest.V5Opt("m/s0/#", 0), pahotest.V5Opt("m/s1/#", 1), pahotest.V5Opt("m/s2/#", 2))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "matrix-pub"})

	for _, tc := range []struct{ pubQoS, subQoS, want byte }{
		{0, 0, 0}, {0, 1, 0}, {0, 2, 0},
		{1, 0, 0}, {1, 1, 1}, {1, 2, 1},
		{2, 0, 0}, {2, 1, 1}, {2, 2, 2},
	} {
		t.Run(fmt.Sprintf("pub%d-sub%d", tc.pubQoS, tc.subQoS), func(t *testing.T) {
			topic := fmt.Sprintf("m/s%d/p%d", tc.subQoS, tc.pubQoS)
			payload := "payload-" + topic
			pub.Say(t, topic, tc.pubQoS, false, payload)
			got := sub.Recv(t)
			require.Equal(t, topic, got.Topic)
			require.Equal(t, payload, string(got.Payload))
			require.Equal(t, tc.want, got.QoS, "delivered QoS")
			require.False(t, got.Retain)
			if tc.want == 0 {
				require.Zero(t, got.PacketID, "QoS 0 carries no packet id")
			} else {
				require.NotZero(t, got.PacketID)
			}
		})
	}
	// Nothing was delivered twice or to the wrong filter.
	require.Empty(t, sub.Until(t, pub, "m/s1/end"))
}

// TestV5PropertiesForwarded sends every application property a publisher
// may set and requires the subscriber to get them unaltered, at each QoS.
// [MQTT-3.3.2-4] Payload Format Indicator
// [MQTT-3.3.2-6] Message Expiry Interval, less the time held
// [MQTT-3.3.2-15] Response Topic
// [MQTT-3.3.2-16] Correlation Data
// [MQTT-3.3.2-17] [MQTT-3.3.2-18] all User Properties, in order
// [MQTT-3.3.2-20] Content Type
func TestV5PropertiesForwarded(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "props-sub"})
	sub.Sub(t, pahotest.V5Opt("props/#", 2))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "props-pub"})

	for qos := range byte(3) {
		t.Run(fmt.Sprintf("qos%d", qos), func(t *testing.T) {
			format := byte(1)
			expiry := uint32(3600)
			user := paho.UserProperties{
				{Key: "b-key", Value: "first"},
				{Key: "a-key", Value: "second"},
				{Key: "b-key", Value: "third"}, // a repeated name is allowed and kept
			}
			topic := fmt.Sprintf("props/q%d", qos)
			pub.Pub(t, &paho.Publish{
				Topic: topic, QoS: qos, Payload: []byte(`{"n":1}`),
				Properties: &paho.PublishProperties{
					PayloadFormat:   &format,
					MessageExpiry:   &expiry,
					ContentType:     "application/json",
					ResponseTopic:   "props/reply/" + topic,
					CorrelationData: []byte{0, 1, 2, 0xFF},
					User:            user,
				},
			})
			got := sub.Recv(t)
			require.Equal(t, topic, got.Topic)
			require.Equal(t, qos, got.QoS)
			require.Equal(t, `{"n":1}`, string(got.Payload))
			pr := got.Properties
			require.NotNil(t, pr)
			require.NotNil(t, pr.PayloadFormat)
			require.Equal(t, format, *pr.PayloadFormat)
			require.NotNil(t, pr.MessageExpiry)
			require.LessOrEqual(t, *pr.MessageExpiry, expiry)
			require.Greater(t, *pr.MessageExpiry, expiry-60)
			require.Equal(t, "application/json", pr.ContentType)
			require.Equal(t, "props/reply/"+topic, pr.ResponseTopic)
			require.Equal(t, []byte{0, 1, 2, 0xFF}, pr.CorrelationData)
			require.Equal(t, user, pr.User)
			require.Nil(t, pr.TopicAlias, "the broker sends no outbound alias unasked")
		})
	}
}

// TestV5QoS2DeliveredOnce sends QoS 2 messages end to end with paho on both
// sides and requires each to arrive once, in order.
// [MQTT-4.3.3-10] no duplicate onward delivery of a QoS 2 message
// [MQTT-4.6.0-6] one publisher's messages on one topic stay in order
func TestV5QoS2DeliveredOnce(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "once-sub"})
	sub.Sub(t, pahotest.V5Opt("once/t", 2))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "once-pub"})

	const n = 100
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf("q2-%03d", i)
		pub.Say(t, "once/t", 2, false, want[i])
	}
	got := sub.RecvN(t, n)
	for _, p := range got {
		require.Equal(t, byte(2), p.QoS)
		require.False(t, p.Duplicate())
	}
	require.Equal(t, want, pahotest.V5Payloads(got))
	require.Empty(t, sub.Until(t, pub, "once/t"), "a QoS 2 message came twice")
}

// TestV5QoS2ResentPublishNotDuplicated re-sends an inbound QoS 2 PUBLISH
// before releasing it: the broker answers PUBREC again and forwards the
// message once. After PUBCOMP the same packet id starts a new message.
// [MQTT-4.3.3-8] PUBREC with the PUBLISH's packet id
// [MQTT-4.3.3-10] a repeat before PUBREL is acknowledged, not re-delivered
// [MQTT-4.3.3-11] PUBREL is answered by PUBCOMP with the same id
// [MQTT-4.3.3-12] after PUBCOMP the id denotes a new message
func TestV5QoS2ResentPublishNotDuplicated(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "dedup-sub"})
	sub.Sub(t, pahotest.V5Opt("dedup/t", 2))
	raw, _ := loomtest.Connect(t, addr, proto.V5, proto.Connect{ClientID: []byte("dedup-raw"), CleanStart: true})

	first := &proto.Publish{QoS: 2, Topic: []byte("dedup/t"), PacketID: 7, Payload: []byte("once")}
	raw.Send(first)
	require.Equal(t, proto.Success, raw.ReadAck(proto.PUBREC).Reason)
	again := *first
	again.Dup = true
	raw.Send(&again)
	rec := raw.ReadAck(proto.PUBREC)
	require.Equal(t, uint16(7), rec.PacketID)
	require.Equal(t, proto.Success, rec.Reason)
	raw.Ack(proto.PUBREL, 7)
	comp := raw.ReadAck(proto.PUBCOMP)
	require.Equal(t, uint16(7), comp.PacketID)
	require.Equal(t, proto.Success, comp.Reason)

	// The same id, released: a new application message.
	raw.Send(&proto.Publish{QoS: 2, Topic: []byte("dedup/t"), PacketID: 7, Payload: []byte("new")})
	raw.ReadAck(proto.PUBREC)
	raw.Ack(proto.PUBREL, 7)
	raw.ReadAck(proto.PUBCOMP)

	// A QoS 0 marker from the same publisher on the same topic closes the
	// sequence: whatever the broker forwarded comes before it.
	raw.Send(&proto.Publish{Topic: []byte("dedup/t"), Payload: []byte("end")})
	var got []string
	for {
		p := sub.Recv(t)
		if string(p.Payload) == "end" {
			break
		}
		got = append(got, string(p.Payload))
	}
	require.Equal(t, []string{"once", "new"}, got)
}
