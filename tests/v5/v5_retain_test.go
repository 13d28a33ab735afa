package v5_test

import (
	"sort"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// TestV5RetainedSetReplaceDelete stores a retained message, replaces it,
// leaves it alone with a non-retained publish, then deletes it with an empty
// payload.
// [MQTT-3.3.1-5] RETAIN 1 replaces the topic's retained message
// [MQTT-3.3.1-8] RETAIN 0 neither stores nor replaces
// [MQTT-3.3.1-9] a new subscription (Retain Handling 0) gets it, RETAIN set
// [MQTT-3.3.1-6] [MQTT-3.3.1-7] an empty retained payload is forwarded and
// deletes the retained message, which is not stored
// [MQTT-3.3.1-12] live forwarding clears RETAIN without Retain As Published
func TestV5RetainedSetReplaceDelete(t *testing.T) {
	// Without $SYS, whose topics are retained too, the count at the end is
	// this test's topics alone.
	srv, addr := loomtest.Start(t, loom.Options{SysInterval: -1})
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "ret-pub"})
	pub.Say(t, "r/a", 1, true, "one")
	pub.Say(t, "r/a", 1, true, "two")
	pub.Say(t, "r/a", 1, false, "not retained")

	s1, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "ret-s1"})
	s1.Sub(t, pahotest.V5Opt("r/a", 1))
	got := s1.Recv(t)
	require.Equal(t, "two", string(got.Payload))
	require.True(t, got.Retain, "a retained message sent for a new subscription has RETAIN 1")
	require.Equal(t, byte(1), got.QoS)
	require.Empty(t, s1.Until(t, pub, "r/a"), "only the last retained message is kept")

	// Delete: the empty message still reaches the existing subscriber, as
	// a normal (RETAIN 0) message.
	pub.Say(t, "r/a", 1, true, "")
	got = s1.Recv(t)
	require.Equal(t, "r/a", got.Topic)
	require.Empty(t, got.Payload)
	require.False(t, got.Retain)

	s2, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "ret-s2"})
	s2.Sub(t, pahotest.V5Opt("r/a", 1), pahotest.V5Opt("r/#", 1))
	require.Empty(t, s2.Until(t, pub, "r/a"), "a deleted retained message was sent")
	require.Zero(t, srv.Stats().Retained, "the deleted message is still stored")
}

// TestV5RetainedWildcard subscribes with wildcards to retained messages
// spread over topics and router shards; each is sent once, with RETAIN set,
// at the lower of its own QoS and the subscription's.
// [MQTT-3.3.1-9] retained messages matching the filter are sent
// [MQTT-3.8.4-8] at min(published QoS, granted QoS)
func TestV5RetainedWildcard(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "wild-pub"})
	pub.Say(t, "w/a/x", 2, true, "ax")
	pub.Say(t, "w/b/x", 0, true, "bx")
	pub.Say(t, "w/b/y", 1, true, "by")
	pub.Say(t, "v/a/x", 1, true, "vx")
	pub.Say(t, "w/c/x", 1, false, "not retained")

	type seen struct {
		topic, payload string
		qos            byte
	}
	collect := func(ps []*paho.Publish) []seen {
		out := make([]seen, 0, len(ps))
		for _, p := range ps {
			require.True(t, p.Retain, "retained message without RETAIN on %q", p.Topic)
			out = append(out, seen{p.Topic, string(p.Payload), p.QoS})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].topic < out[j].topic })
		return out
	}

	for _, tc := range []struct {
		name    string
		filter  string
		qos     byte
		fence   []string // topics whose shards hold the matches
		matches []seen
	}{
		{"plus", "w/+/x", 1, []string{"w/end/x"}, []seen{{"w/a/x", "ax", 1}, {"w/b/x", "bx", 0}}},
		{"hash", "w/#", 2, []string{"w/end"}, []seen{{"w/a/x", "ax", 2}, {"w/b/x", "bx", 0}, {"w/b/y", "by", 1}}},
		{"first-level-plus", "+/a/x", 0, []string{"w/a/x", "v/a/x"}, []seen{{"v/a/x", "vx", 0}, {"w/a/x", "ax", 0}}},
		{"all", "#", 1, []string{"w/end", "v/end"}, []seen{
			{"v/a/x", "vx", 1}, {"w/a/x", "ax", 1}, {"w/b/x", "bx", 0}, {"w/b/y", "by", 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "wild-" + tc.name})
			c.Sub(t, pahotest.V5Opt(tc.filter, tc.qos))
			require.Equal(t, tc.matches, collect(c.Until(t, pub, tc.fence...)))
		})
	}
}

// TestV5RetainHandling checks the three Retain Handling options, on a first
// subscription and on a repeat of it.
// [MQTT-3.3.1-9] 0: retained messages are sent at every SUBSCRIBE
// [MQTT-3.3.1-10] 1: sent only if the subscription did not exist
// [MQTT-3.3.1-11] 2: never sent
func TestV5RetainHandling(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "rh-pub"})
	pub.Say(t, "rh/t", 1, true, "kept")

	for _, tc := range []struct {
		handling      byte
		first, repeat int // retained messages expected
	}{
		{0, 1, 1},
		{1, 1, 0},
		{2, 0, 0},
	} {
		t.Run(string(rune('0'+tc.handling)), func(t *testing.T) {
			c, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "rh-" + string(rune('0'+tc.handling))})
			o := paho.SubscribeOptions{Topic: "rh/t", QoS: 1, RetainHandling: tc.handling}
			for i, want := range []int{tc.first, tc.repeat} {
				c.Sub(t, o)
				got := c.Until(t, pub, "rh/t")
				require.Len(t, got, want, "SUBSCRIBE #%d", i+1)
				for _, p := range got {
					require.Equal(t, "kept", string(p.Payload))
					require.True(t, p.Retain)
				}
			}
		})
	}
}

// TestV5RetainAsPublished forwards a live retained publish to two
// subscribers: RETAIN is kept only for the one that asked for it.
// [MQTT-3.3.1-12] Retain As Published 0: RETAIN 0 when forwarding
// [MQTT-3.3.1-13] Retain As Published 1: RETAIN as published
func TestV5RetainAsPublished(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	asIs, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "rap-1"})
	asIs.Sub(t, paho.SubscribeOptions{Topic: "rap/t", QoS: 1, RetainAsPublished: true})
	plain, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "rap-0"})
	plain.Sub(t, pahotest.V5Opt("rap/t", 1))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "rap-pub"})

	pub.Say(t, "rap/t", 1, true, "flagged")
	pub.Say(t, "rap/t", 1, false, "unflagged")
	for _, tc := range []struct {
		c    *pahotest.V5Client
		want []bool
	}{
		{asIs, []bool{true, false}},
		{plain, []bool{false, false}},
	} {
		got := tc.c.RecvN(t, 2)
		require.Equal(t, []string{"flagged", "unflagged"}, pahotest.V5Payloads(got))
		require.Equal(t, tc.want, []bool{got[0].Retain, got[1].Retain}, "client %s", tc.c.ClientID())
	}
}
