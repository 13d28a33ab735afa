package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// The buckets' arithmetic, step by step: what passes, and how long the
// refused wait.
func TestPubRateTake(t *testing.T) {
	type step struct {
		at   int64 // loop clock, ms
		n    int   // packet bytes
		wait int64 // 0: passes
	}
	for _, tt := range []struct {
		name  string
		opts  Options
		steps []step
	}{
		{"messages: the burst, then one per 1/rate", Options{PublishRate: 10, PublishBurst: 3}, []step{
			{0, 10, 0}, {0, 10, 0}, {0, 10, 0}, {0, 10, 100}, {50, 10, 50}, {100, 10, 0}, {100, 10, 100},
		}},
		{"default burst: the rate rounded up", Options{PublishRate: 1.5}, []step{
			{0, 1, 0}, {0, 1, 0}, {0, 1, 667},
		}},
		{"bytes: a packet past the burst passes on a full bucket and leaves a debt", Options{PublishByteRate: 1000}, []step{
			{0, 400, 0}, {0, 700, 100}, {100, 700, 0}, {100, 3000, 1000}, {1000, 3000, 100}, {1100, 3000, 0}, {1100, 1, 2001},
		}},
		{"both: the longer wait", Options{PublishRate: 100, PublishBurst: 1, PublishByteRate: 1000, PublishByteBurst: 100}, []step{
			{0, 100, 0}, {0, 50, 50}, {10, 50, 40}, {50, 50, 0},
		}},
		{"idle time fills no more than the burst", Options{PublishRate: 1, PublishBurst: 2}, []step{
			{0, 1, 0}, {0, 1, 0}, {100000, 1, 0}, {100000, 1, 0}, {100000, 1, 1000},
		}},
		{"a late read gets what it earned past the burst", Options{PublishRate: 10, PublishBurst: 1}, []step{
			{0, 1, 0}, {0, 1, 100}, {500, 1, 0}, {500, 1, 0}, {500, 1, 0}, {500, 1, 0}, {500, 1, 0}, {500, 1, 100},
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			l := newRateLimit(&tt.opts)
			r := &pubRate{msgs: l.msgBurst, bytes: l.byteBurst}
			for i, s := range tt.steps {
				require.Equal(t, s.wait, r.take(l, s.at, s.n), "step %d at %d ms", i, s.at)
			}
		})
	}
	require.Nil(t, newRateLimit(&Options{}))
	// A rate of a few a day waits at most an hour before it looks again.
	l := newRateLimit(&Options{PublishRate: 1e-9})
	r := &pubRate{msgs: l.msgBurst}
	require.Zero(t, r.take(l, 0, 1))
	require.EqualValues(t, maxRateWait, r.take(l, 0, 1))
}

// A client past its rate is left unread until the loop's wheel reaches
// the end of its wait: its keepalive does not run out meanwhile, and the
// other clients of its loop go on.
func TestRateLimitedClientWaitsOnTheWheel(t *testing.T) {
	h := newHarness(t, Options{PublishRate: 2, PublishBurst: 1}, 1)
	woke := wakeRecorder(h, 0)
	pub := h.online(0, connectPacket(proto.V311, "pub", true, 1, 0)) // keepalive 1 s: 1.5 s without a packet ends it
	other := h.online(0, connectPacket(proto.V311, "other", true, 1, 0))
	sub := h.online(0, connectPacket(proto.V311, "sub", true, 0, 0))
	sub.subscribe("t", 0)

	require.False(t, pub.c.RateLimited(20))
	pub.publish("t", "1", 0, 0)
	require.True(t, pub.c.RateLimited(20), "the second within 500 ms waits")
	require.True(t, pub.c.ReadStopped())
	require.False(t, other.c.RateLimited(20), "each client has its own buckets")
	require.EqualValues(t, 1, h.b.Stats.RatePauses.Load())

	// Its wait ends within a wheel step past 500 ms; far less than its
	// keepalive, which starts over when it is read again.
	for range 3 {
		h.advanceClock(250 * time.Millisecond)
		h.tick()
	}
	require.Equal(t, []*Client{pub.c}, *woke)
	require.False(t, pub.c.ReadStopped())
	require.False(t, pub.c.RateLimited(20))
	pub.publish("t", "2", 0, 0)
	h.settle()
	require.Equal(t, []string{"1", "2"}, payloads(publishes(t, sub.recv())))

}

// A wait for tokens longer than 1.5 times the client's keepalive does not
// end the connection [MQTT-3.1.2-24 v3.1.1]: its packet came, the broker did not
// read it. The keepalive starts over when the client is read again, and
// runs out as ever if nothing more comes.
func TestRateWaitKeepsKeepalive(t *testing.T) {
	h := newHarness(t, Options{PublishRate: 0.25, PublishBurst: 1}, 1) // one every 4 s
	woke := wakeRecorder(h, 0)
	pub := h.online(0, connectPacket(proto.V311, "pub", true, 1, 0))
	require.False(t, pub.c.RateLimited(10))
	pub.publish("t", "1", 0, 0)
	require.True(t, pub.c.RateLimited(10))
	for range 14 { // 3.5 s
		h.advanceClock(250 * time.Millisecond)
		h.tick()
	}
	require.False(t, pub.conn.closed(), "closed while its PUBLISH waited for tokens")
	require.Empty(t, *woke)
	for range 3 {
		h.advanceClock(250 * time.Millisecond)
		h.tick()
	}
	require.Equal(t, []*Client{pub.c}, *woke)
	for range 8 { // 2 s more without a packet
		h.advanceClock(250 * time.Millisecond)
		h.tick()
	}
	require.True(t, pub.conn.closed(), "the keepalive runs again once it is read")

	// A client that waits when the broker ends its connection is read
	// again, so that its close is seen.
	other := h.online(0, connectPacket(proto.V5, "other", true, 0, 0))
	require.False(t, other.c.RateLimited(10))
	require.True(t, other.c.RateLimited(10))
	other.c.linger()
	require.False(t, other.c.ReadStopped())
	require.Len(t, *woke, 2)
}

// Without a rate the check is false and makes nothing.
func TestNoRateLimit(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	for range 1000 {
		require.False(t, pub.c.RateLimited(1<<20))
	}
	require.Nil(t, pub.c.ext)
	h2 := newHarness(t, Options{PublishRate: 1}, 1)
	h2.loops[0].NoRatePause()
	pub2 := h2.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	require.False(t, pub2.c.RateLimited(1))
	require.False(t, pub2.c.RateLimited(1), "off on a loop that cannot pause")
}

// A packet injected for a client waiting for its tokens waits behind the
// unread PUBLISH (handling it would move the wheel deadline that ends the
// wait), and is handled once that one is.
func TestInjectWhileRateWaiting(t *testing.T) {
	h := newHarness(t, Options{PublishRate: 2, PublishBurst: 1}, 1)
	woke := wakeRecorder(h, 0)
	pub := h.online(0, connectPacket(proto.V311, "pub", true, 0, 0)) // no keepalive: only the wait is in the wheel
	sub := h.online(0, connectPacket(proto.V311, "sub", true, 0, 0))
	sub.subscribe("t", 0)
	require.False(t, pub.c.RateLimited(10))
	pub.publish("t", "socket 1", 0, 0)
	h.settle()
	require.Equal(t, []string{"socket 1"}, payloads(publishes(t, sub.recv())))
	require.True(t, pub.c.RateLimited(10))
	require.NoError(t, h.b.InjectPacket("pub", &proto.Publish{Topic: []byte("t"), Payload: []byte("injected")}))
	h.settle()
	require.Empty(t, sub.recv(), "handled while the client waits")
	for range 3 {
		h.advanceClock(250 * time.Millisecond)
		h.tick()
	}
	require.Len(t, *woke, 1, "the wait ended on time")
	require.False(t, pub.c.RateLimited(10))
	pub.publish("t", "socket 2", 0, 0) // the packet that waited, handed over again
	h.settle()
	require.Equal(t, []string{"socket 2", "injected"}, payloads(publishes(t, sub.recv())))
}
