package loom_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/session"
)

// sysTopics are the $SYS topics every broker publishes.
var sysTopics = []string{
	"$SYS/broker/version",
	"$SYS/broker/uptime",
	"$SYS/broker/clients/connected",
	"$SYS/broker/clients/disconnected",
	"$SYS/broker/clients/total",
	"$SYS/broker/clients/maximum",
	"$SYS/broker/messages/received",
	"$SYS/broker/messages/sent",
	"$SYS/broker/bytes/received",
	"$SYS/broker/bytes/sent",
	"$SYS/broker/publish/messages/dropped",
	"$SYS/broker/subscriptions/count",
	"$SYS/broker/retained messages/count",
	"$SYS/broker/messages/inflight",
	"$SYS/broker/heap/current",
	"$SYS/broker/spool/bytes",
	"$SYS/broker/publish/reads/paused",
	"$SYS/broker/held/bytes",
	"$SYS/broker/publish/messages/dropped/queue_full",
	"$SYS/broker/publish/messages/dropped/session_bytes",
	"$SYS/broker/publish/messages/dropped/budget",
	"$SYS/broker/publish/messages/dropped/slow_reader",
	"$SYS/broker/publish/messages/dropped/expired",
	"$SYS/broker/publish/messages/dropped/too_large",
	"$SYS/broker/publish/messages/dropped/not_authorized",
	"$SYS/broker/publish/messages/dropped/rejected",
}

// sysWatch follows a client's $SYS messages, keeping the latest value of
// each topic.
type sysWatch struct {
	c    *v5Client
	last map[string]string
}

// until reads $SYS messages until cond holds for the latest values.
func (w *sysWatch) until(t *testing.T, what string, cond func(map[string]string) bool) {
	t.Helper()
	deadline := time.Now().Add(v5Wait)
	for time.Now().Before(deadline) {
		if cond(w.last) {
			return
		}
		m := w.c.recv(t)
		w.last[m.Topic] = string(m.Payload)
	}
	t.Fatalf("$SYS never showed %s; last values %v", what, w.last)
}

func sysNum(t *testing.T, vals map[string]string, topic string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(vals[topic], 10, 64)
	require.NoError(t, err, "%s = %q", topic, vals[topic])
	return n
}

func TestSysTopics(t *testing.T) {
	_, addr := startBroker(t, loom.Options{Session: session.Options{SysInterval: 50 * time.Millisecond}})

	// Subscribed first, so every tick below could have reached it.
	all, _ := connectV5(t, addr, v5Conf{id: "sys-all"})
	all.sub(t, v5Opt("#", 0))

	// [MQTT-3.3.1-9] the retained values arrive with the subscription.
	watcher, _ := connectV5(t, addr, v5Conf{id: "sys-watch"})
	watcher.sub(t, v5Opt("$SYS/#", 0))
	w := &sysWatch{c: watcher, last: make(map[string]string)}
	w.until(t, "every topic", func(v map[string]string) bool { return len(v) == len(sysTopics) })
	for _, topic := range sysTopics {
		require.Contains(t, w.last, topic)
		if topic != "$SYS/broker/version" {
			sysNum(t, w.last, topic)
		}
	}
	require.Equal(t, "loom "+session.Version, w.last["$SYS/broker/version"])
	w.until(t, "both clients connected", func(v map[string]string) bool {
		return v["$SYS/broker/clients/connected"] == "2" && v["$SYS/broker/subscriptions/count"] == "2"
	})

	// Counters move after traffic.
	before := make(map[string]int64)
	for _, topic := range sysTopics[6:10] {
		before[topic] = sysNum(t, w.last, topic)
	}
	pub, _ := connectV5(t, addr, v5Conf{id: "sys-pub"})
	for range 5 {
		pub.say(t, "t/x", 1, false, "0123456789")
	}
	require.Len(t, all.recvN(t, 5), 5)
	w.until(t, "the traffic counted", func(v map[string]string) bool {
		return sysNum(t, v, "$SYS/broker/messages/received") >= before["$SYS/broker/messages/received"]+5 &&
			sysNum(t, v, "$SYS/broker/messages/sent") >= before["$SYS/broker/messages/sent"]+5 &&
			sysNum(t, v, "$SYS/broker/bytes/received") >= before["$SYS/broker/bytes/received"]+5*10 &&
			sysNum(t, v, "$SYS/broker/bytes/sent") >= before["$SYS/broker/bytes/sent"]+5*10 &&
			v["$SYS/broker/clients/connected"] == "3" && v["$SYS/broker/clients/maximum"] == "3"
	})

	// A client cannot publish under $SYS: v5 PUBACK 0x87, nothing stored.
	ctx, cancel := context.WithTimeout(context.Background(), v5Wait)
	defer cancel()
	r, err := pub.Publish(ctx, &paho.Publish{Topic: "$SYS/broker/version", QoS: 1, Retain: true, Payload: []byte("fake")})
	require.Error(t, err)
	require.NotNil(t, r)
	require.EqualValues(t, 0x87, r.ReasonCode)
	late, _ := connectV5(t, addr, v5Conf{id: "sys-late"})
	late.sub(t, v5Opt("$SYS/broker/version", 0))
	m := late.recv(t)
	require.True(t, m.Retain)
	require.Equal(t, "loom "+session.Version, string(m.Payload))
	w.until(t, "the refused publish counted as dropped", func(v map[string]string) bool {
		return sysNum(t, v, "$SYS/broker/publish/messages/dropped") >= 1
	})

	// [MQTT-4.7.2-1] "#" got none of the dozens of $SYS messages published
	// since it subscribed; only the traffic above. Waiting is only needed
	// to give a broken broker time to show it.
	all.quiet(t, 200*time.Millisecond)
}
