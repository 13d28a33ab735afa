package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// Conformance tests of chapter 4 that need the broker's clock or an exact
// "nothing else happened": the fake harness runs every loop and the router
// to a standstill (settle), so an absence is a fact, not a timeout.

// withExpiry is a v5 PUBLISH carrying a Message Expiry Interval.
func withExpiry(topic, payload string, qos byte, pid uint16, sec uint32) *proto.Publish {
	p := &proto.Publish{Topic: []byte(topic), Payload: []byte(payload), QoS: qos, PacketID: pid}
	p.Props.MessageExpiry = sec
	p.Props.Set(proto.PropMessageExpiry)
	return p
}

func TestConformanceSessionKeptWhileConnected(t *testing.T) {
	tests := []struct {
		name    string
		connect *proto.Connect
		wait    time.Duration // real time, for the broker's expiry timers
	}{
		// [MQTT-4.1.0-1]: a v5 session whose expiry is far shorter than
		// the time the connection stays open.
		{"v5 expiry 1s", connectPacket(proto.V5, "c", true, 0, 1), 1500 * time.Millisecond},
		{"v5 expiry 0", connectPacket(proto.V5, "c", true, 0, 0), 0},
		// [MQTT-4.1.0-2 v3.1.1]: a Clean Session lasts as long as its
		// connection.
		{"v3.1.1 clean session", connectPacket(proto.V311, "c", true, 0, 0), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{}, 2)
			c := h.online(0, tt.connect)
			c.subscribe("keep/t", 1)
			pub := h.online(1, connectPacket(proto.V5, "pub", true, 0, 0))
			pub.publish("keep/t", "before", 1, 1)
			h.settle()
			before := publishes(t, c.recv())
			require.Equal(t, []string{"before"}, payloads(before))

			// An hour passes with the connection open (keepalive 0: no
			// timeout); the session's subscription and its unacknowledged
			// message must both still be there.
			time.Sleep(tt.wait)
			h.advanceClock(time.Hour)
			h.tick()
			h.settle()
			require.False(t, c.conn.closed())
			pub.publish("keep/t", "after", 1, 2)
			h.settle()
			after := publishes(t, c.recv())
			require.Equal(t, []string{"after"}, payloads(after), "[MQTT-4.1.0-1] [MQTT-4.1.0-2 v3.1.1] subscription lost")
			require.NotEqual(t, before[0].PacketID, after[0].PacketID, "the first message's id was freed without PUBACK")
			c.ack(proto.PUBACK, before[0].PacketID, proto.Success)
			c.ack(proto.PUBACK, after[0].PacketID, proto.Success)
			c.recvNone()
		})
	}
}

func TestConformanceV311SessionLastsAcrossConnections(t *testing.T) {
	// [MQTT-4.1.0-1 v3.1.1]: a Clean Session 0 session keeps its state
	// (subscriptions, unacknowledged and queued messages) for as long as
	// it lasts, across connections, until a Clean Session 1 ends it.
	h := newHarness(t, Options{}, 2)
	c := h.online(0, connectPacket(proto.V311, "c", false, 0, 0))
	c.subscribe("s/t", 1)
	pub := h.online(1, connectPacket(proto.V5, "pub", true, 0, 0))
	pub.publish("s/t", "m1", 1, 1)
	h.settle()
	m1 := publishes(t, c.recv())
	require.Equal(t, []string{"m1"}, payloads(m1))
	c.drop()
	pub.publish("s/t", "m2", 1, 2)
	h.settle()

	for round := range 2 {
		c = h.dial(0)
		ack := c.connect(connectPacket(proto.V311, "c", false, 0, 0))
		require.True(t, ack.SessionPresent, "round %d", round)
		got := publishes(t, c.recv())
		if round == 0 {
			require.Equal(t, []string{"m1", "m2"}, payloads(got))
			require.Equal(t, m1[0].PacketID, got[0].PacketID)
			require.True(t, got[0].Dup)
			for _, p := range got {
				c.ack(proto.PUBACK, p.PacketID, proto.Success)
			}
		} else {
			require.Empty(t, got, "acknowledged messages came again")
		}
		c.drop()
	}
	// The subscription is still part of the session.
	c = h.dial(0)
	c.connect(connectPacket(proto.V311, "c", false, 0, 0))
	pub.publish("s/t", "m3", 1, 3)
	h.settle()
	require.Equal(t, []string{"m3"}, payloads(publishes(t, c.recv())))
}

func TestConformanceNoExpiryOnceSent(t *testing.T) {
	// [MQTT-4.3.3-7]: once a PUBLISH has gone out, its message no longer
	// expires: the flow is finished even after the interval has passed. A
	// message still waiting when it expires is dropped, which shows the
	// clock did move.
	for _, qos := range []byte{1, 2} {
		t.Run(string('0'+qos), func(t *testing.T) {
			h := newHarness(t, Options{MaxInflight: 1}, 2)
			sub := h.online(0, connectPacket(proto.V5, "sub", false, 0, ExpiryNever))
			sub.subscribe("exp/t", qos)
			pub := h.online(1, connectPacket(proto.V5, "pub", true, 0, 0))
			for i, name := range []string{"sent", "waiting"} {
				pid := uint16(i + 1)
				pub.mustSend(withExpiry("exp/t", name, qos, pid, 5))
				pub.recvOne()
				if qos == 2 {
					pub.ack(proto.PUBREL, pid, proto.Success)
					requireAck(t, pub.recvOne(), proto.PUBCOMP, pid, proto.Success)
				}
			}
			h.settle()
			sent := publishes(t, sub.recv())
			require.Equal(t, []string{"sent"}, payloads(sent))
			pid := sent[0].PacketID

			h.advanceClock(time.Minute)
			h.tick()
			sub.drop()
			sub = h.dial(0)
			require.True(t, sub.connect(connectPacket(proto.V5, "sub", false, 0, ExpiryNever)).SessionPresent)
			again := publishes(t, sub.recv())
			require.Equal(t, []string{"sent"}, payloads(again), "[MQTT-4.3.3-7] an expired message already sent must be re-sent")
			require.Equal(t, pid, again[0].PacketID)
			require.True(t, again[0].Dup)

			if qos == 1 {
				sub.ack(proto.PUBACK, pid, proto.Success)
			} else {
				// [MQTT-4.3.3-13]: the QoS 2 exchange goes on after expiry.
				sub.ack(proto.PUBREC, pid, proto.Success)
				requireAck(t, sub.recvOne(), proto.PUBREL, pid, proto.Success)
				sub.ack(proto.PUBCOMP, pid, proto.Success)
			}
			h.settle()
			sub.recvNone() // "waiting" expired before it was sent
		})
	}
}

func TestConformanceQoS2InboundAfterExpiry(t *testing.T) {
	// [MQTT-4.3.3-13]: the broker, as receiver, completes a QoS 2 exchange
	// whose message has expired meanwhile.
	h := newHarness(t, Options{}, 1)
	c := h.online(0, connectPacket(proto.V5, "c", true, 0, 0))
	c.mustSend(withExpiry("in/t", "x", 2, 9, 1))
	requireAck(t, c.recvOne(), proto.PUBREC, 9, proto.Success)
	h.advanceClock(time.Minute)
	h.tick()
	c.ack(proto.PUBREL, 9, proto.Success)
	requireAck(t, c.recvOne(), proto.PUBCOMP, 9, proto.Success)
}

func TestConformanceRefusedQoS2IDIsNew(t *testing.T) {
	// [MQTT-4.3.3-9]: after a PUBREC with a code of 0x80 or more, a PUBLISH
	// with the same packet id is a new message, not a duplicate to be
	// dropped. A client may not publish to $SYS, which gets PUBREC 0x87.
	h := newHarness(t, Options{}, 2)
	sub := h.online(1, connectPacket(proto.V5, "sub", true, 0, 0))
	sub.subscribe("new/t", 2)
	c := h.online(0, connectPacket(proto.V5, "c", true, 0, 0))
	c.mustSend(&proto.Publish{Topic: []byte("$SYS/fake"), Payload: []byte("no"), QoS: 2, PacketID: 5})
	rec := c.recvOne().(*proto.Ack)
	require.Equal(t, proto.PUBREC, rec.Type)
	require.GreaterOrEqual(t, rec.Reason, proto.ReasonCode(0x80))

	c.mustSend(&proto.Publish{Topic: []byte("new/t"), Payload: []byte("yes"), QoS: 2, PacketID: 5})
	requireAck(t, c.recvOne(), proto.PUBREC, 5, proto.Success)
	h.settle()
	require.Equal(t, []string{"yes"}, payloads(publishes(t, sub.recv())), "[MQTT-4.3.3-9]")
	c.ack(proto.PUBREL, 5, proto.Success)
	requireAck(t, c.recvOne(), proto.PUBCOMP, 5, proto.Success)
}

func TestConformanceUnauthorizedPublishV311(t *testing.T) {
	// [MQTT-3.3.5-2 v3.1.1]: a 3.1.1 client cannot be told a PUBLISH was
	// refused, so the broker either acknowledges it by the normal QoS rules
	// or closes. Loom refuses client PUBLISH to $SYS and acknowledges.
	h := newHarness(t, Options{}, 2)
	watch := h.online(1, connectPacket(proto.V311, "watch", true, 0, 0))
	watch.subscribe("$SYS/fake", 2)
	c := h.online(0, connectPacket(proto.V311, "c", true, 0, 0))
	c.v = proto.V311

	c.mustSend(&proto.Publish{Topic: []byte("$SYS/fake"), Payload: []byte("q0")})
	c.recvNone()
	c.mustSend(&proto.Publish{Topic: []byte("$SYS/fake"), Payload: []byte("q1"), QoS: 1, PacketID: 11})
	requireAck(t, c.recvOne(), proto.PUBACK, 11, proto.Success)
	c.mustSend(&proto.Publish{Topic: []byte("$SYS/fake"), Payload: []byte("q2"), QoS: 2, PacketID: 12})
	requireAck(t, c.recvOne(), proto.PUBREC, 12, proto.Success)
	c.ack(proto.PUBREL, 12, proto.Success)
	requireAck(t, c.recvOne(), proto.PUBCOMP, 12, proto.Success)
	require.False(t, c.conn.closed())
	h.settle()
	watch.recvNone() // it was refused, not published
}

// sharedPair subscribes a persistent v5 client "a" alone to a shared
// group, lets it receive one message at qos, then adds "b" to the group.
func sharedPair(t *testing.T, qos byte) (h *harness, a, b, pub *tclient, first *proto.Publish) {
	t.Helper()
	h = newHarness(t, Options{}, 3)
	a = h.online(0, connectPacket(proto.V5, "a", false, 0, 60))
	a.subscribe("$share/g/sh/t", qos)
	pub = h.online(2, connectPacket(proto.V5, "pub", true, 0, 0))
	pub.publish("sh/t", "m1", qos, 1)
	if qos == 2 {
		pub.ack(proto.PUBREL, 1, proto.Success)
		requireAck(t, pub.recvOne(), proto.PUBCOMP, 1, proto.Success)
	}
	h.settle()
	got := publishes(t, a.recv())
	require.Equal(t, []string{"m1"}, payloads(got))
	b = h.online(1, connectPacket(proto.V5, "b", true, 0, 0))
	b.subscribe("$share/g/sh/t", qos)
	return h, a, b, pub, got[0]
}

func TestConformanceSharedQoS2Completes(t *testing.T) {
	t.Run("broken before PUBREC", func(t *testing.T) {
		h, a, b, _, m1 := sharedPair(t, 2)
		a.drop()
		h.settle()
		b.recvNone()
		// [MQTT-4.8.2-4]: the chosen member gets the message again on
		// its return, and only it.
		a = h.dial(0)
		require.True(t, a.connect(connectPacket(proto.V5, "a", false, 0, 60)).SessionPresent)
		again := publishes(t, a.recv())
		require.Equal(t, []string{"m1"}, payloads(again), "[MQTT-4.8.2-4]")
		require.Equal(t, m1.PacketID, again[0].PacketID)
		a.ack(proto.PUBREC, m1.PacketID, proto.Success)
		requireAck(t, a.recvOne(), proto.PUBREL, m1.PacketID, proto.Success)
		a.ack(proto.PUBCOMP, m1.PacketID, proto.Success)
		h.settle()
		b.recvNone()
	})
	t.Run("broken after PUBREL", func(t *testing.T) {
		h, a, b, _, m1 := sharedPair(t, 2)
		a.ack(proto.PUBREC, m1.PacketID, proto.Success)
		requireAck(t, a.recvOne(), proto.PUBREL, m1.PacketID, proto.Success)
		a.drop()
		a = h.dial(0)
		a.connect(connectPacket(proto.V5, "a", false, 0, 60))
		// [MQTT-4.8.2-4] completed as section 4.3.3 says: the PUBREL.
		requireAck(t, a.recvOne(), proto.PUBREL, m1.PacketID, proto.Success)
		a.ack(proto.PUBCOMP, m1.PacketID, proto.Success)
		h.settle()
		b.recvNone()
	})
	for _, end := range []string{"clean start", "expiry"} {
		t.Run("session ends by "+end, func(t *testing.T) {
			h, a, b, _, _ := sharedPair(t, 2)
			s := a.c.sess
			a.drop()
			if end == "expiry" {
				s.expire() // as its timer does when the interval has passed
			} else {
				a = h.dial(0)
				require.False(t, a.connect(connectPacket(proto.V5, "a", true, 0, 0)).SessionPresent)
			}
			h.settle()
			// [MQTT-4.8.2-5]: not handed to another member.
			b.recvNone()
			if end == "expiry" {
				a = h.dial(0)
				require.False(t, a.connect(connectPacket(proto.V5, "a", false, 0, 60)).SessionPresent, "the session did not expire")
				h.settle()
				b.recvNone()
			}
			a.recvNone()
		})
	}
}

func TestConformanceSharedRefusedIsDiscarded(t *testing.T) {
	// [MQTT-4.8.2-6]: a member that answers 0x80 or more ends the message;
	// no other member gets it.
	for _, qos := range []byte{1, 2} {
		t.Run(string('0'+qos), func(t *testing.T) {
			h, a, b, _, m1 := sharedPair(t, qos)
			typ := proto.PUBACK
			if qos == 2 {
				typ = proto.PUBREC
			}
			a.ack(typ, m1.PacketID, proto.UnspecifiedError)
			h.settle()
			a.recvNone()
			b.recvNone()
			// a's session holds nothing more of it either.
			a.drop()
			a = h.dial(0)
			a.connect(connectPacket(proto.V5, "a", false, 0, 60))
			a.recvNone()
		})
	}
}

func TestConformanceSendQuota(t *testing.T) {
	for _, rm := range []uint16{1, 3} {
		t.Run(string('0'+byte(rm)), func(t *testing.T) {
			p := connectPacket(proto.V5, "sub", true, 0, 0)
			p.Props.ReceiveMaximum = rm
			p.Props.Set(proto.PropReceiveMaximum)
			ps := newPubsub(t, Options{}, 2, p, "quota/t", 1)
			ps.send("quota/t", 1, 1, 6)
			// [MQTT-4.9.0-1]: the initial quota is the client's Receive
			// Maximum: above zero, and not above it.
			got := publishes(t, ps.sub.recv())
			require.Equal(t, names(1, int(rm)), payloads(got), "[MQTT-4.9.0-1]")

			// [MQTT-4.9.0-3]: with the quota at zero every other packet is
			// still answered, and no QoS 1 PUBLISH slips out with them.
			sub := ps.sub
			sub.mustSend(&proto.Ping{Type: proto.PINGREQ})
			require.Equal(t, proto.PINGRESP, sub.recvOne().(*proto.Ping).Type)
			sub.mustSend(&proto.Subscribe{PacketID: 21, Subscriptions: []proto.Subscription{{Filter: []byte("other/t"), QoS: 1}}})
			require.EqualValues(t, 21, sub.recvOne().(*proto.Suback).PacketID)
			sub.mustSend(&proto.Unsubscribe{PacketID: 22, Filters: [][]byte{[]byte("other/t")}})
			require.EqualValues(t, 22, sub.recvOne().(*proto.Unsuback).PacketID)
			sub.publish("elsewhere", "q1", 1, 23)
			sub.publish("elsewhere", "q2", 2, 24)
			sub.ack(proto.PUBREL, 24, proto.Success)
			requireAck(t, sub.recvOne(), proto.PUBCOMP, 24, proto.Success)
			ps.h.settle()
			sub.recvNone()

			// One acknowledgement lets exactly one more through.
			sub.ack(proto.PUBACK, got[0].PacketID, proto.Success)
			ps.h.settle()
			require.Equal(t, names(int(rm)+1, int(rm)+1), payloads(publishes(t, sub.recv())))
		})
	}
}

func TestConformanceNoWillWithoutFlag(t *testing.T) {
	// [MQTT-3.1.2-12 v3.1.1]: Will Flag 0, no will when the connection
	// ends, however it ends. The connection with a will shows the watcher
	// would have seen one.
	h := newHarness(t, Options{}, 2)
	watch := h.online(1, connectPacket(proto.V311, "watch", true, 0, 0))
	watch.subscribe("#", 0)

	plain := h.online(0, connectPacket(proto.V311, "plain", true, 0, 0))
	plain.drop()
	h.settle()
	watch.recvNone()

	p := connectPacket(proto.V311, "willed", true, 0, 0)
	p.WillFlag, p.WillTopic, p.WillPayload = true, []byte("will/t"), []byte("gone")
	willed := h.online(0, p)
	willed.drop()
	h.settle()
	require.Equal(t, []string{"gone"}, payloads(publishes(t, watch.recv())))
}
