package v5_test

import (
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// connectV5Props connects a paho.golang client with the given CONNECT
// properties and returns it with the CONNACK. paho.golang passes received
// PUBLISH packets on as they came, topic alias and all, so the test sees
// the wire.
func connectV5Props(t *testing.T, addr, id string, props *paho.ConnectProperties) (*pahotest.V5Client, *paho.Connack) {
	t.Helper()
	return pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: id, Props: props})
}

// aliasOf is the Topic Alias p carries, 0 when none.
func aliasOf(p *paho.Publish) uint16 {
	if p.Properties == nil || p.Properties.TopicAlias == nil {
		return 0
	}
	return *p.Properties.TopicAlias
}

func TestV5OutboundTopicAliases(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	aliasMax := uint16(2)
	sub, _ := connectV5Props(t, addr, "alias-sub", &paho.ConnectProperties{TopicAliasMaximum: &aliasMax})
	sub.Sub(t, pahotest.V5Opt("al/#", 1))
	plain, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "alias-plain"})
	plain.Sub(t, pahotest.V5Opt("al/#", 1))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "alias-pub"})

	// One first level: one router shard, so the order holds across topics.
	topics := []string{"al/a", "al/b", "al/c", "al/a", "al/b", "al/c"}
	for _, topic := range topics {
		pub.Say(t, topic, 1, false, topic)
	}
	type wire struct {
		topic string
		alias uint16
	}
	var got []wire
	for _, p := range sub.RecvN(t, len(topics)) {
		got = append(got, wire{p.Topic, aliasOf(p)})
	}
	// [MQTT-3.3.2-11] [MQTT-3.1.2-26] aliases 1..2 only, never 0
	// [MQTT-3.3.2-8]: set with the topic, then used with an empty one; the
	// third topic, past the maximum, always in full.
	require.Equal(t, []wire{{"al/a", 1}, {"al/b", 2}, {"al/c", 0}, {"", 1}, {"", 2}, {"al/c", 0}}, got)

	// [MQTT-3.1.2-27] a client that sent no Topic Alias Maximum gets none.
	for i, p := range plain.RecvN(t, len(topics)) {
		require.Equal(t, topics[i], p.Topic)
		require.Zero(t, aliasOf(p))
	}
}

func TestV5MessageExpiryMaximum(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{MaxMessageExpiry: 30 * time.Second}})
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "mx-sub"})
	sub.Sub(t, pahotest.V5Opt("mx/#", 1))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "mx-pub"})

	long := uint32(3600)
	pub.Pub(t, &paho.Publish{Topic: "mx/long", QoS: 1, Payload: []byte("long"),
		Properties: &paho.PublishProperties{MessageExpiry: &long}})
	pub.Say(t, "mx/none", 1, false, "none")
	got := sub.RecvN(t, 2)
	// Lowered to the broker's maximum, less the time held [MQTT-3.3.2-6].
	require.NotNil(t, got[0].Properties.MessageExpiry)
	require.LessOrEqual(t, *got[0].Properties.MessageExpiry, uint32(30))
	require.Greater(t, *got[0].Properties.MessageExpiry, uint32(20))
	// Kept at most 30 s, but forwarded without an interval it did not have.
	require.Nil(t, got[1].Properties.MessageExpiry)
}

func TestV5ExpiredQueuedMessageDropped(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "xq-sub", Expiry: 300})
	sub.Sub(t, pahotest.V5Opt("xq/#", 1))
	sub.Cut()
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "xq-pub"})
	loomtest.Eventually(t, "the subscriber's connection to close", func() bool {
		return srv.Stats().Connected == 1
	})

	short := uint32(1)
	pub.Pub(t, &paho.Publish{Topic: "xq/t", QoS: 1, Payload: []byte("short"),
		Properties: &paho.PublishProperties{MessageExpiry: &short}})
	pub.Say(t, "xq/t", 1, false, "kept")
	time.Sleep(2100 * time.Millisecond) // past the 1 s interval

	sub, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "xq-sub", Keep: true, Expiry: 300})
	require.True(t, ack.SessionPresent)
	// [MQTT-3.3.2-5] the expired message is not delivered: the first
	// message after reconnecting is the one without an interval.
	require.Equal(t, []string{"kept"}, pahotest.V5Payloads(sub.RecvN(t, 1)))
	sub.Quiet(t, 200*time.Millisecond)
}

func TestV5SessionExpiryMaximum(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{Limits: loom.Limits{MaxSessionExpiry: time.Minute}})
	// Section 3.2.2.3.2: the broker says which interval it uses when it is
	// not the one asked for.
	_, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sx-long", Expiry: 3600})
	require.NotNil(t, ack.Properties)
	require.NotNil(t, ack.Properties.SessionExpiryInterval)
	require.EqualValues(t, 60, *ack.Properties.SessionExpiryInterval)

	_, ack = pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sx-short", Expiry: 30})
	require.True(t, ack.Properties == nil || ack.Properties.SessionExpiryInterval == nil)
}
