package session

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// withAliasMax sets the client's Topic Alias Maximum in a v5 CONNECT.
func withAliasMax(p *proto.Connect, max uint16) *proto.Connect {
	p.Props.TopicAliasMaximum = max
	p.Props.Set(proto.PropTopicAliasMaximum)
	return p
}

// wireTopic is how a PUBLISH named its topic: "topic", "topic@alias" when it
// also set an alias, "@alias" when it used one.
func wireTopic(p *proto.Publish) string {
	if !p.Props.Has(proto.PropTopicAlias) {
		return string(p.Topic)
	}
	return fmt.Sprintf("%s@%d", p.Topic, p.Props.TopicAlias)
}

func wireTopics(ps []*proto.Publish) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = wireTopic(p)
	}
	return out
}

func TestOutboundTopicAliases(t *testing.T) {
	// One first level: one router shard, so the order across topics holds.
	seq := []string{"s/a", "s/b", "s/c", "s/a", "s/b", "s/c", "s/a"}
	tests := []struct {
		name     string
		v        proto.Version
		clientTA int // the client's Topic Alias Maximum; -1 = property absent
		outMax   int // Options.MaxTopicAliasOut
		want     []string
	}{
		// [MQTT-3.1.2-27] absent or zero: no alias at all.
		{"absent", proto.V5, -1, 0, seq},
		{"zero", proto.V5, 0, 0, seq},
		{"v3.1.1 has none", proto.V311, -1, 0, seq},
		// [MQTT-3.1.2-26] [MQTT-3.3.2-11] never above the client's maximum;
		// [MQTT-3.3.2-8] never 0. Set once with the topic, then used with an
		// empty topic; topics past the maximum go in full.
		{"client maximum 2", proto.V5, 2, 0,
			[]string{"s/a@1", "s/b@2", "s/c", "@1", "@2", "s/c", "@1"}},
		{"room for all", proto.V5, 10, 0,
			[]string{"s/a@1", "s/b@2", "s/c@3", "@1", "@2", "@3", "@1"}},
		{"broker cap below the client's", proto.V5, 10, 1,
			[]string{"s/a@1", "s/b", "s/c", "@1", "s/b", "s/c", "@1"}},
		{"broker sends none", proto.V5, 10, -1, seq},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := connectPacket(tt.v, "sub", true, 0, 0)
			if tt.clientTA >= 0 {
				withAliasMax(p, uint16(tt.clientTA))
			}
			ps := newPubsub(t, Options{MaxTopicAliasOut: tt.outMax}, 2, p, "s/#", 0)
			for _, topic := range seq {
				ps.pub.publish(topic, "x", 0, 0)
			}
			ps.h.settle()
			got := publishes(t, ps.sub.recv())
			require.Equal(t, tt.want, wireTopics(got))
		})
	}
}

func TestTopicAliasesLastOneConnection(t *testing.T) {
	// [MQTT-3.3.2-7] a new connection starts with no mapping: the first
	// PUBLISH of each topic names it again, the re-sent in-flight one too.
	h := newHarness(t, Options{}, 1)
	sub := h.online(0, withAliasMax(connectPacket(proto.V5, "sub", false, 0, ExpiryNever), 4))
	sub.subscribe("t/#", 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	pub.publish("t/a", "1", 1, 1)
	pub.publish("t/a", "2", 1, 2)
	h.settle()
	got := publishes(t, sub.recv())
	require.Equal(t, []string{"t/a@1", "@1"}, wireTopics(got))
	sub.ack(proto.PUBACK, got[0].PacketID, proto.Success) // the second stays in flight
	sub.drop()

	sub = h.dial(0)
	sub.connect(withAliasMax(connectPacket(proto.V5, "sub", false, 0, ExpiryNever), 4))
	resent := publishes(t, sub.recv())
	require.Len(t, resent, 1)
	require.True(t, resent[0].Dup)
	require.Equal(t, "t/a@1", wireTopic(resent[0]))
	pub.publish("t/a", "3", 1, 3)
	h.settle()
	require.Equal(t, []string{"@1"}, wireTopics(publishes(t, sub.recv())))
}

func TestTopicAliasOfDroppedPublishNotKept(t *testing.T) {
	// A PUBLISH too large for the client is not sent [MQTT-3.1.2-25], so the
	// alias it would have set is not set: the next PUBLISH on that topic must
	// carry the topic, or the client could not resolve it.
	p := withAliasMax(connectPacket(proto.V5, "sub", true, 0, 0), 4)
	p.Props.MaximumPacketSize = 64
	p.Props.Set(proto.PropMaximumPacketSize)
	ps := newPubsub(t, Options{}, 1, p, "t", 0)
	ps.pub.publish("t", strings.Repeat("x", 100), 0, 0)
	ps.pub.publish("t", "small", 0, 0)
	ps.pub.publish("t", "again", 0, 0)
	ps.h.settle()
	got := publishes(t, ps.sub.recv())
	require.Equal(t, []string{"small", "again"}, payloads(got))
	require.Equal(t, []string{"t@1", "@1"}, wireTopics(got))
	require.EqualValues(t, 1, ps.h.b.Stats.Dropped.Load())
}

func TestPublisherAliasNotForwarded(t *testing.T) {
	// The publisher's alias belongs to its connection: a subscriber that
	// allows none gets none [MQTT-3.1.2-27], live or retained.
	h := newHarness(t, Options{}, 1)
	live := h.online(0, connectPacket(proto.V5, "live", true, 0, 0))
	live.subscribe("r", 0)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	m := &proto.Publish{Topic: []byte("r"), Payload: []byte("v"), Retain: true}
	m.Props.TopicAlias = 5
	m.Props.Set(proto.PropTopicAlias)
	pub.mustSend(m)
	h.settle()
	got := publishes(t, live.recv())
	require.Equal(t, []string{"r"}, wireTopics(got))

	late := h.online(0, connectPacket(proto.V5, "late", true, 0, 0))
	late.subscribe("r", 0)
	got = publishes(t, late.recv())
	require.Equal(t, []string{"r"}, wireTopics(got))
	require.True(t, got[0].Retain)
}
