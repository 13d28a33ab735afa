package conformance_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom"
	"github.com/loom-mqtt/loom/loomtest"
	"github.com/loom-mqtt/loom/proto"
	"github.com/loom-mqtt/loom/tests/internal/pahotest"
)

// MQTT 5.0 packet statements (chapters 2 and 3) checked against a live
// broker with raw packets, so that ids, flags, codes and properties are seen
// as they are on the wire. The code sets below are copied from the
// specification's tables, not from package proto, so a wrong table there
// cannot hide a wrong code here.

var (
	// Table 3-4, PUBACK; PUBREC has the same codes (Table 3-5).
	v5PubackCodes = codeSet(0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99)
	// Tables 3-6 and 3-7, PUBREL and PUBCOMP.
	v5PubrelCodes = codeSet(0x00, 0x92)
	// Table 3-8, SUBACK.
	v5SubackCodes = codeSet(0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2)
	// Table 3-9, UNSUBACK.
	v5UnsubackCodes = codeSet(0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91)
	// Table 3-10, DISCONNECT, less 0x04 which only a client sends.
	v5ServerDisconnectCodes = codeSet(0x00, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
		0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D,
		0x9E, 0x9F, 0xA0, 0xA1, 0xA2)
)

func codeSet(codes ...byte) map[proto.ReasonCode]bool {
	m := make(map[proto.ReasonCode]bool, len(codes))
	for _, c := range codes {
		m[proto.ReasonCode(c)] = true
	}
	return m
}

// v5Pub builds a PUBLISH; pid is ignored for QoS 0.
func v5Pub(topic string, qos byte, pid uint16, payload string) *proto.Publish {
	p := &proto.Publish{QoS: qos, Topic: []byte(topic), Payload: []byte(payload)}
	if qos > 0 {
		p.PacketID = pid
	}
	return p
}

// v5Persistent connects id with a Session Expiry of a minute, starting
// clean or resuming, and returns the client and its CONNACK.
func v5Persistent(t *testing.T, addr, id string, clean bool) (*loomtest.Client, *proto.Connack) {
	t.Helper()
	return loomtest.Connect(t, addr, proto.V5, proto.Connect{CleanStart: clean, ClientID: []byte(id), Props: pahotest.V5Expiry(60)})
}

func TestV5PacketIdentifiers(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	sub := loomtest.Dial(t, addr, proto.V5)
	sub.Connect("pid-sub", nil)
	sub.Send(&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{
		{Filter: []byte("pid/0"), QoS: 0}, {Filter: []byte("pid/2"), QoS: 2}}})
	loomtest.Expect[*proto.Suback](sub)
	pub := loomtest.Dial(t, addr, proto.V5)
	pub.Connect("pid-pub", nil)

	// [MQTT-2.2.1-2] a QoS 0 PUBLISH from the server has no Packet
	// Identifier: were one there, the two bytes would be read as the start
	// of the properties and the payload would not come back intact.
	pub.Send(v5Pub("pid/0", 0, 0, "zero"))
	p := sub.ReadPublish()
	require.Equal(t, byte(0), p.QoS)
	require.Zero(t, p.PacketID)
	require.Equal(t, "zero", string(p.Payload))

	// [MQTT-2.2.1-5] each acknowledgement the server sends carries the
	// Packet Identifier of the PUBLISH it answers, for any identifier.
	for _, pid := range []uint16{1, 0x1234, 0xFFFF} {
		pub.Send(v5Pub("pid/1", 1, pid, "one"))
		require.Equal(t, pid, pub.ReadAck(proto.PUBACK).PacketID, "PUBACK for %#x", pid)

		pub.Send(v5Pub("pid/2", 2, pid, "two"))
		require.Equal(t, pid, pub.ReadAck(proto.PUBREC).PacketID, "PUBREC for %#x", pid)
		pub.Ack(proto.PUBREL, pid)
		require.Equal(t, pid, pub.ReadAck(proto.PUBCOMP).PacketID, "PUBCOMP for %#x", pid)

		// The server's own QoS 2 PUBLISH: its PUBREL carries the id the
		// server chose, which the client's PUBREC echoed.
		out := sub.ReadPublish()
		require.Equal(t, byte(2), out.QoS)
		require.NotZero(t, out.PacketID)
		sub.Ack(proto.PUBREC, out.PacketID)
		require.Equal(t, out.PacketID, sub.ReadAck(proto.PUBREL).PacketID, "server PUBREL")
		sub.Ack(proto.PUBCOMP, out.PacketID)
	}

	// [MQTT-2.2.1-6] SUBACK and UNSUBACK carry the id of their request.
	for _, pid := range []uint16{2, 0x7FFF, 0xFFFF} {
		sub.Send(&proto.Subscribe{PacketID: pid, Subscriptions: []proto.Subscription{{Filter: []byte("pid/s"), QoS: 1}}})
		require.Equal(t, pid, loomtest.Expect[*proto.Suback](sub).PacketID, "SUBACK for %#x", pid)
		sub.Send(&proto.Unsubscribe{PacketID: pid, Filters: [][]byte{[]byte("pid/s")}})
		require.Equal(t, pid, loomtest.Expect[*proto.Unsuback](sub).PacketID, "UNSUBACK for %#x", pid)
	}
}

func TestV5PublishAnsweredByQoS(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	r := loomtest.Dial(t, addr, proto.V5)
	r.Connect("answer", nil)

	// [MQTT-3.3.4-1] QoS 0: no answer (the PINGRESP comes first); QoS 1:
	// PUBACK; QoS 2: PUBREC.
	r.Send(v5Pub("ans/t", 0, 0, "a"))
	r.Ping()
	r.Send(v5Pub("ans/t", 1, 5, "b"))
	r.ReadAck(proto.PUBACK)
	r.Send(v5Pub("ans/t", 2, 6, "c"))
	r.ReadAck(proto.PUBREC)
	r.Ack(proto.PUBREL, 6)
	r.ReadAck(proto.PUBCOMP)
	r.Ping()
}

func TestV5AckReasonCodes(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	r := loomtest.Dial(t, addr, proto.V5)
	r.Connect("ack-codes", nil)

	// Every acknowledgement the server can be made to send, with the code
	// it must carry; each code must also be one its packet type allows:
	// [MQTT-3.4.2-1] PUBACK, [MQTT-3.5.2-1] PUBREC, [MQTT-3.6.2-1] PUBREL,
	// [MQTT-3.7.2-1] PUBCOMP.
	check := func(a *proto.Ack, want proto.ReasonCode) {
		t.Helper()
		set := v5PubackCodes
		if a.Type == proto.PUBREL || a.Type == proto.PUBCOMP {
			set = v5PubrelCodes
		}
		assert.True(t, set[a.Reason], "%v with reason %#x, not a %v reason code", a.Type, byte(a.Reason), a.Type)
		assert.Equal(t, want, a.Reason, "%v reason", a.Type)
	}

	r.Send(v5Pub("codes/t", 1, 1, "x"))
	check(r.ReadAck(proto.PUBACK), proto.Success)
	r.Send(v5Pub("$SYS/forged", 1, 2, "x")) // $ topics are the server's
	check(r.ReadAck(proto.PUBACK), proto.NotAuthorized)

	r.Send(v5Pub("codes/t", 2, 3, "x"))
	check(r.ReadAck(proto.PUBREC), proto.Success)
	r.Ack(proto.PUBREL, 3)
	check(r.ReadAck(proto.PUBCOMP), proto.Success)
	r.Ack(proto.PUBREL, 3) // already released
	check(r.ReadAck(proto.PUBCOMP), proto.PacketIdentifierNotFound)
	r.Send(v5Pub("$SYS/forged", 2, 4, "x"))
	check(r.ReadAck(proto.PUBREC), proto.NotAuthorized)

	// A PUBREC for a PUBLISH the server never sent still gets its PUBREL.
	r.Ack(proto.PUBREC, 77)
	check(r.ReadAck(proto.PUBREL), proto.PacketIdentifierNotFound)

	// And a PUBREL for the server's own QoS 2 PUBLISH.
	r.Subscribe("codes/q2", 2)
	r.Send(v5Pub("codes/q2", 2, 5, "x"))
	r.ReadAck(proto.PUBREC)
	out := r.ReadPublish()
	r.Ack(proto.PUBREL, 5)
	r.ReadAck(proto.PUBCOMP)
	r.Ack(proto.PUBREC, out.PacketID)
	check(r.ReadAck(proto.PUBREL), proto.Success)
	r.Ack(proto.PUBCOMP, out.PacketID)
	r.Ping()
}

func TestV5WillStoredWithSession(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	sub := loomtest.Dial(t, addr, proto.V5)
	sub.Connect("will7-sub", nil)
	sub.Subscribe("will7/#", 1)

	var wp proto.Properties
	wp.ContentType = []byte("text/plain")
	wp.Set(proto.PropContentType)
	wp.User = []proto.UserProperty{{Key: []byte("k"), Value: []byte("v")}}
	wp.Set(proto.PropUserProperty)
	w := loomtest.Dial(t, addr, proto.V5)
	w.Connect("will7", func(p *proto.Connect) {
		p.WillFlag, p.WillQoS = true, 1
		p.WillTopic, p.WillPayload, p.WillProps = []byte("will7/gone"), []byte("bye"), wp
	})
	w.Ping() // the CONNECT is handled before the cut
	_ = w.Close()

	// [MQTT-3.1.2-7] the Will Message of CONNECT was kept by the server with
	// the session: its topic, payload, QoS and properties come out intact
	// once the connection is lost.
	m := sub.ReadPublish()
	require.Equal(t, "will7/gone", string(m.Topic))
	require.Equal(t, "bye", string(m.Payload))
	require.Equal(t, byte(1), m.QoS)
	require.Equal(t, "text/plain", string(m.Props.ContentType))
	require.Len(t, m.Props.User, 1)
	require.Equal(t, "k", string(m.Props.User[0].Key))
	sub.Ack(proto.PUBACK, m.PacketID)
}

func TestV5ClientIDIdentifiesSession(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	a, _ := v5Persistent(t, addr, "cid-a", true)
	a.Subscribe("cid/a", 1)
	a.Send(&proto.Disconnect{})
	a.ExpectClosed()

	// [MQTT-3.1.3-2] state is found by Client Identifier: another id has
	// none, the same id gets its own back.
	b, ack := v5Persistent(t, addr, "cid-b", false)
	require.False(t, ack.SessionPresent, "cid-b has no session")
	a2, ack := v5Persistent(t, addr, "cid-a", false)
	require.True(t, ack.SessionPresent, "cid-a's session")

	pub := loomtest.Dial(t, addr, proto.V5)
	pub.Connect("cid-pub", nil)
	pub.Send(v5Pub("cid/a", 1, 1, "for-a"))
	pub.ReadAck(proto.PUBACK)
	m := a2.ReadPublish()
	require.Equal(t, "for-a", string(m.Payload), "cid-a's subscription came back with its session")
	a2.Ack(proto.PUBACK, m.PacketID)
	b.Ping() // cid-b got nothing from cid-a's subscription
}

func TestV5ClientIDsServerMustAllow(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	// [MQTT-3.1.3-5] 1 to 23 bytes of 0-9a-zA-Z are always accepted, as
	// given (no Assigned Client Identifier).
	for _, id := range []string{
		"0", "z", "Z",
		"0123456789abcdefghijklm",
		"nopqrstuvwxyzABCDEFGHIJ",
		"KLMNOPQRSTUVWXYZ0123456",
	} {
		require.LessOrEqual(t, len(id), 23)
		r := loomtest.Dial(t, addr, proto.V5)
		ack := r.Connect(id, nil)
		require.Equal(t, proto.Success, ack.Reason, "client id %q", id)
		require.False(t, ack.Props.Has(proto.PropAssignedClientID), "client id %q replaced", id)
		r.Ping()
	}
}

func TestV5RefusedConnectCloses(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	cases := []struct {
		name string
		edit func(*proto.Connect)
		want proto.ReasonCode
		tag  string
	}{
		{
			// [MQTT-3.1.3-8] a Client Identifier the server refuses (not
			// UTF-8): a CONNACK failure, then the connection is closed.
			name: "client id not UTF-8",
			edit: func(p *proto.Connect) { p.ClientID = []byte{'a', 0xFF, 'b'} },
			want: proto.MalformedPacket, tag: "MQTT-3.1.3-8",
		},
		{
			name: "client id with U+0000",
			edit: func(p *proto.Connect) { p.ClientID = []byte{'a', 0, 'b'} },
			want: proto.MalformedPacket, tag: "MQTT-3.1.3-8",
		},
		{
			// [MQTT-3.1.4-2] a further check of the CONNECT fails (an
			// authentication method the server does not offer): closed.
			name: "authentication method not offered",
			edit: func(p *proto.Connect) {
				p.Props.AuthMethod = []byte("NO-SUCH-METHOD")
				p.Props.Set(proto.PropAuthMethod)
			},
			want: proto.BadAuthenticationMethod, tag: "MQTT-3.1.4-2",
		},
	}
	for _, tc := range cases {
		r := loomtest.Dial(t, addr, proto.V5)
		cp := proto.Connect{Version: proto.V5, CleanStart: true, ClientID: []byte("refused")}
		tc.edit(&cp)
		r.Send(&cp)
		got := r.Rest() // fails unless the broker closes
		require.Len(t, got, 1, "%s [%s]: want one CONNACK, then the close", tc.name, tc.tag)
		ack, ok := got[0].(*proto.Connack)
		require.True(t, ok, "%s: got %T", tc.name, got[0])
		require.Equal(t, tc.want, ack.Reason, tc.name)
	}
}

func TestV5RefusedConnectIgnoresWhatFollows(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	// A refused CONNECT, then in the same write a good CONNECT, a SUBSCRIBE
	// and a retained PUBLISH.
	bad := proto.Connect{Version: proto.V5, CleanStart: true, ClientID: []byte("r46")}
	bad.Props.AuthMethod = []byte("NO-SUCH-METHOD")
	bad.Props.Set(proto.PropAuthMethod)
	good := proto.Connect{Version: proto.V5, CleanStart: true, ClientID: []byte("r46")}
	b := bad.Append(nil, proto.V5)
	b = good.Append(b, proto.V5)
	b = (&proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("r46/#")}}}).Append(b, proto.V5)
	retained := v5Pub("r46/kept", 0, 0, "must not be kept")
	retained.Retain = true
	b = retained.Append(b, proto.V5)
	r := loomtest.Dial(t, addr, proto.V5)
	r.Write(b)

	// [MQTT-3.1.4-6] nothing after the refused CONNECT is processed: one
	// CONNACK (the refusal), no SUBACK, the close.
	got := r.Rest()
	require.Len(t, got, 1, "want only the refusal, got %v", got)
	require.Equal(t, proto.BadAuthenticationMethod, got[0].(*proto.Connack).Reason)

	// And the PUBLISH was not retained: a new subscriber's first message is
	// the marker published after it subscribed.
	sub := loomtest.Dial(t, addr, proto.V5)
	sub.Connect("r46-sub", nil)
	sub.Subscribe("r46/#", 0)
	pub := loomtest.Dial(t, addr, proto.V5)
	pub.Connect("r46-pub", nil)
	pub.Send(v5Pub("r46/marker", 0, 0, "marker"))
	require.Equal(t, "r46/marker", string(sub.ReadPublish().Topic), "a retained message from the refused connection")
}

func TestV5ConnackFirstAndOnce(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	a, _ := v5Persistent(t, addr, "cf-a", true)
	a.Subscribe("cf/t", 1)
	a.Send(&proto.Disconnect{})
	a.ExpectClosed()
	pub := loomtest.Dial(t, addr, proto.V5)
	pub.Connect("cf-pub", nil)
	for i := range 3 {
		pub.Send(v5Pub("cf/t", 1, uint16(i+1), fmt.Sprint("queued-", i)))
		pub.ReadAck(proto.PUBACK)
	}

	// [MQTT-3.2.0-1] [MQTT-3.1.4-5] messages wait for the session, but the
	// first packet on the new connection is the CONNACK 0x00, and only then
	// the PUBLISH packets; [MQTT-3.1.4-4] Clean Start 0 resumed the session.
	r := loomtest.Dial(t, addr, proto.V5)
	r.Send(&proto.Connect{Version: proto.V5, ClientID: []byte("cf-a"), Props: pahotest.V5Expiry(60)})
	ack := loomtest.Expect[*proto.Connack](r)
	require.Equal(t, proto.Success, ack.Reason)
	require.True(t, ack.SessionPresent)
	for i := range 3 {
		m := r.ReadPublish()
		require.Equal(t, fmt.Sprint("queued-", i), string(m.Payload))
		r.Ack(proto.PUBACK, m.PacketID)
	}

	// [MQTT-3.2.0-2] a second CONNECT gets no second CONNACK: the
	// connection ends with DISCONNECT 0x82.
	r.Send(&proto.Connect{Version: proto.V5, ClientID: []byte("cf-a")})
	for _, p := range r.Rest() {
		_, isConnack := p.(*proto.Connack)
		require.False(t, isConnack, "a second CONNACK on one connection")
	}

	// [MQTT-3.1.4-4] Clean Start 1 discards the session: not present, and
	// its subscription is gone.
	r2, ack := v5Persistent(t, addr, "cf-a", true)
	require.False(t, ack.SessionPresent)
	pub.Send(v5Pub("cf/t", 1, 9, "after clean start"))
	pub.ReadAck(proto.PUBACK)
	r2.Ping()
	r2.Subscribe("cf/marker", 0)
	pub.Send(v5Pub("cf/marker", 0, 0, "m"))
	require.Equal(t, "cf/marker", string(r2.ReadPublish().Topic), "the old subscription survived Clean Start")
}

func TestV5ConnackReasonStringFitsMaximumPacketSize(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	refused := func(maxSize uint32) ([]byte, *proto.Connack) {
		t.Helper()
		r := loomtest.Dial(t, addr, proto.V5)
		cp := proto.Connect{Version: proto.V5, CleanStart: true, ClientID: []byte("rs19")}
		cp.Props.AuthMethod = []byte("NO-SUCH-METHOD")
		cp.Props.Set(proto.PropAuthMethod)
		if maxSize != 0 {
			cp.Props.MaximumPacketSize = maxSize
			cp.Props.Set(proto.PropMaximumPacketSize)
		}
		r.Send(&cp)
		raw := r.RestBytes()
		p, n, err := proto.Decode(raw, proto.V5)
		require.NoError(t, err)
		require.Equal(t, len(raw), n, "one packet, then the close")
		return raw, p.(*proto.Connack)
	}
	// Without a limit the refusal explains itself, so the property exists
	// to be left out...
	_, ack := refused(0)
	require.True(t, ack.Props.Has(proto.PropReasonString), "no Reason String to leave out")
	// ...[MQTT-3.2.2-19] and with a small Maximum Packet Size the CONNACK
	// comes without it rather than too large.
	raw, ack := refused(8)
	require.LessOrEqual(t, len(raw), 8, "CONNACK of %d bytes beyond the client's Maximum Packet Size", len(raw))
	require.False(t, ack.Props.Has(proto.PropReasonString))
	require.Equal(t, proto.BadAuthenticationMethod, ack.Reason)
}

func TestV5ClientKeepAliveUsed(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	r := loomtest.Dial(t, addr, proto.V5)
	ack := r.Connect("ka22", func(p *proto.Connect) { p.KeepAlive = 2 })
	// [MQTT-3.2.2-22] no Server Keep Alive in CONNACK, so the server keeps
	// the client's 2 s: it closes after 3 s of silence, not on some other
	// timeout of its own.
	require.False(t, ack.Props.Has(proto.PropServerKeepAlive))
	start := time.Now()
	pkts := r.Rest()
	after := time.Since(start)
	require.GreaterOrEqual(t, after, 2700*time.Millisecond, "closed before 1.5 × the client's Keep Alive")
	require.Len(t, pkts, 1)
	require.Equal(t, proto.KeepAliveTimeout, pkts[0].(*proto.Disconnect).Reason)
}

func TestV5DupSetByOutgoingOnly(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	sub, _ := v5Persistent(t, addr, "dup-sub", true)
	sub.Subscribe("dup/t", 1)
	pub := loomtest.Dial(t, addr, proto.V5)
	pub.Connect("dup-pub", nil)

	// [MQTT-3.3.1-3] the publisher's DUP 1 is not passed on: the first
	// sending to the subscriber has DUP 0...
	in := v5Pub("dup/t", 1, 1, "d")
	in.Dup = true
	pub.Send(in)
	pub.ReadAck(proto.PUBACK)
	first := sub.ReadPublish()
	require.False(t, first.Dup, "DUP copied from the incoming PUBLISH")

	// ...and its re-sending, on the resumed session, has DUP 1.
	_ = sub.Close()
	sub2, ack := v5Persistent(t, addr, "dup-sub", false)
	require.True(t, ack.SessionPresent)
	again := sub2.ReadPublish()
	require.Equal(t, first.PacketID, again.PacketID)
	require.True(t, again.Dup, "a retransmission without DUP")
	sub2.Ack(proto.PUBACK, again.PacketID)

	// A new message published with DUP 0 still goes out with DUP 0.
	pub.Send(v5Pub("dup/t", 1, 2, "e"))
	pub.ReadAck(proto.PUBACK)
	require.False(t, sub2.ReadPublish().Dup)
}

func TestV5TopicNameMatchesFilter(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	sub := loomtest.Dial(t, addr, proto.V5)
	sub.Connect("tn-sub", nil)
	sub.Subscribe("tn/+/x", 0)
	pub := loomtest.Dial(t, addr, proto.V5)
	pub.Connect("tn-pub", nil)
	for _, topic := range []string{"tn/a/x", "tn/b/y", "tn/x", "tn/a/x/y", "tn//x", "tn/c/x", "tn/end/x"} {
		pub.Send(v5Pub(topic, 0, 0, topic))
	}
	// [MQTT-3.3.2-3] what arrives is named by the topic it was published to
	// (not the filter), and only topics that match "tn/+/x".
	var got []string
	for len(got) == 0 || got[len(got)-1] != "tn/end/x" {
		p := sub.ReadPublish()
		require.Equal(t, string(p.Payload), string(p.Topic))
		got = append(got, string(p.Topic))
	}
	require.Equal(t, []string{"tn/a/x", "tn//x", "tn/c/x", "tn/end/x"}, got)
}

func TestV5ResponseTopicMustBeUTF8(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	sub := loomtest.Dial(t, addr, proto.V5)
	sub.Connect("rt13-sub", nil)
	sub.Subscribe("rt13/#", 0)
	r := loomtest.Dial(t, addr, proto.V5)
	r.Connect("rt13", nil)
	p := v5Pub("rt13/req", 0, 0, "bad")
	p.Props.ResponseTopic = []byte{'r', 0xC3, 0x28} // not well-formed UTF-8
	p.Props.Set(proto.PropResponseTopic)
	r.Send(p)
	// [MQTT-3.3.2-13] a Response Topic that is not a UTF-8 Encoded String
	// makes the PUBLISH malformed: DISCONNECT 0x81, close, nothing forwarded.
	got := r.Rest()
	require.Len(t, got, 1)
	require.Equal(t, proto.MalformedPacket, got[0].(*proto.Disconnect).Reason)
	r2 := loomtest.Dial(t, addr, proto.V5)
	r2.Connect("rt13-2", nil)
	r2.Send(v5Pub("rt13/marker", 0, 0, "marker"))
	require.Equal(t, "marker", string(sub.ReadPublish().Payload), "the malformed PUBLISH was forwarded")
}

func TestV5NonPublishNotHeldByReceiveMaximum(t *testing.T) {
	t.Parallel()
	_, addr := loomtest.Start(t, loom.Options{})
	sub := loomtest.Dial(t, addr, proto.V5)
	sub.Connect("rm10", func(p *proto.Connect) {
		p.Props.ReceiveMaximum = 1
		p.Props.Set(proto.PropReceiveMaximum)
	})
	sub.Subscribe("rm10/t", 1)
	pub := loomtest.Dial(t, addr, proto.V5)
	pub.Connect("rm10-pub", nil)
	for i := range 3 {
		pub.Send(v5Pub("rm10/t", 1, uint16(i+1), fmt.Sprint(i)))
		pub.ReadAck(proto.PUBACK)
	}
	first := sub.ReadPublish()

	// [MQTT-3.3.4-10] the window of one is full, yet PINGRESP, SUBACK and
	// UNSUBACK are not delayed behind the waiting PUBLISH packets.
	sub.Ping()
	sub.Send(&proto.Subscribe{PacketID: 2, Subscriptions: []proto.Subscription{{Filter: []byte("rm10/other")}}})
	require.Equal(t, uint16(2), loomtest.Expect[*proto.Suback](sub).PacketID)
	sub.Send(&proto.Unsubscribe{PacketID: 3, Filters: [][]byte{[]byte("rm10/other")}})
	require.Equal(t, uint16(3), loomtest.Expect[*proto.Unsuback](sub).PacketID)

	// The held messages follow, one per acknowledgement.
	sub.Ack(proto.PUBACK, first.PacketID)
	second := sub.ReadPublish()
	require.Equal(t, "1", string(second.Payload))
	sub.Ack(proto.PUBACK, second.PacketID)
	require.Equal(t, "2", string(sub.ReadPublish().Payload))
}
