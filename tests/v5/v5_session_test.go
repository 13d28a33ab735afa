package v5_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// TestV5Takeover connects a second client with the id of a connected one:
// the first is told why and closed, and the second carries on with the
// session and its subscription.
// [MQTT-3.1.4-3] DISCONNECT 0x8E to the existing client, which is closed
// [MQTT-3.1.2-5] [MQTT-3.2.2-3] Clean Start 0 resumes: Session Present 1
func TestV5Takeover(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	first, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "taken", Keep: true, Expiry: 300})
	require.False(t, ack.SessionPresent)
	first.Sub(t, pahotest.V5Opt("take/t", 1))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "take-pub"})

	second, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "taken", Keep: true, Expiry: 300})
	require.True(t, ack.SessionPresent)

	select {
	case d := <-first.Disconnects:
		require.Equal(t, byte(proto.SessionTakenOver), d.ReasonCode)
	case <-time.After(loomtest.Wait):
		t.Fatal("the first connection got no DISCONNECT")
	}
	select {
	case <-first.Done():
	case <-time.After(loomtest.Wait):
		t.Fatal("the first connection was not closed")
	}
	loomtest.WaitConnections(t, srv, 2)

	// The subscription made on the first connection now serves the second.
	pub.Say(t, "take/t", 1, false, "after takeover")
	got := second.Recv(t)
	require.Equal(t, "after takeover", string(got.Payload))
	require.Equal(t, byte(1), got.QoS)
	require.Empty(t, first.Msgs, "the old connection still received messages")
}

// TestV5PersistentSession queues QoS 1 messages for an offline subscriber
// and delivers all of them, in order, when it comes back.
// [MQTT-3.1.2-23] session state is kept after the connection closes
// [MQTT-3.1.2-5] [MQTT-3.2.2-3] resumed with Session Present 1
// [MQTT-4.6.0-6] in the order published
func TestV5PersistentSession(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	sub, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "keeper", Keep: true, Expiry: 300})
	require.False(t, ack.SessionPresent)
	sub.Sub(t, pahotest.V5Opt("keep/t", 1))
	require.NoError(t, sub.Disconnect(&paho.Disconnect{ReasonCode: 0}))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "keep-pub"})
	loomtest.WaitConnections(t, srv, 1) // the subscriber's DISCONNECT was handled

	const n = 100
	want := make([]string, n)
	for i := range n {
		want[i] = fmt.Sprintf("offline-%03d", i)
		pub.Say(t, "keep/t", 1, false, want[i])
	}

	back, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "keeper", Keep: true, Expiry: 300})
	require.True(t, ack.SessionPresent)
	got := back.RecvN(t, n)
	require.Equal(t, want, pahotest.V5Payloads(got))
	for _, p := range got {
		require.Equal(t, byte(1), p.QoS)
	}
	// Still subscribed, and nothing more was held back.
	require.Empty(t, back.Until(t, pub, "keep/t"))
}

// TestV5InflightRedelivered leaves QoS 1 deliveries unacknowledged and a
// QoS 2 delivery unreleased, drops the connection, and resumes: the broker
// re-sends the PUBLISH packets with DUP set and their original packet ids,
// and the PUBREL where PUBREC had arrived, in their original order.
// [MQTT-4.4.0-1] unacknowledged PUBLISH and PUBREL re-sent on resume
// [MQTT-3.3.1-1] DUP set on a re-delivery
// [MQTT-4.3.3-6] once PUBREL is sent the PUBLISH is not sent again
func TestV5InflightRedelivered(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	cp := proto.Connect{ClientID: []byte("inflight"), KeepAlive: 30, Props: pahotest.V5Expiry(300)}
	raw, ack := loomtest.Connect(t, addr, proto.V5, cp)
	require.False(t, ack.SessionPresent)
	raw.Subscribe("inf/q1", 1)
	raw.Subscribe("inf/q2", 2)
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "inf-pub"})

	type sent struct {
		pid     uint16
		payload string
	}
	var q1 []sent
	for _, m := range []string{"a", "b", "c"} {
		pub.Say(t, "inf/q1", 1, false, m)
		p := raw.ReadPublish()
		require.False(t, p.Dup, "a first delivery has DUP 0")
		require.Equal(t, byte(1), p.QoS)
		q1 = append(q1, sent{p.PacketID, string(p.Payload)})
	}
	// QoS 2: "d" gets as far as PUBREL, "e" is never acknowledged.
	pub.Say(t, "inf/q2", 2, false, "d")
	d := raw.ReadPublish()
	raw.Ack(proto.PUBREC, d.PacketID)
	require.Equal(t, d.PacketID, raw.ReadAck(proto.PUBREL).PacketID)
	pub.Say(t, "inf/q2", 2, false, "e")
	e := raw.ReadPublish()
	require.False(t, e.Dup)
	_ = raw.Close()

	raw, ack = loomtest.Connect(t, addr, proto.V5, cp)
	require.True(t, ack.SessionPresent)
	for _, want := range q1 {
		p := raw.ReadPublish()
		require.True(t, p.Dup, "re-sent PUBLISH without DUP")
		require.Equal(t, want.pid, p.PacketID)
		require.Equal(t, want.payload, string(p.Payload))
		require.Equal(t, "inf/q1", string(p.Topic))
		raw.Ack(proto.PUBACK, p.PacketID)
	}
	rel := raw.ReadAck(proto.PUBREL)
	require.Equal(t, d.PacketID, rel.PacketID)
	p := raw.ReadPublish()
	require.True(t, p.Dup)
	require.Equal(t, e.PacketID, p.PacketID)
	require.Equal(t, "e", string(p.Payload))
	require.Equal(t, byte(2), p.QoS)

	// Finish both QoS 2 flows; the session then holds nothing in flight and
	// a new message comes fresh.
	raw.Ack(proto.PUBCOMP, d.PacketID)
	raw.Ack(proto.PUBREC, e.PacketID)
	require.Equal(t, e.PacketID, raw.ReadAck(proto.PUBREL).PacketID)
	raw.Ack(proto.PUBCOMP, e.PacketID)
	pub.Say(t, "inf/q1", 1, false, "fresh")
	p = raw.ReadPublish()
	require.False(t, p.Dup)
	require.Equal(t, "fresh", string(p.Payload))
}

// TestV5CleanStartDiscardsSession leaves a session with a subscription and
// queued messages, then connects with Clean Start 1: no session, no queued
// messages, no subscription.
// [MQTT-3.1.2-4] Clean Start 1 discards the existing session
// [MQTT-3.2.2-2] Session Present 0 with Clean Start 1
func TestV5CleanStartDiscardsSession(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	old, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "cleaner", Keep: true, Expiry: 300})
	old.Sub(t, pahotest.V5Opt("clean/t", 1))
	require.NoError(t, old.Disconnect(&paho.Disconnect{ReasonCode: 0}))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "clean-pub"})
	loomtest.WaitConnections(t, srv, 1)
	for i := range 5 {
		pub.Say(t, "clean/t", 1, false, fmt.Sprintf("queued-%d", i))
	}

	c, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "cleaner", Expiry: 300})
	require.False(t, ack.SessionPresent)
	// The old subscription is gone: this message has no one to go to.
	pub.Say(t, "clean/t", 1, false, "unsubscribed")
	c.Sub(t, pahotest.V5Opt("clean/t", 1))
	require.Empty(t, c.Until(t, pub, "clean/t"), "queued or old-subscription messages came")
}

// TestV5SessionExpiryZero ends the session with the connection when the
// Session Expiry Interval is 0 (absent), even if the client asks to resume.
// [MQTT-3.1.2-23] only an interval above 0 keeps state after the close
// [MQTT-3.2.2-3] Session Present 0 when the server holds no session
func TestV5SessionExpiryZero(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "brief", Keep: true})
	sub.Sub(t, pahotest.V5Opt("brief/t", 1))
	require.NoError(t, sub.Disconnect(&paho.Disconnect{ReasonCode: 0}))
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "brief-pub"})
	loomtest.WaitConnections(t, srv, 1)
	loomtest.Eventually(t, "the session to end with its connection", func() bool { return srv.Stats().Sessions == 1 })
	pub.Say(t, "brief/t", 1, false, "while away")

	back, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "brief", Keep: true})
	require.False(t, ack.SessionPresent)
	back.Sub(t, pahotest.V5Opt("brief/t", 1))
	require.Empty(t, back.Until(t, pub, "brief/t"), "a message was kept for an ended session")
}

// TestV5SessionExpires keeps a session for a one-second interval only: once
// it has passed, a resume finds nothing, and what was queued for it is gone.
// [MQTT-4.1.0-2] the server discards the session once the interval passes
// [MQTT-3.2.2-3] Session Present 0 when the server holds no session
func TestV5SessionExpires(t *testing.T) {
	srv, addr := loomtest.Start(t, loom.Options{})
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "short-pub"})
	sub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "short", Keep: true, Expiry: 1})
	sub.Sub(t, pahotest.V5Opt("short/t", 1))
	require.NoError(t, sub.Disconnect(&paho.Disconnect{ReasonCode: 0}))
	loomtest.WaitConnections(t, srv, 1)
	// Queued unless the machine is so slow the session expired already:
	// the test holds either way.
	pub.Say(t, "short/t", 1, false, "queued")
	loomtest.Eventually(t, "the session to expire", func() bool { return srv.Stats().Sessions == 1 })

	back, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "short", Keep: true, Expiry: 1})
	require.False(t, ack.SessionPresent)
	back.Sub(t, pahotest.V5Opt("short/t", 1))
	require.Empty(t, back.Until(t, pub, "short/t"), "a message outlived its expired session")
}

// TestV5AssignedClientID connects with an empty client id: CONNACK names
// the id the broker assigned, unique per connection, and the session works.
// [MQTT-3.2.2-16] CONNACK carries an Assigned Client Identifier
// [MQTT-3.1.3-6] the assigned id is unique
func TestV5AssignedClientID(t *testing.T) {
	_, addr := loomtest.Start(t, loom.Options{})
	a, ackA := pahotest.ConnectV5(t, addr, pahotest.V5Conf{})
	b, ackB := pahotest.ConnectV5(t, addr, pahotest.V5Conf{})
	for _, ack := range []*paho.Connack{ackA, ackB} {
		require.Equal(t, byte(0), ack.ReasonCode)
		require.NotNil(t, ack.Properties)
		require.NotEmpty(t, ack.Properties.AssignedClientID)
	}
	require.NotEqual(t, ackA.Properties.AssignedClientID, ackB.Properties.AssignedClientID)

	a.Sub(t, pahotest.V5Opt("anon/t", 1))
	b.Say(t, "anon/t", 1, false, "hello")
	require.Equal(t, "hello", string(a.Recv(t).Payload))

	// A named client gets no assigned id.
	_, ack := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "named"})
	if ack.Properties != nil {
		require.Empty(t, ack.Properties.AssignedClientID)
	}
}
