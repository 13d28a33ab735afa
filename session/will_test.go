package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// withWill adds a QoS 1 will on will/<id> to p.
func withWill(p *proto.Connect, payload string) *proto.Connect {
	p.WillFlag, p.WillQoS = true, 1
	p.WillTopic, p.WillPayload = append([]byte("will/"), p.ClientID...), []byte(payload)
	return p
}

func withWillDelay(p *proto.Connect, seconds uint32) *proto.Connect {
	p.WillProps.WillDelay = seconds
	p.WillProps.Set(proto.PropWillDelay)
	return p
}

// willWatcher connects a client subscribed to every will.
func willWatcher(h *harness) *tclient {
	w := h.online(len(h.loops)-1, connectPacket(proto.V5, "watcher", true, 0, 0))
	w.subscribe("will/#", 1)
	return w
}

func TestWillOnAbnormalCloseOnly(t *testing.T) {
	type ending func(h *harness, c *tclient)
	drop := func(_ *harness, c *tclient) { c.drop() }
	normal := func(_ *harness, c *tclient) { c.disconnect(proto.Success) }
	withWillReason := func(_ *harness, c *tclient) { c.disconnect(proto.DisconnectWithWill) }
	keepalive := func(h *harness, c *tclient) {
		h.advanceClock(time.Minute)
		h.tick()
		require.True(h.t, c.conn.closed())
		c.c.Closed(nil)
	}
	protocolError := func(_ *harness, c *tclient) {
		require.Error(c.t, c.send(&proto.Connect{Version: c.v, ClientID: []byte("again")}))
		c.drop()
	}
	tests := []struct {
		name string
		v    proto.Version
		end  ending
		will bool
	}{
		// [MQTT-3.1.2-8] [MQTT-3.1.2-8 v3.1.1]: published when the
		// connection closes without DISCONNECT...
		{"v5 network failure", proto.V5, drop, true},
		{"v3.1.1 network failure", proto.V311, drop, true},
		{"v5 keepalive timeout", proto.V5, keepalive, true},
		{"v3.1.1 keepalive timeout", proto.V311, keepalive, true},
		{"v5 protocol error", proto.V5, protocolError, true},
		{"v3.1.1 protocol error", proto.V311, protocolError, true},
		// ...and by v5 DISCONNECT 0x04, Disconnect with Will Message.
		{"v5 DISCONNECT 0x04", proto.V5, withWillReason, true},
		// [MQTT-3.14.4-3] [MQTT-3.1.2-10] [MQTT-3.14.4-3 v3.1.1]
		// [MQTT-3.1.2-10 v3.1.1]: a normal DISCONNECT discards it.
		{"v5 DISCONNECT 0x00", proto.V5, normal, false},
		{"v3.1.1 DISCONNECT", proto.V311, normal, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{}, 2)
			w := willWatcher(h)
			c := h.online(0, withWill(connectPacket(tt.v, "dev", true, 10, 0), "dev is gone"))
			h.settle()
			w.recvNone() // not while the connection is up

			tt.end(h, c)
			h.settle()
			got := publishes(t, w.recv())
			if !tt.will {
				require.Empty(t, got)
				return
			}
			require.Len(t, got, 1)
			require.Equal(t, "will/dev", string(got[0].Topic))
			require.Equal(t, "dev is gone", string(got[0].Payload))
			require.Equal(t, byte(1), got[0].QoS)
			// [MQTT-3.1.2-14] [MQTT-3.1.2-16 v3.1.1]: not retained.
			require.False(t, got[0].Retain)
			require.Empty(t, h.b.Router().Retained("will/#"))
		})
	}
}

func TestWillRetainAndProperties(t *testing.T) {
	// [MQTT-3.1.2-15] (in 3.1.1: MQTT-3.1.2-17): Will Retain 1 publishes a
	// retained message; [MQTT-3.1.3-10] user properties keep their order.
	h := newHarness(t, Options{}, 1)
	w := willWatcher(h)
	p := withWill(connectPacket(proto.V5, "dev", true, 0, 0), "bye")
	p.WillRetain = true
	p.WillProps.ContentType = []byte("text/plain")
	p.WillProps.Set(proto.PropContentType)
	p.WillProps.User = []proto.UserProperty{{Key: []byte("b"), Value: []byte("2")}, {Key: []byte("a"), Value: []byte("1")}}
	p.WillProps.Set(proto.PropUserProperty)
	c := h.online(0, p)
	c.drop()
	h.settle()

	got := publishes(t, w.recv())
	require.Len(t, got, 1)
	require.Equal(t, "text/plain", string(got[0].Props.ContentType))
	require.Len(t, got[0].Props.User, 2)
	require.Equal(t, "b", string(got[0].Props.User[0].Key))
	require.Equal(t, "a", string(got[0].Props.User[1].Key))

	kept := h.b.Router().Retained("will/dev")
	require.Len(t, kept, 1)
	require.Equal(t, "bye", string(kept[0].Payload))
	require.True(t, kept[0].Retain)
}

func TestWillDelay(t *testing.T) {
	setup := func(t *testing.T, expiry uint32) (*harness, *tclient, *Session) {
		h := newHarness(t, Options{}, 1)
		w := willWatcher(h)
		c := h.online(0, withWillDelay(withWill(connectPacket(proto.V5, "dev", false, 0, expiry), "late"), 30))
		s := c.c.sess
		c.drop()
		h.settle()
		return h, w, s
	}

	t.Run("not before the delay", func(t *testing.T) {
		h, w, s := setup(t, 60)
		w.recvNone()
		s.mu.Lock()
		require.NotNil(t, s.off, "the delay runs while the session waits")
		require.NotNil(t, s.off.willTimer)
		s.mu.Unlock()
		// The delay passes (the timer's function, run now).
		s.willDue()
		h.settle()
		require.Equal(t, []string{"late"}, payloads(publishes(t, w.recv())))
		s.willDue() // published once only [MQTT-3.1.2-10]
		h.settle()
		w.recvNone()
	})
	t.Run("a reconnect within the delay cancels it", func(t *testing.T) {
		// [MQTT-3.1.3-9]
		h, w, s := setup(t, 60)
		c := h.dial(0)
		require.True(t, c.connect(connectPacket(proto.V5, "dev", false, 0, 60)).SessionPresent)
		s.mu.Lock()
		require.Nil(t, s.off, "no timer, no delayed will for a connected session")
		s.mu.Unlock()
		s.willDue() // a timer that fired just as the client came back
		h.settle()
		w.recvNone()
	})
	t.Run("the session ending publishes it early", func(t *testing.T) {
		// [MQTT-3.1.2-8]: after the delay or when the session ends,
		// whichever is first; here the session ends with the connection.
		h := newHarness(t, Options{}, 1)
		w := willWatcher(h)
		c := h.online(0, withWillDelay(withWill(connectPacket(proto.V5, "dev", false, 0, 0), "now"), 30))
		c.drop()
		h.settle()
		require.Equal(t, []string{"now"}, payloads(publishes(t, w.recv())))
	})
	t.Run("session expiry before the delay publishes it", func(t *testing.T) {
		// [MQTT-3.1.2-8] and [MQTT-4.1.0-2]: the session is discarded
		// once its interval passes, and its will goes out then.
		h, w, s := setup(t, 10)
		w.recvNone()
		s.expire() // the expiry timer's function, run now
		h.settle()
		require.Equal(t, []string{"late"}, payloads(publishes(t, w.recv())))
		require.Equal(t, 1, h.b.SessionCount(), "only the watcher's session is left")
	})
}

func TestSessionExpiry(t *testing.T) {
	h := newHarness(t, Options{}, 1)
	pub := h.online(0, connectPacket(proto.V5, "pub", true, 0, 0))
	c := h.online(0, connectPacket(proto.V5, "dev", false, 0, 60))
	c.subscribe("dev/#", 1)
	s := c.c.sess
	c.drop()
	// [MQTT-3.1.2-23] kept after the close while the interval runs.
	require.Equal(t, 2, h.b.SessionCount())
	s.mu.Lock()
	require.NotNil(t, s.off)
	require.NotNil(t, s.off.expiryTimer)
	s.mu.Unlock()

	s.expire()
	h.settle()
	// [MQTT-4.1.0-2] discarded once it has passed: subscriptions too.
	require.Equal(t, 1, h.b.SessionCount())
	require.Zero(t, h.b.Router().Stats().Subscriptions)
	pub.publish("dev/x", "nobody", 1, 1)
	h.settle()

	c = h.dial(0)
	require.False(t, c.connect(connectPacket(proto.V5, "dev", false, 0, 60)).SessionPresent)
	h.settle()
	c.recvNone()
}

func TestDisconnectSetsSessionExpiry(t *testing.T) {
	t.Run("to 0: the session ends with the connection", func(t *testing.T) {
		h := newHarness(t, Options{}, 1)
		c := h.online(0, connectPacket(proto.V5, "dev", false, 0, 60))
		d := &proto.Disconnect{}
		d.Props.SessionExpiry = 0
		d.Props.Set(proto.PropSessionExpiry)
		require.ErrorIs(t, c.send(d), ErrDisconnect)
		c.drop()
		require.Zero(t, h.b.SessionCount())
	})
	t.Run("from 0 is a protocol error", func(t *testing.T) {
		// 3.14.2.2.2: a Session Expiry of 0 at CONNECT may not be made
		// non-zero by DISCONNECT; [MQTT-4.13.1-1] close, telling why.
		h := newHarness(t, Options{}, 1)
		c := h.online(0, connectPacket(proto.V5, "dev", true, 0, 0))
		d := &proto.Disconnect{}
		d.Props.SessionExpiry = 60
		d.Props.Set(proto.PropSessionExpiry)
		err := c.send(d)
		require.Error(t, err)
		require.NotErrorIs(t, err, ErrDisconnect)
		requireDisconnect(t, c.recvOne(), proto.ProtocolError)
		c.drop()
		require.Zero(t, h.b.SessionCount())
	})
}
