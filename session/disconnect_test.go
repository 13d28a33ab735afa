package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

func TestDisconnectAllTellsV5ClientsWhy(t *testing.T) {
	h := newHarness(t, Options{}, 2)
	v5 := h.online(0, connectPacket(proto.V5, "five", true, 0, 0))
	v3 := h.online(1, connectPacket(proto.V311, "three", true, 0, 0))
	waiting := h.dial(1) // no CONNECT yet: nothing to tell [MQTT-3.14.0-1]

	h.b.DisconnectAll(proto.ServerShuttingDown, "", 10*time.Millisecond)
	// The closes run on each client's own loop, not on the caller's.
	require.False(t, v5.conn.closed())
	h.settle()

	require.True(t, v5.conn.closed())
	requireDisconnect(t, v5.recvOne(), proto.ServerShuttingDown)
	require.True(t, v3.conn.closed())
	v3.recvNone() // 3.1.1 has no server DISCONNECT
	require.False(t, waiting.conn.closed())
}

func TestDisconnectAllWithServerReference(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	c := h.online(0, connectPacket(proto.V5, "moving", true, 0, 0))
	h.b.DisconnectAll(proto.ServerMoved, "other.example:1883", 10*time.Millisecond)
	h.settle()
	d := c.recvOne()
	requireDisconnect(t, d, proto.ServerMoved)
	require.True(t, d.(*proto.Disconnect).Props.Has(proto.PropServerReference))
	require.Equal(t, "other.example:1883", string(d.(*proto.Disconnect).Props.ServerReference))
}

func TestRedirectAtConnect(t *testing.T) {
	for _, tt := range []struct {
		name      string
		permanent bool
		v         proto.Version
		want      proto.ReasonCode
	}{
		{"v5 use another server", false, proto.V5, proto.UseAnotherServer},
		{"v5 server moved", true, proto.V5, proto.ServerMoved},
		{"3.1.1 server unavailable", false, proto.V311, proto.V3ServerUnavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{Redirect: "b2.example:1883", RedirectPermanent: tt.permanent}, 1)
			c := h.dial(0)
			c.v = tt.v
			require.Error(t, c.send(connectPacket(tt.v, "x", true, 0, 0)))
			ack, ok := c.recvOne().(*proto.Connack)
			require.True(t, ok)
			require.Equal(t, tt.want, ack.Reason)
			if tt.v == proto.V5 {
				require.Equal(t, "b2.example:1883", string(ack.Props.ServerReference))
			}
			require.Zero(t, h.b.SessionCount())
		})
	}
}
