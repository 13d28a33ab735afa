package limits_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// The hostile subscriber of issue 15 over real sockets, scaled down: a v5
// client subscribes to everything at QoS 1 and never reads again, while a
// Paho publisher sends large QoS 1 messages. The broker holds at most the
// session's byte bound for it, drops the rest by that cause (counted in
// $SYS), and tells the publisher: PUBACK 0x97 Quota exceeded for messages
// that reached no one [MQTT-3.4.2-1]. The publisher is never stalled, and a
// healthy subscriber on another topic gets every one of its messages.
func TestStalledSubscriberIsBounded(t *testing.T) {
	const size, n = 16 << 10, 200
	limits := loom.Limits{MaxSessionBytes: 256 << 10, OutboundLimit: 128 << 10}
	srv, addr := loomtest.Start(t, loom.Options{Loops: 2, Limits: limits, SysInterval: 50 * time.Millisecond})

	// A 4 KiB receive buffer: the kernel takes little off the broker once
	// the client stops reading.
	hog := loomtest.DialWith(t, addr, loomtest.Dialer{Version: proto.V5, ReceiveBuffer: 4096})
	hog.Connect("hog", nil)
	hog.Subscribe("#", 1) // and never reads again

	healthy, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "healthy"})
	healthy.Sub(t, pahotest.V5Opt("healthy/#", 1))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "pub"})

	payload := bytes.Repeat([]byte{'x'}, size)
	codes := map[byte]int{}
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
		r, err := pub.Publish(ctx, &paho.Publish{Topic: "big/t", QoS: 1, Payload: payload})
		cancel()
		require.NotNil(t, r, "PUBACK %d: %v", i, err)
		codes[r.ReasonCode]++
		if r.ReasonCode != 0 {
			require.Equal(t, byte(proto.QuotaExceeded), r.ReasonCode, "the only failure is the bound")
		}
		if i%10 == 0 {
			pub.Say(t, "healthy/t", 1, false, "ok")
		}
	}
	require.Positive(t, codes[byte(proto.QuotaExceeded)], "PUBACK codes %v", codes)
	require.Len(t, healthy.RecvN(t, n/10), n/10, "the healthy subscriber got every message")

	st := srv.Stats()
	require.Positive(t, st.Drops.SessionBytes)
	held := st.HeldBytes - st.SpoolBytes
	require.LessOrEqual(t, held, limits.MaxSessionBytes+(64<<10), "what the broker holds for the hog, messages on their way included")

	watcher, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sys"})
	watcher.Sub(t, pahotest.V5Opt("$SYS/broker/publish/messages/dropped/#", 0))
	w := pahotest.WatchSys(watcher)
	w.Until(t, "drops by cause", func(v map[string]string) bool {
		_, ok := v["$SYS/broker/publish/messages/dropped/session_bytes"]
		return ok && pahotest.SysNum(t, v, "$SYS/broker/publish/messages/dropped/session_bytes") == srv.Stats().Drops.SessionBytes
	})
}
