package session

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

func TestQueueFullDisconnectsWithQuotaExceeded(t *testing.T) {
	opts := Options{MaxInflight: 1, MaxQueued: 2, DisconnectOnQueueFull: true}
	ps := newPubsub(t, opts, 2, connectPacket(proto.V5, "slow", false, 0, ExpiryNever), "q", 1)
	// m1 in flight (never acknowledged), m2 and m3 queued, m4 overflows.
	ps.send("q", 1, 1, 4)
	got := ps.sub.recv()
	require.Len(t, got, 2, "packets: %s", describe(got))
	require.Equal(t, []string{"m1"}, payloads(publishes(t, got[:1])))
	requireDisconnect(t, got[1], proto.QuotaExceeded) // server DISCONNECT 0x97
	require.True(t, ps.sub.conn.closed())
	require.EqualValues(t, 1, ps.h.b.Stats.Dropped.Load())

	// The session stays: a reconnect gets m1 again (DUP) and the queue.
	ps.sub.drop()
	back := ps.h.dial(0)
	ack := back.connect(connectPacket(proto.V5, "slow", false, 0, ExpiryNever))
	require.True(t, ack.SessionPresent)
	res := publishes(t, back.recv())
	require.Equal(t, []string{"m1"}, payloads(res))
	require.True(t, res[0].Dup)
}

func TestQueueFullOnlyDropsByDefault(t *testing.T) {
	ps := newPubsub(t, Options{MaxInflight: 1, MaxQueued: 2}, 2, connectPacket(proto.V5, "slow", false, 0, ExpiryNever), "q", 1)
	ps.send("q", 1, 1, 4)
	require.Equal(t, []string{"m1"}, payloads(publishes(t, ps.sub.recv())))
	require.False(t, ps.sub.conn.closed())
	require.EqualValues(t, 1, ps.h.b.Stats.Dropped.Load())
}

func TestNoReasonStringWhenProblemInfoRefused(t *testing.T) {
	noInfo := func(p *proto.Connect) *proto.Connect {
		p.Props.RequestProblemInfo = 0
		p.Props.Set(proto.PropRequestProblemInfo)
		return p
	}
	badPub := &proto.Publish{Topic: []byte("t"), Props: proto.Properties{SubscriptionIDs: []uint32{1}}}
	badPub.Props.Set(proto.PropSubscriptionID)

	h := newHarness(t, Options{}, 1)
	// By default a server DISCONNECT says why.
	c := h.online(0, connectPacket(proto.V5, "chatty", true, 0, 0))
	require.Error(t, c.send(badPub))
	d := c.recvOne().(*proto.Disconnect)
	require.Equal(t, proto.ProtocolError, d.Reason)
	require.NotEmpty(t, d.Props.ReasonString)

	// Request Problem Information 0: the code alone [MQTT-3.1.2-29].
	q := h.online(0, noInfo(connectPacket(proto.V5, "quiet", true, 0, 0)))
	require.Error(t, q.send(badPub))
	d = q.recvOne().(*proto.Disconnect)
	require.Equal(t, proto.ProtocolError, d.Reason)
	require.False(t, d.Props.Has(proto.PropReasonString))

	// Likewise on a refusing CONNACK.
	r := h.dial(0)
	p := noInfo(connectPacket(proto.V5, "refused", true, 0, 0))
	p.Props.AuthMethod = []byte("NONE")
	p.Props.Set(proto.PropAuthMethod)
	require.Error(t, r.send(p))
	ack := r.recvOne().(*proto.Connack)
	require.Equal(t, proto.BadAuthenticationMethod, ack.Reason)
	require.False(t, ack.Props.Has(proto.PropReasonString))
}
