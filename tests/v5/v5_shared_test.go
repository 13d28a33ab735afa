package v5_test

import (
	"fmt"
	"testing"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// TestV5SharedSubscription sends 300 messages to a group of three members
// of $share/g/sh/t beside a plain subscriber of sh/t. Each message reaches
// exactly one member, each member gets a fair share, each at the QoS its
// own subscription was granted, and the plain subscriber gets all of them
// in order.
// [MQTT-4.8.2-3] a member's granted QoS is respected
// [MQTT-4.6.0-6] non-shared subscriptions get one publisher's messages in order
// (4.8.2: a message to a shared subscription goes to one session of the group)
func TestV5SharedSubscription(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	granted := []byte{1, 1, 2}
	members := make([]*pahotest.V5Client, len(granted))
	for i, q := range granted {
		members[i], _ = pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: fmt.Sprintf("member-%d", i)})
		// The plain marker subscription, on the group's shard but not
		// matching its filter, closes each member's stream below.
		members[i].Sub(t, pahotest.V5Opt("$share/g/sh/t", q), pahotest.V5Opt("sh/marker", 0))
	}
	plain, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "plain"})
	plain.Sub(t, pahotest.V5Opt("sh/t", 1))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "share-pub"})

	const n = 300
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf("s-%03d", i)
		pub.Say(t, "sh/t", 2, false, want[i])
	}

	all := plain.RecvN(t, n)
	require.Equal(t, want, pahotest.V5Payloads(all))

	// One marker through the same shard, after every message, closes each
	// member's stream.
	pub.Say(t, "sh/marker", 1, false, "end")
	owner := make(map[string]int, n)
	for i, m := range members {
		got := m.UpTo(t, "sh/marker", "end")
		require.GreaterOrEqual(t, len(got), 50, "member %d got an unfair share", i)
		for _, p := range got {
			require.Equal(t, "sh/t", p.Topic)
			require.Equal(t, granted[i], p.QoS, "member %d", i)
			prev, dup := owner[string(p.Payload)]
			require.False(t, dup, "%q went to members %d and %d", p.Payload, prev, i)
			owner[string(p.Payload)] = i
		}
	}
	require.Len(t, owner, n, "some messages reached no member")
}

// TestV5SharedGroupsIndependent gives two groups the same filter: each
// group gets every message once, whatever topic of the filter it went to.
// [MQTT-4.8.2-3] each member at its granted QoS
// (4.8.2: every shared subscription gets its own copy, sent to one member)
func TestV5SharedGroupsIndependent(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	groups := map[string][]*pahotest.V5Client{}
	for _, g := range []string{"ga", "gb"} {
		for i := range 2 {
			c, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: fmt.Sprintf("%s-%d", g, i)})
			// "grp" shares the group's shard and is outside its filter.
			c.Sub(t, paho.SubscribeOptions{Topic: "$share/" + g + "/grp/+", QoS: 1}, pahotest.V5Opt("grp", 0))
			groups[g] = append(groups[g], c)
		}
	}
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "grp-pub"})
	const n = 40
	for i := range n {
		pub.Say(t, fmt.Sprintf("grp/%d", i%4), 1, false, fmt.Sprintf("g-%02d", i))
	}
	pub.Say(t, "grp", 1, false, "end")

	for g, cs := range groups {
		seen := map[string]bool{}
		for _, c := range cs {
			for _, p := range c.UpTo(t, "grp", "end") {
				require.Equal(t, byte(1), p.QoS)
				require.False(t, seen[string(p.Payload)], "group %s got %q twice", g, p.Payload)
				seen[string(p.Payload)] = true
			}
		}
		require.Len(t, seen, n, "group %s missed messages", g)
	}
}
