package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// publishExpiring publishes at QoS 1 with a Message Expiry Interval of
// expiry seconds (-1 leaves the property out) and requires the PUBACK.
func (tc *tclient) publishExpiring(topic, payload string, pid uint16, expiry int64) {
	tc.t.Helper()
	p := &proto.Publish{Topic: []byte(topic), Payload: []byte(payload), QoS: 1, PacketID: pid}
	if expiry >= 0 {
		p.Props.MessageExpiry = uint32(expiry)
		p.Props.Set(proto.PropMessageExpiry)
	}
	tc.mustSend(p)
	requireAck(tc.t, tc.recvOne(), proto.PUBACK, pid, proto.Success)
}

// expiryOf is the Message Expiry Interval p carries, -1 when absent.
func expiryOf(p *proto.Publish) int64 {
	if !p.Props.Has(proto.PropMessageExpiry) {
		return -1
	}
	return int64(p.Props.MessageExpiry)
}

// offlineSub leaves a persistent v5 session subscribed to "e/#" at QoS 1
// with no connection, and a connected publisher.
func offlineSub(t *testing.T, opts Options) (*harness, *tclient) {
	t.Helper()
	h := newHarness(t, opts, 1)
	sub := h.online(0, connectPacket(proto.V5, "sub", false, 0, ExpiryNever))
	sub.subscribe("e/#", 1)
	sub.drop()
	return h, h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
}

// reconnectSub resumes the session of offlineSub and returns what it is sent.
func reconnectSub(h *harness) (*tclient, []*proto.Publish) {
	h.t.Helper()
	sub := h.dial(0)
	require.True(h.t, sub.connect(connectPacket(proto.V5, "sub", false, 0, ExpiryNever)).SessionPresent)
	h.settle()
	return sub, publishes(h.t, sub.recv())
}

func TestMessageExpiryWhileQueued(t *testing.T) {
	h, pub := offlineSub(t, Options{})
	pub.publishExpiring("e/1", "short", 1, 10)
	pub.publishExpiring("e/1", "long", 2, 60)
	pub.publishExpiring("e/1", "none", 3, -1)
	h.settle()
	h.advanceClock(20 * time.Second)

	_, got := reconnectSub(h)
	// [MQTT-3.3.2-5] the expired one is not sent, and counted.
	require.Equal(t, []string{"long", "none"}, payloads(got))
	require.EqualValues(t, 1, h.b.Stats.Dropped.Load())
	// [MQTT-3.3.2-6] the interval left after 20 s held; a message without
	// one is sent without one.
	require.EqualValues(t, 40, expiryOf(got[0]))
	require.EqualValues(t, -1, expiryOf(got[1]))
	// The expired message took no packet id: the first one sent has the
	// first id.
	require.EqualValues(t, 1, got[0].PacketID)
	require.EqualValues(t, 2, got[1].PacketID)
}

func TestMessageExpiryMaximum(t *testing.T) {
	tests := []struct {
		name     string
		max      time.Duration // Options.MaxMessageExpiry
		interval int64         // Message Expiry Interval published; -1 = none
		held     time.Duration // time queued before the subscriber returns
		want     int64         // interval received; -1 = none; -2 = not delivered
	}{
		{"below the maximum", 30 * time.Second, 10, 0, 10},
		{"above the maximum is lowered", 30 * time.Second, 100, 0, 30},
		{"lowered, then held", 30 * time.Second, 100, 20 * time.Second, 10},
		{"lowered, expires at the maximum", 30 * time.Second, 100, 31 * time.Second, -2},
		{"none is sent without one", 30 * time.Second, -1, 20 * time.Second, -1},
		{"none is kept no longer than the maximum", 30 * time.Second, -1, 31 * time.Second, -2},
		{"default maximum 24h", 0, -1, 25 * time.Hour, -2},
		{"default maximum lowers", 0, 100000, 0, 86400},
		{"no maximum", -1, -1, 25 * time.Hour, -1},
		{"no maximum keeps the interval", -1, 100000, 0, 100000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, pub := offlineSub(t, Options{MaxMessageExpiry: tt.max})
			pub.publishExpiring("e/1", "m", 1, tt.interval)
			h.settle()
			h.advanceClock(tt.held)
			_, got := reconnectSub(h)
			if tt.want == -2 {
				require.Empty(t, got) // [MQTT-3.3.2-5]
				return
			}
			require.Len(t, got, 1)
			require.Equal(t, tt.want, expiryOf(got[0])) // [MQTT-3.3.2-6]
		})
	}
}

func TestExpiredMessagesLeaveTheQueueWhenReached(t *testing.T) {
	t.Run("behind a closed window", func(t *testing.T) {
		// Receive Maximum 1: the second and third wait; the second expires
		// while waiting and is skipped when the window opens.
		p := connectPacket(proto.V5, "sub", true, 0, 0)
		p.Props.ReceiveMaximum = 1
		p.Props.Set(proto.PropReceiveMaximum)
		ps := newPubsub(t, Options{}, 1, p, "e/#", 1)
		ps.pub.publishExpiring("e/1", "first", 1, -1)
		ps.pub.publishExpiring("e/1", "expiring", 2, 5)
		ps.pub.publishExpiring("e/1", "third", 3, -1)
		ps.h.settle()
		first := publishes(t, ps.sub.recv())
		require.Equal(t, []string{"first"}, payloads(first))

		ps.h.advanceClock(6 * time.Second)
		ps.sub.ack(proto.PUBACK, first[0].PacketID, proto.Success)
		got := publishes(t, ps.sub.recv())
		require.Equal(t, []string{"third"}, payloads(got)) // [MQTT-3.3.2-5]
		require.EqualValues(t, first[0].PacketID+1, got[0].PacketID, "no packet id spent on the expired one")
		require.EqualValues(t, 1, ps.h.b.Stats.Dropped.Load())
	})
	t.Run("a full queue makes room from expired ones", func(t *testing.T) {
		h, pub := offlineSub(t, Options{MaxQueued: 2})
		pub.publishExpiring("e/1", "old1", 1, 5)
		pub.publishExpiring("e/1", "old2", 2, 5)
		h.settle()
		h.advanceClock(6 * time.Second)
		pub.publishExpiring("e/1", "new1", 3, -1)
		pub.publishExpiring("e/1", "new2", 4, -1)
		h.settle()
		require.EqualValues(t, 2, h.b.Stats.Dropped.Load(), "the two expired, not the new ones")
		_, got := reconnectSub(h)
		require.Equal(t, []string{"new1", "new2"}, payloads(got))
	})
}

func TestExpiredInflightIsResent(t *testing.T) {
	// A message already sent is in delivery: on reconnect it is re-sent
	// with its packet id [MQTT-4.4.0-1] even though it expired meanwhile,
	// with no interval left.
	h := newHarness(t, Options{}, 1)
	sub := h.online(0, connectPacket(proto.V5, "sub", false, 0, ExpiryNever))
	sub.subscribe("e/#", 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	pub.publishExpiring("e/1", "m", 1, 5)
	h.settle()
	first := publishes(t, sub.recv())
	require.Len(t, first, 1)
	sub.drop()

	h.advanceClock(10 * time.Second)
	_, got := reconnectSub(h)
	require.Len(t, got, 1)
	require.True(t, got[0].Dup)
	require.Equal(t, first[0].PacketID, got[0].PacketID)
	require.EqualValues(t, 0, expiryOf(got[0]))
}

func TestRetainedMessageExpiry(t *testing.T) {
	// [MQTT-3.3.2-5] an expired retained message is not sent to a new
	// subscriber; one published without an interval stays retained:
	// MaxMessageExpiry bounds how long copies wait, not the retained store.
	h := newHarness(t, Options{MaxMessageExpiry: time.Hour}, 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	for _, r := range []struct {
		topic    string
		interval uint32
	}{{"r/short", 10}, {"r/long", 100}, {"r/none", 0}} {
		m := &proto.Publish{Topic: []byte(r.topic), Payload: []byte(r.topic), Retain: true}
		if r.interval != 0 {
			m.Props.MessageExpiry = r.interval
			m.Props.Set(proto.PropMessageExpiry)
		}
		pub.mustSend(m)
	}
	h.settle()
	h.advanceClock(20 * time.Second)

	sub := h.online(0, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.mustSend(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("r/+")}}})
	h.settle()
	ps := sub.recv()
	require.IsType(t, &proto.Suback{}, ps[0])
	got := publishes(t, ps[1:])
	byTopic := map[string]int64{}
	for _, p := range got {
		byTopic[string(p.Topic)] = expiryOf(p)
	}
	require.Equal(t, map[string]int64{"r/long": 80, "r/none": -1}, byTopic)

	h.advanceClock(time.Hour)
	late := h.online(0, connectPacket(proto.V5, "late", true, 0, 0))
	late.mustSend(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("r/+")}}})
	h.settle()
	ps = late.recv()
	require.IsType(t, &proto.Suback{}, ps[0])
	got = publishes(t, ps[1:])
	require.Len(t, got, 1, "r/short and r/long expired; r/none is still retained")
	require.Equal(t, "r/none", string(got[0].Topic))
	require.EqualValues(t, -1, expiryOf(got[0]), "sent without a Message Expiry Interval")
}

func TestWillExpiryStartsWhenPublished(t *testing.T) {
	// The will's Message Expiry Interval counts from its publication, not
	// from CONNECT (section 3.1.3.2.4).
	h := newHarness(t, Options{}, 1)
	watcher := h.online(0, connectPacket(proto.V5, "w", false, 0, ExpiryNever))
	watcher.subscribe("will/#", 1)
	watcher.drop()

	p := withWill(connectPacket(proto.V5, "dev", true, 0, 0), "gone")
	p.WillProps.MessageExpiry = 30
	p.WillProps.Set(proto.PropMessageExpiry)
	dev := h.online(0, p)
	h.advanceClock(time.Minute) // connected longer than the interval
	dev.drop()
	h.settle()
	h.advanceClock(10 * time.Second)

	w := h.dial(0)
	w.connect(connectPacket(proto.V5, "w", false, 0, ExpiryNever))
	h.settle()
	got := publishes(t, w.recv())
	require.Equal(t, []string{"gone"}, payloads(got))
	require.EqualValues(t, 20, expiryOf(got[0])) // [MQTT-3.3.2-6]

	// The same will, held past its interval, is dropped [MQTT-3.3.2-5].
	w.ack(proto.PUBACK, got[0].PacketID, proto.Success)
	w.drop()
	dev = h.online(0, p)
	dev.drop()
	h.settle()
	h.advanceClock(31 * time.Second)
	w = h.dial(0)
	w.connect(connectPacket(proto.V5, "w", false, 0, ExpiryNever))
	h.settle()
	w.recvNone()
}

// sessionExpiry is the interval the broker keeps for the session of id.
func sessionExpiry(t *testing.T, h *harness, id string) uint32 {
	t.Helper()
	h.b.mu.Lock()
	s := h.b.sessions.get(id)
	h.b.mu.Unlock()
	require.NotNil(t, s)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.expiry
}

func TestSessionExpiryMaximum(t *testing.T) {
	tests := []struct {
		name  string
		max   time.Duration
		v     proto.Version
		clean bool
		asked uint32 // v5 Session Expiry Interval; 0 leaves it out
		used  uint32
		told  bool // CONNACK carries Session Expiry Interval
		disc  uint32
		after uint32 // expiry after a DISCONNECT asking for disc (v5; 0 = not sent)
	}{
		{"no maximum", -1, proto.V5, false, ExpiryNever, ExpiryNever, false, 0, 0},
		{"default maximum is 7 days", 0, proto.V5, false, ExpiryNever, 604800, true, 0, 0},
		{"default maximum keeps a shorter one", 0, proto.V5, false, 3600, 3600, false, 0, 0},
		{"v3.1.1 default maximum", 0, proto.V311, false, 0, 604800, false, 0, 0},
		{"v3.1.1 no maximum", -1, proto.V311, false, 0, ExpiryNever, false, 0, 0},
		{"below the maximum", time.Minute, proto.V5, false, 30, 30, false, 0, 0},
		{"equal to the maximum", time.Minute, proto.V5, false, 60, 60, false, 0, 0},
		{"above is lowered", time.Minute, proto.V5, false, 3600, 60, true, 0, 0},
		{"never is lowered", time.Minute, proto.V5, false, ExpiryNever, 60, true, 0, 0},
		{"absent stays 0", time.Minute, proto.V5, true, 0, 0, false, 0, 0},
		{"rounded up to a second", 1500 * time.Millisecond, proto.V5, false, 10, 2, true, 0, 0},
		{"DISCONNECT above is lowered", time.Minute, proto.V5, false, 30, 30, false, 7200, 60},
		{"DISCONNECT below stays", time.Minute, proto.V5, false, 30, 30, false, 45, 45},
		{"v3.1.1 persistent session", time.Minute, proto.V311, false, 0, 60, false, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{MaxSessionExpiry: tt.max}, 1)
			c := h.dial(0)
			ack := c.connect(connectPacket(tt.v, "dev", tt.clean, 0, tt.asked))
			require.Equal(t, tt.used, sessionExpiry(t, h, "dev"))
			// Section 3.2.2.3.2: a v5 client is told when the server uses
			// another value than it asked for.
			require.Equal(t, tt.told, ack.Props.Has(proto.PropSessionExpiry))
			if tt.told {
				require.Equal(t, tt.used, ack.Props.SessionExpiry)
			}
			if tt.disc != 0 {
				d := &proto.Disconnect{}
				d.Props.SessionExpiry = tt.disc
				d.Props.Set(proto.PropSessionExpiry)
				require.ErrorIs(t, c.send(d), ErrDisconnect)
				require.Equal(t, tt.after, sessionExpiry(t, h, "dev"))
				c.drop()
			}
		})
	}
}
