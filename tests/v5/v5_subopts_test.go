package v5_test

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/eclipse/paho.golang/paho"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// soSubscribe sends one SUBSCRIBE from a raw client, with a Subscription
// Identifier unless id is 0, and requires each filter granted its QoS.
func soSubscribe(r *loomtest.Client, pid uint16, id uint32, subs ...proto.Subscription) {
	r.T().Helper()
	s := &proto.Subscribe{PacketID: pid, Subscriptions: subs}
	if id != 0 {
		s.Props.SubscriptionIDs = []uint32{id}
		s.Props.Set(proto.PropSubscriptionID)
	}
	r.Send(s)
	ack := loomtest.Expect[*proto.Suback](r)
	require.Equal(r.T(), pid, ack.PacketID)
	want := make([]proto.ReasonCode, len(subs))
	for i, sb := range subs {
		want[i] = proto.ReasonCode(sb.QoS)
	}
	require.Equal(r.T(), want, ack.Reasons)
}

// soSubID subscribes a paho client to filter at QoS 1, with Subscription
// Identifier id unless it is 0.
func soSubID(t testing.TB, c *pahotest.V5Client, filter string, id int) {
	t.Helper()
	s := &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: filter, QoS: 1}}}
	if id != 0 {
		s.Properties = &paho.SubscribeProperties{SubscriptionIdentifier: &id}
	}
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	ack, err := c.Subscribe(ctx, s)
	require.NoError(t, err)
	require.Equal(t, []byte{1}, ack.Reasons)
}

// soIDs returns the Subscription Identifiers of a PUBLISH a raw client got,
// nil when it carries none.
func soIDs(p *proto.Publish) []uint32 {
	if !p.Props.Has(proto.PropSubscriptionID) {
		return nil
	}
	return p.Props.SubscriptionIDs
}

func TestV5NoLocal(t *testing.T) {
	t.Parallel()
	// [MQTT-3.8.3-3] with No Local set, a client's own messages are not
	// sent back to it; everyone else's still are, and other subscribers get
	// its messages as usual.
	_, addr := loomtest.Start(t, loom.Options{})
	a, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "nl-a"})
	a.Sub(t, paho.SubscribeOptions{Topic: "nl/t", QoS: 1, NoLocal: true})
	b, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "nl-b"})
	b.Sub(t, pahotest.V5Opt("nl/t", 1))

	for i, qos := range []byte{0, 1} {
		own, theirs := fmt.Sprintf("own-%d", i), fmt.Sprintf("theirs-%d", i)
		a.Say(t, "nl/t", qos, false, own)
		require.Equal(t, own, string(b.Recv(t).Payload), "the other subscriber misses it")
		b.Say(t, "nl/t", qos, false, theirs)
		// a's own message came first on the topic, so it would be here.
		require.Equal(t, theirs, string(a.Recv(t).Payload), "[MQTT-3.8.3-3] own message sent back")
		require.Equal(t, theirs, string(b.Recv(t).Payload), "b has no No Local")
	}
}

func TestV5NoLocalOverlapping(t *testing.T) {
	t.Parallel()
	// A client with a No Local filter and an ordinary one that both match
	// its own message gets it once, through the ordinary one alone: at its
	// QoS and with only its Subscription Identifier [MQTT-3.8.3-3]
	// [MQTT-3.3.4-3]; a topic only the No Local filter matches brings
	// nothing back.
	_, addr := loomtest.Start(t, loom.Options{})
	r := loomtest.Dial(t, addr, proto.V5)
	r.Connect("nlo", nil)
	soSubscribe(r, 1, 1, proto.Subscription{Filter: []byte("nlo/#"), QoS: 1, NoLocal: true})
	soSubscribe(r, 2, 2, proto.Subscription{Filter: []byte("nlo/x"), QoS: 0})

	r.Publish("nlo/y", "own-y", 1, 10) // only the No Local filter matches
	r.Publish("nlo/x", "own-x", 1, 11)
	p := r.ReadPublish()
	require.Equal(t, "own-x", string(p.Payload), "[MQTT-3.8.3-3] own-y was sent back")
	require.EqualValues(t, 0, p.QoS, "QoS of the No Local subscription applied")
	require.Equal(t, []uint32{2}, soIDs(p), "identifier of the No Local subscription sent")

	// Someone else's message on the same topic goes through both filters.
	other, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "nlo-other"})
	other.Say(t, "nlo/x", 1, false, "theirs")
	p = r.ReadPublish()
	require.Equal(t, "theirs", string(p.Payload))
	require.EqualValues(t, 1, p.QoS, "[MQTT-3.3.4-2]")
	require.ElementsMatch(t, []uint32{1, 2}, soIDs(p), "[MQTT-3.3.4-4]")
	r.Ack(proto.PUBACK, p.PacketID)
	r.Ping()
}

func TestV5SubscriptionIdentifiersOfOverlappingSubscriptions(t *testing.T) {
	t.Parallel()
	// paho.golang keeps one identifier per PUBLISH, so a raw client looks.
	_, addr := loomtest.Start(t, loom.Options{})
	r := loomtest.Dial(t, addr, proto.V5)
	r.Connect("sid", nil)
	soSubscribe(r, 1, 1, proto.Subscription{Filter: []byte("sid/#"), QoS: 1})
	soSubscribe(r, 2, 268435455, proto.Subscription{Filter: []byte("sid/+/x"), QoS: 0}) // the largest identifier
	soSubscribe(r, 3, 0, proto.Subscription{Filter: []byte("sid/a/+"), QoS: 0})
	soSubscribe(r, 4, 0, proto.Subscription{Filter: []byte("plain/t"), QoS: 0})
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "sid-pub"})

	for _, tt := range []struct {
		topic string
		ids   []uint32
	}{
		// [MQTT-3.3.4-3] [MQTT-3.3.4-4] one copy for all three filters,
		// carrying both identifiers (their order is free); the one without
		// an identifier adds none.
		{"sid/a/x", []uint32{1, 268435455}},
		{"sid/b/x", []uint32{1, 268435455}},
		{"sid/a/y", []uint32{1}},
		{"sid/b", []uint32{1}},
		// No identifier on the only matching subscription: no property.
		{"plain/t", nil},
	} {
		pub.Say(t, tt.topic, 1, false, "m")
		p := r.ReadPublish()
		require.Equal(t, tt.topic, string(p.Topic))
		require.ElementsMatch(t, tt.ids, soIDs(p), "identifiers on %s [MQTT-3.3.4-4]", tt.topic)
		if p.QoS == 1 {
			r.Ack(proto.PUBACK, p.PacketID)
		}
		r.Ping() // one copy only
	}
}

func TestV5SubscriptionIdentifierReplacedOnResubscribe(t *testing.T) {
	t.Parallel()
	// [MQTT-3.8.4-3] subscribing again to the same filter replaces the
	// subscription, identifier included: the next message carries the new
	// one (or none) and arrives once.
	_, addr := loomtest.Start(t, loom.Options{})
	c, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "rsid"})
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "rsid-pub"})
	for i, id := range []int{5, 9, 0, 12} {
		soSubID(t, c, "rsid/t", id)
		payload := fmt.Sprint(i)
		pub.Say(t, "rsid/t", 1, false, payload)
		p := c.Recv(t)
		require.Equal(t, payload, string(p.Payload))
		if id == 0 {
			require.Nil(t, p.Properties.SubscriptionIdentifier, "identifier of the replaced subscription")
		} else {
			require.NotNil(t, p.Properties.SubscriptionIdentifier, "[MQTT-3.3.4-3]")
			require.Equal(t, id, *p.Properties.SubscriptionIdentifier, "[MQTT-3.8.4-3]")
		}
		require.Empty(t, c.Until(t, pub, "rsid/t"), "a second copy: the subscription was added, not replaced")
	}

	// A retained message sent on subscribing carries the identifier of the
	// subscription that brought it [MQTT-3.3.4-3].
	pub.Say(t, "rsid/kept", 1, true, "kept")
	soSubID(t, c, "rsid/kept", 77)
	p := c.Recv(t)
	require.Equal(t, "kept", string(p.Payload))
	require.True(t, p.Retain)
	require.NotNil(t, p.Properties.SubscriptionIdentifier, "[MQTT-3.3.4-3]")
	require.Equal(t, 77, *p.Properties.SubscriptionIdentifier)
}

// soFlowClient connects a paho.golang client that announces Receive
// Maximum recvMax and acknowledges only when the test says so.
func soFlowClient(t testing.TB, addr, id string, recvMax uint16) (*paho.Client, chan *paho.Publish) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	msgs := make(chan *paho.Publish, 64)
	c := paho.NewClient(paho.ClientConfig{
		ClientID:                   id,
		Conn:                       conn,
		EnableManualAcknowledgment: true,
		SendAcksInterval:           5 * time.Millisecond,
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){
			func(r paho.PublishReceived) (bool, error) {
				msgs <- r.Packet
				return true, nil
			},
		},
	})
	t.Cleanup(func() {
		_ = c.Disconnect(&paho.Disconnect{})
		_ = conn.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	_, err = c.Connect(ctx, &paho.Connect{ClientID: id, KeepAlive: 30, CleanStart: true,
		Properties: &paho.ConnectProperties{ReceiveMaximum: &recvMax}})
	require.NoError(t, err)
	return c, msgs
}

func TestV5ReceiveMaximumHoldsQoS1(t *testing.T) {
	t.Parallel()
	// [MQTT-3.3.4-9] a client with Receive Maximum 2 that does not
	// acknowledge has at most two QoS 1 PUBLISH packets outstanding; each
	// PUBACK lets exactly one more through, in order.
	_, addr := loomtest.Start(t, loom.Options{})
	sub, msgs := soFlowClient(t, addr, "rm-sub", 2)
	ctx, cancel := context.WithTimeout(context.Background(), loomtest.Wait)
	defer cancel()
	_, err := sub.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: "rm/t", QoS: 1}}})
	require.NoError(t, err)
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "rm-pub"})
	const n = 6
	for i := range n {
		pub.Say(t, "rm/t", 1, false, fmt.Sprint(i)) // routed once acknowledged
	}

	next := func() *paho.Publish {
		t.Helper()
		select {
		case p := <-msgs:
			return p
		case <-time.After(loomtest.Wait):
			t.Fatal("no PUBLISH")
			return nil
		}
	}
	none := func() {
		t.Helper()
		select {
		case p := <-msgs:
			t.Fatalf("[MQTT-3.3.4-9] PUBLISH %q beyond the Receive Maximum", p.Payload)
		case <-time.After(300 * time.Millisecond):
		}
	}
	var out []*paho.Publish
	out = append(out, next(), next())
	none()
	for i := 2; i < n; i++ {
		require.NoError(t, sub.Ack(out[i-2])) // frees one slot
		out = append(out, next())
		none()
	}
	for i, p := range out {
		require.Equal(t, fmt.Sprint(i), string(p.Payload), "order kept [MQTT-4.6.0-6]")
		require.EqualValues(t, 1, p.QoS)
	}
}

func TestV5ReceiveMaximumQoS2Slots(t *testing.T) {
	t.Parallel()
	// [MQTT-3.3.4-9] a QoS 2 PUBLISH holds its slot until PUBCOMP, or until
	// a PUBREC with a Reason Code of 0x80 or more ends its flow.
	_, addr := loomtest.Start(t, loom.Options{})
	r := loomtest.Dial(t, addr, proto.V5)
	r.Connect("rm2", func(p *proto.Connect) {
		p.Props.ReceiveMaximum = 2
		p.Props.Set(proto.PropReceiveMaximum)
	})
	r.Subscribe("rm2/t", 2)
	pub, _ := pahotest.ConnectV5(t, addr, pahotest.V5Conf{ID: "rm2-pub"})
	for i := range 4 {
		pub.Say(t, "rm2/t", 2, false, fmt.Sprint(i))
	}
	p0, p1 := r.ReadPublish(), r.ReadPublish()
	require.Equal(t, []string{"0", "1"}, []string{string(p0.Payload), string(p1.Payload)})
	r.Quiet(300 * time.Millisecond)

	// PUBREC alone does not free the slot: PUBREL comes, no PUBLISH.
	r.Ack(proto.PUBREC, p0.PacketID)
	require.Equal(t, p0.PacketID, r.ReadAck(proto.PUBREL).PacketID)
	r.Quiet(300 * time.Millisecond)
	// PUBCOMP does.
	r.Ack(proto.PUBCOMP, p0.PacketID)
	p2 := r.ReadPublish()
	require.Equal(t, "2", string(p2.Payload))
	r.Quiet(300 * time.Millisecond)

	// A PUBREC refusing the message ends its flow and frees the slot too:
	// the next PUBLISH comes, no PUBREL for the refused one.
	r.Send(&proto.Ack{Type: proto.PUBREC, PacketID: p1.PacketID, Reason: proto.UnspecifiedError})
	p3 := r.ReadPublish()
	require.Equal(t, "3", string(p3.Payload))
	r.Quiet(300 * time.Millisecond)
}
