package restart_test

import (
	"context"
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

// persistentBroker runs a broker whose store lives in dir; stopping it
// closes the store, so a second one can open the same folder.
func persistentBroker(t *testing.T, dir string) (*loom.Server, string) {
	t.Helper()
	return loomtest.Start(t, loom.Options{DataDir: dir, Sync: loom.SyncAlways})
}

// TestRestartKeepsSessionsSubscriptionsAndRetained stops a broker and starts
// another on the same data folder: persistent v5 and 3.1.1 sessions come
// back with Session Present and their subscriptions working, a clean one
// does not, and retained messages are delivered as before
// [MQTT-3.1.2-23] [MQTT-3.1.2-4 v3.1.1] [MQTT-3.3.1-5] [MQTT-3.3.1-5 v3.1.1].
func TestRestartKeepsSessionsSubscriptionsAndRetained(t *testing.T) {
	dir := t.TempDir()
	srv, addr := persistentBroker(t, dir)

	v5, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "dev5", Keep: true, Expiry: 3600})
	v5.Sub(t, pahotest.V5Opt("home/+/temp", 1))
	v3, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "dev3").SetCleanSession(false))
	pahotest.V3Subscribe(t, v3, "home/#", 1, pahotest.NewV3Inbox())
	clean, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "passer"})
	clean.Sub(t, pahotest.V5Opt("home/#", 0))

	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "pub"})
	pub.Pub(t, &paho.Publish{Topic: "home/kitchen/temp", QoS: 1, Retain: true, Payload: []byte("21.5"),
		Properties: &paho.PublishProperties{ContentType: "text/plain"}})
	pub.Pub(t, &paho.Publish{Topic: "home/gone", QoS: 0, Retain: true, Payload: []byte("x")})
	pub.Pub(t, &paho.Publish{Topic: "home/gone", QoS: 0, Retain: true}) // deleted again
	v5.Cut()
	v3.Disconnect(100)
	require.NoError(t, srv.Close(context.Background()))

	srv2, addr2 := persistentBroker(t, dir)
	require.Equal(t, 2, srv2.Stats().Sessions, "the two persistent sessions, not the clean one")

	// v5: Session Present, and the subscription delivers without a new SUBSCRIBE.
	v5b, ack := pahotest.ConnectV5(t, addr2, pahotest.V5Conf{ID: "dev5", Keep: true, Expiry: 3600})
	require.True(t, ack.SessionPresent, "[MQTT-3.2.2-2]")
	// 3.1.1 likewise.
	in3 := pahotest.NewV3Inbox()
	o3 := pahotest.V3Options(addr2, "dev3").SetCleanSession(false)
	o3.SetDefaultPublishHandler(in3.Handle)
	v3b, present := pahotest.V3Connect(t, o3)
	require.True(t, present, "[MQTT-3.2.2-2 v3.1.1]")
	defer v3b.Disconnect(100)

	pub2, _ := pahotest.ConnectV5(t, addr2, pahotest.V5Conf{ID: "pub2"})
	pub2.Pub(t, &paho.Publish{Topic: "home/hall/temp", QoS: 1, Payload: []byte("19")})
	// The QoS 1 "21.5" may not have been acknowledged by dev5 before the
	// cut (or not even sent to it yet): then it comes again, before the new
	// message — at least once, never lost.
	for _, m := range v5b.UpTo(t, "home/hall/temp", "19") {
		require.Equal(t, "21.5", string(m.Payload))
	}
	for m := in3.Next(t); string(m.Payload()) != "19"; m = in3.Next(t) {
		require.Equal(t, "21.5", string(m.Payload()), "only the unacknowledged QoS 1 message may come first")
	}

	// The retained message came back with its properties; the deleted one did not.
	late, _ := pahotest.ConnectV5(t, addr2, pahotest.V5Conf{ID: "late"})
	late.Sub(t, pahotest.V5Opt("home/#", 1))
	got := late.Recv(t)
	require.Equal(t, "home/kitchen/temp", got.Topic)
	require.True(t, got.Retain)
	require.Equal(t, "21.5", string(got.Payload))
	require.Equal(t, "text/plain", got.Properties.ContentType)
	late.Quiet(t, 300*time.Millisecond)
}

// TestRestartKeepsQueuedMessages: QoS 1 and 2 messages queued for offline
// persistent sessions (v5 and 3.1.1) while the broker ran are delivered
// after a restart on the same data, in order, each once
// [MQTT-4.4.0-1] [MQTT-3.1.2-4 v3.1.1] [MQTT-4.6.0-6].
func TestRestartKeepsQueuedMessages(t *testing.T) {
	dir := t.TempDir()
	srv, addr := persistentBroker(t, dir)
	v5, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "q5", Keep: true, Expiry: 3600})
	v5.Sub(t, pahotest.V5Opt("q/#", 2))
	v5.Cut()
	v3, _ := pahotest.V3Connect(t, pahotest.V3Options(addr, "q3").SetCleanSession(false))
	pahotest.V3Subscribe(t, v3, "q/#", 2, pahotest.NewV3Inbox())
	v3.Disconnect(100)
	loomtest.WaitConnections(t, srv, 0)

	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "qpub"})
	const n = 20
	for i := range n {
		pub.Pub(t, &paho.Publish{Topic: "q/x", QoS: byte(1 + i%2), Payload: []byte{byte('a' + i)}})
	}
	require.NoError(t, srv.Close(context.Background()))

	_, addr2 := persistentBroker(t, dir)
	in3 := pahotest.NewV3Inbox()
	o3 := pahotest.V3Options(addr2, "q3").SetCleanSession(false)
	o3.SetDefaultPublishHandler(in3.Handle)
	v3b, present := pahotest.V3Connect(t, o3)
	require.True(t, present)
	defer v3b.Disconnect(100)
	v5b, ack := pahotest.ConnectV5(t, addr2, pahotest.V5Conf{ID: "q5", Keep: true, Expiry: 3600})
	require.True(t, ack.SessionPresent)
	for i := range n {
		want := string([]byte{byte('a' + i)})
		require.Equal(t, want, string(v5b.Recv(t).Payload), "v5 message %d", i)
		require.Equal(t, want, string(in3.Next(t).Payload()), "3.1.1 message %d", i)
	}
	v5b.Quiet(t, 300*time.Millisecond)
}

// TestRestartKeepsInflightAndInboundQoS2 restarts the broker in the middle
// of QoS 1 and 2 flows in both directions, for v5 and 3.1.1 clients driven
// by hand (no library lets a test re-send a PUBLISH after the server comes
// back): the publisher's re-sent QoS 2 PUBLISH is acknowledged but not
// delivered again [MQTT-4.3.3-10] [MQTT-4.3.3-2 v3.1.1], its PUBREL
// completes; the subscriber gets the PUBREL of the QoS 2 message it had
// PUBREC'd and its unacknowledged QoS 1 message again with DUP and the same
// packet id [MQTT-4.4.0-1] [MQTT-4.4.0-1 v3.1.1] [MQTT-3.3.1-1].
func TestRestartKeepsInflightAndInboundQoS2(t *testing.T) {
	for _, v := range []proto.Version{proto.V5, proto.V311} {
		t.Run(fmt.Sprint("v", v), func(t *testing.T) {
			dir := t.TempDir()
			srv, addr := persistentBroker(t, dir)
			keep := func(id string) proto.Connect {
				cp := proto.Connect{ClientID: []byte(id), CleanStart: false}
				if v == proto.V5 {
					cp.Props.SessionExpiry = 3600
					cp.Props.Set(proto.PropSessionExpiry)
				}
				return cp
			}
			sub, _ := loomtest.Connect(t, addr, v, keep("sub"))
			sub.Subscribe("in/#", 2)
			pub, _ := loomtest.Connect(t, addr, v, keep("pub"))

			pub.Send(&proto.Publish{Topic: []byte("in/two"), Payload: []byte("m1"), QoS: 2, PacketID: 10})
			pub.ReadAck(proto.PUBREC) // no PUBREL yet: the broker holds pid 10 as received
			m1 := sub.ReadPublish()
			require.Equal(t, "m1", string(m1.Payload))
			sub.Ack(proto.PUBREC, m1.PacketID)
			require.Equal(t, m1.PacketID, sub.ReadAck(proto.PUBREL).PacketID) // sub does not PUBCOMP

			pub.Send(&proto.Publish{Topic: []byte("in/one"), Payload: []byte("m2"), QoS: 1, PacketID: 11})
			pub.ReadAck(proto.PUBACK)
			m2 := sub.ReadPublish() // sub does not PUBACK
			require.Equal(t, "m2", string(m2.Payload))
			require.NoError(t, srv.Close(context.Background()))

			_, addr2 := persistentBroker(t, dir)
			pub2 := loomtest.Dial(t, addr2, v)
			require.True(t, pub2.ConnectWith(keep("pub")).SessionPresent)
			sub2 := loomtest.Dial(t, addr2, v)
			require.True(t, sub2.ConnectWith(keep("sub")).SessionPresent)
			// In flight from before, in order: the PUBREL of m1, then m2 again.
			require.Equal(t, m1.PacketID, sub2.ReadAck(proto.PUBREL).PacketID)
			again := sub2.ReadPublish()
			require.Equal(t, "m2", string(again.Payload))
			require.True(t, again.Dup)
			require.Equal(t, m2.PacketID, again.PacketID)

			// The publisher re-sends m1 as a client must when it had no PUBCOMP.
			pub2.Send(&proto.Publish{Topic: []byte("in/two"), Payload: []byte("m1"), QoS: 2, PacketID: 10, Dup: true})
			pub2.ReadAck(proto.PUBREC)
			pub2.Ack(proto.PUBREL, 10)
			require.Equal(t, proto.Success, pub2.ReadAck(proto.PUBCOMP).Reason, "pid 10 was known")

			sub2.Ack(proto.PUBCOMP, m1.PacketID)
			sub2.Ack(proto.PUBACK, again.PacketID)
			// A marker message: anything of m1 would come before it.
			pub2.Send(&proto.Publish{Topic: []byte("in/end"), Payload: []byte("end"), QoS: 1, PacketID: 12})
			pub2.ReadAck(proto.PUBACK)
			end := sub2.ReadPublish()
			require.Equal(t, "end", string(end.Payload), "m1 was delivered once, before the restart")
		})
	}
}
