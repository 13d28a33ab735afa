package session

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/loom-mqtt/loom/proto"
)

// connectRefused sends p on a new connection and returns the CONNACK of a
// refusal, requiring the connection to be closed after it.
func (h *harness) connectRefused(i int, p *proto.Connect) *proto.Connack {
	h.t.Helper()
	tc := h.dial(i)
	tc.v = p.Version
	err := tc.send(p)
	require.Error(h.t, err, "the connection must close after a refusal")
	ack, ok := tc.recvOne().(*proto.Connack)
	require.True(h.t, ok)
	tc.drop()
	return ack
}

func TestSessionLimitDefaults(t *testing.T) {
	o := (&Options{}).withDefaults()
	require.Equal(t, 7*24*time.Hour, o.MaxSessionExpiry)
	require.Equal(t, 10000, o.MaxPersistentSessions)
	o = (&Options{MaxSessionExpiry: -1, MaxPersistentSessions: -1}).withDefaults()
	require.Negative(t, o.MaxSessionExpiry, "negative asks for no maximum")
	require.Negative(t, o.MaxPersistentSessions, "negative asks for no limit")
}

func TestSessionLimitV5NewSessionGetsExpiryZero(t *testing.T) {
	h := newHarness(t, Options{MaxPersistentSessions: 2}, 1)
	h.online(0, connectPacket(proto.V5, "a", false, 0, 60))
	h.online(0, connectPacket(proto.V311, "b", false, 0, 0))
	h.online(0, connectPacket(proto.V5, "plain", true, 0, 0)) // not persistent: not counted
	require.Equal(t, 2, h.b.PersistentSessions())

	c := h.dial(0)
	ack := c.connect(connectPacket(proto.V5, "c", false, 0, 3600))
	// Section 3.2.2.3.2: the server's Session Expiry Interval is the one the
	// client must use; 0 ends the session with the connection.
	require.True(t, ack.Props.Has(proto.PropSessionExpiry), "the client is told")
	require.Zero(t, ack.Props.SessionExpiry)
	require.False(t, ack.SessionPresent, "[MQTT-3.2.2-3]")
	require.Zero(t, sessionExpiry(t, h, "c"))
	require.Equal(t, 2, h.b.PersistentSessions())
	require.EqualValues(t, 1, h.b.RefusedSessions())

	// A DISCONNECT asking for an expiry again is no Protocol Error (the
	// CONNECT's was not 0) but does not make the session stay.
	d := &proto.Disconnect{}
	d.Props.SessionExpiry = 3600
	d.Props.Set(proto.PropSessionExpiry)
	require.ErrorIs(t, c.send(d), ErrDisconnect)
	c.drop()
	require.Equal(t, 3, h.b.SessionCount(), "c's session ended with its connection")
	require.Equal(t, 2, h.b.PersistentSessions())

	// A client that asks for no persistent session is not turned down.
	ack = h.dial(0).connect(connectPacket(proto.V5, "d", true, 0, 0))
	require.False(t, ack.Props.Has(proto.PropSessionExpiry))
	require.EqualValues(t, 1, h.b.RefusedSessions())
}

func TestSessionLimitV311NewSessionRefused(t *testing.T) {
	h := newHarness(t, Options{MaxPersistentSessions: 1}, 2)
	h.online(0, connectPacket(proto.V5, "a", false, 0, 60))
	// The same id online without a session to keep: the refusal must not
	// take it over.
	held := h.online(1, connectPacket(proto.V311, "dev", true, 0, 0))

	ack := h.connectRefused(0, connectPacket(proto.V311, "dev", false, 0, 0))
	require.Equal(t, proto.V3ServerUnavailable, ack.Reason, "return code 3")
	require.False(t, ack.SessionPresent, "[MQTT-3.2.2-4]")
	h.settle()
	require.False(t, held.conn.closed(), "the connection already online keeps its session")
	require.Equal(t, 1, h.b.PersistentSessions())
	require.Equal(t, 2, h.b.SessionCount())
	require.EqualValues(t, 1, h.b.RefusedSessions())

	// Clean Session 1 is never turned down.
	h.online(0, connectPacket(proto.V311, "clean", true, 0, 0))
	require.EqualValues(t, 1, h.b.RefusedSessions())
}

func TestSessionLimitExistingSessionsResume(t *testing.T) {
	for _, tt := range []struct {
		v    proto.Version
		used uint32 // a 3.1.1 session's expiry is the default maximum
	}{{proto.V5, 60}, {proto.V311, 604800}} {
		v := tt.v
		t.Run(map[proto.Version]string{proto.V5: "v5", proto.V311: "v3.1.1"}[v], func(t *testing.T) {
			h := newHarness(t, Options{MaxPersistentSessions: 2}, 2)
			a := h.online(0, connectPacket(v, "a", false, 0, 60))
			a.subscribe("a/#", 1)
			a.drop()
			h.online(0, connectPacket(v, "b", false, 0, 60)) // stays online
			require.Equal(t, 2, h.b.PersistentSessions())

			// Offline, resumed: [MQTT-3.2.2-2] Session Present 1.
			a = h.dial(1)
			ack := a.connect(connectPacket(v, "a", false, 0, 60))
			require.True(t, ack.SessionPresent)
			require.False(t, ack.Props.Has(proto.PropSessionExpiry), "the asked expiry stands")
			require.Equal(t, tt.used, sessionExpiry(t, h, "a"))

			// Online, taken over from another loop.
			b := h.dial(1)
			require.True(t, b.connect(connectPacket(v, "b", false, 0, 60)).SessionPresent)
			h.settle()

			require.Zero(t, h.b.RefusedSessions())
			if v != proto.V5 {
				return // 3.1.1's clean start keeps no session
			}
			// Replaced by a clean start that asks to persist again: it
			// keeps its place.
			a2 := h.dial(0)
			ack = a2.connect(connectPacket(v, "a", true, 0, 60))
			require.False(t, ack.SessionPresent)
			require.False(t, ack.Props.Has(proto.PropSessionExpiry))
			require.Equal(t, 2, h.b.PersistentSessions())
			require.Zero(t, h.b.RefusedSessions())
		})
	}
}

func TestSessionLimitCountFollowsSessions(t *testing.T) {
	h := newHarness(t, Options{MaxPersistentSessions: 2}, 1)
	a := h.online(0, connectPacket(proto.V5, "a", false, 0, 60))
	b := h.online(0, connectPacket(proto.V5, "b", false, 0, 60))
	require.Equal(t, 2, h.b.PersistentSessions())

	// Expired offline: its place is free.
	sa := a.c.sess
	a.drop()
	sa.expire() // the expiry timer's function, run now
	require.Equal(t, 1, h.b.PersistentSessions())
	n := h.online(0, connectPacket(proto.V5, "n", false, 0, 60))
	require.Equal(t, 2, h.b.PersistentSessions())

	// Resumed without an expiry: the session ends with this connection,
	// so it stops counting at once.
	b.drop()
	b = h.dial(0)
	require.True(t, b.connect(connectPacket(proto.V5, "b", false, 0, 0)).SessionPresent)
	require.Equal(t, 1, h.b.PersistentSessions())
	b.drop()
	require.Equal(t, 1, h.b.PersistentSessions())

	// Replaced by a clean start that keeps nothing.
	n2 := h.dial(0)
	n2.connect(connectPacket(proto.V5, "n", true, 0, 0))
	h.settle()
	require.True(t, n.conn.closed(), "taken over")
	require.Zero(t, h.b.PersistentSessions())

	// DISCONNECT lowering the expiry to 0 ends it with the connection.
	m := h.online(0, connectPacket(proto.V5, "m", false, 0, 60))
	require.Equal(t, 1, h.b.PersistentSessions())
	d := &proto.Disconnect{}
	d.Props.SessionExpiry = 0
	d.Props.Set(proto.PropSessionExpiry)
	require.ErrorIs(t, m.send(d), ErrDisconnect)
	m.drop()
	require.Zero(t, h.b.PersistentSessions())
}

func TestSessionLimitRestoreCountsAndCaps(t *testing.T) {
	st := newMemStore()
	now := time.Now().UnixNano()
	st.PutSession(SessionRecord{ClientID: "v3", Version: proto.V311, Expiry: ExpiryNever, DisconnectedAt: now - int64(time.Hour)})
	st.PutSession(SessionRecord{ClientID: "v5", Version: proto.V5, Expiry: 3600, DisconnectedAt: now})
	st.PutSession(SessionRecord{ClientID: "gone", Version: proto.V311, Expiry: ExpiryNever, DisconnectedAt: now - int64(2*time.Hour)})

	// A maximum set after they were stored holds for them: "gone" has been
	// away past it, "v3" has not.
	h := newHarness(t, Options{Store: st, MaxPersistentSessions: 2, MaxSessionExpiry: 90 * time.Minute}, 1)
	require.NoError(t, h.b.Restore())
	require.Equal(t, []string{"v3", "v5"}, st.sessionIDs())
	require.EqualValues(t, 5400, sessionExpiry(t, h, "v3"))
	require.Equal(t, 2, h.b.PersistentSessions())

	// Full with restored sessions: a new one is turned down, a restored
	// one resumes.
	ack := h.connectRefused(0, connectPacket(proto.V311, "new", false, 0, 0))
	require.Equal(t, proto.V3ServerUnavailable, ack.Reason)
	c := h.dial(0)
	require.True(t, c.connect(connectPacket(proto.V311, "v3", false, 0, 0)).SessionPresent)
	require.Equal(t, 2, h.b.PersistentSessions())
}
