package session

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

func TestConnackSessionPresent(t *testing.T) {
	type conn struct {
		clean  bool
		expiry uint32 // v5 Session Expiry Interval
	}
	tests := []struct {
		name          string
		v             proto.Version
		first, second conn
		present       bool
	}{
		// [MQTT-3.2.2-3] Session Present 1 only for a resumed session,
		// [MQTT-3.1.2-5] which keeps its subscriptions and messages.
		{"v5 resume", proto.V5, conn{false, 60}, conn{false, 60}, true},
		{"v5 resume, expiry never", proto.V5, conn{false, ExpiryNever}, conn{false, 0}, true},
		// [MQTT-3.1.2-23] no state kept after the close with expiry 0.
		{"v5 expiry 0 keeps nothing", proto.V5, conn{true, 0}, conn{false, 60}, false},
		{"v5 expiry 0 without clean start", proto.V5, conn{false, 0}, conn{false, 60}, false},
		// [MQTT-3.1.2-4] Clean Start discards, [MQTT-3.2.2-2] present 0.
		{"v5 clean start discards", proto.V5, conn{false, 60}, conn{true, 60}, false},
		// 3.1.1 [MQTT-3.2.2-2 v3.1.1] stored session: present 1; [MQTT-3.1.2-4 v3.1.1] resumed.
		{"v3.1.1 resume", proto.V311, conn{false, 0}, conn{false, 0}, true},
		// 3.1.1 [MQTT-3.2.2-1 v3.1.1] Clean Session 1: present 0; [MQTT-3.1.2-6 v3.1.1] discarded.
		{"v3.1.1 clean session discards", proto.V311, conn{false, 0}, conn{true, 0}, false},
		// 3.1.1 [MQTT-3.2.2-3 v3.1.1] nothing stored: present 0 [MQTT-3.1.2-6 v3.1.1].
		{"v3.1.1 clean session ends with the connection", proto.V311, conn{true, 0}, conn{false, 0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{}, 1)
			pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))

			c := h.dial(0)
			ack := c.connect(connectPacket(tt.v, "dev", tt.first.clean, 0, tt.first.expiry))
			// [MQTT-3.1.2-6] / [MQTT-3.1.2-4 v3.1.1]: a new session.
			require.False(t, ack.SessionPresent, "first connection")
			c.subscribe("dev/t", 1)
			c.disconnect(proto.Success)

			pub.publish("dev/t", "while away", 1, 1)
			h.settle()

			c = h.dial(0)
			ack = c.connect(connectPacket(tt.v, "dev", tt.second.clean, 0, tt.second.expiry))
			require.Equal(t, tt.present, ack.SessionPresent)
			h.settle()
			if !tt.present {
				// Nothing of the old session survives: no queued message,
				// no subscription in the router.
				c.recvNone()
				require.Zero(t, h.b.Router().Stats().Subscriptions)
				pub.publish("dev/t", "after", 1, 2)
				h.settle()
				c.recvNone()
				return
			}
			got := publishes(t, c.recv())
			require.Equal(t, []string{"while away"}, payloads(got))
			pub.publish("dev/t", "after", 1, 2)
			h.settle()
			require.Equal(t, []string{"after"}, payloads(publishes(t, c.recv())))
		})
	}
}

func TestEmptyClientID(t *testing.T) {
	t.Run("v3.1.1 with clean session 0 is rejected", func(t *testing.T) {
		// 3.1.1 [MQTT-3.1.3-8 v3.1.1] CONNACK 0x02 (identifier rejected), then close.
		h := newHarness(t, Options{}, 1)
		c := h.dial(0)
		c.v = proto.V311
		err := c.send(connectPacket(proto.V311, "", false, 0, 0))
		require.Error(t, err)
		ack, ok := c.recvOne().(*proto.Connack)
		require.True(t, ok)
		require.Equal(t, proto.V3IdentifierRejected, ack.Reason)
		require.False(t, ack.SessionPresent)
		require.Zero(t, h.b.SessionCount())
		require.Zero(t, h.b.Stats.Connected.Load())
	})
	t.Run("v3.1.1 with clean session 1 gets an id", func(t *testing.T) {
		// 3.1.1 [MQTT-3.1.3-6 v3.1.1] the server assigns a unique id.
		h := newHarness(t, Options{}, 1)
		a := h.online(0, connectPacket(proto.V311, "", true, 0, 0))
		b := h.online(0, connectPacket(proto.V311, "", true, 0, 0))
		require.Equal(t, 2, h.b.SessionCount(), "two sessions, two ids")
		require.NotEqual(t, a.c.sess.id, b.c.sess.id)
		require.NotEmpty(t, a.c.sess.id)
	})
	for _, clean := range []bool{true, false} {
		name := "v5 clean start 0"
		if clean {
			name = "v5 clean start 1"
		}
		t.Run(name, func(t *testing.T) {
			// v5 [MQTT-3.1.3-6] a unique id is assigned, [MQTT-3.1.3-7]
			// [MQTT-3.2.2-16] and returned in CONNACK.
			h := newHarness(t, Options{}, 1)
			var ids []string
			for range 2 {
				c := h.dial(0)
				ack := c.connect(connectPacket(proto.V5, "", clean, 0, 0))
				require.True(t, ack.Props.Has(proto.PropAssignedClientID))
				id := string(ack.Props.AssignedClientID)
				require.NotEmpty(t, id)
				require.Equal(t, id, c.c.sess.id, "the session is kept under the assigned id")
				ids = append(ids, id)
			}
			require.NotEqual(t, ids[0], ids[1])
		})
	}
	t.Run("v5 with an id gets none assigned", func(t *testing.T) {
		h := newHarness(t, Options{}, 1)
		ack := h.dial(0).connect(connectPacket(proto.V5, "mine", true, 0, 0))
		require.False(t, ack.Props.Has(proto.PropAssignedClientID))
	})
}

func TestConnackProperties(t *testing.T) {
	tests := []struct {
		name                 string
		opts                 Options
		receiveMax, aliasMax uint16
		maxPacket            uint32
	}{
		{"defaults", Options{}, 1024, 64, 1 << 20},
		{"configured", Options{ReceiveMaximum: 7, TopicAliasMaximum: 3, MaxPacketSize: 5000}, 7, 3, 5000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.opts, 1)
			ack := h.dial(0).connect(connectPacket(proto.V5, "props", true, 0, 0))
			// The limits the client must respect: [MQTT-3.3.4-7] Receive
			// Maximum, [MQTT-3.2.2-15] Maximum Packet Size, [MQTT-3.2.2-17]
			// Topic Alias Maximum.
			require.True(t, ack.Props.Has(proto.PropReceiveMaximum))
			require.Equal(t, tt.receiveMax, ack.Props.ReceiveMaximum)
			require.True(t, ack.Props.Has(proto.PropMaximumPacketSize))
			require.Equal(t, tt.maxPacket, ack.Props.MaximumPacketSize)
			require.True(t, ack.Props.Has(proto.PropTopicAliasMaximum))
			require.Equal(t, tt.aliasMax, ack.Props.TopicAliasMaximum)
			require.False(t, ack.SessionPresent)
		})
	}
	t.Run("v3.1.1 has no properties", func(t *testing.T) {
		h := newHarness(t, Options{}, 1)
		c := h.dial(0)
		require.NoError(t, c.send(connectPacket(proto.V311, "plain", true, 0, 0)))
		require.Equal(t, []byte{0x20, 0x02, 0x00, 0x00}, c.conn.take())
	})
}

func TestFirstPacketMustBeConnect(t *testing.T) {
	// [MQTT-3.1.0-1] [MQTT-3.1.0-1 v3.1.1]: anything else first closes the
	// connection; without a CONNECT there is no version to answer in.
	tests := []struct {
		name string
		p    proto.Packet
	}{
		{"PUBLISH", &proto.Publish{Topic: []byte("t"), Payload: []byte("x")}},
		{"SUBSCRIBE", &proto.Subscribe{PacketID: 1, Subscriptions: []proto.Subscription{{Filter: []byte("t")}}}},
		{"PINGREQ", &proto.Ping{Type: proto.PINGREQ}},
		{"PUBACK", &proto.Ack{Type: proto.PUBACK, PacketID: 1}},
		{"DISCONNECT", &proto.Disconnect{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{}, 1)
			c := h.dial(0)
			err := c.send(tt.p)
			var pe *proto.Error
			require.True(t, errors.As(err, &pe), "err = %v", err)
			require.Equal(t, proto.ProtocolError, pe.Code)
			c.recvNone()
			require.Zero(t, h.b.SessionCount())
			require.Zero(t, h.b.Stats.Connected.Load())
			c.drop()
			require.Zero(t, h.b.Stats.Connected.Load())
		})
	}
}

func TestSecondConnectIsProtocolError(t *testing.T) {
	// [MQTT-3.1.0-2] [MQTT-3.1.0-2 v3.1.1]: a second CONNECT closes the
	// connection; a v5 client is told why [MQTT-4.13.1-1].
	for _, v := range []proto.Version{proto.V311, proto.V5} {
		t.Run(versionName(v), func(t *testing.T) {
			h := newHarness(t, Options{}, 1)
			c := h.online(0, connectPacket(v, "twice", true, 0, 0))
			err := c.send(connectPacket(v, "twice", true, 0, 0))
			require.Error(t, err)
			if v == proto.V5 {
				requireDisconnect(t, c.recvOne(), proto.ProtocolError)
			} else {
				c.recvNone()
			}
			c.drop()
			require.Zero(t, h.b.Stats.Connected.Load())
			require.Zero(t, h.b.SessionCount(), "clean session ended with the connection")
		})
	}
}

// TestRefusedConnects sends every malformed CONNECT of the wire catalogue
// as the first packet: the connection is closed, no session is made, and
// whatever CONNACK is sent carries the example's reason code, in the form
// of the client's version.
func TestRefusedConnects(t *testing.T) {
	n := 0
	for _, ex := range proto.Catalogue {
		if ex.Valid || len(ex.Raw) == 0 || proto.Type(ex.Raw[0]>>4) != proto.CONNECT {
			continue
		}
		n++
		t.Run(ex.Name, func(t *testing.T) {
			h := newHarness(t, Options{}, 1)
			c := h.dial(0)
			err := c.sendRaw(ex.Raw)
			// [MQTT-4.13.1-1] [MQTT-3.1.4-1] [MQTT-3.1.4-1 v3.1.1]: close.
			var pe *proto.Error
			require.True(t, errors.As(err, &pe), "err = %v", err)
			require.Equal(t, ex.Reason, pe.Code, "[%s]", ex.Spec)
			require.Zero(t, h.b.SessionCount())
			require.Zero(t, h.b.Stats.Connected.Load())
			require.EqualValues(t, 1, h.b.Stats.ProtocolFails.Load())

			out := c.conn.take()
			if ex.Version != proto.V5 && ex.Reason == proto.UnsupportedProtocolVersion {
				// [MQTT-3.1.2-2 v3.1.1]: CONNACK 0x01, then close.
				require.Equal(t, []byte{0x20, 0x02, 0x00, byte(proto.V3UnacceptableProtocolVersion)}, out)
				return
			}
			if len(out) == 0 {
				return // closing without a CONNACK is always allowed here
			}
			if len(out) == 4 {
				// A 3.1.1 CONNACK: only for the codes 3.1.1 has.
				require.Equal(t, []byte{0x20, 0x02, 0x00, byte(proto.V3ConnackCode(ex.Reason))}, out)
				require.NotEqual(t, proto.V3ServerUnavailable, proto.V3ConnackCode(ex.Reason))
				return
			}
			p, used, err := proto.Decode(out, proto.V5)
			require.NoError(t, err)
			require.Equal(t, len(out), used, "one CONNACK only")
			ack, ok := p.(*proto.Connack)
			require.True(t, ok)
			// [MQTT-3.2.2-8] a CONNACK reason code, [MQTT-3.2.2-6] and
			// no Session Present with it.
			require.Equal(t, ex.Reason, ack.Reason, "[%s]", ex.Spec)
			require.False(t, ack.SessionPresent)
		})
	}
	require.NotZero(t, n, "the catalogue has malformed CONNECT examples")
}

func TestUnsupportedAuthMethodRefused(t *testing.T) {
	// [MQTT-4.12.0-1] CONNACK 0x8C (or 0x87), then close.
	h := newHarness(t, Options{}, 1)
	c := h.dial(0)
	p := connectPacket(proto.V5, "auth", true, 0, 0)
	p.Props.AuthMethod = []byte("SCRAM-SHA-256")
	p.Props.Set(proto.PropAuthMethod)
	require.Error(t, c.send(p))
	ack, ok := c.recvOne().(*proto.Connack)
	require.True(t, ok)
	require.Equal(t, proto.BadAuthenticationMethod, ack.Reason)
	require.Zero(t, h.b.SessionCount())
}

func TestTakeover(t *testing.T) {
	tests := []struct {
		name      string
		v         proto.Version
		loop      int    // loop of the new connection; the old one is on 0
		willDelay uint32 // v5 only
		will      bool   // the old connection's will is published
	}{
		// The old connection closes without DISCONNECT, so its will is
		// due ([MQTT-3.1.2-8], [MQTT-3.1.2-8 v3.1.1]) unless delayed past the
		// reconnect [MQTT-3.1.3-9].
		{"v5 across loops", proto.V5, 1, 0, true},
		{"v5 on the same loop", proto.V5, 0, 0, true},
		{"v5 delayed will cancelled by the new connection", proto.V5, 1, 30, false},
		{"v3.1.1 across loops", proto.V311, 1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{}, 2)
			watch := h.online(1, connectPacket(proto.V5, "watch", true, 0, 0))
			watch.subscribe("will/#", 0)

			p := connectPacket(tt.v, "dev", false, 0, 300)
			p.WillFlag, p.WillTopic, p.WillPayload = true, []byte("will/dev"), []byte("old gone")
			if tt.willDelay != 0 {
				p.WillProps.WillDelay = tt.willDelay
				p.WillProps.Set(proto.PropWillDelay)
			}
			old := h.online(0, p)
			old.subscribe("dev/t", 1)

			nu := h.dial(tt.loop)
			ack := nu.connect(connectPacket(tt.v, "dev", false, 0, 300))
			require.True(t, ack.SessionPresent, "[MQTT-3.2.2-3] the session was held by the old connection")
			// The old connection is closed on its own loop, not by the
			// new one's: until loop 0 runs, it is still open.
			require.False(t, old.conn.closed())
			// A packet the old connection sends before then is ignored; it
			// must not close the connection ahead of the DISCONNECT.
			require.NoError(t, old.send(&proto.Ping{Type: proto.PINGREQ}))
			require.False(t, old.conn.closed())
			h.settle()
			// [MQTT-3.1.4-3] [MQTT-3.1.4-2 v3.1.1]
			require.True(t, old.conn.closed(), "[MQTT-3.1.4-3] [MQTT-3.1.4-2 v3.1.1]: the old connection is closed")
			if tt.v == proto.V5 {
				// [MQTT-3.1.4-3] DISCONNECT 0x8E first.
				requireDisconnect(t, old.recvOne(), proto.SessionTakenOver)
			} else {
				old.recvNone()
			}
			require.Zero(t, old.conn.lateWrites)

			// Packets still buffered on the old connection are ignored:
			// it is closing, and nothing more is written to it.
			require.NoError(t, old.send(&proto.Ping{Type: proto.PINGREQ}))
			old.recvNone()

			old.c.Closed(nil) // the reactor's OnClose for the old connection
			h.settle()
			if tt.will {
				got := publishes(t, watch.recv())
				require.Equal(t, []string{"old gone"}, payloads(got))
			} else {
				watch.recvNone()
			}

			// The session lives on with the new connection: its
			// subscription delivers there, and only there.
			require.EqualValues(t, 2, h.b.Stats.Connected.Load())
			require.Equal(t, 2, h.b.SessionCount())
			watch.publish("dev/t", "to the new one", 1, 9)
			h.settle()
			require.Equal(t, []string{"to the new one"}, payloads(publishes(t, nu.recv())))
			old.recvNone()
		})
	}
}
