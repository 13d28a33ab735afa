package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

func TestSysTopics(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{SysInterval: 50 * time.Millisecond})

	// Subscribed first, so every tick below could have reached it.
	all, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sys-all"})
	all.Sub(t, pahotest.V5Opt("#", 0))

	// [MQTT-3.3.1-9] the retained values arrive with the subscription.
	watcher, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sys-watch"})
	watcher.Sub(t, pahotest.V5Opt("$SYS/#", 0))
	w := pahotest.WatchSys(watcher)
	w.Until(t, "every topic", func(v map[string]string) bool { return len(v) == len(pahotest.SysTopics) })
	for _, topic := range pahotest.SysTopics {
		require.Contains(t, w.Last, topic)
		if topic != "$SYS/broker/version" {
			pahotest.SysNum(t, w.Last, topic)
		}
	}
	require.Equal(t, "loom "+loom.Version, w.Last["$SYS/broker/version"])
	w.Until(t, "both clients connected", func(v map[string]string) bool {
		return v["$SYS/broker/clients/connected"] == "2" && v["$SYS/broker/subscriptions/count"] == "2"
	})

	// Counters move after traffic.
	before := make(map[string]int64)
	for _, topic := range pahotest.SysTopics[6:10] {
		before[topic] = pahotest.SysNum(t, w.Last, topic)
	}
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sys-pub"})
	for range 5 {
		pub.Say(t, "t/x", 1, false, "0123456789")
	}
	require.Len(t, all.RecvN(t, 5), 5)
	w.Until(t, "the traffic counted", func(v map[string]string) bool {
		return pahotest.SysNum(t, v, "$SYS/broker/messages/received") >= before["$SYS/broker/messages/received"]+5 &&
			pahotest.SysNum(t, v, "$SYS/broker/messages/sent") >= before["$SYS/broker/messages/sent"]+5 &&
			pahotest.SysNum(t, v, "$SYS/broker/bytes/received") >= before["$SYS/broker/bytes/received"]+5*10 &&
			pahotest.SysNum(t, v, "$SYS/broker/bytes/sent") >= before["$SYS/broker/bytes/sent"]+5*10 &&
			v["$SYS/broker/clients/connected"] == "3" && v["$SYS/broker/clients/maximum"] == "3"
	})

	// A client cannot publish under $SYS: v5 PUBACK 0x87, nothing stored.
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	r, err := pub.Publish(ctx, &paho.Publish{Topic: "$SYS/broker/version", QoS: 1, Retain: true, Payload: []byte("fake")})
	require.Error(t, err)
	require.NotNil(t, r)
	require.EqualValues(t, 0x87, r.ReasonCode)
	late, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sys-late"})
	late.Sub(t, pahotest.V5Opt("$SYS/broker/version", 0))
	m := late.Recv(t)
	require.True(t, m.Retain)
	require.Equal(t, "loom "+loom.Version, string(m.Payload))
	w.Until(t, "the refused publish counted as dropped", func(v map[string]string) bool {
		return pahotest.SysNum(t, v, "$SYS/broker/publish/messages/dropped") >= 1
	})

	// [MQTT-4.7.2-1] "#" got none of the dozens of $SYS messages published
	// since it subscribed; only the traffic above. Waiting is only needed
	// to give a broken broker time to show it.
	all.Quiet(t, 200*time.Millisecond)
}
